# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Health and configuration record of one vSphere site (pure).

Works on the plain row dicts of ``inventory.retrieve_many`` (property paths in
the ``*_PROPERTIES`` constants) and returns the record ``site_info`` reports and
the baseline role snapshots: hosts, clusters, datastores, portgroups, VMs (NICs
with portgroup names and guest IPs, disks, datastores) and a list of
``abnormalities`` — each ``{object, type, check, detail}``:

=====================  ==========================================================
check                  raised when
=====================  ==========================================================
host_connected         a host's connection state is not ``connected``
datastore_accessible   a datastore is not accessible
datastore_free_space   a datastore's free space is below the threshold (percent)
vm_exists              a protected VM is not found
vm_powered_on          a protected VM is not powered on
vm_tools_running       a powered-on protected VM's tools are not running
vm_heartbeat           a powered-on protected VM's guest heartbeat is not green
=====================  ==========================================================

VM checks apply only to the *protected* VMs (the names the caller asks about).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.storage import (
    datastore_hosts,
    vm_disks,
)

HOST_PROPERTIES = ("name", "parent", "datastore", "overallStatus", "runtime.connectionState",
                   "runtime.powerState", "runtime.inMaintenanceMode")
CLUSTER_PROPERTIES = ("name", "host", "overallStatus", "configurationEx")
DATASTORE_PROPERTIES = ("name", "host", "summary.type", "summary.accessible", "summary.capacity",
                        "summary.freeSpace", "summary.url", "summary.maintenanceMode")
NETWORK_PROPERTIES = ("name",)
PORTGROUP_PROPERTIES = ("name", "key", "config.distributedVirtualSwitch")
SWITCH_PROPERTIES = ("name", "uuid", "config.uplinkPortgroup")
VM_NAME_PROPERTIES = ("name", "runtime.host", "config.template")
VM_PROPERTIES = ("name", "runtime.powerState", "runtime.host", "guest.toolsRunningStatus",
                 "guestHeartbeatStatus", "summary.quickStats.guestHeartbeatStatus",
                 "guest.ipAddress", "guest.hostName", "guest.net", "config.hardware.device",
                 "config.files.vmPathName", "config.uuid", "config.instanceUuid",
                 "config.template", "config.guestId", "datastore")

DEFAULT_FREE_SPACE_THRESHOLD_PCT = 10.0

DVS_BACKING = "VirtualEthernetCardDistributedVirtualPortBackingInfo"
NETWORK_BACKING = "VirtualEthernetCardNetworkBackingInfo"
OPAQUE_BACKING = "VirtualEthernetCardOpaqueNetworkBackingInfo"


# -- scope ------------------------------------------------------------------------------

def cluster_scope(hosts: Sequence[Mapping], datastores: Sequence[Mapping], cluster: Mapping):
    """Hosts of ``cluster`` and the datastores at least one of them mounts."""
    in_cluster = [h for h in hosts if h.get("parent") == cluster["_moid"]]
    names = {h.get("name") for h in in_cluster}
    mounted = [d for d in datastores if names & set(datastore_hosts(d, hosts))]
    return in_cluster, mounted


# -- records ----------------------------------------------------------------------------

def host_record(host: Mapping, cluster_name_by_moid: Mapping[str, str]) -> dict:
    """name, cluster, connection/power state, maintenance, overall status."""
    return {"name": host.get("name"), "moid": host.get("_moid"),
            "cluster": cluster_name_by_moid.get(host.get("parent")),
            "connection_state": host.get("runtime.connectionState"),
            "power_state": host.get("runtime.powerState"),
            "in_maintenance": bool(host.get("runtime.inMaintenanceMode")),
            "overall_status": host.get("overallStatus")}


def cluster_record(cluster: Mapping, host_name_by_moid: Mapping[str, str]) -> dict:
    """name, HA (dasConfig.enabled), DRS (drsConfig.enabled), hosts."""
    config = cluster.get("configurationEx") or {}
    hosts = sorted(host_name_by_moid.get(m, m) for m in cluster.get("host") or [])
    return {"name": cluster.get("name"), "moid": cluster.get("_moid"),
            "ha_enabled": bool((config.get("dasConfig") or {}).get("enabled")),
            "drs_enabled": bool((config.get("drsConfig") or {}).get("enabled")),
            "host_count": len(hosts), "hosts": hosts,
            "overall_status": cluster.get("overallStatus")}


def free_pct(capacity, free) -> float | None:
    """Free space in percent (one decimal), or None without a capacity."""
    if not capacity or free is None:
        return None
    return round(100.0 * float(free) / float(capacity), 1)


def datastore_record(ds: Mapping, hosts: Sequence[Mapping]) -> dict:
    """name, type, accessibility, capacity/free bytes and percent, url, mounting hosts."""
    capacity, free = ds.get("summary.capacity"), ds.get("summary.freeSpace")
    return {"name": ds.get("name"), "moid": ds.get("_moid"), "type": ds.get("summary.type"),
            "accessible": ds.get("summary.accessible") is not False,
            "maintenance_mode": ds.get("summary.maintenanceMode"),
            "capacity": capacity, "free": free, "free_pct": free_pct(capacity, free),
            "url": ds.get("summary.url"), "hosts": datastore_hosts(ds, hosts)}


def portgroup_records(networks: Sequence[Mapping], switches: Sequence[Mapping]) -> list[dict]:
    """Every network: name, key, switch name, type (distributed/standard/opaque), uplink."""
    switch_by_moid = {s["_moid"]: s for s in switches}
    uplinks = {pg for s in switches for pg in s.get("config.uplinkPortgroup") or []}
    records = []
    for net in networks:
        kind = net.get("_type")
        switch = switch_by_moid.get(net.get("config.distributedVirtualSwitch")) or {}
        if kind == "DistributedVirtualPortgroup":
            pg_type = "distributed"
        elif kind == "OpaqueNetwork":
            pg_type = "opaque"
        else:
            pg_type = "standard"
        records.append({"name": net.get("name"), "moid": net.get("_moid"), "key": net.get("key"),
                        "switch": switch.get("name"), "switch_uuid": switch.get("uuid"),
                        "type": pg_type, "uplink": net.get("_moid") in uplinks})
    return sorted(records, key=lambda r: (r["name"] or "", r["moid"] or ""))


def nic_records(vm: Mapping, portgroups: Sequence[Mapping]) -> list[dict]:
    """A VM's NICs: label, MAC, portgroup name (DVS key resolved), switch, connected, guest IPs."""
    by_key = {p["key"]: p for p in portgroups if p.get("key")}
    by_moid = {p["moid"]: p for p in portgroups}
    guest = vm.get("guest.net") or []
    nics = []
    for device in vm.get("config.hardware.device") or []:
        backing = device.get("backing") or {}
        if not is_nic(device):
            continue
        portgroup, key, switch = _nic_network(backing, by_key, by_moid)
        connectable = device.get("connectable") or {}
        nics.append({"label": (device.get("deviceInfo") or {}).get("label"), "key": device.get("key"),
                     "type": device.get("_type"), "mac": device.get("macAddress"),
                     "portgroup": portgroup, "portgroup_key": key, "switch": switch,
                     "connected": bool(connectable.get("connected")),
                     "start_connected": bool(connectable.get("startConnected")),
                     "ip_addresses": guest_ips(guest, device.get("key"), device.get("macAddress"))})
    return nics


def is_nic(device: Mapping) -> bool:
    """A virtual ethernet card (any adapter type), recognised by its fields or backing."""
    backing_type = (device.get("backing") or {}).get("_type") or ""
    return ("macAddress" in device or "addressType" in device
            or backing_type.startswith("VirtualEthernetCard"))


def _nic_network(backing: Mapping, by_key: Mapping, by_moid: Mapping):
    """(portgroup name, portgroup key, switch name) of a NIC backing."""
    kind = backing.get("_type")
    if kind == DVS_BACKING or "port" in backing:
        key = (backing.get("port") or {}).get("portgroupKey")
        pg = by_key.get(key) or {}
        return pg.get("name"), key, pg.get("switch")
    if kind == OPAQUE_BACKING:
        return backing.get("opaqueNetworkId"), None, None
    pg = by_moid.get(backing.get("network")) or {}
    return backing.get("deviceName") or pg.get("name"), None, pg.get("switch")


def guest_ips(guest_net: Iterable[Mapping], device_key, mac: str | None) -> list[str]:
    """IPs the guest reports for a NIC, matched by deviceConfigId, else by MAC."""
    entries = list(guest_net or [])
    match = [g for g in entries if device_key is not None and g.get("deviceConfigId") == device_key]
    if not match and mac:
        match = [g for g in entries if (g.get("macAddress") or "").lower() == mac.lower()]
    ips = []
    for entry in match:
        addresses = entry.get("ipAddress") or [a.get("ipAddress") for a in
                                               (entry.get("ipConfig") or {}).get("ipAddress") or []]
        ips.extend(a for a in addresses if a and a not in ips)
    return ips


def vm_record(vm: Mapping, names: Mapping[str, Mapping[str, str]], portgroups: Sequence[Mapping],
              protected: bool) -> dict:
    """Everything the baseline records about one VM (``names``: moid->name per kind)."""
    host_moid = vm.get("runtime.host")
    heartbeat = vm.get("guestHeartbeatStatus") or vm.get("summary.quickStats.guestHeartbeatStatus")
    disks = vm_disks(vm, names["datastore"])
    datastores = sorted({names["datastore"].get(m, m) for m in vm.get("datastore") or []}
                        | {d["datastore"] for d in disks if d["datastore"]})
    return {"name": vm.get("name"), "moid": vm.get("_moid"), "protected": protected,
            "power_state": vm.get("runtime.powerState"),
            "tools_running_status": vm.get("guest.toolsRunningStatus"),
            "heartbeat_status": heartbeat, "ip_address": vm.get("guest.ipAddress"),
            "guest_hostname": vm.get("guest.hostName"), "guest_id": vm.get("config.guestId"),
            "nics": nic_records(vm, portgroups), "disks": disks, "datastores": datastores,
            "host": names["host"].get(host_moid, host_moid),
            "cluster": names["cluster_of_host"].get(host_moid),
            "vm_path_name": vm.get("config.files.vmPathName"), "uuid": vm.get("config.uuid"),
            "instance_uuid": vm.get("config.instanceUuid"),
            "template": bool(vm.get("config.template"))}


# -- abnormalities ----------------------------------------------------------------------

def abnormality(obj: str, obj_type: str, check: str, detail: str) -> dict:
    """One finding, in the shape every ``_info`` module uses."""
    return {"object": obj, "type": obj_type, "check": check, "detail": detail}


def host_abnormalities(hosts: Iterable[Mapping]) -> list[dict]:
    """Hosts not connected."""
    return [abnormality(h["name"], "host", "host_connected",
                        "connection state is %s" % h["connection_state"])
            for h in hosts if h["connection_state"] != "connected"]


def datastore_abnormalities(datastores: Iterable[Mapping], threshold_pct: float) -> list[dict]:
    """Datastores inaccessible or with free space below ``threshold_pct``."""
    found = []
    for ds in datastores:
        if not ds["accessible"]:
            found.append(abnormality(ds["name"], "datastore", "datastore_accessible",
                                     "datastore is not accessible"))
        elif ds["free_pct"] is not None and ds["free_pct"] < threshold_pct:
            found.append(abnormality(ds["name"], "datastore", "datastore_free_space",
                                     "%.1f %% free is below the threshold of %s %%"
                                     % (ds["free_pct"], threshold_pct)))
    return found


def vm_abnormalities(vms: Iterable[Mapping], missing: Iterable[str]) -> list[dict]:
    """Protected VMs missing, not powered on, or (powered on) without tools or heartbeat."""
    found = [abnormality(name, "vm", "vm_exists", "protected VM not found") for name in missing]
    for vm in vms:
        if not vm["protected"]:
            continue
        if vm["power_state"] != "poweredOn":
            found.append(abnormality(vm["name"], "vm", "vm_powered_on",
                                     "power state is %s" % vm["power_state"]))
            continue
        if vm["tools_running_status"] != "guestToolsRunning":
            found.append(abnormality(vm["name"], "vm", "vm_tools_running",
                                     "tools running status is %s" % vm["tools_running_status"]))
        if vm["heartbeat_status"] != "green":
            found.append(abnormality(vm["name"], "vm", "vm_heartbeat",
                                     "guest heartbeat is %s" % vm["heartbeat_status"]))
    return found


# -- the whole site ---------------------------------------------------------------------

def site_record(hosts: Sequence[Mapping], clusters: Sequence[Mapping], datastores: Sequence[Mapping],
                networks: Sequence[Mapping], switches: Sequence[Mapping], vms: Sequence[Mapping],
                protected: Sequence[str] | None = None, cluster: str | None = None,
                free_space_threshold_pct: float = DEFAULT_FREE_SPACE_THRESHOLD_PCT) -> dict:
    """Health + configuration record of a site.

    ``vms`` are the VM rows to record (the protected ones when ``protected`` is
    given); ``protected`` names missing from them are reported as ``vm_exists``
    abnormalities and in ``missing_vms``. With ``cluster`` (a name present in
    ``clusters``) hosts, clusters and datastores are limited to that cluster, and
    so are the VMs when ``protected`` is not given.
    """
    all_hosts, all_datastores, all_clusters = hosts, datastores, clusters
    if cluster is not None:
        selected = [c for c in clusters if c.get("name") == cluster]
        clusters = selected
        hosts, datastores = cluster_scope(all_hosts, datastores, selected[0]) if selected else ([], [])
        if protected is None:
            host_moids = {h["_moid"] for h in hosts}
            vms = [vm for vm in vms if vm.get("runtime.host") in host_moids]
    cluster_names = {c["_moid"]: c.get("name") for c in all_clusters}
    names = {"host": {h["_moid"]: h.get("name") for h in all_hosts},
             "datastore": {d["_moid"]: d.get("name") for d in all_datastores},
             "cluster_of_host": {h["_moid"]: cluster_names.get(h.get("parent")) for h in all_hosts}}
    portgroups = portgroup_records(networks, switches)
    protected_set = set(protected or [])
    vm_records = sorted((vm_record(vm, names, portgroups, vm.get("name") in protected_set) for vm in vms),
                        key=lambda r: r["name"] or "")
    missing = sorted(protected_set - {vm["name"] for vm in vm_records})
    host_records = sorted((host_record(h, cluster_names) for h in hosts), key=lambda r: r["name"] or "")
    ds_records = sorted((datastore_record(d, all_hosts) for d in datastores), key=lambda r: r["name"] or "")
    abnormalities = (host_abnormalities(host_records)
                     + datastore_abnormalities(ds_records, free_space_threshold_pct)
                     + vm_abnormalities(vm_records, missing))
    return {"hosts": host_records,
            "clusters": sorted((cluster_record(c, names["host"]) for c in clusters),
                               key=lambda r: r["name"] or ""),
            "datastores": ds_records, "portgroups": portgroups, "vms": vm_records,
            "missing_vms": missing, "abnormalities": abnormalities, "healthy": not abnormalities}

# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""VM -> disks -> datastores -> backing -> hosts, and replica resolution (pure).

Everything here works on the plain row dicts ``inventory.retrieve`` returns
(``convert=True``), so it is unit-tested over hand-built dicts. The property
paths each function reads are listed in ``VM_PROPERTIES``,
``DATASTORE_PROPERTIES`` and ``HOST_PROPERTIES``.

The storage map is the recovery plan's ``datastores`` list: entries
``{primary, recovery, replication, mount}``. ``site`` says which side of the map
names the datastores being inspected: ``primary`` (replicas are the
``recovery`` names) or ``recovery`` (after a takeover the replica is the
``primary`` name).
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

VM_PROPERTIES = ("name", "config.hardware.device", "config.files.vmPathName")
DATASTORE_PROPERTIES = ("name", "summary.type", "summary.url", "summary.accessible", "info", "host")
HOST_PROPERTIES = ("name", "datastore")

SITES = ("primary", "recovery")
_DS_PATH = re.compile(r"^\s*\[(?P<datastore>[^\]]*)\]\s*(?P<path>.*)$")

REASON_DISK = "datastore has no entry in the storage map"
REASON_CONFIG = "VM configuration files are on a datastore with no entry in the storage map"
REASON_UNKNOWN = "VM configuration could not be read (VM inaccessible or being created)"


def parse_datastore_path(path: str | None) -> tuple[str | None, str | None]:
    """``'[ds1] vm/vm.vmdk'`` -> ``('ds1', 'vm/vm.vmdk')``; ``(None, path)`` if not bracketed."""
    if not path:
        return None, path
    match = _DS_PATH.match(path)
    if not match:
        return None, path
    return match.group("datastore"), match.group("path")


def replica_index(storage_map: Iterable[Mapping] | None, site: str = "primary") -> dict:
    """Datastore name on ``site`` -> ``{datastore, replication}`` on the other side."""
    if site not in SITES:
        raise ValueError("site must be one of %s" % ", ".join(SITES))
    other = "recovery" if site == "primary" else "primary"
    index = {}
    for entry in storage_map or []:
        name = entry.get(site)
        if name:
            index[name] = {"datastore": entry.get(other), "replication": entry.get("replication")}
    return index


def datastore_backing(ds: Mapping) -> dict:
    """How a datastore is backed: nfs (remote host/path), vmfs (extents, LUNs), local, other."""
    info = ds.get("info") or {}
    kind = info.get("_type")
    if kind == "NasDatastoreInfo" or info.get("nas"):
        nas = info.get("nas") or {}
        return {"type": (nas.get("type") or ds.get("summary.type") or "nfs").lower(),
                "remote_host": nas.get("remoteHost"), "remote_path": nas.get("remotePath")}
    if kind == "VmfsDatastoreInfo" or info.get("vmfs"):
        vmfs = info.get("vmfs") or {}
        extents = [{"disk_name": e.get("diskName"), "partition": e.get("partition")}
                   for e in vmfs.get("extent") or []]
        luns = sorted({e["disk_name"] for e in extents if e["disk_name"]})
        return {"type": "vmfs", "uuid": vmfs.get("uuid"), "version": vmfs.get("version"),
                "extents": extents, "luns": luns}
    if kind == "LocalDatastoreInfo":
        return {"type": "local", "path": info.get("path") or info.get("url")}
    return {"type": (ds.get("summary.type") or "unknown").lower()}


def datastore_hosts(ds: Mapping, hosts: Sequence[Mapping]) -> list[str]:
    """Names of hosts mounting ``ds``: its ``host`` mount list united with hosts' ``datastore``.

    Both sides are needed: vcsim 0.24 leaves a NAS datastore's ``host`` list
    empty but fills ``host.datastore``; real vCenters fill both. A mount whose
    ``mountInfo.mounted`` is false is not counted.
    """
    name_of = {h["_moid"]: h.get("name") for h in hosts}
    moids = set()
    for mount in ds.get("host") or []:
        if (mount.get("mountInfo") or {}).get("mounted") is False:
            continue
        if mount.get("key"):
            moids.add(mount["key"])
    for host in hosts:
        if ds["_moid"] in (host.get("datastore") or []):
            moids.add(host["_moid"])
    return sorted(name_of.get(m) or m for m in moids)


def vm_disks(vm: Mapping, ds_name_by_moid: Mapping[str, str]) -> list[dict]:
    """The virtual disks of a VM row: label, key, file, datastore, capacity_kb, thin."""
    disks = []
    for device in vm.get("config.hardware.device") or []:
        if device.get("_type") != "VirtualDisk":
            continue
        backing = device.get("backing") or {}
        file_name = backing.get("fileName")
        datastore = ds_name_by_moid.get(backing.get("datastore")) or parse_datastore_path(file_name)[0]
        capacity_kb = device.get("capacityInKB")
        if capacity_kb is None and device.get("capacityInBytes") is not None:
            capacity_kb = int(device["capacityInBytes"]) // 1024
        disks.append({"label": (device.get("deviceInfo") or {}).get("label"), "key": device.get("key"),
                      "file": file_name, "datastore": datastore, "capacity_kb": capacity_kb,
                      "thin": backing.get("thinProvisioned"),
                      "backing_type": backing.get("_type")})
    return disks


def vm_storage(vm: Mapping, ds_name_by_moid: Mapping[str, str], replicas: Mapping[str, dict]) -> dict:
    """One VM's storage record with each disk's replica and a ``protected`` verdict."""
    disks = vm_disks(vm, ds_name_by_moid)
    for disk in disks:
        disk["replica"] = replicas.get(disk["datastore"])
        disk["protected"] = disk["replica"] is not None
    vm_path = vm.get("config.files.vmPathName")
    config_ds = parse_datastore_path(vm_path)[0]
    config_replica = replicas.get(config_ds) if config_ds else None
    used = sorted({d["datastore"] for d in disks if d["datastore"]} | ({config_ds} if config_ds else set()))
    readable = vm.get("config.hardware.device") is not None or vm_path is not None
    return {"name": vm.get("name"), "moid": vm.get("_moid"), "vm_path_name": vm_path,
            "config_datastore": config_ds, "config_replica": config_replica,
            "disks": disks, "datastores": used, "config_readable": readable,
            "protected": (readable and all(d["protected"] for d in disks)
                          and (config_ds is None or config_replica is not None))}


def unprotected_items(vm_record: Mapping) -> list[dict]:
    """Disks (and config files) of one VM record that no storage map entry protects."""
    items = []
    if vm_record.get("config_readable") is False:
        items.append({"vm": vm_record["name"], "disk": None, "file": None, "datastore": None,
                      "reason": REASON_UNKNOWN})
    if vm_record.get("config_datastore") and vm_record.get("config_replica") is None:
        items.append({"vm": vm_record["name"], "disk": None, "file": vm_record.get("vm_path_name"),
                      "datastore": vm_record["config_datastore"], "reason": REASON_CONFIG})
    for disk in vm_record.get("disks") or []:
        if not disk["protected"]:
            items.append({"vm": vm_record["name"], "disk": disk["label"], "file": disk["file"],
                          "datastore": disk["datastore"], "reason": REASON_DISK})
    return items


def datastore_record(ds: Mapping, hosts: Sequence[Mapping], replicas: Mapping[str, dict]) -> dict:
    """One datastore: type, backing, url, accessibility, mounting hosts and replica."""
    backing = datastore_backing(ds)
    return {"name": ds.get("name"), "moid": ds.get("_moid"), "type": backing["type"],
            "url": ds.get("summary.url"), "accessible": ds.get("summary.accessible"),
            "backing": backing, "hosts": datastore_hosts(ds, hosts),
            "replica": replicas.get(ds.get("name"))}


def storage_mapping(vms: Sequence[Mapping], datastores: Sequence[Mapping], hosts: Sequence[Mapping],
                    storage_map: Iterable[Mapping] | None, site: str = "primary") -> dict:
    """The full picture for the given VM rows.

    Returns ``vms`` (per VM disks with datastore, replica, protected), ``datastores``
    (those the VMs use plus the map's datastores present on this site, each with
    backing, hosts and replica), ``unprotected`` (``{vm, disk, file, datastore,
    reason}``) and ``unmapped_datastores`` / ``missing_mapped_datastores``
    (used by the VMs but not in the map / named in the map but absent here).
    """
    replicas = replica_index(storage_map, site)
    ds_name_by_moid = {d["_moid"]: d.get("name") for d in datastores}
    vm_records = sorted((vm_storage(vm, ds_name_by_moid, replicas) for vm in vms),
                        key=lambda r: r["name"] or "")
    used = {name for record in vm_records for name in record["datastores"]}
    present = {d.get("name") for d in datastores}
    wanted = used | (set(replicas) & present)
    ds_records = [datastore_record(d, hosts, replicas)
                  for d in sorted(datastores, key=lambda d: d.get("name") or "") if d.get("name") in wanted]
    unprotected = [item for record in vm_records for item in unprotected_items(record)]
    return {"vms": vm_records, "datastores": ds_records, "unprotected": unprotected,
            "unmapped_datastores": sorted(name for name in used if name not in replicas),
            "missing_mapped_datastores": sorted(set(replicas) - present)}

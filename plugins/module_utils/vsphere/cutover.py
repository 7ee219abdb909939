# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host cutover planning (pure): which VMs, in which order, landing where, doing what.

Everything here works on plain data, so it is unit-tested without vSphere:

* ``selection(...)``: the tiers and VMs to act on (from the recovery plan, or
  explicit lists), the network map and the storage map, each entry carrying the
  path of the option it came from (``plan.tiers[1].vms[0]``, ``networks[0].recovery``)
  so that bad input is reported naming the field.
* ``work_items(...)``: one item per VM - desired NICs at the target site, their
  addresses (``plan_sites.recovery_addresses`` / ``ipmap``), the datastore path to
  register from and the replica disk files - computed from the VM's record at
  the primary site (read live, or the baseline record).
* ``target_problems(...)``: what the target site lacks (portgroups, replica
  datastores) - all reported before any change.
* ``steps(...)``: the steps one VM still needs given what the target site shows
  (idempotence: a VM registered, on the right portgroups, powered on with the
  right IP needs none).

The executor (executor.py) runs the steps tier by tier.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Mapping, Sequence

from ansible_collections.continuity.recovery.plugins.module_utils import ipmap
from ansible_collections.continuity.recovery.plugins.module_utils import plan as plan_model
from ansible_collections.continuity.recovery.plugins.module_utils import plan_sites
from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import nics as nics_mod
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.storage import parse_datastore_path

ACTIONS = ("takeover", "drill", "cleanup", "failback")
MODES = ("planned", "emergency")

MARKER_ROLE = "continuity.recovery.role"
MARKER_SOURCE = "continuity.recovery.source"
MARKER_SOURCE_NICS = "continuity.recovery.source_nics"
ROLE_TAKEOVER = "takeover"
ROLE_FAILBACK = "failback"
ROLE_DRILL_CLONE = "drill-clone"
ROLE_DRILL_SOURCE = "drill-source"
DRILL_SNAPSHOT = "continuity.recovery drill"

PORTGROUP_KEY = {"takeover": "recovery", "drill": "drill", "failback": "primary"}

VM_PROPERTIES = ("name", "config.files.vmPathName", "config.hardware.device", "runtime.powerState",
                 "guest.net", "guest.toolsRunningStatus", "config.extraConfig", "snapshot",
                 "summary.quickStats.guestHeartbeatStatus")
SOURCE_VM_PROPERTIES = ("name", "config.files.vmPathName", "config.hardware.device", "runtime.powerState",
                        "guest.net", "guest.toolsRunningStatus")

_DERIVED_PLAN_KEYS = ("tier_order", "vm_index")


# -- inputs --------------------------------------------------------------------------------

def strip_derived(plan: Mapping) -> dict:
    """A plan as the user wrote it: keys ``plan.validate`` adds when normalising are dropped."""
    raw = copy.deepcopy(dict(plan))
    for key in _DERIVED_PLAN_KEYS:
        raw.pop(key, None)
    for pair in raw.get("replication") or []:
        if isinstance(pair, dict):
            pair.pop("max_buffer_bytes", None)
    return raw


def _vm_entry(value: Any, path: str, problems: list) -> dict | None:
    if isinstance(value, str) and value:
        return {"name": value, "recovery_ip": None, "network": None, "path": path}
    if isinstance(value, Mapping) and isinstance(value.get("name"), str) and value["name"]:
        unknown = sorted(set(value) - {"name", "recovery_ip", "network"})
        if unknown:
            problems.append("%s: unknown key %r (allowed: name, recovery_ip, network)" % (path, unknown[0]))
            return None
        return {"name": value["name"], "recovery_ip": value.get("recovery_ip"),
                "network": value.get("network"), "path": path}
    problems.append("%s: a VM must be a name or {name, recovery_ip, network}" % path)
    return None


def _check_network(net: Any, path: str, problems: list) -> dict | None:
    required = ("name", "primary", "recovery", "drill", "primary_subnet", "recovery_subnet", "recovery_gateway")
    if not isinstance(net, Mapping):
        problems.append("%s: must be a mapping" % path)
        return None
    missing = [k for k in required if not net.get(k)]
    for key in missing:
        problems.append("%s.%s: is required" % (path, key))
    if missing:
        return None
    out = dict(net, path=path)
    try:
        primary = ipmap.parse_cidr(net["primary_subnet"])
        out["primary_subnet"] = str(primary)
    except InvalidInput as exc:
        problems.append("%s.primary_subnet: %s" % (path, exc))
        return None
    try:
        recovery = ipmap.parse_cidr(net["recovery_subnet"])
        out["recovery_subnet"] = str(recovery)
    except InvalidInput as exc:
        problems.append("%s.recovery_subnet: %s" % (path, exc))
        return None
    gateway = _gateway(net, "recovery_gateway", out["recovery_subnet"], "recovery_subnet", path, problems)
    if gateway is None:
        return None
    out["recovery_gateway"] = gateway
    dns = _dns_servers(net, "dns_servers", path, problems)
    if dns is None:
        return None
    out["dns_servers"] = dns  # canonical text: the collision checks compare addresses as strings
    out["primary_gateway"] = None
    if net.get("primary_gateway"):
        out["primary_gateway"] = _gateway(net, "primary_gateway", out["primary_subnet"], "primary_subnet", path,
                                          problems)
        if out["primary_gateway"] is None:
            return None
    out["primary_dns_servers"] = _dns_servers(net, "primary_dns_servers", path, problems)
    if out["primary_dns_servers"] is None:
        return None
    return out


def _gateway(net: Mapping, key: str, subnet: str, subnet_key: str, path: str, problems: list) -> str | None:
    """``net[key]`` as canonical text when it is an address inside ``subnet``, else None (the problem noted)."""
    try:
        if not ipmap.ip_in_subnet(net[key], subnet):
            problems.append("%s.%s: gateway %s is outside %s %s" % (path, key, net[key], subnet_key, subnet))
            return None
        return str(ipmap.parse_ip(net[key]))
    except InvalidInput as exc:
        problems.append("%s.%s: %s" % (path, key, exc))
        return None


def _dns_servers(net: Mapping, key: str, path: str, problems: list) -> list | None:
    """``net[key]`` (a list of IP addresses, default []) as canonical text, else None (the problem noted)."""
    servers = net.get(key)
    if servers is not None and not isinstance(servers, (list, tuple)):
        problems.append("%s.%s: must be a list of IP addresses" % (path, key))
        return None
    out = []
    for i, server in enumerate(servers or []):
        try:
            out.append(str(ipmap.parse_ip(server, "DNS server address")))
        except InvalidInput as exc:
            problems.append("%s.%s[%d]: %s" % (path, key, i, exc))
            return None
    return out


def _reserved(ip: str, subnet: str) -> str | None:
    """``network address`` / ``broadcast address`` when ``ip`` is one of ``subnet`` (ipmap.reserved_role)."""
    return ipmap.reserved_role(ipmap.parse_ip(ip), ipmap.parse_cidr(subnet))


def selection(plan: Mapping | None, tiers: Sequence | None = None, vms: Sequence[str] | None = None,
              networks: Sequence | None = None, storage_map: Sequence | None = None) -> tuple[dict, list]:
    """Tiers/VMs, network map and storage map to act on, and every input problem found.

    ``tiers``: names of plan tiers (in the order to run) or ``{name, vms}`` dicts;
    default: every tier of the plan in plan order. ``vms`` limits the VMs inside
    the selected tiers. ``networks`` / ``storage_map`` default to the plan's.
    """
    problems: list[str] = []
    normalised = None
    if plan is not None:
        normalised, found = plan_model.validate(strip_derived(plan))
        problems += ["plan.%s" % p if not str(p).startswith("recovery_plan") else "plan%s" % str(p)[13:]
                     for p in found]
    plan_tiers = {t["name"]: (i, t) for i, t in enumerate((normalised or {}).get("tiers") or [])}

    selected = []
    if tiers:
        for t, tier in enumerate(tiers):
            path = "tiers[%d]" % t
            if isinstance(tier, str):
                if tier not in plan_tiers:
                    known = ", ".join(plan_tiers) or "none: no valid plan given"
                    problems.append("%s: tier %r is not in the plan (plan tiers: %s)" % (path, tier, known))
                    continue
                index, entry = plan_tiers[tier]
                selected.append({"name": tier, "vms": [
                    dict(vm, path="plan.tiers[%d].vms[%d]" % (index, v)) for v, vm in enumerate(entry["vms"])]})
            elif isinstance(tier, Mapping) and tier.get("name") and isinstance(tier.get("vms"), list):
                entries = [_vm_entry(vm, "%s.vms[%d]" % (path, v), problems) for v, vm in enumerate(tier["vms"])]
                selected.append({"name": str(tier["name"]), "vms": [e for e in entries if e]})
            else:
                problems.append("%s: a tier must be a plan tier name or {name, vms}" % path)
    elif normalised is not None:
        for index, entry in enumerate(normalised["tiers"]):
            selected.append({"name": entry["name"], "vms": [
                dict(vm, path="plan.tiers[%d].vms[%d]" % (index, v)) for v, vm in enumerate(entry["vms"])]})
    elif plan is None:
        problems.append("tiers: give the recovery plan (plan) or explicit tiers")

    seen: dict[str, str] = {}
    for tier in selected:
        for vm in tier["vms"]:
            if vm["name"] in seen:
                problems.append("%s: VM %r is already selected at %s" % (vm["path"], vm["name"], seen[vm["name"]]))
            seen.setdefault(vm["name"], vm["path"])
    if vms:
        wanted = set(vms)
        for i, name in enumerate(vms):
            if name not in seen:
                problems.append("vms[%d]: VM %r is in none of the selected tiers" % (i, name))
        for tier in selected:
            tier["vms"] = [vm for vm in tier["vms"] if vm["name"] in wanted]
        selected = [t for t in selected if t["vms"]]

    if networks is not None:
        nets = [_check_network(n, "networks[%d]" % i, problems) for i, n in enumerate(networks)]
        nets = [n for n in nets if n]
    else:
        nets = [dict(n, path="plan.networks[%d]" % i) for i, n in enumerate((normalised or {}).get("networks") or [])]
    if storage_map is not None:
        stores = [dict(s, path="storage_map[%d]" % i) for i, s in enumerate(storage_map)]
    else:
        stores = [dict(s, path="plan.datastores[%d]" % i)
                  for i, s in enumerate((normalised or {}).get("datastores") or [])]
    if not nets and not problems:
        problems.append("networks: no network map given (option networks or plan.networks)")
    net_names = {n["name"] for n in nets}
    for tier in selected:
        for vm in tier["vms"]:
            if vm.get("network") is not None and vm["network"] not in net_names:
                problems.append("%s.network: network %r is not in the network map" % (vm["path"], vm["network"]))
            elif vm.get("recovery_ip") is not None:
                try:
                    net = ([n for n in nets if n["name"] == vm["network"]] if vm.get("network")
                           else [ipmap.network_for_ip(vm["recovery_ip"], nets, "recovery_subnet")])
                    if not net or net[0] is None:
                        problems.append("%s.recovery_ip: %s is inside no recovery_subnet of the network map"
                                        % (vm["path"], vm["recovery_ip"]))
                    elif not ipmap.ip_in_subnet(vm["recovery_ip"], net[0]["recovery_subnet"]):
                        problems.append("%s.recovery_ip: %s is outside recovery_subnet %s of network %r"
                                        % (vm["path"], vm["recovery_ip"], net[0]["recovery_subnet"], net[0]["name"]))
                    elif (role := _reserved(vm["recovery_ip"], net[0]["recovery_subnet"])):
                        problems.append("%s.recovery_ip: %s is the %s of recovery_subnet %s of network %r"
                                        % (vm["path"], vm["recovery_ip"], role, net[0]["recovery_subnet"],
                                           net[0]["name"]))
                    else:
                        vm["network"] = net[0]["name"]
                except InvalidInput as exc:
                    problems.append("%s.recovery_ip: %s" % (vm["path"], exc))
    return {"tiers": selected, "networks": nets, "storage_map": stores, "plan": normalised}, problems


# -- VM records ----------------------------------------------------------------------------

def merge_records(baseline: Mapping[str, Mapping], live: Mapping[str, Mapping]) -> dict:
    """Live records over baseline ones; a live NIC without IPs keeps the baseline's (same MAC, else same place).

    A guest that is powered off (a planned takeover shut it down) reports no IP; its
    address, read before the shutdown, is still the one to re-address from.
    """
    merged = dict(baseline)
    for name, record in live.items():
        before = baseline.get(name)
        if not before or not record.get("nics"):
            merged[name] = record
            continue
        old_nics = list(before.get("nics") or [])
        by_mac = {n.get("mac"): n for n in old_nics if n.get("mac")}
        nics = []
        for index, nic in enumerate(record["nics"]):
            if not nic.get("ip_addresses"):
                old = by_mac.get(nic.get("mac")) or (old_nics[index] if index < len(old_nics) else None)
                if old and old.get("ip_addresses"):
                    nic = dict(nic, ip_addresses=list(old["ip_addresses"]))
            nics.append(nic)
        merged[name] = dict(record, nics=nics)
    return merged


def _facts(record: Mapping) -> dict:
    """plan_sites facts of one VM record (site_info ``vms[]`` shape)."""
    nics = record.get("nics") or []
    return {"ips": [ip for nic in nics for ip in nic.get("ip_addresses") or []],
            "portgroups": [nic["portgroup"] for nic in nics if nic.get("portgroup")],
            "datastores": list(record.get("datastores") or [])}


def _replica_path(path: str | None, replicas: Mapping[str, str]) -> str | None:
    datastore, rest = parse_datastore_path(path)
    if datastore is None or datastore not in replicas:
        return None
    return "[%s] %s" % (replicas[datastore], rest)


def _primary_address(vm: Mapping, nic: Mapping, net: Mapping, problems: list, readdress: bool) -> dict | None:
    """Failback address of one primary NIC: its primary IP with the network's primary gateway and DNS.

    A NIC with no known IP in ``primary_subnet`` is a problem when ``readdress``: the
    customization would put the production VM on DHCP.
    """
    ips = [ip for ip in nic.get("ip_addresses") or [] if ipmap.ip_in_subnet(ip, net["primary_subnet"])]
    if not ips:
        if readdress:
            problems.append("%s: VM %r NIC %s on %s (portgroup %r) has no known IP in primary_subnet %s (the guest "
                            "is off or its tools do not report one): failback would bring the production VM back "
                            "on DHCP; pass baseline (the baseline role's record) so its address is restored"
                            % (vm["path"], vm["name"], nic.get("mac") or "without MAC", net["path"],
                               nic.get("portgroup"), net["primary_subnet"]))
        return None
    sub = ipmap.parse_cidr(net["primary_subnet"])
    return {"ip": ips[0], "prefix_length": sub.prefixlen, "netmask": str(sub.netmask),
            "gateway": net.get("primary_gateway"), "dns_servers": list(net.get("primary_dns_servers") or [])}


def _other_plan_vms(sel: Mapping, records: Mapping[str, Mapping], selected: set) -> list:
    """``(path, vm, addresses)`` of the plan's VMs not selected whose recovery addresses are at hand.

    An explicit ``recovery_ip``, else the VM's record in ``records`` (baseline or live): nothing is
    read for them, and a VM whose address cannot be computed - its network not in this network
    map, say - is left out (its own run reports it).
    """
    nets = sel["networks"]
    names = {n["name"] for n in nets}
    found: list = []        # (order, path, vm, addresses)
    recorded: list = []     # (order, path, vm, record): their addresses in one call below
    for t, tier in enumerate((sel.get("plan") or {}).get("tiers") or []):
        for v, vm in enumerate(tier.get("vms") or []):
            if vm["name"] in selected or (vm.get("network") is not None and vm["network"] not in names):
                continue
            path, record = "plan.tiers[%d].vms[%d]" % (t, v), records.get(vm["name"])
            if record is not None:
                recorded.append(((t, v), path, vm, record))
            elif vm.get("recovery_ip") is not None:
                try:
                    found.append(((t, v), path, vm, [ipmap.recovery_address(vm, None, nets)]))
                except InvalidInput:
                    continue
    if recorded:
        addresses, _unused = plan_sites.recovery_addresses(
            {"networks": nets, "tiers": [{"vms": [vm for _o, _p, vm, _r in recorded]}]},
            {vm["name"]: _facts(record) for _o, _p, vm, record in recorded})
        found += [(order, path, vm, addresses[vm["name"]]) for order, path, vm, _r in recorded
                  if addresses.get(vm["name"])]
    return [(path, vm, addresses) for _order, path, vm, addresses in sorted(found, key=lambda f: f[0])]


def address_problems(nets: Sequence[Mapping], selected: Sequence[tuple], others: Sequence[tuple] = ()) -> list[str]:
    """Recovered IPs on a gateway or DNS server, or shared by two VMs: ``plan_sites.collisions``' rules.

    ``selected`` / ``others``: ``(path, vm, addresses)``; only problems of a selected VM are reported
    (the others' addresses count, so a VM cannot take the address of a VM of another tier).
    """
    order = list(others) + list(selected)  # a clash between both is reported at the selected VM
    addresses: dict = {}
    for _unused, vm, found in order:
        addresses.setdefault(vm["name"], []).extend(a for a in found if a)
    wanted = {path for path, _vm, _addresses in selected}
    found = plan_sites.collisions(nets, [(path, vm) for path, vm, _unused in order], addresses,
                                  ref=lambda _index, net: "%s (%s)" % (net["path"], net["name"]))
    return ["%s: %s" % (problem.path, problem.message) for problem in found if problem.path in wanted]


def work_items(sel: Mapping, records: Mapping[str, Mapping], action: str,
               shutdown_only: bool = False) -> tuple[list, list]:
    """One work item per selected VM (tier order kept) and the problems found.

    ``records``: VM records of the primary site (site_info ``vms[]`` shape). For
    ``failback`` the target is the primary site itself: addresses are the
    primary IPs of the records with the network's ``primary_gateway`` and
    ``primary_dns_servers``, and paths are not translated; every NIC must have a
    known primary IP and every network used a ``primary_gateway`` (problems
    otherwise), except with ``shutdown_only`` (nothing is re-addressed).

    Takeover and drill addresses must not be a recovery gateway or DNS server, nor the
    address of another VM - of the selection, or of any other tier of the plan whose address
    is at hand (``address_problems``).
    """
    problems: list[str] = []
    no_gateway: list[str] = []
    items = []
    nets = sel["networks"]
    by_primary = {n["primary"]: n for n in nets}
    replicas = {s["primary"]: s["recovery"] for s in sel["storage_map"] if s.get("primary") and s.get("recovery")}
    store_path = {s["primary"]: s["path"] for s in sel["storage_map"] if s.get("primary")}
    pg_key = PORTGROUP_KEY.get(action, "recovery")
    readdressed = []
    for t, tier in enumerate(sel["tiers"]):
        for vm in tier["vms"]:
            record = records.get(vm["name"])
            if record is None:
                problems.append("%s: VM %r not found at site primary" % (vm["path"], vm["name"]))
                continue
            mini = {"networks": nets, "tiers": [{"vms": [vm]}]}
            if action == "failback":
                found = []
                addresses = {vm["name"]: []}
            else:
                addresses, found = plan_sites.recovery_addresses(mini, {vm["name"]: _facts(record)})
            hint = ""
            if record.get("power_state") == "poweredOff" and vm["name"] in lacking_ips(records, [vm["name"]]):
                hint = (" - it is powered off at site primary and no takeover registration of this collection at the "
                        "recovery site records its addresses: pass baseline (the baseline role's record)")
            problems += ["%s: %s%s" % (vm["path"], p.message, hint if plan_sites.NO_ADDRESS in p.message else "")
                         for p in found]
            by_network = {a["network"]: a for a in addresses.get(vm["name"], [])}
            desired, nic_addresses = [], []
            for nic in record.get("nics") or []:
                net = by_primary.get(nic.get("portgroup"))
                if net is None:
                    continue  # reported by recovery_addresses
                desired.append({"portgroup": net[pg_key], "mac": nic.get("mac"), "type": nic.get("type"),
                                "network": net["name"], "network_path": net["path"], "key": pg_key})
                if action == "failback":
                    nic_addresses.append(_primary_address(vm, nic, net, problems, not shutdown_only))
                    if not shutdown_only and not net.get("primary_gateway") and net["path"] not in no_gateway:
                        no_gateway.append(net["path"])
                        problems.append("%s.primary_gateway: is required for failback: the guest returns with its "
                                        "recovery-site address and must get its primary gateway back (give "
                                        "primary_gateway, inside primary_subnet %s)"
                                        % (net["path"], net["primary_subnet"]))
                else:
                    nic_addresses.append(by_network.get(net["name"]))
            if action != "failback":
                readdressed.append((vm["path"], vm, nic_addresses))
            used = set(record.get("datastores") or [])
            config_ds = parse_datastore_path(record.get("vm_path_name"))[0]
            if config_ds:
                used.add(config_ds)
            for ds in sorted(used):
                if ds not in replicas:
                    problems.append("%s: VM %r has files on datastore %r, which no entry of the storage map replicates"
                                    % (vm["path"], vm["name"], ds))
            if action == "failback":
                register_path = record.get("vm_path_name")
                disks = [{"file": d["file"], "capacity_kb": d.get("capacity_kb"), "thin": d.get("thin")}
                         for d in record.get("disks") or [] if d.get("file")]
            else:
                register_path = _replica_path(record.get("vm_path_name"), replicas)
                disks = [{"file": _replica_path(d.get("file"), replicas), "capacity_kb": d.get("capacity_kb"),
                          "thin": d.get("thin")} for d in record.get("disks") or []]
                disks = [d for d in disks if d["file"]]
            items.append({
                "name": vm["name"], "tier": tier["name"], "tier_index": t, "path": vm["path"],
                "nics": desired, "addresses": nic_addresses, "register_path": register_path,
                "register_datastore": parse_datastore_path(register_path)[0],
                "datastore_paths": sorted({store_path[d] for d in used if d in store_path}),
                "datastores": sorted(used), "disks": disks,
                "source_power": record.get("power_state"),
                "source_tools": record.get("tools_running_status"),
                "source_nics": source_nics(record) if action == "takeover" else None,
            })
    if readdressed:
        selected = {vm["name"] for tier in sel["tiers"] for vm in tier["vms"]}
        problems += address_problems(nets, readdressed, _other_plan_vms(sel, records, selected))
    return items, problems


def names_text(names: Sequence[str], limit: int = 5) -> str:
    """``'a', 'b' and 3 more``: VM names for a message."""
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (" and %d more" % (len(names) - limit) if len(names) > limit else "")


def target_problems(items: Sequence[Mapping], sel: Mapping, portgroups: Mapping[str, Any],
                    datastores: Mapping[str, Mapping], action: str, site: str,
                    drill_datastore: str | None = None) -> list[str]:
    """Portgroups and datastores the target site lacks (each reported once).

    Every datastore a VM has files on (its configuration and each disk: at the
    target the replica of each, for ``failback`` the datastore itself) must be
    mounted on the target cluster, and for ``drill`` the ``drill_datastore``
    too; each missing one is reported with the VMs that need it.
    """
    problems: list[str] = []
    reported = set()
    replicas = {s["primary"]: s["recovery"] for s in sel["storage_map"] if s.get("primary") and s.get("recovery")}
    missing: dict[str, list[str]] = {}
    first_path: dict[str, str] = {}
    for item in items:
        for nic in item["nics"]:
            if nic["portgroup"] not in portgroups and (nic["network_path"], nic["key"]) not in reported:
                reported.add((nic["network_path"], nic["key"]))
                problems.append("%s.%s: portgroup %r not found at site %s"
                                % (nic["network_path"], nic["key"], nic["portgroup"], site))
        if action in ("takeover", "drill", "failback"):
            needed = [item.get("register_datastore")]
            needed += [ds if action == "failback" else replicas.get(ds) for ds in item.get("datastores") or []]
            for ds in dict.fromkeys(needed):  # each once: a VM is named once per datastore
                info = datastores.get(ds) if ds else None
                if ds and (info is None or not info.get("mounted")):
                    missing.setdefault(ds, []).append(item["name"])
                    first_path.setdefault(ds, item["path"])
    field = "recovery" if action != "failback" else "primary"
    for ds, names in missing.items():
        where = next(("%s.%s" % (s["path"], field) for s in sel["storage_map"]
                      if s.get("recovery") == ds or s.get("primary") == ds), first_path[ds])
        problems.append("%s: datastore %r is not mounted at site %s: VM%s %s ha%s files on it%s"
                        % (where, ds, site, "" if len(names) == 1 else "s", names_text(names),
                           "s" if len(names) == 1 else "ve",
                           " (present the replica with continuity.recovery.storage_mapping)"
                           if action != "failback" else ""))
    if action == "drill" and drill_datastore and items:
        info = datastores.get(drill_datastore)
        if info is None or not info.get("mounted"):
            problems.append("drill_datastore: datastore %r is %s at site %s (the drill clones of VM %s put their "
                            "child disks there)" % (drill_datastore, "not found" if info is None else "not mounted",
                                                    site, names_text([i["name"] for i in items])))
    return problems


def adoption_problem(item: Mapping, state: Mapping | None) -> str | None:
    """Why an unmarked VM of the item's name at the recovery site cannot be the replica a drill clones (or None).

    A VM this collection did not register (no marker) is taken for the replica only when
    it is powered off and registered from the expected replica path.
    """
    if state is None or (state.get("marker") or {}).get("role"):
        return None
    reasons = []
    if state.get("power") != "poweredOff":
        reasons.append("it is %s (a replica registration is powered off)" % state.get("power"))
    found, wanted = parse_datastore_path(state.get("vm_path_name")), parse_datastore_path(item.get("register_path"))
    if (found[0], (found[1] or "").strip().lstrip("/")) != (wanted[0], (wanted[1] or "").strip().lstrip("/")):
        reasons.append("it is registered from %s, not from the replica %s"
                       % (state.get("vm_path_name") or "an unknown path", item.get("register_path")))
    if not reasons:
        return None
    return ("%s: VM %r at the recovery site is not the replica: %s; rename or remove it, or register the replica "
            "there yourself" % (item["path"], item["name"], "; ".join(reasons)))


# -- state at the target site -----------------------------------------------------------------

def marker(extra_config: Sequence[Mapping] | None) -> dict:
    """``{role, source, source_nics}`` from a VM's extraConfig (empty when the VM carries no marker).

    ``source_nics`` (a takeover's registration only): the source VM's NICs as ``source_nics``
    gives them, or absent when the option is missing or not of that shape.
    """
    found = {}
    for option in extra_config or []:
        if option.get("key") == MARKER_ROLE:
            found["role"] = option.get("value")
        elif option.get("key") == MARKER_SOURCE:
            found["source"] = option.get("value")
        elif option.get("key") == MARKER_SOURCE_NICS:
            nics = _decode_source_nics(option.get("value"))
            if nics is not None:
                found["source_nics"] = nics
    return found


def source_nics(record: Mapping) -> list[dict] | None:
    """``[{mac, ip_addresses}]`` of a source VM's NICs, in order - None when no NIC has an IP.

    A takeover writes it beside its marker on the VM it registers (``MARKER_SOURCE_NICS``):
    the primary addresses as read before the source was shut down, which a powered-off
    guest no longer reports. A rerun or a failback takes them from there
    (``fill_from_registrations``) when neither the primary nor ``baseline`` has them.
    """
    nics = [{"mac": nic.get("mac"), "ip_addresses": [str(ip) for ip in nic.get("ip_addresses") or []]}
            for nic in record.get("nics") or []]
    return nics if any(nic["ip_addresses"] for nic in nics) else None


def encode_source_nics(nics: Sequence[Mapping]) -> str:
    """The extraConfig value of ``source_nics`` (compact JSON)."""
    return json.dumps(list(nics), separators=(",", ":"), sort_keys=True)


def _decode_source_nics(value: Any) -> list[dict] | None:
    try:
        nics = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if not isinstance(nics, list) or not all(
            isinstance(n, dict) and isinstance(n.get("ip_addresses"), list)
            and all(isinstance(ip, str) for ip in n["ip_addresses"])
            and (n.get("mac") is None or isinstance(n.get("mac"), str)) for n in nics):
        return None
    return [{"mac": n.get("mac"), "ip_addresses": list(n["ip_addresses"])} for n in nics]


def marker_changes(item: Mapping, target: Mapping) -> list[str]:
    """What a takeover's reconfiguration changes in the marker of the VM at the target beyond the NICs.

    The source addresses are rewritten when the item knows some and an existing registration
    records others (or none: registered by an earlier version of this collection, or for an
    earlier takeover). A VM without a marker is reconfigured anyway (and marked): nothing extra.
    """
    mark = target.get("marker") or {}
    if mark.get("role") and item.get("source_nics") and mark.get("source_nics") != item["source_nics"]:
        return ["record the source addresses %s in the marker" % ", ".join(
            ip for nic in item["source_nics"] for ip in nic["ip_addresses"])]
    return []


def lacking_ips(records: Mapping[str, Mapping], names: Sequence[str]) -> list[str]:
    """The named VMs whose record has a NIC without any IP (a powered-off guest reports none)."""
    return [name for name in names if name in records
            and any(not nic.get("ip_addresses") for nic in records[name].get("nics") or [])]


def fill_from_registrations(records: Mapping[str, Mapping], states: Mapping[str, Mapping]) -> dict:
    """``records`` with the IPs their NICs lack taken from this collection's takeover registrations.

    ``states``: name -> state (``{marker, ...}``) of VMs at the recovery site. Only a VM a
    takeover of this collection registered for that very VM (marker role takeover, source its
    own name) counts; its ``source_nics`` fill a NIC of the record that reports no IP, matched
    by MAC, else by position (``merge_records``). Other records are returned as they are.
    """
    written = {}
    for name, state in states.items():
        mark = (state or {}).get("marker") or {}
        if name in records and mark.get("role") == ROLE_TAKEOVER and mark.get("source") == name \
                and mark.get("source_nics"):
            written[name] = {"nics": mark["source_nics"]}
    if not written:
        return dict(records)
    merged = merge_records(written, {name: records[name] for name in written})
    return dict(records, **merged)


def snapshot_list(snapshot_info: Mapping | None) -> list[dict]:
    """Flat list ``{name, moid, description}`` of a VM's snapshot tree."""
    out = []
    stack = list((snapshot_info or {}).get("rootSnapshotList") or [])
    while stack:
        node = stack.pop(0)
        out.append({"name": node.get("name"), "moid": node.get("snapshot"), "description": node.get("description")})
        stack.extend(node.get("childSnapshotList") or [])
    return out


def ips_ok(item: Mapping, ips: Sequence[str]) -> bool:
    """Every fixed address the item expects is reported by the guest."""
    wanted = [a["ip"] for a in item["addresses"] if a]
    return all(ip in ips for ip in wanted)


def steps(item: Mapping, target: Mapping | None, action: str, mode: str, source_reachable: bool,
          shutdown_only: bool = False) -> list[str]:
    """Steps still needed by one VM (``target``: its state at the target site, or None).

    ``target``: ``{power, nics, disks, ips, marker}``. Raises InvalidInput when
    the VM runs at the target with another address (never re-addressed live).
    ``shutdown_only``: only the source shutdown (planned takeover/failback) - the
    target is not looked at; a source VM already powered off needs nothing.
    """
    needed = []
    if action in ("takeover", "failback") and mode == "planned" and source_reachable \
            and item.get("source_power") == "poweredOn":
        needed.append("shutdown_source")
    if shutdown_only:
        return needed
    if target is None:
        needed.append("register")
        return needed + ["reconfigure", "customize", "power_on", "wait_ip"]
    plan = nics_mod.nic_plan(target["nics"], item["nics"])
    disks = nics_mod.disk_plan(target["disks"], item["disks"])
    unmarked = target["marker"].get("role") not in (ROLE_TAKEOVER, ROLE_FAILBACK)
    if plan["changed"] or disks or unmarked or marker_changes(item, target):
        if target["power"] == "poweredOn" and (plan["changed"] or disks):
            raise InvalidInput("%s: VM %r is powered on at the target site on other portgroups; "
                               "power it off to let the cutover reconcile it" % (item["path"], item["name"]))
        needed.append("reconfigure")
    if target["power"] != "poweredOn":
        needed += ["customize", "power_on", "wait_ip"]
    elif not ips_ok(item, target["ips"]):
        if target["ips"]:
            raise InvalidInput("%s: VM %r runs at the target site with IP %s, expected %s; refusing to re-address "
                               "a running VM" % (item["path"], item["name"], ", ".join(target["ips"]),
                                                 ", ".join(a["ip"] for a in item["addresses"] if a)))
        needed.append("wait_ip")
    return needed


def unregister_plan(names: Sequence[str], states: Mapping, check_mode: bool = False) -> dict:
    """Which VMs at the recovery site a failback unregisters (host_cutover ``unregister_source``).

    ``states``: name -> ``{power, marker}`` of the VMs that exist at the recovery site. Only VMs this
    collection registered for a takeover (marker role takeover/failback) and that are powered off are
    unregistered; in check mode a running one counts too (the failback shuts it down first). Returns
    ``{unregister: [names], skipped: {name: reason}}``; a VM without the marker is never touched.
    """
    todo, skipped = [], {}
    for name in names:
        state = states.get(name)
        if state is None:
            continue  # not registered there (already unregistered): nothing to do
        if (state.get("marker") or {}).get("role") not in (ROLE_TAKEOVER, ROLE_FAILBACK):
            skipped[name] = "not registered by a takeover of this collection (no marker): left alone"
        elif state.get("power") != "poweredOff" and not check_mode:
            skipped[name] = "still %s at the recovery site: not unregistered" % state.get("power")
        else:
            todo.append(name)
    return {"unregister": todo, "skipped": skipped}

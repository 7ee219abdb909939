# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cross-reference check of a normalised recovery plan against live site facts (pure).

``check(plan, facts)`` compares a plan already normalised by ``plan.validate``
with what the sites report and returns :class:`~plan.Problem` objects, paths in
the plan's notation. ``facts``::

    {"primary": SITE, "recovery": SITE,
     "databases": {pair_name: {"primary": {"reachable": bool, "error": str|None},
                               "standby": {...}}}}
    SITE = {"reachable": bool, "error": str|None, "datacenters": [names],
            "clusters": [names], "portgroups": [names], "datastores": [names],
            "vms": {name: {"ips": [ip, ...], "portgroups": [names], "datastores": [names]}}}

Replica datastores need not exist at the recovery site (they are presented at
takeover), and a standby database need not answer before ``protect``.
``recovery_addresses`` computes where each VM's NICs land at the recovery site.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ansible_collections.continuity.recovery.plugins.module_utils import ipmap
from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput
from ansible_collections.continuity.recovery.plugins.module_utils.plan import Problem

_MAX_ERROR = 200
_NO_FACTS = "no facts were collected"


def _show(value: Any) -> str:
    """Quote a name for a message."""
    return repr(value) if isinstance(value, str) else str(value)


def _error_text(error: Any) -> str:
    """An endpoint error on one line, shortened."""
    text = " ".join(str(error).split())
    return text if len(text) <= _MAX_ERROR else text[:_MAX_ERROR] + "..."


def _unreachable(what: str, error: Any) -> str:
    """``<what> is unreachable[: error]``."""
    return f"{what} is unreachable: {_error_text(error)}" if error else f"{what} is unreachable"


def _missing(kind: str, name: str, role: str, known: Any) -> str:
    """``<kind> 'X' not found at site <role>``, naming a match that differs only in case."""
    message = f"{kind} {_show(name)} not found at site {role}"
    folded = name.casefold()
    same = sorted(k for k in known if isinstance(k, str) and k.casefold() == folded)
    return f"{message} (did you mean {_show(same[0])}? names are case-sensitive)" if same else message


def _ref(index: int, network: Mapping[str, Any]) -> str:
    """``networks[0] (prod)``."""
    return f"networks[{index}] ({network['name']})"


class _Site:
    """Facts of one site, with name lists as sets."""

    def __init__(self, role: str, facts: Any) -> None:
        facts = facts if isinstance(facts, Mapping) else {"reachable": False, "error": _NO_FACTS}
        self.role = role
        self.reachable = bool(facts.get("reachable"))
        self.error = facts.get("error")
        for kind in ("datacenters", "clusters", "portgroups", "datastores"):
            setattr(self, kind, set(facts.get(kind) or []))
        vms = facts.get("vms")
        self.vms: Mapping[str, Any] = vms if isinstance(vms, Mapping) else {}

    def require(self, problems: list[Problem], path: str, kind: str, name: Any, known: set) -> None:
        """Report ``name`` (when set) at ``path`` unless it is in ``known``."""
        if name is not None and name not in known:
            problems.append(Problem(path, _missing(kind, name, self.role, known)))


def _site_problems(plan: Mapping[str, Any], sites: dict[str, _Site]) -> list[Problem]:
    """Reachability, datacenter and cluster of both sites."""
    problems = []
    for role, site in sites.items():
        settings = plan["sites"][role]
        if not site.reachable:
            vcenter = settings["vcenter"]
            what = f"vCenter {vcenter['hostname']}:{vcenter['port']} of site {role}"
            problems.append(Problem(f"sites.{role}.vcenter.hostname", _unreachable(what, site.error)))
            continue
        site.require(problems, f"sites.{role}.datacenter", "datacenter", settings["datacenter"], site.datacenters)
        site.require(problems, f"sites.{role}.cluster", "cluster", settings["cluster"], site.clusters)
    return problems


def _network_problems(plan: Mapping[str, Any], sites: dict[str, _Site]) -> list[Problem]:
    """Every portgroup of the network map exists at its site."""
    problems: list[Problem] = []
    primary, recovery = sites["primary"], sites["recovery"]
    for i, net in enumerate(plan["networks"]):
        if primary.reachable:
            primary.require(problems, f"networks[{i}].primary", "portgroup", net["primary"], primary.portgroups)
        if recovery.reachable:
            for key in ("recovery", "drill"):
                recovery.require(problems, f"networks[{i}].{key}", "portgroup", net[key], recovery.portgroups)
    return problems


def _datastore_problems(plan: Mapping[str, Any], sites: dict[str, _Site]) -> list[Problem]:
    """Every primary datastore exists (replicas are presented later)."""
    problems: list[Problem] = []
    primary = sites["primary"]
    if primary.reachable:
        for i, store in enumerate(plan["datastores"]):
            primary.require(problems, f"datastores[{i}].primary", "datastore", store["primary"], primary.datastores)
    return problems


def _database_problems(plan: Mapping[str, Any], facts: Mapping[str, Any]) -> list[Problem]:
    """Primary database endpoints answer (an unanswering standby is not a problem yet)."""
    problems = []
    databases = facts.get("databases")
    databases = databases if isinstance(databases, Mapping) else {}
    for i, pair in enumerate(plan["replication"]):
        if pair["engine"] != "postgresql":
            continue
        endpoint = pair["primary"]
        what = f"database endpoint {endpoint['host']}:{endpoint['port']} of pair {_show(pair['name'])}"
        pair_facts = databases.get(pair["name"])
        state = pair_facts.get("primary") if isinstance(pair_facts, Mapping) else None
        if not isinstance(state, Mapping):
            problems.append(Problem(f"replication[{i}].primary", f"{what} was not checked: {_NO_FACTS}"))
        elif not state.get("reachable"):
            problems.append(Problem(f"replication[{i}].primary", _unreachable(what, state.get("error"))))
    return problems


# ------------------------------------------------------------- addressing

def _candidate_ips(ips: Any, version: int) -> list[Any]:
    """The VM's addresses of one IP version, link-local ones left out."""
    found = []
    for text in ips or []:
        try:
            address = ipmap.parse_ip(text)
        except InvalidInput:
            continue
        if address.version == version and not address.is_link_local():
            found.append(address)
    return found


# the words of the problem "the VM reports no address to compute its recovery IP from" (host_cutover adds a hint)
NO_ADDRESS = "so its recovery IP cannot be computed"


def _nic_address(vm: Mapping[str, Any], index: int, net: Mapping[str, Any], info: Mapping[str, Any],
                 networks: list) -> tuple[dict | None, str | None]:
    """Recovery address of the VM's NIC on network ``net``: (address, problem)."""
    subnet = ipmap.parse_cidr(net["primary_subnet"])
    candidates = _candidate_ips(info.get("ips"), subnet.version)
    inside = [ip for ip in candidates if ip in subnet]
    explicit = vm["recovery_ip"] if vm["network"] == net["name"] else None
    name = _show(vm["name"])
    if not inside and candidates:
        return None, (f"primary IP {candidates[0]} of VM {name} is not inside primary_subnet "
                      f"{net['primary_subnet']} of {_ref(index, net)}")
    if explicit is None and not inside:
        return None, (f"VM {name} reports no IPv{subnet.version} address in {net['primary_subnet']} "
                      f"(are VMware Tools running?), {NO_ADDRESS}; "
                      f"give it an explicit recovery_ip")
    recovery = ipmap.parse_cidr(net["recovery_subnet"])
    if explicit is None and subnet.prefixlen != recovery.prefixlen:
        return None, (f"VM {name} needs an explicit recovery_ip: {_ref(index, net)} re-addresses "
                      f"/{subnet.prefixlen} to /{recovery.prefixlen}")
    primary_ip = str(inside[0]) if inside else None
    entry = {"name": vm["name"], "recovery_ip": explicit, "network": net["name"]}
    try:
        address = ipmap.recovery_address(entry, primary_ip, networks)
    except InvalidInput as exc:
        return None, exc.message
    address.update(primary_ip=primary_ip, primary_portgroup=net["primary"],
                   recovery_portgroup=net["recovery"], drill_portgroup=net["drill"])
    return address, None


def _vm_networks(vm: Mapping[str, Any], info: Mapping[str, Any], plan: Mapping[str, Any],
                 path: str) -> tuple[list[int], list[Problem]]:
    """Indexes of the networks mapping the VM's portgroups, and unmapped-portgroup problems."""
    by_portgroup = {net["primary"]: i for i, net in enumerate(plan["networks"])}
    indexes, problems = [], []
    for portgroup in info.get("portgroups") or []:
        index = by_portgroup.get(portgroup)
        if index is None:
            problems.append(Problem(path, f"VM {_show(vm['name'])} is on portgroup {_show(portgroup)}, which no "
                                          "entry of networks maps to the recovery site"))
        elif index not in indexes:
            indexes.append(index)
    if vm["network"] is not None:
        named = next(i for i, net in enumerate(plan["networks"]) if net["name"] == vm["network"])
        if named not in indexes:
            net = plan["networks"][named]
            on = ", ".join(_show(p) for p in info.get("portgroups") or []) or "no portgroup"
            problems.append(Problem(path, f"VM {_show(vm['name'])} is on {on}, not on portgroup "
                                          f"{_show(net['primary'])} of {_ref(named, net)}"))
    return indexes, problems


def _vm_addresses(vm: Mapping[str, Any], info: Mapping[str, Any], plan: Mapping[str, Any],
                  path: str) -> tuple[list[dict], list[Problem]]:
    """All recovery addresses of one VM (one per mapped network) and the problems found."""
    indexes, problems = _vm_networks(vm, info, plan, path)
    addresses = []
    for index in indexes:
        address, problem = _nic_address(vm, index, plan["networks"][index], info, plan["networks"])
        if problem:
            problems.append(Problem(path, problem))
        else:
            addresses.append(address)
    return addresses, problems


def _tier_vms(plan: Mapping[str, Any]):
    """(path, vm) of every VM of every tier, in recovery order."""
    for t, tier in enumerate(plan["tiers"]):
        for v, vm in enumerate(tier["vms"]):
            yield f"tiers[{t}].vms[{v}]", vm


def recovery_addresses(plan: Mapping[str, Any], vms: Mapping[str, Any]) -> tuple[dict[str, list[dict]], list[Problem]]:
    """Where every VM of a normalised plan lands at the recovery site.

    ``vms`` is the primary site's ``vms`` facts (or the baseline record of
    them). Each VM gets one address per network its portgroups map to:
    ``{network, primary_ip, ip, prefix_length, netmask, subnet, gateway,
    dns_servers, primary_portgroup, recovery_portgroup, drill_portgroup}``.

    :returns: ``({vm_name: [address, ...]}, problems)``; VMs missing from
        ``vms`` are reported as not found at site primary.
    """
    result: dict[str, list[dict]] = {}
    problems: list[Problem] = []
    for path, vm in _tier_vms(plan):
        info = vms.get(vm["name"])
        if not isinstance(info, Mapping):
            problems.append(Problem(path, _missing("VM", vm["name"], "primary", vms)))
            continue
        result[vm["name"]], found = _vm_addresses(vm, info, plan, path)
        problems.extend(found)
    return result, problems


def _collisions(plan: Mapping[str, Any], addresses: dict[str, list[dict]]) -> list[Problem]:
    """No two VMs on one recovered IP; none on a gateway or DNS server."""
    return collisions(plan["networks"], _tier_vms(plan), addresses)


def collisions(networks: Sequence[Mapping[str, Any]], vms, addresses: Mapping[str, list[dict]],
               ref: Callable[[int, Mapping[str, Any]], str] = _ref) -> list[Problem]:
    """No two VMs on one recovered IP; none on a gateway or DNS server.

    ``vms``: ``(path, vm)`` in recovery order (a clash is reported at the later VM);
    ``addresses``: VM name -> its recovered addresses; ``ref(index, network)`` names a network.
    """
    problems = []
    reserved = {}
    for i, net in enumerate(networks):
        reserved[net["recovery_gateway"]] = f"the recovery_gateway of {ref(i, net)}"
        for dns in net["dns_servers"]:
            reserved.setdefault(dns, f"a DNS server of {ref(i, net)}")
    owners: dict[str, tuple[str, str]] = {}
    for path, vm in vms:
        for address in addresses.get(vm["name"], []):
            ip, name = address["ip"], _show(vm["name"])
            if ip in reserved:
                problems.append(Problem(path, f"recovered IP {ip} of VM {name} is {reserved[ip]}"))
            elif ip in owners and owners[ip][0] != vm["name"]:
                other, where = owners[ip]
                problems.append(Problem(path, f"recovered IP {ip} of VM {name} is also the recovered IP of "
                                              f"VM {_show(other)} ({where})"))
            else:
                owners.setdefault(ip, (vm["name"], path))
    return problems


def _vm_problems(plan: Mapping[str, Any], site: _Site) -> list[Problem]:
    """VMs exist, sit on mapped portgroups and datastores, and re-address cleanly."""
    if not site.reachable:
        return []
    addresses, problems = recovery_addresses(plan, site.vms)
    mapped = {store["primary"] for store in plan["datastores"]}
    for path, vm in _tier_vms(plan):
        info = site.vms.get(vm["name"])
        for store in (info.get("datastores") or []) if isinstance(info, Mapping) else []:
            if store not in mapped:
                problems.append(Problem(path, f"VM {_show(vm['name'])} has disks on datastore {_show(store)}, "
                                              "which no entry of datastores replicates"))
    problems.extend(_collisions(plan, addresses))
    return sorted(problems, key=lambda p: _path_key(p.path))


def _path_key(path: str) -> tuple:
    """Order ``tiers[t].vms[v]`` paths by recovery order (stable for equal keys)."""
    numbers = [int(part.split("]")[0]) for part in path.split("[")[1:]]
    return tuple(numbers)


def check(plan: Mapping[str, Any], facts: Mapping[str, Any]) -> list[Problem]:
    """Problems of a normalised plan against live site facts (see the module docstring).

    :raises InvalidInput: ``plan`` is not a plan normalised by ``plan.validate``
        (a caller's bug, not a problem of the plan).
    """
    if not isinstance(plan, Mapping) or "vm_index" not in plan:
        raise InvalidInput("plan_sites.check() needs the normalised plan returned by plan.validate()")
    facts = facts if isinstance(facts, Mapping) else {}
    sites = {role: _Site(role, facts.get(role)) for role in ("primary", "recovery")}
    return (_site_problems(plan, sites) + _network_problems(plan, sites) + _datastore_problems(plan, sites)
            + _database_problems(plan, facts) + _vm_problems(plan, sites["primary"]))

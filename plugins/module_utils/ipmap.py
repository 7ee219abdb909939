# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Re-addressing of recovered VMs with netaddr (pure functions).

A network map entry of the recovery plan (docs/plan.md, ``networks[]``) says
that the primary subnet ``primary_subnet`` becomes ``recovery_subnet`` at the
recovery site. A VM keeps its *host offset*: 10.10.3.7 in 10.10.0.0/20 becomes
10.20.3.7 in 10.20.0.0/20. An explicit ``recovery_ip`` on a VM entry wins.

Parsing is strict: addresses in inet_pton form only (no ``10.1``, no leading
zeros), subnets written as ``address/prefix`` with the address being the
network address. Every error is an :class:`InvalidInput` with a message that
names the offending value, so plan validation can show it under a plan path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.continuity.recovery.plugins.module_utils.errors import (
    InvalidInput,
    RecoveryError,
)

try:
    import netaddr
except ImportError:  # pragma: no cover - exercised only without netaddr
    netaddr = None

_PREFIX_RE = re.compile(r"0|[1-9][0-9]{0,2}")
_MAX_SHOWN = 60


def require_netaddr() -> None:
    """Raise :class:`RecoveryError` when the netaddr library is missing."""
    if netaddr is None:
        raise RecoveryError(
            "the Python library netaddr is required on the controller for re-addressing; "
            "install it with 'pip install netaddr'"
        )


def _show(value: Any) -> str:
    """Quote a value for a message, shortened so a huge input cannot flood it."""
    text = repr(value) if isinstance(value, str) else str(value)
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN] + "..."
    return text


def _type_name(value: Any) -> str:
    """YAML-ish name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def parse_ip(value: Any, what: str = "IP address") -> "netaddr.IPAddress":
    """Parse one IPv4/IPv6 address strictly (inet_pton form, no prefix).

    :raises InvalidInput: the value is not a string holding a valid address.
    """
    require_netaddr()
    if isinstance(value, netaddr.IPAddress):
        return value
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, got {_type_name(value)}", value=str(value))
    if "/" in value:
        raise InvalidInput(f"{what} {_show(value)} must be a plain address, without a prefix length")
    try:
        return netaddr.IPAddress(value)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise InvalidInput(f"{_show(value)} is not a valid {what}") from None


def parse_cidr(value: Any, what: str = "subnet") -> "netaddr.IPNetwork":
    """Parse a subnet written ``address/prefix`` whose address is the network address.

    :raises InvalidInput: not CIDR notation, invalid address or prefix, or
        host bits set (the message then names the network address).
    """
    require_netaddr()
    if isinstance(value, netaddr.IPNetwork):
        return value
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string in CIDR notation, got {_type_name(value)}")
    address, sep, prefix = value.partition("/")
    if not sep:
        raise InvalidInput(f"{_show(value)} is not in CIDR notation (address/prefix, e.g. 10.10.0.0/20)")
    try:
        ip = netaddr.IPAddress(address)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise InvalidInput(f"{_show(value)} is not a valid {what}: bad address {_show(address)}") from None
    limit = 32 if ip.version == 4 else 128
    if not _PREFIX_RE.fullmatch(prefix) or int(prefix) > limit:
        raise InvalidInput(
            f"{_show(value)} is not a valid {what}: prefix length must be 0..{limit}, got {_show(prefix)}"
        )
    network = netaddr.IPNetwork(f"{ip}/{prefix}")
    if network.ip != network.network:
        raise InvalidInput(f"{value} has host bits set: the network address is {network.cidr}")
    return network


def reserved_role(ip: "netaddr.IPAddress", subnet: "netaddr.IPNetwork") -> str | None:
    """Say whether ``ip`` is the network or broadcast address of ``subnet``.

    IPv4 /31 and /32 (RFC 3021) and IPv6 /127 and /128 reserve nothing; IPv6
    has no broadcast but reserves the subnet-router anycast (network) address.
    """
    host_bits = (32 if subnet.version == 4 else 128) - subnet.prefixlen
    if host_bits <= 1:
        return None
    if ip == subnet.network:
        return "network address"
    if subnet.version == 4 and ip == subnet.broadcast:
        return "broadcast address"
    return None


def ip_in_subnet(ip: Any, cidr: Any) -> bool:
    """True when ``ip`` lies inside ``cidr`` (both strings; versions may differ).

    :raises InvalidInput: either value does not parse.
    """
    address = parse_ip(ip)
    subnet = parse_cidr(cidr)
    return address.version == subnet.version and address in subnet


def subnets_overlap(first: Any, second: Any) -> bool:
    """True when two subnets share at least one address."""
    one, two = parse_cidr(first), parse_cidr(second)
    if one.version != two.version:
        return False
    return one.first <= two.last and two.first <= one.last


def remap_ip(ip: Any, primary_subnet: Any, recovery_subnet: Any) -> str:
    """Map ``ip`` from ``primary_subnet`` to the same host offset in ``recovery_subnet``.

    :raises InvalidInput: invalid values, ``ip`` outside the primary subnet or
        its network/broadcast address, different IP versions, or an offset that
        does not fit (or lands on a reserved address of) the recovery subnet.
    """
    address = parse_ip(ip)
    primary = parse_cidr(primary_subnet, "primary subnet")
    recovery = parse_cidr(recovery_subnet, "recovery subnet")
    if primary.version != recovery.version:
        raise InvalidInput(
            f"primary subnet {primary} and recovery subnet {recovery} are of different IP versions"
        )
    if address.version != primary.version or address not in primary:
        raise InvalidInput(f"IP {address} is outside primary subnet {primary}")
    role = reserved_role(address, primary)
    if role:
        raise InvalidInput(f"IP {address} is the {role} of primary subnet {primary}, not a host address")
    offset = int(address) - primary.first
    if offset >= recovery.size:
        raise InvalidInput(
            f"IP {address} is host {offset} of {primary}, beyond recovery subnet {recovery} "
            f"({recovery.size} addresses)"
        )
    result = netaddr.IPAddress(recovery.first + offset, recovery.version)
    role = reserved_role(result, recovery)
    if role:
        raise InvalidInput(f"IP {address} would become {result}, the {role} of recovery subnet {recovery}")
    return str(result)


def _by_name(networks: Iterable[Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    """The network map entry called ``name``."""
    for network in networks:
        if network.get("name") == name:
            return network
    raise InvalidInput(f"network {_show(name)} is not defined in the network map", network=name)


def network_for_ip(ip: Any, networks: Iterable[Mapping[str, Any]],
                   key: str = "primary_subnet") -> Mapping[str, Any] | None:
    """The first network map entry whose ``key`` subnet contains ``ip``, or None.

    ``key`` is ``primary_subnet`` (where a VM lives now) or ``recovery_subnet``
    (where an explicit recovery IP belongs).

    :raises InvalidInput: ``ip`` or a subnet does not parse.
    """
    address = parse_ip(ip)
    for network in networks:
        subnet = parse_cidr(network.get(key), key.replace("_", " "))
        if address.version == subnet.version and address in subnet:
            return network
    return None


def _vm_fields(vm: Any) -> tuple[str, Any, Any]:
    """(name, recovery_ip, network) of a VM given as a name or a plan VM entry."""
    if isinstance(vm, str):
        return vm, None, None
    if isinstance(vm, Mapping):
        return str(vm.get("name")), vm.get("recovery_ip"), vm.get("network")
    raise InvalidInput(f"a VM must be a name or a mapping, got {_type_name(vm)}")


def _pick_network(name: str, recovery_ip: Any, network_name: Any, primary_ip: Any,
                  networks: list[Mapping[str, Any]]) -> Mapping[str, Any]:
    """Choose the network map entry that re-addresses one VM."""
    if network_name is not None:
        return _by_name(networks, network_name)
    if recovery_ip is not None:
        network = network_for_ip(recovery_ip, networks, "recovery_subnet")
        if network is None:
            raise InvalidInput(f"recovery_ip {recovery_ip} of VM {_show(name)} is inside no recovery subnet",
                               vm=name)
        return network
    if primary_ip is None:
        raise InvalidInput(f"VM {_show(name)} has no primary IP and no explicit recovery_ip", vm=name)
    network = network_for_ip(primary_ip, networks)
    if network is None:
        raise InvalidInput(f"primary IP {primary_ip} of VM {_show(name)} is inside no primary subnet",
                           vm=name)
    return network


def recovery_address(vm: Any, primary_ip: Any, networks: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Recovery-site address settings of one VM.

    ``vm`` is a VM name or a plan VM entry ``{name, recovery_ip, network}``;
    ``primary_ip`` its current address (may be None when ``recovery_ip`` is
    given); ``networks`` the plan's network map.

    :returns: ``{ip, prefix_length, netmask, subnet, gateway, dns_servers, network}``
    :raises InvalidInput: the address cannot be computed (message says why),
        also when an explicit ``recovery_ip`` is the network or broadcast
        address of its recovery subnet.
    """
    networks = list(networks)
    name, recovery_ip, network_name = _vm_fields(vm)
    network = _pick_network(name, recovery_ip, network_name, primary_ip, networks)
    subnet = parse_cidr(network.get("recovery_subnet"), "recovery subnet")
    if recovery_ip is not None:
        address = parse_ip(recovery_ip, "recovery_ip")
        if address.version != subnet.version or address not in subnet:
            raise InvalidInput(f"recovery_ip {address} of VM {_show(name)} is outside recovery subnet {subnet}",
                               vm=name)
        role = reserved_role(address, subnet)
        if role:
            raise InvalidInput(f"recovery_ip {address} of VM {_show(name)} is the {role} of recovery subnet "
                               f"{subnet}, not a host address", vm=name)
        ip = str(address)
    else:
        try:
            ip = remap_ip(primary_ip, network.get("primary_subnet"), subnet)
        except InvalidInput as exc:
            raise InvalidInput(f"VM {_show(name)}: {exc.message}", vm=name) from None
    return {
        "ip": ip,
        "prefix_length": subnet.prefixlen,
        "netmask": str(subnet.netmask),
        "subnet": str(subnet),
        "gateway": network.get("recovery_gateway"),
        "dns_servers": list(network.get("dns_servers") or []),
        "network": network.get("name"),
    }

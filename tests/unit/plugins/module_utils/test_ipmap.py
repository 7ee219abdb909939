# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of ipmap: strict parsing and host-offset re-addressing."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.continuity.recovery.plugins.module_utils import ipmap
from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput

NETWORKS = [
    {"name": "prod", "primary_subnet": "10.10.0.0/20", "recovery_subnet": "10.20.0.0/20",
     "recovery_gateway": "10.20.0.1", "dns_servers": ["10.20.0.53"]},
    {"name": "dmz", "primary_subnet": "192.168.10.0/24", "recovery_subnet": "192.168.20.0/24",
     "recovery_gateway": "192.168.20.254"},
]


def error(call, *args: Any) -> str:
    """The InvalidInput message of ``call(*args)``."""
    with pytest.raises(InvalidInput) as caught:
        call(*args)
    return str(caught.value)


@pytest.mark.parametrize("ip, primary, recovery, expected", [
    ("192.168.10.15", "192.168.10.0/24", "192.168.20.0/24", "192.168.20.15"),
    ("192.168.10.1", "192.168.10.0/24", "172.16.5.0/24", "172.16.5.1"),
    ("192.168.10.254", "192.168.10.0/24", "192.168.20.0/24", "192.168.20.254"),
    ("10.10.3.7", "10.10.0.0/20", "10.20.0.0/20", "10.20.3.7"),
    ("10.10.15.254", "10.10.0.0/20", "10.20.0.0/20", "10.20.15.254"),
    ("10.10.16.5", "10.10.16.0/20", "10.20.0.0/20", "10.20.0.5"),
    ("192.168.10.200", "192.168.10.0/24", "10.20.0.0/22", "10.20.0.200"),
    ("192.168.10.1", "192.168.10.0/31", "192.168.20.0/31", "192.168.20.1"),
    ("192.168.10.0", "192.168.10.0/31", "192.168.20.0/31", "192.168.20.0"),
    ("192.168.10.9", "192.168.10.9/32", "192.168.20.7/32", "192.168.20.7"),
    ("2001:db8:10::1:5", "2001:db8:10::/64", "2001:db8:20::/64", "2001:db8:20::1:5"),
    ("0.0.0.1", "0.0.0.0/0", "0.0.0.0/0", "0.0.0.1"),
])
def test_remap_keeps_the_host_offset(ip: str, primary: str, recovery: str, expected: str) -> None:
    assert ipmap.remap_ip(ip, primary, recovery) == expected


@pytest.mark.parametrize("args, message", [
    (("10.30.0.5", "10.10.0.0/20", "10.20.0.0/20"), "IP 10.30.0.5 is outside primary subnet 10.10.0.0/20"),
    (("10.10.16.0", "10.10.0.0/20", "10.20.0.0/20"), "IP 10.10.16.0 is outside primary subnet 10.10.0.0/20"),
    (("2001:db8::1", "10.10.0.0/20", "10.20.0.0/20"), "IP 2001:db8::1 is outside primary subnet 10.10.0.0/20"),
    (("10.10.1.5", "10.10.0.0/20", "10.20.0.0/24"),
     "IP 10.10.1.5 is host 261 of 10.10.0.0/20, beyond recovery subnet 10.20.0.0/24 (256 addresses)"),
    (("10.10.0.255", "10.10.0.0/20", "10.20.0.0/24"),
     "IP 10.10.0.255 would become 10.20.0.255, the broadcast address of recovery subnet 10.20.0.0/24"),
    (("10.10.0.0", "10.10.0.0/20", "10.20.0.0/20"),
     "IP 10.10.0.0 is the network address of primary subnet 10.10.0.0/20, not a host address"),
    (("10.10.15.255", "10.10.0.0/20", "10.20.0.0/20"),
     "IP 10.10.15.255 is the broadcast address of primary subnet 10.10.0.0/20, not a host address"),
    (("10.10.0.5", "10.10.0.0/20", "2001:db8::/64"),
     "primary subnet 10.10.0.0/20 and recovery subnet 2001:db8::/64 are of different IP versions"),
    (("10.10.0.5", "10.10.0.5/20", "10.20.0.0/20"),
     "10.10.0.5/20 has host bits set: the network address is 10.10.0.0/20"),
    (("10.10.0.5", "10.10.0.0/20", "10.20.0.0"),
     "'10.20.0.0' is not in CIDR notation (address/prefix, e.g. 10.10.0.0/20)"),
    (("10.10.0.5/20", "10.10.0.0/20", "10.20.0.0/20"),
     "IP address '10.10.0.5/20' must be a plain address, without a prefix length"),
])
def test_remap_errors_say_why(args: tuple, message: str) -> None:
    assert error(ipmap.remap_ip, *args) == message


@pytest.mark.parametrize("value, message", [
    ("10.1", "'10.1' is not a valid IP address"),
    ("010.1.1.1", "'010.1.1.1' is not a valid IP address"),
    ("10.0.0.256", "'10.0.0.256' is not a valid IP address"),
    (" 10.0.0.1", "' 10.0.0.1' is not a valid IP address"),
    ("fe80::1%eth0", "'fe80::1%eth0' is not a valid IP address"),
    ("", "'' is not a valid IP address"),
    (167772161, "IP address must be a string, got integer"),
    (None, "IP address must be a string, got null"),
    (True, "IP address must be a string, got boolean"),
    ("x" * 100, "'" + "x" * 59 + "... is not a valid IP address"),
])
def test_parse_ip_is_strict(value: Any, message: str) -> None:
    assert error(ipmap.parse_ip, value) == message


@pytest.mark.parametrize("value, message", [
    ("10.10.0.0/255.255.240.0", "'10.10.0.0/255.255.240.0' is not a valid subnet: prefix length must be 0..32, "
                                "got '255.255.240.0'"),
    ("10.10.0.0/08", "'10.10.0.0/08' is not a valid subnet: prefix length must be 0..32, got '08'"),
    ("10.10.0.0/ 8", "'10.10.0.0/ 8' is not a valid subnet: prefix length must be 0..32, got ' 8'"),
    ("10.10.0.0/", "'10.10.0.0/' is not a valid subnet: prefix length must be 0..32, got ''"),
    ("2001:db8::/129", "'2001:db8::/129' is not a valid subnet: prefix length must be 0..128, got '129'"),
    ("10.10/16", "'10.10/16' is not a valid subnet: bad address '10.10'"),
    ("10.10.0.0/16/2", "'10.10.0.0/16/2' is not a valid subnet: prefix length must be 0..32, got '16/2'"),
    ("2001:db8::1/64", "2001:db8::1/64 has host bits set: the network address is 2001:db8::/64"),
    (["10.0.0.0/8"], "subnet must be a string in CIDR notation, got list"),
])
def test_parse_cidr_is_strict(value: Any, message: str) -> None:
    assert error(ipmap.parse_cidr, value) == message


def test_parse_cidr_canonical_forms() -> None:
    assert str(ipmap.parse_cidr("2001:DB8:0::/48")) == "2001:db8::/48"
    assert str(ipmap.parse_cidr("0.0.0.0/0")) == "0.0.0.0/0"
    assert str(ipmap.parse_cidr("10.0.0.7/32")) == "10.0.0.7/32"


@pytest.mark.parametrize("ip, cidr, role", [
    ("10.20.0.0", "10.20.0.0/24", "network address"),
    ("10.20.0.255", "10.20.0.0/24", "broadcast address"),
    ("10.20.0.1", "10.20.0.0/24", None),
    ("10.20.0.0", "10.20.0.0/31", None),
    ("10.20.0.1", "10.20.0.0/31", None),
    ("10.20.0.0", "10.20.0.0/32", None),
    ("2001:db8::", "2001:db8::/64", "network address"),
    ("2001:db8::ffff:ffff:ffff:ffff", "2001:db8::/64", None),
    ("2001:db8::", "2001:db8::/127", None),
])
def test_reserved_role(ip: str, cidr: str, role: str | None) -> None:
    assert ipmap.reserved_role(ipmap.parse_ip(ip), ipmap.parse_cidr(cidr)) == role


@pytest.mark.parametrize("ip, cidr, inside", [
    ("10.20.0.1", "10.20.0.0/20", True),
    ("10.20.15.255", "10.20.0.0/20", True),
    ("10.20.16.0", "10.20.0.0/20", False),
    ("2001:db8::1", "10.20.0.0/20", False),
    ("::ffff:10.20.0.1", "10.20.0.0/20", False),
    ("2001:db8::1", "2001:db8::/32", True),
])
def test_ip_in_subnet(ip: str, cidr: str, inside: bool) -> None:
    assert ipmap.ip_in_subnet(ip, cidr) is inside


@pytest.mark.parametrize("first, second, overlap", [
    ("10.10.0.0/20", "10.10.4.0/24", True),
    ("10.10.4.0/24", "10.10.0.0/20", True),
    ("10.10.0.0/20", "10.10.16.0/20", False),
    ("10.10.0.0/20", "10.10.15.0/24", True),
    ("10.0.0.0/8", "2001:db8::/32", False),
    ("0.0.0.0/0", "192.168.1.0/24", True),
])
def test_subnets_overlap(first: str, second: str, overlap: bool) -> None:
    assert ipmap.subnets_overlap(first, second) is overlap


def test_network_for_ip() -> None:
    assert ipmap.network_for_ip("10.10.7.7", NETWORKS)["name"] == "prod"
    assert ipmap.network_for_ip("192.168.10.7", NETWORKS)["name"] == "dmz"
    assert ipmap.network_for_ip("172.16.0.1", NETWORKS) is None
    assert ipmap.network_for_ip("192.168.20.7", NETWORKS, "recovery_subnet")["name"] == "dmz"
    assert ipmap.network_for_ip("2001:db8::1", NETWORKS) is None
    assert error(ipmap.network_for_ip, "10.10.7", NETWORKS) == "'10.10.7' is not a valid IP address"


def test_recovery_address_by_host_offset() -> None:
    assert ipmap.recovery_address("app01", "10.10.3.7", NETWORKS) == {
        "ip": "10.20.3.7", "prefix_length": 20, "netmask": "255.255.240.0", "subnet": "10.20.0.0/20",
        "gateway": "10.20.0.1", "dns_servers": ["10.20.0.53"], "network": "prod",
    }


def test_recovery_address_explicit_ip_wins_and_dns_defaults_to_empty() -> None:
    vm = {"name": "web01", "recovery_ip": "192.168.20.80", "network": "dmz"}
    assert ipmap.recovery_address(vm, "192.168.10.15", NETWORKS) == {
        "ip": "192.168.20.80", "prefix_length": 24, "netmask": "255.255.255.0", "subnet": "192.168.20.0/24",
        "gateway": "192.168.20.254", "dns_servers": [], "network": "dmz",
    }


def test_recovery_address_explicit_ip_without_network_or_primary_ip() -> None:
    vm = {"name": "db02", "recovery_ip": "10.20.1.10", "network": None}
    assert ipmap.recovery_address(vm, None, NETWORKS)["network"] == "prod"


def test_recovery_address_named_network_is_used_for_remap() -> None:
    vm = {"name": "web01", "recovery_ip": None, "network": "dmz"}
    assert ipmap.recovery_address(vm, "192.168.10.15", NETWORKS)["ip"] == "192.168.20.15"


@pytest.mark.parametrize("vm, primary_ip, message", [
    ("app01", None, "VM 'app01' has no primary IP and no explicit recovery_ip"),
    ("app01", "172.16.0.1", "primary IP 172.16.0.1 of VM 'app01' is inside no primary subnet"),
    ({"name": "web01", "recovery_ip": None, "network": "dmz"}, "10.10.0.5",
     "VM 'web01': IP 10.10.0.5 is outside primary subnet 192.168.10.0/24"),
    ({"name": "web01", "recovery_ip": None, "network": "lan"}, "10.10.0.5",
     "network 'lan' is not defined in the network map"),
    ({"name": "web01", "recovery_ip": "10.20.0.9", "network": "dmz"}, None,
     "recovery_ip 10.20.0.9 of VM 'web01' is outside recovery subnet 192.168.20.0/24"),
    ({"name": "web01", "recovery_ip": "172.16.0.9"}, None,
     "recovery_ip 172.16.0.9 of VM 'web01' is inside no recovery subnet"),
    (42, "10.10.0.5", "a VM must be a name or a mapping, got integer"),
])
def test_recovery_address_errors(vm: Any, primary_ip: Any, message: str) -> None:
    assert error(ipmap.recovery_address, vm, primary_ip, NETWORKS) == message


def test_invalid_input_carries_details() -> None:
    with pytest.raises(InvalidInput) as caught:
        ipmap.recovery_address("app01", None, NETWORKS)
    assert caught.value.details == {"vm": "app01"}


def test_missing_netaddr_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ipmap, "netaddr", None)
    with pytest.raises(ipmap.RecoveryError, match="the Python library netaddr is required"):
        ipmap.remap_ip("10.10.0.5", "10.10.0.0/20", "10.20.0.0/20")

# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guest customization (re-addressing) of a recovered VM: pure data, then the pyVmomi spec.

``customization(name, nic_addresses)`` returns plain data: the host name and one
entry per NIC in device order, each ``{ip, prefix_length, netmask, gateway,
dns_servers}`` (or ``None``: DHCP). ``build_spec`` turns it into a
``vim.vm.customization.Specification`` with a LinuxPrep identity (IPv4 fixed
addresses, IPv6 through ``ipV6Spec``). vCenter needs exactly one adapter
mapping per NIC, in order; vcsim checks it against ``guest.net``.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

try:
    from pyVmomi import vim
except ImportError:  # pragma: no cover - reported by the module base
    vim = None

_HOST_BAD = re.compile(r"[^a-z0-9-]+")


def hostname(name: str) -> str:
    """A valid host name (RFC 1123 label, at most 63 characters) from a VM name."""
    label = _HOST_BAD.sub("-", (name or "").lower()).strip("-")[:63].strip("-")
    return label or "recovered"


def customization(name: str, nic_addresses: Sequence[Mapping | None], domain: str = "local") -> dict:
    """Plain customization data for one VM (see the module docstring)."""
    dns: list[str] = []
    nics = []
    for address in nic_addresses:
        if address is None:
            nics.append(None)
            continue
        for server in address.get("dns_servers") or []:
            if server not in dns:
                dns.append(server)
        nics.append({"ip": address["ip"], "prefix_length": address.get("prefix_length"),
                     "netmask": address.get("netmask"), "gateway": address.get("gateway"),
                     "dns_servers": list(address.get("dns_servers") or [])})
    return {"hostname": hostname(name), "domain": domain, "dns_servers": dns, "nics": nics}


def build_spec(data: Mapping):
    """``vim.vm.customization.Specification`` from ``customization()`` data."""
    mappings = []
    for nic in data["nics"]:
        if nic is None:
            settings = vim.vm.customization.IPSettings(ip=vim.vm.customization.DhcpIpGenerator())
        elif ":" in nic["ip"]:
            settings = vim.vm.customization.IPSettings(
                ip=vim.vm.customization.DhcpIpGenerator(),
                ipV6Spec=vim.vm.customization.IPSettings.IpV6AddressSpec(
                    ip=[vim.vm.customization.FixedIpV6(ipAddress=nic["ip"], subnetMask=int(nic["prefix_length"]))],
                    gateway=[nic["gateway"]] if nic.get("gateway") else None),
                dnsServerList=nic["dns_servers"] or None)
        else:
            settings = vim.vm.customization.IPSettings(
                ip=vim.vm.customization.FixedIp(ipAddress=nic["ip"]), subnetMask=nic["netmask"],
                gateway=[nic["gateway"]] if nic.get("gateway") else None,
                dnsServerList=nic["dns_servers"] or None)
        mappings.append(vim.vm.customization.AdapterMapping(adapter=settings))
    return vim.vm.customization.Specification(
        identity=vim.vm.customization.LinuxPrep(
            hostName=vim.vm.customization.FixedName(name=data["hostname"]), domain=data["domain"]),
        globalIPSettings=vim.vm.customization.GlobalIPSettings(dnsServerList=data["dns_servers"] or None),
        nicSettingMap=mappings)

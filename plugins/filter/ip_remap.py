# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Re-addressing filters: ``ip_remap`` and ``ip_in_subnet``.

Their documentation lives beside this file in ip_remap.yml and ip_in_subnet.yml
(one document per filter, as ansible-core expects for multi-filter files).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.continuity.recovery.plugins.module_utils import ipmap
from ansible_collections.continuity.recovery.plugins.module_utils.errors import RecoveryError


def _network_list(networks: Any) -> list[Mapping[str, Any]]:
    """The network map as a list of mappings (one mapping is accepted as a list of one)."""
    if isinstance(networks, Mapping):
        return [networks]
    if isinstance(networks, (str, bytes)) or not hasattr(networks, "__iter__"):
        raise AnsibleFilterError(
            f"ip_remap: networks must be a list of network map entries, got {type(networks).__name__}")
    entries = list(networks)
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise AnsibleFilterError(
                f"ip_remap: networks[{index}] must be a mapping with primary_subnet and recovery_subnet, "
                f"got {type(entry).__name__}")
        for key in ("primary_subnet", "recovery_subnet"):
            if entry.get(key) is None:
                raise AnsibleFilterError(f"ip_remap: networks[{index}] has no {key}")
    return entries


def ip_remap(ip: Any, networks: Any) -> str:
    """Map a primary-site IP to its recovery-site IP through the plan's network map."""
    entries = _network_list(networks)
    try:
        network = ipmap.network_for_ip(ip, entries)
        if network is None:
            subnets = ", ".join(str(entry.get("primary_subnet")) for entry in entries) or "none"
            raise AnsibleFilterError(f"ip_remap: IP {ip} is inside no primary_subnet of the network map ({subnets})")
        return ipmap.remap_ip(ip, network["primary_subnet"], network["recovery_subnet"])
    except RecoveryError as exc:
        raise AnsibleFilterError(f"ip_remap: {exc}") from None


def ip_in_subnet(ip: Any, cidr: Any) -> bool:
    """True when the IP address lies inside the subnet (CIDR notation)."""
    try:
        return ipmap.ip_in_subnet(ip, cidr)
    except RecoveryError as exc:
        raise AnsibleFilterError(f"ip_in_subnet: {exc}") from None


class FilterModule:
    """continuity.recovery re-addressing filters."""

    def filters(self) -> dict[str, Any]:
        """Filter name -> function."""
        return {"ip_remap": ip_remap, "ip_in_subnet": ip_in_subnet}

# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn site_info / database_info results into the ``facts`` that
``plan_sites.check`` compares a plan with (pure; used by the recovery_plan action).
"""

from __future__ import annotations

_DATACENTER_MISSING = "datacenter "


def site_facts(info):
    """Facts of one reachable site from a site_info result."""
    vms = {}
    for vm in info.get("vms", []):
        nics = vm.get("nics", [])
        vms[vm["name"]] = {
            "ips": [ip for nic in nics for ip in nic.get("ip_addresses") or []],
            "portgroups": [nic["portgroup"] for nic in nics if nic.get("portgroup")],
            "datastores": list(vm.get("datastores", [])),
        }
    return {
        "reachable": True,
        "error": None,
        "datacenters": [info["datacenter"]] if info.get("datacenter") else [],
        "clusters": [c["name"] for c in info.get("clusters", [])],
        "portgroups": [p["name"] for p in info.get("portgroups", [])],
        "datastores": [d["name"] for d in info.get("datastores", [])],
        "vms": vms,
    }


def failed_site(result):
    """Facts of a site whose site_info failed.

    A missing datacenter is a fact about a reachable site (reported at
    ``sites.<site>.datacenter``); any other failure means the site did not answer.
    """
    msg = result.get("msg") or "site_info failed"
    if msg.startswith(_DATACENTER_MISSING) and "available" in result:
        return {"reachable": True, "error": None, "datacenters": list(result["available"]),
                "clusters": [], "portgroups": [], "datastores": [], "vms": {}}
    return {"reachable": False, "error": msg}


def database_facts(result):
    """Facts of one database endpoint from a database_info result (allow_unreachable)."""
    if result.get("failed"):
        return {"reachable": False, "error": result.get("msg")}
    return {"reachable": bool(result.get("reachable")), "error": result.get("error"),
            "role": result.get("role")}

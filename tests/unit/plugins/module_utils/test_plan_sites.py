# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plan_sites: a normalised plan against live site facts."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ansible_collections.continuity.recovery.plugins.module_utils import plan as plan_mod
from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput
from ansible_collections.continuity.recovery.plugins.module_utils.plan_sites import check, recovery_addresses

LAB = Path(__file__).parent / "plans" / "lab.yml"
UNMAPPED = "which no entry of networks maps to the recovery site"


def normalised(edit=None) -> dict:
    """The lab plan, optionally edited (a function of the raw plan), validated and normalised."""
    raw = yaml.safe_load(LAB.read_text(encoding="utf-8"))
    if edit:
        edit(raw)
    result, problems = plan_mod.validate(raw)
    assert problems == []
    return result


def vm(ips: list[str], portgroup: str = "Prod-Net", datastore: str = "Prod-DS-01") -> dict:
    """Facts of one primary VM."""
    return {"ips": ips, "portgroups": [portgroup], "datastores": [datastore]}


def facts() -> dict:
    """Facts of healthy lab sites that match the lab plan."""
    return {
        "primary": {
            "reachable": True, "error": None, "datacenters": ["DC0"], "clusters": ["DC0_C0"],
            "portgroups": ["Prod-Net", "DMZ-Net", "VM Network"], "datastores": ["Prod-DS-01", "LocalDS_0"],
            "vms": {
                "db01": vm(["10.10.0.11", "fe80::250:56ff:fe00:1"]),
                "db02": vm(["10.10.0.12"]),
                "app01": vm(["10.10.0.21"]),
                "app02": vm(["10.10.4.22"]),
                "web01": vm(["192.168.10.15"], "DMZ-Net"),
                "other": vm(["10.10.0.99"], "VM Network", "LocalDS_0"),
            },
        },
        "recovery": {
            "reachable": True, "error": None, "datacenters": ["DC0"], "clusters": ["DC0_C0"],
            "portgroups": ["DR-Prod", "DR-Bubble", "DR-DMZ", "DR-Bubble-DMZ"], "datastores": [], "vms": {},
        },
        "databases": {"paydb": {"primary": {"reachable": True, "error": None},
                                "standby": {"reachable": True, "error": None}}},
    }


def problems(plan: dict, site_facts: dict) -> list[str]:
    """check()'s problems as strings."""
    return [str(problem) for problem in check(plan, site_facts)]


def test_matching_sites_have_no_problems() -> None:
    assert problems(normalised(), facts()) == []


def test_plan_is_not_modified() -> None:
    plan = normalised()
    before = copy.deepcopy(plan)
    check(plan, facts())
    assert plan == before


def test_unreachable_primary_is_one_problem_and_skips_its_objects() -> None:
    site_facts = facts()
    site_facts["primary"] = {"reachable": False, "error": "connection refused\n  (errno 111)"}
    assert problems(normalised(), site_facts) == [
        "sites.primary.vcenter.hostname: vCenter 127.0.0.1:8989 of site primary is unreachable: "
        "connection refused (errno 111)",
    ]


def test_unreachable_recovery_without_error_and_no_facts_at_all() -> None:
    site_facts = facts()
    site_facts["recovery"]["reachable"] = False
    assert problems(normalised(), site_facts) == [
        "sites.recovery.vcenter.hostname: vCenter vc-dr.example.com:443 of site recovery is unreachable",
    ]
    assert problems(normalised(), {}) == [
        "sites.primary.vcenter.hostname: vCenter 127.0.0.1:8989 of site primary is unreachable: "
        "no facts were collected",
        "sites.recovery.vcenter.hostname: vCenter vc-dr.example.com:443 of site recovery is unreachable: "
        "no facts were collected",
        "replication[1].primary: database endpoint 127.0.0.1:5432 of pair 'paydb' was not checked: "
        "no facts were collected",
    ]


def test_missing_datacenter_cluster_portgroups_and_datastore() -> None:
    site_facts = facts()
    site_facts["primary"]["datacenters"] = ["DC1"]
    site_facts["recovery"]["clusters"] = ["C"]
    site_facts["primary"]["portgroups"] = ["prod-net", "DMZ-Net"]
    site_facts["recovery"]["portgroups"] = ["DR-DMZ", "DR-Bubble-DMZ", "DR-Bubble"]
    site_facts["primary"]["datastores"] = ["Prod-DS-02"]
    assert problems(normalised(), site_facts) == [
        "sites.primary.datacenter: datacenter 'DC0' not found at site primary",
        "sites.recovery.cluster: cluster 'DC0_C0' not found at site recovery",
        "networks[0].primary: portgroup 'Prod-Net' not found at site primary "
        "(did you mean 'prod-net'? names are case-sensitive)",
        "networks[0].recovery: portgroup 'DR-Prod' not found at site recovery",
        "datastores[0].primary: datastore 'Prod-DS-01' not found at site primary",
    ]


def test_missing_drill_portgroup() -> None:
    site_facts = facts()
    site_facts["recovery"]["portgroups"].remove("DR-Bubble-DMZ")
    assert problems(normalised(), site_facts) == [
        "networks[1].drill: portgroup 'DR-Bubble-DMZ' not found at site recovery",
    ]


def test_replica_datastores_need_not_exist_yet() -> None:
    site_facts = facts()
    site_facts["recovery"]["datastores"] = []
    assert problems(normalised(), site_facts) == []


def test_missing_vm() -> None:
    site_facts = facts()
    del site_facts["primary"]["vms"]["app02"]
    assert problems(normalised(), site_facts) == ["tiers[1].vms[1]: VM 'app02' not found at site primary"]


def test_primary_ip_outside_the_network_of_its_portgroup() -> None:
    site_facts = facts()
    site_facts["primary"]["vms"]["db02"]["ips"] = ["10.99.0.4"]
    assert problems(normalised(), site_facts) == [
        "tiers[0].vms[1]: primary IP 10.99.0.4 of VM 'db02' is not inside primary_subnet 10.10.0.0/20 "
        "of networks[0] (prod)",
    ]


def test_vm_on_an_unmapped_portgroup_and_an_unreplicated_datastore() -> None:
    site_facts = facts()
    site_facts["primary"]["vms"]["app01"] = {"ips": ["10.10.0.21", "172.16.0.5"],
                                             "portgroups": ["Prod-Net", "Backup-Net"],
                                             "datastores": ["Prod-DS-01", "LocalDS_0"]}
    assert problems(normalised(), site_facts) == [
        f"tiers[1].vms[0]: VM 'app01' is on portgroup 'Backup-Net', {UNMAPPED}",
        "tiers[1].vms[0]: VM 'app01' has disks on datastore 'LocalDS_0', which no entry of datastores replicates",
    ]


def test_vm_not_on_the_portgroup_of_its_named_network() -> None:
    site_facts = facts()
    site_facts["primary"]["vms"]["db02"] = vm(["192.168.10.12"], "DMZ-Net")
    assert problems(normalised(), site_facts) == [
        "tiers[0].vms[1]: VM 'db02' is on 'DMZ-Net', not on portgroup 'Prod-Net' of networks[0] (prod)",
    ]


def test_recovered_ip_collisions_and_reserved_addresses() -> None:
    site_facts = facts()
    vms = site_facts["primary"]["vms"]
    vms["app01"]["ips"] = ["10.10.1.10"]
    vms["app02"]["ips"] = ["10.10.0.11"]
    vms["web01"] = vm(["10.10.0.1"])
    assert problems(normalised(), site_facts) == [
        "tiers[1].vms[0]: recovered IP 10.20.1.10 of VM 'app01' is also the recovered IP of VM 'db02' "
        "(tiers[0].vms[1])",
        "tiers[1].vms[1]: recovered IP 10.20.0.11 of VM 'app02' is also the recovered IP of VM 'db01' "
        "(tiers[0].vms[0])",
        "tiers[2].vms[0]: recovered IP 10.20.0.1 of VM 'web01' is the recovery_gateway of networks[0] (prod)",
    ]


def test_recovered_ip_on_a_dns_server() -> None:
    site_facts = facts()
    site_facts["primary"]["vms"]["app01"]["ips"] = ["10.10.0.53"]
    assert problems(normalised(), site_facts) == [
        "tiers[1].vms[0]: recovered IP 10.20.0.53 of VM 'app01' is a DNS server of networks[0] (prod)",
    ]


def test_vm_without_an_address() -> None:
    site_facts = facts()
    site_facts["primary"]["vms"]["app01"]["ips"] = ["fe80::1"]
    site_facts["primary"]["vms"]["db02"]["ips"] = []
    assert problems(normalised(), site_facts) == [
        "tiers[1].vms[0]: VM 'app01' reports no IPv4 address in 10.10.0.0/20 (are VMware Tools running?), "
        "so its recovery IP cannot be computed; give it an explicit recovery_ip",
    ]


def test_primary_ip_on_a_reserved_address() -> None:
    site_facts = facts()
    site_facts["primary"]["vms"]["app01"]["ips"] = ["10.10.0.0"]
    assert problems(normalised(), site_facts) == [
        "tiers[1].vms[0]: VM 'app01': IP 10.10.0.0 is the network address of primary subnet 10.10.0.0/20, "
        "not a host address",
    ]


def _dmz_to_22(raw: dict) -> None:
    """dmz re-addresses /24 to /22; web01 is listed explicitly."""
    raw["networks"][1].update(recovery_subnet="192.168.16.0/22", recovery_gateway="192.168.16.1")
    raw["tiers"][2]["vms"] = [{"name": "web01", "recovery_ip": "192.168.17.15", "network": "dmz"}]


def test_different_prefix_lengths_need_explicit_recovery_ips_for_every_vm_found_there() -> None:
    plan = normalised(_dmz_to_22)
    site_facts = facts()
    assert problems(plan, site_facts) == []
    site_facts["primary"]["vms"]["app02"] = vm(["192.168.10.22"], "DMZ-Net")
    assert problems(plan, site_facts) == [
        "tiers[1].vms[1]: VM 'app02' needs an explicit recovery_ip: networks[1] (dmz) re-addresses /24 to /22",
    ]


def test_database_endpoints() -> None:
    site_facts = facts()
    site_facts["databases"]["paydb"] = {"primary": {"reachable": False, "error": "timeout expired"},
                                        "standby": {"reachable": False, "error": "connection refused"}}
    assert problems(normalised(), site_facts) == [
        "replication[1].primary: database endpoint 127.0.0.1:5432 of pair 'paydb' is unreachable: timeout expired",
    ]


def test_long_errors_are_shortened() -> None:
    site_facts = facts()
    site_facts["databases"]["paydb"]["primary"] = {"reachable": False, "error": "e" * 500}
    (problem,) = problems(normalised(), site_facts)
    assert problem.endswith(": " + "e" * 200 + "...")


def test_recovery_addresses_for_takeover() -> None:
    addresses, found = recovery_addresses(normalised(), facts()["primary"]["vms"])
    assert found == []
    assert addresses["db01"] == [{
        "ip": "10.20.0.11", "prefix_length": 20, "netmask": "255.255.240.0", "subnet": "10.20.0.0/20",
        "gateway": "10.20.0.1", "dns_servers": ["10.20.0.53"], "network": "prod", "primary_ip": "10.10.0.11",
        "primary_portgroup": "Prod-Net", "recovery_portgroup": "DR-Prod", "drill_portgroup": "DR-Bubble",
    }]
    assert addresses["db02"][0]["ip"] == "10.20.1.10"
    assert addresses["app02"][0]["ip"] == "10.20.4.22"
    assert addresses["web01"][0] == {
        "ip": "192.168.20.15", "prefix_length": 24, "netmask": "255.255.255.0", "subnet": "192.168.20.0/24",
        "gateway": "192.168.20.254", "dns_servers": [], "network": "dmz", "primary_ip": "192.168.10.15",
        "primary_portgroup": "DMZ-Net", "recovery_portgroup": "DR-DMZ", "drill_portgroup": "DR-Bubble-DMZ",
    }
    assert sorted(addresses) == ["app01", "app02", "db01", "db02", "web01"]


def test_recovery_addresses_of_a_vm_on_two_networks() -> None:
    vms = facts()["primary"]["vms"]
    vms["app01"] = {"ips": ["192.168.10.21", "10.10.0.21"], "portgroups": ["Prod-Net", "DMZ-Net"], "datastores": []}
    addresses, found = recovery_addresses(normalised(), vms)
    assert found == []
    assert [(a["network"], a["primary_ip"], a["ip"]) for a in addresses["app01"]] == [
        ("prod", "10.10.0.21", "10.20.0.21"), ("dmz", "192.168.10.21", "192.168.20.21"),
    ]


def test_explicit_recovery_ip_needs_no_primary_ip() -> None:
    vms = facts()["primary"]["vms"]
    vms["db02"]["ips"] = []
    addresses, found = recovery_addresses(normalised(), vms)
    assert found == []
    assert addresses["db02"][0]["ip"] == "10.20.1.10"
    assert addresses["db02"][0]["primary_ip"] is None


@pytest.mark.parametrize("bad", [None, [], "x", {"primary": None}, {"primary": {"reachable": True}},
                                 {"primary": {"reachable": True, "vms": ["db01"]}, "databases": "x"},
                                 {"databases": {"paydb": "x"}}])
def test_garbage_facts_do_not_raise(bad: Any) -> None:
    assert isinstance(check(normalised(), bad), list)


@pytest.mark.parametrize("bad_plan", [None, {}, {"name": "raw-plan-not-normalised"}])
def test_a_plan_that_was_not_normalised_is_a_callers_bug(bad_plan: Any) -> None:
    with pytest.raises(InvalidInput, match=r"needs the normalised plan returned by plan.validate\(\)"):
        check(bad_plan, facts())

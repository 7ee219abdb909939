"""recovery_plan action: which live problems are kept when only some sites are checked."""

from __future__ import annotations

from ansible_collections.continuity.recovery.plugins.action.recovery_plan import only_sites
from ansible_collections.continuity.recovery.plugins.module_utils.plan import Problem

PROBLEMS = [
    Problem("sites.primary.vcenter.hostname", "vCenter 127.0.0.1:18443 is unreachable"),
    Problem("sites.recovery.vcenter.hostname", "vCenter 127.0.0.1:28443 is unreachable"),
    Problem("networks[0].primary", "portgroup 'Prod-Net' not found at site primary"),
    Problem("networks[0].recovery", "portgroup 'DR-Prod' not found at site recovery"),
    Problem("networks[0].drill", "portgroup 'DR-Bubble' not found at site recovery"),
    Problem("datastores[0].primary", "datastore 'Prod-DS-01' not found at site primary"),
    Problem("replication[1].primary", "database endpoint 127.0.0.1:15432 of pair 'paydb' is unreachable"),
    Problem("tiers[0].vms[1]", "VM 'db02' not found at site primary"),
]


def paths(problems):
    return [p.path for p in problems]


def test_both_sites_keep_everything():
    assert only_sites(PROBLEMS, ["primary", "recovery"]) == PROBLEMS


def test_recovery_only_drops_what_concerns_the_primary_site():
    assert paths(only_sites(PROBLEMS, ["recovery"])) == [
        "sites.recovery.vcenter.hostname", "networks[0].recovery", "networks[0].drill"]


def test_primary_only_drops_what_concerns_the_recovery_site():
    assert paths(only_sites(PROBLEMS, ["primary"])) == [
        "sites.primary.vcenter.hostname", "networks[0].primary", "datastores[0].primary",
        "replication[1].primary", "tiers[0].vms[1]"]

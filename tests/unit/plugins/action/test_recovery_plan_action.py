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


def test_site_info_leaves_unset_credentials_out_so_env_fallbacks_apply():
    from ansible_collections.continuity.recovery.plugins.action.recovery_plan import ActionModule

    plan = {"vm_index": {"db01": {}}, "replication": [],
            "sites": {"primary": {"datacenter": "DC0",
                                  "vcenter": {"name": "vc1", "hostname": "vc", "port": 443, "username": None,
                                              "password": None, "validate_certs": False}}}}
    calls = []

    class Fake:
        def _run(self, module, args, task_vars):
            calls.append((module, args))
            return {"failed": True, "msg": "unreachable"}

    ActionModule._gather_facts(Fake(), plan, {}, ["primary"], False)
    [(module, args)] = calls
    assert module == "continuity.recovery.site_info"
    assert args == {"hostname": "vc", "port": 443, "validate_certs": False, "datacenter": "DC0", "vms": ["db01"]}

"""host_cutover drill: an unmarked VM of the replica's name is adopted only when it is the replica (executor guard)."""

from __future__ import annotations

from types import SimpleNamespace

from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import cutover as cplan
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import executor

ITEM = {"name": "db01", "tier": "data", "tier_index": 0, "path": "plan.tiers[0].vms[0]",
        "nics": [{"portgroup": "DR-Bubble", "mac": "00:0c:29:00:00:01", "type": "VirtualVmxnet3",
                  "network": "prod", "network_path": "plan.networks[0]", "key": "drill"}],
        "addresses": [{"ip": "10.20.1.10", "prefix_length": 20, "netmask": "255.255.240.0",
                       "gateway": "10.20.0.1", "dns_servers": []}],
        "register_path": "[Replica-DS-01] db01/db01.vmx", "register_datastore": "Replica-DS-01",
        "datastores": ["Prod-DS-01"], "disks": []}


class View:
    """What run_drill reads of the recovery site: the VMs of the given names."""

    def __init__(self, states):
        self.session = SimpleNamespace()
        self.states = states

    def read_vms(self, names, extra_objs=()):
        return {n: self.states[n] for n in names if n in self.states}


def vm(power="poweredOff", path="[Replica-DS-01] db01/db01.vmx", role=None):
    return {"name": "db01", "power": power, "vm_path_name": path, "marker": {"role": role} if role else {},
            "snapshots": [], "nics": [], "disks": [], "ips": []}


def drill(states):
    run = executor.Cutover(View(states), None, {"action": "drill"}, check_mode=True)
    return run.run([dict(ITEM)])["vms"][0]


def test_a_running_or_foreign_vm_of_the_same_name_is_not_taken_for_the_replica():
    for state, why in [(vm(power="poweredOn"), "it is poweredOn"),
                       (vm(path="[LocalDS_0] db01/db01.vmx"), "registered from [LocalDS_0] db01/db01.vmx")]:
        result = drill({"db01": state})
        assert result["status"] == "failed" and result["failed_step"] == "plan"
        assert result["error"].startswith("plan.tiers[0].vms[0]: VM 'db01' at the recovery site is not the replica")
        assert why in result["error"]
        assert result["steps"] == []  # nothing snapshotted or cloned


def test_the_replica_registered_by_hand_or_by_an_earlier_drill_is_used():
    assert drill({"db01": vm()})["steps"] == ["snapshot", "clone", "customize", "power_on", "wait_ip"]
    marked = vm(role=cplan.ROLE_DRILL_SOURCE)
    assert drill({"db01": marked})["steps"] == ["snapshot", "clone", "customize", "power_on", "wait_ip"]
    assert drill({})["steps"] == ["register", "snapshot", "clone", "customize", "power_on", "wait_ip"]

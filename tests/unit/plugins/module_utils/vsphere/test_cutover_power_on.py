"""host_cutover power-on: PowerOnMultiVM_Task overrides DRS; a VM vCenter did not attempt fails at once, saying why."""

from __future__ import annotations

from types import SimpleNamespace

from pyVmomi import vim

from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import executor, waits

from vsphere_fakes import FakeSession, ScriptedCollector, change, make_tasks, obj_update, update_set

VMS = {name: vim.VirtualMachine("vm-%s" % name) for name in ("app01", "app02", "app03")}


def item(name):
    return {"name": name, "tier": "app", "path": "tiers[0].vms[0]", "nics": [], "disks": [],
            "addresses": [{"ip": "10.20.1.11", "prefix_length": 20}]}


class Datacenter:
    def __init__(self, task):
        self.task, self.calls = task, []

    def PowerOnMultiVM_Task(self, vm, option=None):
        self.calls.append({"vm": [v._moId for v in vm], "option": [(o.key, o.value) for o in option or []]})
        return self.task


def run_power_on(result, names=("app01", "app02", "app03"), children=()):
    """power_on + wait_ip of a tier whose PowerOnMultiVM_Task ends with ``result``; (results, dc, collector)."""
    task, = make_tasks(1)
    script = [update_set("1", obj_update(task, change("info.state", "success"), change("info.result", result)))]
    if children:
        script.append(update_set("2", *[obj_update(t, change("info.state", "success")) for t in children]))
    collector = ScriptedCollector(script)
    dc = Datacenter(task)
    view = SimpleNamespace(session=FakeSession(collector), dc=dc)
    run = executor.Cutover(view, None, {"action": "takeover", "vm_timeout": 600})
    items = [item(n) for n in names]
    run.power_on(items, lambda i: VMS[i["name"]])
    return {n: run.result(i) for n, i in zip(names, items)}, dc, collector


def recommendation(vm):
    return vim.cluster.Recommendation(
        key="1", type="V1", rating=5, reason="PowerOnVm", reasonText="Power on a virtual machine", target=vm,
        action=[vim.cluster.InitialPlacementAction(type="InitialPlacementV1", target=vm,
                                                   targetHost=vim.HostSystem("host-1"))])


def test_power_on_asks_vcenter_to_override_the_drs_automation_level():
    _unused, dc, _unused = run_power_on(None)
    assert dc.calls == [{"vm": ["vm-app01", "vm-app02", "vm-app03"],
                         "option": [("OverrideAutomationLevel", "fullyAutomated")]}]


def test_vms_drs_only_recommended_fail_at_once_naming_the_reason(monkeypatch):
    """DRS in manual mode: nothing is powered on; never wait vm_timeout for an IP that cannot come."""
    def no_wait(*_args, **_kwargs):
        raise AssertionError("wait_ip must not wait for VMs that were not powered on")
    monkeypatch.setattr(waits, "wait_for_properties", no_wait)
    result = vim.cluster.PowerOnVmResult(recommendations=[recommendation(VMS["app01"]), recommendation(VMS["app02"])])
    task, = make_tasks(1)
    collector = ScriptedCollector([update_set("1", obj_update(task, change("info.state", "success"),
                                                              change("info.result", result)))])
    view = SimpleNamespace(session=FakeSession(collector), dc=Datacenter(task))
    run = executor.Cutover(view, None, {"action": "takeover"})
    items = [item("app01"), item("app02")]
    run.customize_power_wait(items, {i["name"]: ["power_on", "wait_ip"] for i in items}, {},
                             lambda i: VMS[i["name"]])
    for one in items:
        res = run.result(one)
        assert res["status"] == "failed" and res["failed_step"] == "power_on"
        assert res["error"].startswith("DRS only recommended powering it on (Power on a virtual machine) and did not "
                                       "power it on: the cluster's DRS is in manual or partially automated mode")
        assert res["steps"] == []
    assert len(collector.waits) == 1  # the PowerOnMultiVM task only: no child task, no IP wait


def test_not_attempted_and_recommended_and_attempted_vms_in_one_tier():
    child = vim.Task("task-child")
    result = vim.cluster.PowerOnVmResult(
        attempted=[vim.cluster.AttemptedVmInfo(vm=VMS["app01"], task=child)],
        notAttempted=[vim.cluster.NotAttemptedVmInfo(vm=VMS["app02"], fault=vim.fault.InsufficientResourcesFault(
            msg="Insufficient resources to satisfy configured failover level for vSphere HA."))],
        recommendations=[recommendation(VMS["app03"])])
    results, _unused, collector = run_power_on(result, children=[child])
    assert results["app01"]["status"] == "changed" and results["app01"]["steps"] == ["power_on"]
    assert results["app02"]["error"] == ("vCenter did not attempt to power it on: InsufficientResourcesFault: "
                                         "Insufficient resources to satisfy configured failover level for vSphere HA.")
    assert results["app03"]["error"].startswith("DRS only recommended powering it on")
    assert {r["failed_step"] for n, r in results.items() if n != "app01"} == {"power_on"}
    assert len(collector.waits) == 2  # the multi-VM task, then the one child task


def test_a_vm_missing_from_the_result_fails_and_vcsim_without_result_powers_all_on():
    result = vim.cluster.PowerOnVmResult(attempted=[vim.cluster.AttemptedVmInfo(vm=VMS["app01"])])
    results, _unused, _unused = run_power_on(result, names=("app01", "app02"))
    assert results["app01"]["status"] == "changed"
    assert results["app02"]["error"] == ("vCenter neither attempted to power it on nor said why (the VM is not in "
                                         "the PowerOnMultiVM result)")
    # vcsim 0.24 powers every VM on inside the task and reports no result
    results, _unused, _unused = run_power_on(None)
    assert {r["status"] for r in results.values()} == {"changed"}

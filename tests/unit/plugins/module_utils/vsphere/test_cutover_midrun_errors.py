"""host_cutover: a read or wait that raises in a later tier keeps the evidence of the tiers already done."""

from __future__ import annotations

from pyVmomi import vim

from ansible_collections.continuity.recovery.plugins.module_utils.errors import ConnectionFailure
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import cutover, executor
from ansible_collections.continuity.recovery.plugins.modules import host_cutover as hc

from test_cutover import RECORDS, make_plan
from vsphere_fakes import FakeSession, ScriptedCollector, change, obj_update, update_set


class FailingCollector(ScriptedCollector):
    """A scripted collector whose script may hold exceptions: WaitForUpdatesEx raises them."""

    def WaitForUpdatesEx(self, version, options):
        step = super().WaitForUpdatesEx(version, options)
        if isinstance(step, Exception):
            raise step  # pylint: disable=raising-bad-type  # the script holds instances
        return step


class View:
    """The recovery site: every VM registered, reconfigured and running, its guest not yet reporting the IP."""

    def __init__(self, collector, fail_read=None):
        self.session = FakeSession(collector)
        self.fail_read = fail_read
        self.states = {name: {"obj": vim.VirtualMachine("vm-" + name), "moid": "vm-" + name, "name": name,
                              "power": "poweredOn", "ips": [],
                              "marker": {"role": cutover.ROLE_TAKEOVER, "source": name,
                                         "source_nics": cutover.source_nics(RECORDS[name])},
                              "nics": [{"key": 4000, "mac": "00:0c:29:00:00:01", "portgroup": "DR-Prod",
                                        "type": "VirtualVmxnet3"}],
                              "disks": [{"file": "[Replica-DS-01] %s/%s.vmdk" % (name, name)}]}
                       for name in RECORDS}

    def read_vms(self, names, extra_objs=()):
        if self.fail_read and self.fail_read in names:
            raise ConnectionFailure("lost the connection to vCenter vc.example:443: [Errno 104] Connection reset")
        return {n: self.states[n] for n in names if n in self.states}


def guest_up(name, ip):
    return obj_update(vim.VirtualMachine("vm-" + name), change("guest.net", [vim.vm.GuestInfo.NicInfo(
        ipAddress=[ip])]), change("runtime.powerState", "poweredOn"))


def takeover(view, check_mode=False):
    sel, _unused = cutover.selection(make_plan())
    items, problems = cutover.work_items(sel, RECORDS, "takeover")
    assert problems == []
    items = [dict(i, source_power="poweredOff") for i in items]
    return executor.Cutover(view, None, {"action": "takeover", "mode": "emergency"}, check_mode).run(items)


def test_a_wait_failing_in_the_second_tier_keeps_the_results_of_the_first():
    collector = FailingCollector([update_set("1", guest_up("db01", "10.20.1.10")),
                                  vim.fault.NotAuthenticated(msg="The session is not authenticated.")])
    result = takeover(View(collector))
    assert [(t["name"], t["state"]) for t in result["tiers"]] == [("data", "done"), ("app", "failed"),
                                                                  ("web", "not_started")]
    assert result["tiers"][1]["failed_vms"] == ["app01", "app02"]
    vms = {v["name"]: v for v in result["vms"]}
    assert (vms["db01"]["status"], vms["db01"]["vm"], vms["db01"]["ip_addresses"]) == \
        ("changed", "vm-db01", ["10.20.1.10"])
    for name in ("app01", "app02"):
        assert vms[name]["status"] == "failed" and vms[name]["failed_step"] == "wait_ip"
        assert vms[name]["error"] == ("the tier stopped in step wait_ip: waiting on vCenter vc.example:443 failed: "
                                      "vim.fault.NotAuthenticated")
        assert [t["step"] for t in vms[name]["timeline"]] == ["wait_ip"]
    assert vms["web01"]["status"] == "not_started"  # later tiers do not start
    assert result["failed_vms"] == ["app01", "app02"] and result["not_started_vms"] == ["web01"]
    assert [(t["tier"], t["step"], t["vms"]) for t in result["timeline"]] == [("data", "wait_ip", 1),
                                                                              ("app", "wait_ip", 2)]
    assert collector.destroyed

    stub = hc.HostCutover.__new__(hc.HostCutover)
    stub.params = {"action": "takeover"}
    finished = stub.finish(result)
    assert finished["failed"] is True and finished["vms"] == result["vms"]
    assert finished["msg"].startswith("takeover failed for 2 VMs (app01: the tier stopped in step wait_ip")
    assert finished["msg"].endswith("; not started: web01")


def test_a_read_failing_in_a_later_tier_fails_that_tier_only_also_in_check_mode():
    for check_mode in (False, True):
        collector = FailingCollector([update_set("1", guest_up("db01", "10.20.1.10")),
                                      update_set("2", guest_up("app01", "10.20.1.11"),
                                                 guest_up("app02", "10.20.1.12"))])
        result = takeover(View(collector, fail_read="web01"), check_mode)
        assert [t["state"] for t in result["tiers"]] == ["done", "done", "failed"]
        assert [v["status"] for v in result["vms"]] == ["would_change" if check_mode else "changed"] * 3 + ["failed"]
        web = result["vms"][-1]
        assert (web["failed_step"], web["timeline"]) == ("plan", [])
        assert web["error"] == ("the tier stopped in step plan: lost the connection to vCenter vc.example:443: "
                                "[Errno 104] Connection reset")
        assert result["failed_vms"] == ["web01"] and result["not_started_vms"] == []

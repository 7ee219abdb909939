"""tasks.wait_for_tasks against a scripted PropertyCollector: one filter, all failures, hard timeout."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pyVmomi import vim

from ansible_collections.continuity.recovery.plugins.module_utils.errors import TaskFailed, TaskTimeout
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import tasks

from vsphere_fakes import Clock, FakeSession, ScriptedCollector, change, fault, make_tasks, obj_update, update_set


def test_many_tasks_one_filter_constant_calls():
    ts = make_tasks(50)
    initial = update_set("1", *[obj_update(t, change("info.state", "running"), kind="enter") for t in ts])
    done = update_set("2", *[obj_update(t, change("info.state", "success"),
                                        change("info.result", vim.VirtualMachine("vm-%s" % t._moId)))
                             for t in ts])
    pc = ScriptedCollector([initial, done])
    session = FakeSession(pc)
    out = tasks.wait_for_tasks(session, ts, timeout=60)
    assert [o.state for o in out] == ["success"] * 50
    assert out[0].result._moId == "vm-task-1"
    assert out[0].as_dict()["result"] == "vm-task-1"
    assert len(pc.filters) == 1 and len(pc.filters[0].objectSet) == 50
    assert pc.filters[0].propSet[0].pathSet[:3] == ["info.state", "info.error", "info.result"]
    assert session.log == ["CreatePropertyCollector", "CreateFilter", "WaitForUpdatesEx", "WaitForUpdatesEx",
                           "DestroyPropertyCollector"]
    assert [w[0] for w in pc.waits] == ["", "1"]


def test_every_failure_is_reported_not_only_the_first():
    ts = make_tasks(3)
    pc = ScriptedCollector([update_set("1",
                                       obj_update(ts[0], change("info.state", "error"),
                                                  change("info.error", fault("The VM is already on")),
                                                  change("info.descriptionId", "VirtualMachine.powerOn"),
                                                  change("info.entityName", "web01")),
                                       obj_update(ts[1], change("info.state", "success")),
                                       obj_update(ts[2], change("info.state", "error"),
                                                  change("info.error", fault("No space left")))),
                            ])
    with pytest.raises(TaskFailed) as err:
        tasks.wait_for_tasks(FakeSession(pc), ts, timeout=60)
    message = str(err.value)
    assert message.startswith("2 of 3 tasks failed: ")
    assert "task-1 (VirtualMachine.powerOn on web01): The VM is already on" in message
    assert "task-3: No space left" in message
    assert [f["task"] for f in err.value.details["failures"]] == ["task-1", "task-3"]
    assert [o["state"] for o in err.value.details["outcomes"]] == ["error", "success", "error"]
    assert err.value.details["failures"][0]["fault"] == "vim.fault.InvalidPowerState"
    assert pc.destroyed


def test_partial_failure_can_be_returned_instead_of_raised():
    ts = make_tasks(2)
    pc = ScriptedCollector([update_set("1", obj_update(ts[0], change("info.state", "error"),
                                                       change("info.error", fault("boom"))),
                                       obj_update(ts[1], change("info.state", "success")))])
    out = tasks.wait_for_tasks(FakeSession(pc), ts, timeout=60, raise_on_error=False)
    assert [(o.ok, o.error) for o in out] == [(False, "boom"), (True, None)]


def test_hard_timeout_lists_pending_tasks_and_backs_off():
    clock = Clock()
    ts = make_tasks(3)
    initial = update_set("1", *[obj_update(t, change("info.state", "running"), kind="enter") for t in ts])
    first_done = update_set("2", obj_update(ts[1], change("info.state", "success")))
    pc = ScriptedCollector([initial, first_done], clock=clock)
    with pytest.raises(TaskTimeout) as err:
        tasks.wait_for_tasks(FakeSession(pc), ts, timeout=20, poll=8, clock=clock)
    assert err.value.details["pending"] == ["task-1", "task-3"]
    assert str(err.value).startswith("2 of 3 tasks still running after 20s: task-1")
    waits = [w[1] for w in pc.waits]
    # server-side waits grow 1, 2, 4, 8 (poll cap) and never pass the deadline
    assert waits[:2] == [1, 1] and waits[2:] == [1, 2, 4, 8, 5]
    assert clock.now == 1020.0  # exactly the deadline: the updates above came back at once
    assert pc.destroyed


def test_whole_info_changes_are_understood():
    task = make_tasks(1)
    info = SimpleNamespace(state="success", error=None, result="ok", entityName="db01",
                           descriptionId="Datacenter.powerOnMultiVM")
    pc = ScriptedCollector([update_set("1", obj_update(task[0], change("info", info)))])
    out = tasks.wait_for_tasks(FakeSession(pc), task, timeout=5)
    assert (out[0].state, out[0].result, out[0].entity_name) == ("success", "ok", "db01")


def test_a_vanished_task_is_a_failure():
    task = make_tasks(1)
    pc = ScriptedCollector([update_set("1", obj_update(task[0], kind="leave"))])
    with pytest.raises(TaskFailed, match="disappeared"):
        tasks.wait_for_tasks(FakeSession(pc), task, timeout=5)


def test_no_tasks_no_calls():
    session = FakeSession(ScriptedCollector([]))
    assert tasks.wait_for_tasks(session, [], timeout=5) == []
    assert session.calls == 0

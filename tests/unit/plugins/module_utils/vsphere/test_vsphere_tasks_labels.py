"""tasks.wait_for_tasks(labels=False): state/error/result only; labels read afterwards for what an error names."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ansible_collections.continuity.recovery.plugins.module_utils.errors import TaskFailed, TaskTimeout
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import tasks

from vsphere_fakes import Clock, FakeSession, ScriptedCollector, change, make_tasks, obj_update, update_set


class Collector(ScriptedCollector):
    """Replays WaitForUpdatesEx updates; RetrievePropertiesEx answers the labels of the tasks asked for."""

    def __init__(self, script, clock=None):
        super().__init__(script, clock)
        self.retrieved = []

    def RetrievePropertiesEx(self, specSet, options):
        self.log.append("RetrievePropertiesEx")
        objs = [spec.obj for spec in specSet[0].objectSet]
        self.retrieved.append(([o._moId for o in objs], list(specSet[0].propSet[0].pathSet)))
        return SimpleNamespace(token=None, objects=[SimpleNamespace(obj=o, missingSet=[], propSet=[
            SimpleNamespace(name="info.descriptionId", val="VirtualMachine.powerOn"),
            SimpleNamespace(name="info.entityName", val="vm-of-" + o._moId)]) for o in objs])


def test_success_watches_three_paths_and_reads_nothing_more():
    ts = make_tasks(3)
    pc = Collector([update_set("1", *[obj_update(t, change("info.state", "success")) for t in ts])])
    session = FakeSession(pc)
    out = tasks.wait_for_tasks(session, ts, timeout=60, labels=False)
    assert [o.state for o in out] == ["success"] * 3
    assert pc.filters[0].propSet[0].pathSet == ["info.state", "info.error", "info.result"]
    assert "RetrievePropertiesEx" not in session.log and pc.retrieved == []


def test_default_still_watches_the_labels():
    ts = make_tasks(1)
    pc = Collector([update_set("1", obj_update(ts[0], change("info.state", "success")))])
    tasks.wait_for_tasks(FakeSession(pc), ts, timeout=60)
    assert pc.filters[0].propSet[0].pathSet == list(tasks.WATCHED)


def test_timeout_names_pending_tasks_with_labels_read_after_the_wait():
    clock = Clock()
    ts = make_tasks(3)
    pc = Collector([update_set("1", obj_update(ts[1], change("info.state", "success")))], clock=clock)
    with pytest.raises(TaskTimeout) as err:
        tasks.wait_for_tasks(FakeSession(pc), ts, timeout=5, poll=2, clock=clock, labels=False)
    assert pc.retrieved == [(["task-1", "task-3"], ["info.entityName", "info.descriptionId"])]
    assert "task-1 (VirtualMachine.powerOn on vm-of-task-1)" in str(err.value)
    assert err.value.details["pending"] == ["task-1", "task-3"]


def test_raised_failures_get_labels_returned_ones_do_not_need_them():
    ts = make_tasks(2)
    failing = update_set("1", obj_update(ts[0], change("info.state", "error"),
                                         change("info.error", SimpleNamespace(localizedMessage="boom", fault=None))),
                         obj_update(ts[1], change("info.state", "success")))
    pc = Collector([failing])
    with pytest.raises(TaskFailed, match=r"task-1 \(VirtualMachine.powerOn on vm-of-task-1\): boom"):
        tasks.wait_for_tasks(FakeSession(pc), ts, timeout=60, labels=False)
    pc = Collector([failing])
    out = tasks.wait_for_tasks(FakeSession(pc), ts, timeout=60, raise_on_error=False, labels=False)
    assert [(o.state, o.error) for o in out] == [("error", "boom"), ("success", None)] and pc.retrieved == []

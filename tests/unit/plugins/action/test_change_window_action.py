"""The change_window action plugin with an injected clock (no connection, no playbook)."""

from __future__ import annotations

import datetime
from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.playbook.task import Task

from ansible_collections.continuity.recovery.plugins.action.change_window import ActionModule

UTC = datetime.timezone.utc
PLAN = {"name": "payments", "change_window": {"start": "2026-11-28T22:00:00Z", "end": "2026-11-29T02:00:00Z"}}


def run(args, now):
    task = Task()
    task.args = args
    action = ActionModule(task, mock.MagicMock(), mock.MagicMock(), loader=None, templar=None,
                          shared_loader_obj=None)
    action.clock = lambda: now
    return action.run(task_vars={})


def test_inside_the_window_passes_and_changes_nothing():
    out = run({"plan": PLAN}, datetime.datetime(2026, 11, 28, 23, 0, tzinfo=UTC))
    assert not out.get("failed") and out["changed"] is False and out["inside"] is True
    assert out["now"] == "2026-11-28T23:00:00Z" and out["window"]["end"] == "2026-11-29T02:00:00Z"


def test_outside_fails_with_window_and_now_in_the_message():
    out = run({"plan": PLAN}, datetime.datetime(2026, 11, 28, 21, 10, 4, tzinfo=UTC))
    assert out["failed"] is True and out["changed"] is False and out["inside"] is False
    assert "now (2026-11-28T21:10:04Z) is before the change window 2026-11-28T22:00:00Z - 2026-11-29T02:00:00Z" in out["msg"]


def test_emergency_and_explicit_window():
    out = run({"window": PLAN["change_window"], "emergency": True}, datetime.datetime(2026, 12, 1, tzinfo=UTC))
    assert not out.get("failed") and out["emergency"] is True and out["inside"] is False


def test_no_window_needs_require_window_false():
    now = datetime.datetime(2026, 12, 1, tzinfo=UTC)
    assert run({"plan": {"name": "x"}}, now)["failed"] is True
    assert not run({"plan": {"name": "x"}, "require_window": False}, now).get("failed")


def test_bad_arguments_fail_clearly():
    now = datetime.datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(AnsibleActionFail, match="mutually exclusive"):
        run({"plan": PLAN, "window": PLAN["change_window"]}, now)
    with pytest.raises(AnsibleActionFail, match="must be after start"):
        run({"window": {"start": "2026-11-28T22:00:00Z", "end": "2026-11-28T20:00:00Z"}}, now)

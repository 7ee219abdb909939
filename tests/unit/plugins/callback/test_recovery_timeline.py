"""recovery_timeline callback: one timing record per task result, where the run's evidence lives, no secrets."""

from __future__ import annotations

import datetime
import itertools
import json
import os
import stat

import pytest

from ansible_collections.continuity.recovery.plugins.callback.recovery_timeline import CallbackModule

T0 = datetime.datetime(2026, 11, 23, 19, 0, 0, tzinfo=datetime.timezone.utc)


class Host:
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class Role:
    def get_name(self, include_role_fqcn=True):
        return "continuity.recovery.takeover" if include_role_fqcn else "takeover"


class Task:
    _ids = itertools.count()

    def __init__(self, name, action="ansible.builtin.debug", tags=(), task_vars=None, role=None):
        self._uuid = "task-%d" % next(self._ids)
        self.name, self.action, self.tags, self.vars, self._role = name, action, list(tags), task_vars or {}, role
        self.args = {"password": "hunter2"}

    def get_name(self):
        return self.name


class Result:
    def __init__(self, host, task, result):
        self.host, self.task, self._result = host, task, result
        self.task_name = task.name

    def is_changed(self):
        return bool(self._result.get("changed"))


class Play:
    def __init__(self, extra=None, play_vars=None):
        self.extra = extra or {}
        self.vars = play_vars or {}

    def get_name(self):
        return "Recovery lifecycle"

    def get_variable_manager(self):
        return type("VM", (), {"extra_vars": self.extra})()


@pytest.fixture
def callback(monkeypatch):
    monkeypatch.delenv("CONTINUITY_EVIDENCE_DIR", raising=False)
    ticks = itertools.count()
    cb = CallbackModule()
    cb.clock = lambda: T0 + datetime.timedelta(seconds=next(ticks))
    return cb


def run_task(cb, task, result, host="localhost", status="ok"):
    cb.v2_playbook_on_task_start(task, False)
    cb.v2_runner_on_start(Host(host), task)
    res = Result(Host(host), task, result)
    {"ok": cb.v2_runner_on_ok, "failed": cb.v2_runner_on_failed, "skipped": cb.v2_runner_on_skipped,
     "unreachable": cb.v2_runner_on_unreachable}[status](res)


def records(directory):
    with open(os.path.join(directory, "records.jsonl"), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_buffers_until_the_fact_names_the_directory_then_writes_everything(callback, tmp_path):
    run_dir = str(tmp_path / "evidence" / "payments" / "20261123T190000Z")
    callback.v2_playbook_on_play_start(Play())
    run_task(callback, Task("Fix one run identity"), {"changed": False})
    assert not os.path.exists(run_dir)
    run_task(callback, Task("Fix the evidence directory", action="ansible.builtin.set_fact"),
             {"ansible_facts": {"recovery_evidence_dir": run_dir}})
    run_task(callback, Task("power on", tags=["tier:data", "other"], role=Role()),
             {"changed": True, "password": "hunter2", "msg": "postgresql://u:hunter2@db/x"})
    run_task(callback, Task("broken", task_vars={"recovery_tier": "app"}), {"msg": "token=hunter2"}, status="failed")
    run_task(callback, Task("not needed", task_vars={"recovery_tier": "{{ tier }}"}), {"skipped": True},
             status="skipped")
    run_task(callback, Task("lost host"), {"unreachable": True}, host="db01", status="unreachable")
    found = records(run_dir)
    assert [r["name"] for r in found] == ["Fix one run identity", "Fix the evidence directory", "power on", "broken",
                                          "not needed", "lost host"]
    assert [r["status"] for r in found] == ["ok", "ok", "changed", "failed", "skipped", "failed"]
    assert all(r["kind"] == "timing" and r["run_id"] == "20261123T190000Z" and r["plan"] == "payments"
               for r in found)
    first = found[0]
    assert first["subject"] == "localhost" and first["data"]["play"] == "Recovery lifecycle"
    # the host's own start (runner start), not the task's
    assert first["data"]["start"] == "2026-11-23T19:00:01.000Z" and first["data"]["end"] == "2026-11-23T19:00:02.000Z"
    assert first["data"]["duration_s"] == 1.0
    assert found[2]["role"] == "takeover" and found[2]["data"]["tier"] == "data"
    assert found[3]["data"]["tier"] == "app" and "tier" not in found[4]["data"]
    assert found[5]["subject"] == "db01" and found[5]["data"]["unreachable"] is True
    text = open(os.path.join(run_dir, "records.jsonl"), encoding="utf-8").read()
    assert "hunter2" not in text and "msg" not in text
    assert stat.S_IMODE(os.stat(os.path.join(run_dir, "records.jsonl")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(run_dir).st_mode) == 0o700


def test_extra_var_and_evidence_action_as_sources(callback, tmp_path):
    extra_dir = str(tmp_path / "x" / "plan" / "run")
    callback.v2_playbook_on_play_start(Play({"recovery_evidence_dir": extra_dir}))
    run_task(callback, Task("a"), {})
    assert [r["name"] for r in records(extra_dir)] == ["a"]

    other = CallbackModule()
    seen_dir = tmp_path / "ev" / "payments" / "R2"
    other.v2_playbook_on_play_start(Play())
    run_task(other, Task("before"), {})
    run_task(other, Task("Write evidence", action="continuity.recovery.evidence"),
             {"records_path": str(seen_dir / "records.jsonl"), "dir": str(seen_dir)})
    assert [r["name"] for r in records(str(seen_dir))] == ["before", "Write evidence"]


def test_env_fallback_at_the_end_and_nothing_without_a_directory(callback, tmp_path, monkeypatch):
    callback.v2_playbook_on_play_start(Play())
    run_task(callback, Task("a"), {})
    callback.v2_playbook_on_stats(None)
    assert callback.written == 0

    env_dir = tmp_path / "env" / "p" / "r"
    monkeypatch.setenv("CONTINUITY_EVIDENCE_DIR", str(env_dir))
    cb = CallbackModule()
    cb.v2_playbook_on_play_start(Play())
    run_task(cb, Task("b"), {})
    assert not env_dir.exists()  # a later fact could still name the run's directory
    cb.v2_playbook_on_stats(None)
    assert [r["name"] for r in records(str(env_dir))] == ["b"] and cb.written == 1


def test_templated_directories_are_ignored(callback, tmp_path):
    callback.v2_playbook_on_play_start(Play({"recovery_evidence_dir": "{{ somewhere }}"}))
    run_task(callback, Task("a"), {})
    assert callback._default_dir is None and callback.written == 0


def test_a_play_can_switch_recording_off(callback, tmp_path):
    run_dir = str(tmp_path / "ev" / "p" / "r")
    callback.v2_playbook_on_play_start(Play({"recovery_evidence_dir": run_dir}, {"recovery_timeline": False}))
    run_task(callback, Task("re-render"), {})
    assert callback.written == 0 and not os.path.exists(run_dir)
    callback.v2_playbook_on_play_start(Play({"recovery_evidence_dir": run_dir}, {"recovery_timeline": "{{ x }}"}))
    run_task(callback, Task("recorded"), {})
    assert [r["name"] for r in records(run_dir)] == ["recorded"]

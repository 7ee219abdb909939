"""The journal action plugin against a temporary run directory (no connection, no playbook)."""

from __future__ import annotations

import json
import os
import stat
from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.playbook.task import Task

from ansible_collections.continuity.recovery.plugins.action.journal import ActionModule

UNDO = {"action": "host_cutover", "params": {"action": "failback", "mode": "planned", "shutdown_only": True,
                                             "tiers": ["data"]}}


def run(args, check=False):
    task = Task()
    task.args = args
    task.check_mode = check
    action = ActionModule(task, mock.MagicMock(), mock.MagicMock(), loader=None, templar=None,
                          shared_loader_obj=None)
    return action.run(task_vars={})


def lines(directory):
    with open(os.path.join(directory, "journal.jsonl"), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_events_of_a_step_then_the_state(tmp_path):
    run_dir = str(tmp_path / "payments" / "20261201T070000Z")
    out = run({"dir": run_dir, "step": "tier:data", "status": "started", "action": "host_cutover",
               "subject": "recovery:tier:data", "undo": UNDO})
    assert out["changed"] is False and out["event"]["status"] == "started"
    assert out["pending"] == ["tier:data"] and out["done"] == []
    out = run({"dir": run_dir, "step": "tier:data", "status": "done", "data": {"changed": True}})
    assert out["done"] == ["tier:data"] and out["pending"] == []
    step = out["steps"]["tier:data"]
    assert step["status"] == "done" and step["undo"] == UNDO and step["data"] == {"changed": True}
    assert step["started_at"] <= step["ended_at"]
    events = lines(run_dir)
    assert [e["status"] for e in events] == ["started", "done"]
    assert events[1]["action"] == "host_cutover" and events[1]["undo"] == UNDO  # repeated from the start
    assert stat.S_IMODE(os.stat(os.path.join(run_dir, "journal.jsonl")).st_mode) == 0o600


def test_to_undo_is_newest_first_and_undone_leaves_it(tmp_path):
    run_dir = str(tmp_path)
    for step in ("pair:paydb/promote", "storage:present", "tier:data", "tier:app"):
        run({"dir": run_dir, "step": step, "status": "started", "action": "x", "undo": {"action": "manual"}})
    run({"dir": run_dir, "step": "tier:data", "status": "done"})
    run({"dir": run_dir, "step": "tier:app", "status": "failed", "data": {"msg": "app02 failed"}})
    out = run({"dir": run_dir})
    assert [e["step"] for e in out["to_undo"]] == ["tier:app", "tier:data", "storage:present", "pair:paydb/promote"]
    assert out["summary"] == {"started": 2, "done": 1, "failed": 1, "undone": 0}
    run({"dir": run_dir, "step": "tier:app", "status": "undone"})
    assert [e["step"] for e in run({"dir": run_dir})["to_undo"]][0] == "tier:data"


def test_check_mode_reads_but_writes_nothing(tmp_path):
    run_dir = str(tmp_path / "r")
    out = run({"dir": run_dir, "step": "tier:data", "status": "started", "action": "host_cutover"}, check=True)
    assert out["skipped_write"] is True and out["exists"] is False
    assert not os.path.exists(os.path.join(run_dir, "journal.jsonl"))


def test_undo_specs_must_not_carry_secrets_and_need_an_action(tmp_path):
    with pytest.raises(AnsibleActionFail, match="must not carry secrets"):
        run({"dir": str(tmp_path), "step": "s", "status": "started", "action": "replication",
             "undo": {"action": "replication", "params": {"password": "hunter2"}}})
    with pytest.raises(AnsibleActionFail, match="undo.action: is required"):
        run({"dir": str(tmp_path), "step": "s", "status": "started", "action": "replication", "undo": {"x": 1}})
    assert not os.path.exists(os.path.join(str(tmp_path), "journal.jsonl"))


def test_finishing_a_step_never_started_fails(tmp_path):
    with pytest.raises(AnsibleActionFail, match="never started"):
        run({"dir": str(tmp_path), "step": "tier:web", "status": "done"})
    with pytest.raises(AnsibleActionFail, match="action is required"):
        run({"dir": str(tmp_path), "step": "tier:web", "status": "started"})


def test_find_the_newest_unfinished_run(tmp_path):
    root = tmp_path / "payments"
    for run_id, last in (("20261201T060000Z", "done"), ("20261201T070000Z", "failed"),
                         ("20261201T080000Z", "done")):
        run({"dir": str(root / run_id), "step": "takeover", "status": "started", "action": "takeover"})
        run({"dir": str(root / run_id), "step": "takeover", "status": last})
    (root / "20261201T090000Z").mkdir()  # a run without a journal (baseline only)
    out = run({"root": str(root), "unfinished": "takeover"})
    assert out["found"] is True and out["run_id"] == "20261201T070000Z"
    assert out["pending"] == ["takeover"]
    assert run({"root": str(root)})["run_id"] == "20261201T080000Z"
    assert run({"root": str(tmp_path / "nothing")})["found"] is False
    # once a rollback undid the failed run to its own step, it is finished: not resumed, not rolled back again
    run({"dir": str(root / "20261201T070000Z"), "step": "takeover", "status": "undone"})
    assert run({"root": str(root), "unfinished": "takeover"})["found"] is False


def test_bad_arguments_fail_clearly(tmp_path):
    with pytest.raises(AnsibleActionFail, match="mutually exclusive"):
        run({"dir": str(tmp_path), "root": str(tmp_path)})
    with pytest.raises(AnsibleActionFail, match="one of the following is required"):
        run({"step": "x"})
    with pytest.raises(AnsibleActionFail, match="value of status must be one of"):
        run({"dir": str(tmp_path), "step": "x", "status": "maybe"})


def test_documented_options_match_the_action_spec():
    import yaml
    from ansible_collections.continuity.recovery.plugins.action.journal import ARGUMENT_SPEC
    from ansible_collections.continuity.recovery.plugins.modules import journal as doc
    documented = yaml.safe_load(doc.DOCUMENTATION)["options"]
    assert sorted(documented) == sorted(ARGUMENT_SPEC)
    for name, option in ARGUMENT_SPEC.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("choices") == option.get("choices"), name
    assert isinstance(yaml.safe_load(doc.EXAMPLES), list) and yaml.safe_load(doc.RETURN)


def test_a_corrupt_journal_under_root_fails_the_task_clearly(tmp_path):
    root = tmp_path / "payments"
    run_dir = root / "20261201T070000Z"
    run({"dir": str(run_dir), "step": "takeover", "status": "started", "action": "takeover"})
    with open(str(run_dir / "journal.jsonl"), "a", encoding="utf-8") as handle:
        handle.write('{"step": "takeover", "sta{"step": "x"}\n')  # corrupt inside, not a torn last line
    with pytest.raises(AnsibleActionFail, match=r"cannot search the runs under .*journal.jsonl line 2"):
        run({"root": str(root), "unfinished": "takeover"})
    with pytest.raises(AnsibleActionFail, match="journal.jsonl line 2"):
        run({"root": str(root)})


def test_an_event_after_a_torn_line_keeps_the_journal_readable(tmp_path):
    run_dir = str(tmp_path / "r")
    run({"dir": run_dir, "step": "a", "status": "started", "action": "x"})
    with open(os.path.join(run_dir, "journal.jsonl"), "a", encoding="utf-8") as handle:
        handle.write('{"step": "b", "sta')  # a crash in the middle of a write
    out = run({"dir": run_dir, "step": "a", "status": "done"})
    assert out["done"] == ["a"] and out["events"] == 2
    assert run({"root": str(tmp_path), "unfinished": "a"})["found"] is False

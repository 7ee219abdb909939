"""database_info against the lab's real PostgreSQL 15 primary."""

from __future__ import annotations

import json

import pytest

from playbook_runner import run_playbook

pytestmark = pytest.mark.integration


def _play(tmp_path, module_args, check=False):
    playbook = tmp_path / "db.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - name: inspect\n      continuity.recovery.database_info: %s\n" % json.dumps(module_args),
        encoding="utf-8")
    return run_playbook(str(playbook), check=check)


def _args(pg, **extra):
    args = {"login_host": pg["host"], "login_port": pg["port"], "login_user": pg["user"],
            "login_password": pg["password"], "login_db": pg["database"]}
    args.update(extra)
    return args


def test_primary_is_inspected_with_its_replication_settings(lab, tmp_path):
    pg = lab["postgres"]["primary"]
    run = _play(tmp_path, _args(pg), check=True)
    assert run.rc == 0, run.stdout[-3000:]
    result = run.task_results("inspect")[0]
    assert result["changed"] is False
    assert result["reachable"] is True
    assert result["role"] == "primary"
    assert result["endpoint"] == "%s:%s" % (pg["host"], pg["port"])
    assert result["settings"]["wal_level"] == "replica"
    assert result["settings"]["wal_log_hints"] == "on"
    assert result["settings"]["data_checksums"] == "on"
    assert result["version_num"] // 10000 == 15
    assert result["current_lsn"].count("/") == 1
    assert result["abnormalities"] == []
    assert result["queries"] and all("%s" not in q or "ANY" in q for q in result["queries"])
    # The password is a no_log parameter: never echoed back.
    assert pg["password"] not in run.stdout


def test_unreachable_server_is_reported_not_failed_when_allowed(lab, tmp_path):
    pg = dict(lab["postgres"]["primary"], port=1)  # nothing listens on port 1
    run = _play(tmp_path, _args(pg, allow_unreachable=True, connect_timeout=2))
    assert run.rc == 0, run.stdout[-3000:]
    result = run.task_results("inspect")[0]
    assert result["reachable"] is False
    assert "cannot connect to PostgreSQL at 127.0.0.1:1" in result["error"]


def test_wrong_password_fails_with_a_clear_message(lab, tmp_path):
    pg = dict(lab["postgres"]["primary"], password="not-the-password")
    run = _play(tmp_path, _args(pg))
    assert run.rc != 0
    result = run.task_results("inspect")[0]
    assert result["msg"] == "PostgreSQL at %s:%s refused the credentials of user %r" % (
        pg["host"], pg["port"], pg["user"])


def test_query_selects_from_the_result(lab, tmp_path):
    run = _play(tmp_path, _args(lab["postgres"]["primary"], query="settings.wal_level"))
    assert run.rc == 0, run.stdout[-3000:]
    assert run.task_results("inspect")[0]["query_result"] == "replica"

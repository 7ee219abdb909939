"""buffer_info on the lab's protected pair: it reads the primary only, so it answers with the
recovery site's endpoint unreachable, and reports the cap of the lab (max_slot_wal_keep_size 1GB)."""

from __future__ import annotations

import json
import os
import sys

import pytest

from playbook_runner import REPO, run_playbook

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
import standby as sb  # noqa: E402

pytestmark = pytest.mark.integration


def test_buffer_answers_with_the_recovery_site_unreachable(lab, tmp_path):
    # the lab pair must exist: protect it (idempotent; a no-op when already protected)
    run = run_playbook(os.path.join(REPO, "playbooks", "protect.yml"),
                       extra_vars={"recovery_evidence_root": str(tmp_path / "evidence"), "protect_canary": False})
    assert run.rc == 0, run.stdout[-3000:]
    pg = lab["postgres"]["primary"]
    args = {"name": "paydb", "engine": "postgresql", "slot": "dr_paydb", "max_buffer": "1GB",
            "primary": {"host": pg["host"], "port": pg["port"], "user": pg["user"], "password": pg["password"],
                        "database": pg["database"]},
            "standby": {"host": "127.0.0.1", "port": 1},          # nothing answers there
            "sample_seconds": 0.5, "objectives": {"rpo_seconds": 60, "max_buffer_fill_pct": 80},
            "link_state_dir": str(tmp_path / "links"), "query": "[link.state, wal_status, capacity_source]"}
    path = tmp_path / "buffer.yml"
    path.write_text(sb.playbook([{"name": "buffer", "continuity.recovery.buffer_info": args}]), encoding="utf-8")
    run = run_playbook(str(path), check=True)
    assert run.rc == 0, run.stdout[-3000:]
    result = run.task_results("buffer")[0]
    assert result["changed"] is False
    assert result["query_result"] == ["connected", "reserved", "max_slot_wal_keep_size"]
    assert result["capacity_bytes"] == 1024 ** 3 and result["fill_pct"] < 80
    assert result["headroom_bytes"] > 0 and result["ingest_rate_bytes_per_second"] >= 0
    assert result["rpo_exposure"]["bytes"] >= 0 and result["alerts"] == []
    assert result["link"]["since_source"] == "walsender_start"
    assert all("%s" not in q or "::pg_lsn" in q or "= %s" in q for q in result["queries"])
    assert pg["password"] not in json.dumps(run.data)

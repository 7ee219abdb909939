"""The protect role against the lab: establish every pair, initial sync, canary, evidence;
a second run changes nothing. Overflow: a small cap loses the slot, buffer_info says so,
protect re-seeds and records why (on a private pair, so the shared lab keeps its settings)."""

from __future__ import annotations

import glob
import json
import os
import sys

import pytest
import yaml

from playbook_runner import REPO, run_playbook

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
import standby as sb  # noqa: E402

pytestmark = pytest.mark.integration

PROTECT = os.path.join(REPO, "playbooks", "protect.yml")


def _records(root):
    out = []
    for path in glob.glob(os.path.join(root, "*", "*", "records.jsonl")):
        with open(path, encoding="utf-8") as handle:
            out += [dict(json.loads(line), _file=path) for line in handle if line.strip()]
    return out


def _lab_plan():
    with open(os.path.join(REPO, "inventories", "lab", "group_vars", "all", "recovery_plan.yml")) as handle:
        return yaml.safe_load(handle)["recovery_plan"]


def test_protect_establishes_proves_and_is_idempotent(lab, tmp_path):
    root = str(tmp_path / "evidence")
    first = run_playbook(PROTECT, extra_vars={"recovery_evidence_root": root, "recovery_run_id": "first"})
    assert first.rc == 0, first.stdout[-4000:]
    second = run_playbook(PROTECT, extra_vars={"recovery_evidence_root": root, "recovery_run_id": "second"})
    assert second.rc == 0, second.stdout[-4000:]
    assert second.stats["changed"] == 0, [t for t in second.stdout.splitlines() if "changed:" in t]
    check = run_playbook(PROTECT, extra_vars={"recovery_evidence_root": root, "recovery_run_id": "check"},
                         check=True)
    assert check.rc == 0 and check.stats["changed"] == 0

    records = _records(root)
    pairs = [p["name"] for p in _lab_plan()["replication"]]
    last = [r for r in records if r["run_id"] == "second" and r["role"] == "protect"]
    canaries = {r["subject"]: r for r in last if r["name"] == "canary"}
    assert sorted(canaries) == sorted("pair:" + p for p in pairs)
    assert all(r["status"] == "ok" and r["data"]["read_at_target"] for r in canaries.values())
    protections = [r for r in last if r["name"] == "protection"]
    assert sorted(r["subject"] for r in protections) == sorted("pair:" + p for p in pairs)
    assert all(r["status"] == "ok" and r["data"]["actions"] == [] for r in protections)
    summary = [r for r in last if r["kind"] == "summary"][0]
    assert summary["data"]["changed"] == [] and summary["data"]["reseeded"] == []
    text = "".join(open(r["_file"]).read() for r in records[:1])
    assert "lab-repl-secret" not in text and "lab-db-secret" not in text


def test_overflow_loses_the_slot_and_protect_reseeds(lab, tmp_path):
    base = 35452 + lab["port_offset"]
    primary = sb.Cluster(lab["lab_dir"], "ovf", base)
    standby = sb.Cluster(lab["lab_dir"], "ovf-standby", base + 1)
    standby.destroy()
    primary.init_primary(wal_segsize=1, extra_conf={"max_slot_wal_keep_size": "'4MB'", "min_wal_size": "'2MB'",
                                                    "max_wal_size": "'32MB'"})
    try:
        _overflow(lab, tmp_path, primary, standby)
    finally:
        standby.destroy()
        primary.destroy()


def _overflow(lab, tmp_path, primary, standby):
    src, tgt = tmp_path / "src", tmp_path / "tgt"
    src.mkdir()
    (src / "a.vmdk").write_bytes(os.urandom(65536))
    plan = _lab_plan()
    endpoint = {"host": "127.0.0.1", "user": sb.ADMIN_USER, "password": sb.ADMIN_PASSWORD, "database": sb.DATABASE}
    plan["replication"] = [
        {"name": "vmstore", "engine": "rsync", "source": {"path": str(src)}, "target": {"path": str(tgt)},
         "snapshots": 2},
        {"name": "paydb", "engine": "postgresql", "primary": dict(endpoint, port=primary.port),
         "standby": dict(endpoint, port=standby.port), "slot": "dr_ovf", "max_buffer": "64MB"},
    ]
    settings = {"paydb": {"primary": {"data_dir": primary.data_dir},
                          "standby": {"data_dir": standby.data_dir, "log_file": standby.log_file},
                          "replication_user": sb.REPL_USER, "replication_password": sb.REPL_PASSWORD}}
    root = str(tmp_path / "evidence")
    extra = {"recovery_plan": plan, "protect_pair_settings": settings, "recovery_evidence_root": root}
    run = run_playbook(PROTECT, extra_vars=extra)
    assert run.rc == 0, run.stdout[-4000:]
    assert run.stats["changed"] >= 2

    # the recovery site goes away while the primary keeps writing past the cap
    standby.stop("immediate")
    with primary.connect() as conn:
        for _batch in range(4):
            conn.execute("INSERT INTO payments (amount, note) SELECT 2, repeat('y', 500) FROM generate_series(1, 4000)")
            conn.execute("SELECT pg_switch_wal()")
        conn.execute("CHECKPOINT")
        status = conn.execute("SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'dr_ovf'").fetchone()[0]
        before = sb.fingerprint(conn)
    assert status == "lost"

    args = dict(sb.module_pair(primary, standby, "paydb", "dr_ovf", max_buffer="64MB"), sample_seconds=0,
                objectives={"rpo_seconds": 60, "max_buffer_fill_pct": 80})
    args["standby"]["host"] = "127.0.0.1"
    path = tmp_path / "buffer.yml"
    path.write_text(sb.playbook([{"name": "buffer", "continuity.recovery.buffer_info": args}]), encoding="utf-8")
    run = run_playbook(str(path))
    assert run.rc == 0, run.stdout[-4000:]
    buffer = run.task_results("buffer")[0]
    assert buffer["lost"] is True and buffer["wal_status"] == "lost"
    assert buffer["link"]["state"] == "disconnected"
    assert "buffer_overflow" in [a["alert"] for a in buffer["alerts"] if a["severity"] == "critical"]

    run = run_playbook(PROTECT, extra_vars=extra)
    assert run.rc == 0, run.stdout[-4000:]
    present = run.task_results("Establish pair paydb")[0]
    assert present["changed"] and present["reseeded"] is True and "lost" in present["reseed_reason"]
    records = [r for r in _records(root) if r["name"] == "reseed"]
    assert len(records) == 1 and "wal_status lost" in records[0]["data"]["reason"]
    with standby.connect() as conn:
        assert sb.fingerprint(conn)[0] >= before[0]
    with primary.connect() as p, standby.connect() as s:
        assert sb.fingerprint(p) == sb.fingerprint(s)
    again = run_playbook(PROTECT, extra_vars=extra)
    assert again.rc == 0 and again.stats["changed"] == 0, again.stdout[-3000:]

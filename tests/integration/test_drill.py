"""The drill role and database_clone against a lab of their own (real vcsim, PostgreSQL 15, rsync).

The lab (DRILL_LAB_DIR, default /var/lib/crl-drill-it, port offset DRILL_LAB_PORT_OFFSET=320) is
started here, protected with the protect role against its own plan (streaming standby, recovery-site
WAL archive + base backup, rsync replica with snapshots) and purged at the end: the shared lab is
never touched. Production is fingerprinted independently of the collection (tests/integration/
fingerprint.py, psycopg, state files): primary VMs, the primary database's rows, its WAL position,
the streaming sender and slot, the standby's recovery/pause state, the rsync pair's hold, last run
and snapshots. The primary's WAL position may move while nothing changes (with wal_log_hints,
reading a page whose hint bits are unset after a checkpoint writes a full-page image; autovacuum
prunes and freezes): the test settles production once (VACUUM FREEZE ANALYZE of every database,
so autovacuum stays quiet) and asserts that no transaction id was assigned and that no WAL record
written between the two positions (pg_waldump) belongs to a transaction. Order matters (pytest
keeps file order): database_clone alone, check mode, the full drill, a point-in-time drill (and
the same end state after a second run), a drill whose VM clone fails, a bad point-in-time
target, a time limit. DRILL_KEEP_LAB=1 keeps the lab for the next run.

Reliability item 5 (drill isolation, docs/reliability.md): the full drill and the drill that
fails midway record their figures (``@pytest.mark.chaos_item("5")``, tests/chaos/figures_plugin.py).
"""

from __future__ import annotations

import glob
import json
import os
import re
import socket
import subprocess
import time

import psycopg
import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

from fingerprint import database_fingerprint, vsphere_fingerprint
from playbook_runner import REPO, run_playbook

pytestmark = pytest.mark.integration

VENV_BIN = os.path.join(REPO, ".venv", "bin")
LAB_DIR = os.environ.get("DRILL_LAB_DIR", "/var/lib/crl-drill-it")
OFFSET = int(os.environ.get("DRILL_LAB_PORT_OFFSET", "320"))
CLONE_PORT = 45432 + OFFSET            # inventories/lab/group_vars/all/drill.yml
DRILL = os.path.join(REPO, "playbooks", "drill.yml")
PROTECT = os.path.join(REPO, "playbooks", "protect.yml")
SECRETS = ("lab-vcenter-secret", "lab-db-secret", "lab-repl-secret")
MARKER = "continuity.recovery.role"


def labctl(*args):
    return subprocess.run([os.path.join(VENV_BIN, "python"), os.path.join(REPO, "tests", "lab", "labctl.py")]
                          + [str(a) for a in args], capture_output=True, text=True, timeout=600, cwd=REPO,
                          check=False)


@pytest.fixture(scope="module")
def drill_lab(tmp_path_factory):
    res = labctl("up", "--lab-dir", LAB_DIR, "--port-offset", OFFSET)
    if res.returncode != 0:
        pytest.fail("labctl up failed:\n%s%s" % (res.stdout, res.stderr))
    with open(os.path.join(LAB_DIR, "lab.json"), encoding="utf-8") as handle:
        lab = json.load(handle)
    work = tmp_path_factory.mktemp("drill")
    plan_file = work / "plan.yml"
    plan_file.write_text(labctl("plan", "--lab-dir", LAB_DIR, "--port-offset", OFFSET, "--format", "yaml").stdout)
    lab["plan"] = json.loads(labctl("plan", "--lab-dir", LAB_DIR, "--port-offset", OFFSET,
                                    "--format", "json").stdout)["recovery_plan"]
    lab["plan_file"] = str(plan_file)
    lab["evidence"] = str(work / "evidence")
    run = run_playbook(PROTECT, extra_vars={"recovery_evidence_root": lab["evidence"], "recovery_run_id": "protect"},
                       env=_env(), args=("-e", "@" + lab["plan_file"]))
    assert run.rc == 0, run.stdout[-4000:]
    settle(lab)
    yield lab
    if os.environ.get("DRILL_KEEP_LAB") == "1":
        return
    res = labctl("down", "--lab-dir", LAB_DIR, "--purge")
    assert res.returncode == 0, res.stdout + res.stderr


def _env():
    return {"LAB_DIR": LAB_DIR, "LAB_PORT_OFFSET": str(OFFSET)}


def drill(lab, run_id, check=False, **extra):
    extra_vars = {"recovery_evidence_root": lab["evidence"], "recovery_run_id": run_id}
    extra_vars.update(extra)
    return run_playbook(DRILL, extra_vars=extra_vars, check=check, env=_env(), args=("-e", "@" + lab["plan_file"]))


def records(lab, run_id):
    path = os.path.join(lab["evidence"], "payments", run_id, "records.jsonl")
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def drill_records(lab, run_id):
    return [r for r in records(lab, run_id) if r["role"] == "drill" and r["kind"] != "timing"
            or r["kind"] == "timing" and r["name"].startswith("drill tier")]


def journal_states(lab, run_id):
    """Latest status per step of the run's rollback journal."""
    path = os.path.join(lab["evidence"], "payments", run_id, "journal.jsonl")
    states = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            event = json.loads(line)
            states[event["step"]] = event["status"]
    return states


def summary(lab, run_id):
    return [r for r in records(lab, run_id) if r["kind"] == "summary" and r["role"] == "drill"][-1]


def _pg(lab, which="primary"):
    pg = lab["postgres"][which]
    return psycopg.connect(host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"],
                           dbname=pg["database"], autocommit=True)


PG_WALDUMP = "/usr/lib/postgresql/15/bin/pg_waldump"


def settle(lab):
    """A quiet production before the drills: nothing left for autovacuum in any database (its ANALYZE would
    assign transaction ids), then a checkpoint. Production's rows are not changed by this."""
    pg = lab["postgres"]["primary"]
    for dbname in ("postgres", "template1", pg["database"]):
        with psycopg.connect(host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"],
                             dbname=dbname, autocommit=True) as conn:
            conn.execute("VACUUM (FREEZE, ANALYZE)")
    with _pg(lab) as conn:
        conn.execute("CHECKPOINT")


def data_wal(lab, start, end):
    """WAL records between two positions of the primary written by a transaction (``tx`` not 0): a change of
    data. Records without a transaction - hint-bit full-page images, pruning and freezing, running-xacts
    snapshots, checkpoints - change no row. Empty: no data changed."""
    if start == end:
        return []
    wal = os.path.join(lab["postgres"]["primary"]["data_dir"], "pg_wal")
    out = subprocess.run([PG_WALDUMP, "-p", wal, "-s", start, "-e", end], capture_output=True, text=True,
                         timeout=60, check=False)
    recs = [line for line in out.stdout.splitlines() if line.startswith("rmgr:")]
    assert recs or out.returncode == 0, out.stderr
    return [line for line in recs if not re.search(r"\btx:\s+0,", line)]


def assert_production_identical(lab, before, after, data_wal_records=None):
    """``data_wal_records``: data_wal() between the two positions when the caller has read it already."""
    assert after["vsphere"] == before["vsphere"]
    assert after["database"] == before["database"]                   # every table's rows, still a primary
    wal = {k: v for k, v in after["replication"].items() if k != "lsn"}
    assert wal == {k: v for k, v in before["replication"].items() if k != "lsn"}
    if data_wal_records is None:
        data_wal_records = data_wal(lab, before["replication"]["lsn"], after["replication"]["lsn"])
    assert data_wal_records == []


def production_figures(lab, before, after):
    """What item 5 publishes: how many fingerprinted things were compared, how many differ (VMs, tables,
    replication facts other than the WAL position), and the WAL records between the two positions that
    belong to a transaction (``data_wal``, the records themselves)."""
    differing = [key for part in ("vsphere", "database") for key in set(before[part]) | set(after[part])
                 if before[part].get(key) != after[part].get(key)]
    differing += ["replication:" + key for key in before["replication"]
                  if key != "lsn" and before["replication"][key] != after["replication"].get(key)]
    return {"compared": len(before["vsphere"]) + len(before["database"]) + len(before["replication"]) - 1,
            "differences": len(differing), "differing": sorted(differing),
            "data_wal": data_wal(lab, before["replication"]["lsn"], after["replication"]["lsn"]),
            "lsn_before": before["replication"]["lsn"], "lsn_after": after["replication"]["lsn"]}


def replication_state(lab):
    """Independent reads of the pairs: primary LSN and next xid, sender, slot; standby recovery/pause; rsync state."""
    with _pg(lab) as conn:
        lsn = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
        next_xid = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text").fetchone()[0]
        senders = conn.execute("SELECT application_name, state FROM pg_stat_replication ORDER BY 1").fetchall()
        slots = conn.execute("SELECT slot_name, active, wal_status FROM pg_replication_slots ORDER BY 1").fetchall()
    with _pg(lab, "standby") as conn:
        standby = conn.execute("SELECT pg_is_in_recovery(), pg_get_wal_replay_pause_state()").fetchone()
    source = lab["plan"]["replication"][0]["source"]["path"]
    parent, name = os.path.split(source)
    with open(os.path.join(parent, ".%s.continuity-rsync" % name, "state.json"), encoding="utf-8") as handle:
        rsync = json.load(handle)
    target = lab["plan"]["replication"][0]["target"]["path"]
    tparent, tname = os.path.split(target)
    snapshots = sorted(os.listdir(os.path.join(tparent, ".%s.snapshots" % tname)))
    return {"lsn": lsn, "next_xid": next_xid, "senders": senders, "slots": slots, "standby": standby, "rsync_held": rsync["held"],
            "rsync_last_run": rsync["last_run"]["at"], "rsync_snapshots": snapshots}


def production(lab):
    """Everything production is made of, read without the collection. LSN first (before the row digest)."""
    state = replication_state(lab)
    return {"replication": state, "vsphere": vsphere_fingerprint(lab["sites"]["primary"]["vcenter"]),
            "database": database_fingerprint(lab["postgres"]["primary"])}


def recovery_artifacts(lab):
    """What a drill could leave at the recovery site: marked VMs, VM snapshots, clone folders, DB clones."""
    vc = lab["sites"]["recovery"]["vcenter"]
    si = SmartConnect(host=vc["hostname"], port=vc["port"], user=vc["username"], pwd=vc["password"],
                      disableSslCertValidation=True)
    found = []
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        vms = list(view.view)
        view.Destroy()
        pc = vmodl.query.PropertyCollector
        if vms:  # a PropertyCollector read: vcsim 0.24 crashes on single reads of unset properties
            spec = pc.FilterSpec(objectSet=[pc.ObjectSpec(obj=vm) for vm in vms], propSet=[pc.PropertySpec(
                type=vim.VirtualMachine, pathSet=["name", "config.extraConfig", "snapshot"])])
            for item in content.propertyCollector.RetrieveContents([spec]):
                props = {p.name: p.val for p in item.propSet}
                role = next((o.value for o in props.get("config.extraConfig") or [] if o.key == MARKER), None)
                if role or props.get("snapshot") or props["name"].endswith("-drill"):
                    found.append("vm %s (marker %s, snapshot %s)" % (props["name"], role, bool(props.get("snapshot"))))
    finally:
        Disconnect(si)
    replica = lab["sites"]["recovery"]["replica_dirs"]["Replica-DS-01"]
    found += ["folder %s" % d for d in os.listdir(replica) if d.endswith("-drill")]
    pg_dir = os.path.join(LAB_DIR, "pg")
    found += ["pg %s" % d for d in os.listdir(pg_dir) if d.startswith("drill-")]
    with socket.socket() as sock:
        sock.settimeout(0.5)
        if sock.connect_ex(("127.0.0.1", CLONE_PORT)) == 0:
            found.append("port %d answers" % CLONE_PORT)
    return found


def no_secret_in_evidence(lab):
    for path in glob.glob(os.path.join(lab["evidence"], "**", "*"), recursive=True):
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
            for secret in SECRETS:
                assert secret not in text, "%s in %s" % (secret, path)


# --------------------------------------------------------------- database_clone
def _clone_args(lab, **extra):
    pair = [p for p in lab["plan"]["replication"] if p["name"] == "paydb"][0]
    args = {"name": "paydb", "engine": "postgresql", "primary": pair["primary"], "standby": pair["standby"],
            "slot": pair["slot"], "archive": pair["archive"], "data_dir": os.path.join(LAB_DIR, "pg", "dc-test"),
            "port": CLONE_PORT + 1, "count_tables": ["payments", "accounts"]}
    args.update(extra)
    return args


def _clone(lab, tmp_path, tasks):
    path = tmp_path / "clone.yml"
    path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    return run_playbook(str(path), inventory="localhost,",
                        args=("-c", "local", "-e", "ansible_python_interpreter=" + os.path.join(VENV_BIN, "python")))


def test_database_clone_check_mode_idempotence_and_ownership(drill_lab, tmp_path):
    foreign = os.path.join(LAB_DIR, "pg", "dc-foreign")
    os.makedirs(os.path.join(foreign, "keep"), exist_ok=True)
    with _pg(drill_lab) as conn:
        rows = conn.execute("SELECT count(*) FROM payments").fetchone()[0]
    module = "continuity.recovery.database_clone"
    run = _clone(drill_lab, tmp_path, [
        {"name": "check", module: _clone_args(drill_lab), "check_mode": True},
        {"name": "present", module: _clone_args(drill_lab)},
        {"name": "present again", module: _clone_args(drill_lab)},
        {"name": "other target", module: _clone_args(drill_lab, target_lsn="0/1"), "ignore_errors": True},
        {"name": "foreign", module: _clone_args(drill_lab, data_dir=foreign, state="absent"), "ignore_errors": True},
        {"name": "absent check", module: _clone_args(drill_lab, state="absent"), "check_mode": True},
        {"name": "absent", module: _clone_args(drill_lab, state="absent")},
        {"name": "absent again", module: _clone_args(drill_lab, state="absent")},
    ])
    assert run.rc == 0, run.stdout[-4000:]
    check = run.task_results("check")[0]
    assert check["changed"] and check["actions"][0].startswith("copy base backup ") and check["commands"] == []
    present = run.task_results("present")[0]
    assert present["changed"] and present["clone"]["reachable"] and present["clone"]["in_recovery"] is False
    assert present["rows"]["payments"] == rows and present["rows"]["accounts"] > 0
    assert present["target"]["description"].startswith("latest") and present["timeline"] >= 2
    again = run.task_results("present again")[0]
    assert again["changed"] is False and again["actions"] == []
    assert "remove it first" in run.task_results("other target")[0]["msg"]
    assert "not made by database_clone" in run.task_results("foreign")[0]["msg"]
    assert os.path.isdir(os.path.join(foreign, "keep"))                      # never touched
    absent_check = run.task_results("absent check")[0]
    assert absent_check["changed"] and absent_check["actions"][0].startswith("stop the clone")
    assert absent_check["commands"] == []
    assert run.task_results("absent")[0]["changed"]
    assert run.task_results("absent again")[0]["changed"] is False
    assert not os.path.exists(_clone_args(drill_lab)["data_dir"])
    assert not os.path.exists(_clone_args(drill_lab)["data_dir"] + ".continuity-clone.json")
    os.rmdir(os.path.join(foreign, "keep"))
    os.rmdir(foreign)


# --------------------------------------------------------------------- drill
def test_refused_outside_the_change_window_before_anything_changes(drill_lab):
    before = production(drill_lab)
    recovery_before = vsphere_fingerprint(drill_lab["sites"]["recovery"]["vcenter"])
    closed = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"}
    run = drill(drill_lab, "closed", recovery_change_window=closed)
    assert run.rc != 0 and "outside" in run.failures()[-1]["msg"]
    assert_production_identical(drill_lab, before, production(drill_lab))
    assert vsphere_fingerprint(drill_lab["sites"]["recovery"]["vcenter"]) == recovery_before
    assert recovery_artifacts(drill_lab) == []
    recs = drill_records(drill_lab, "closed")
    assert [(r["kind"], r["name"], r["status"]) for r in recs if r["kind"] != "timing"] == [
        ("check", "change_window", "failed"), ("summary", "drill", "failed")]


def test_check_mode_says_what_would_happen_and_changes_nothing(drill_lab):
    before = production(drill_lab)
    recovery_before = vsphere_fingerprint(drill_lab["sites"]["recovery"]["vcenter"])
    run = drill(drill_lab, "check", check=True)
    assert run.rc == 0, run.stdout[-4000:]
    assert_production_identical(drill_lab, before, production(drill_lab))
    assert vsphere_fingerprint(drill_lab["sites"]["recovery"]["vcenter"]) == recovery_before
    assert recovery_artifacts(drill_lab) == []
    clone = run.task_results("Clone to the point in time the database of pair paydb")[0]
    assert clone["changed"] and any(a.startswith("recover to latest") for a in clone["actions"])
    hold = run.task_results("Hold for the drill pair vmstore")[0]
    assert hold["changed"] and hold["actions"][0] == "hold pair vmstore"
    done = summary(drill_lab, "check")
    assert done["data"]["check_mode"] is True and done["data"]["production_unchanged"] is True
    no_secret_in_evidence(drill_lab)


@pytest.mark.chaos_item("5")
def test_drill_passes_proves_production_untouched_and_leaves_nothing(drill_lab, figures):
    before = production(drill_lab)
    run = drill(drill_lab, "drill")
    assert run.rc == 0, run.stdout[-6000:]
    after = production(drill_lab)
    found = production_figures(drill_lab, before, after)
    left = recovery_artifacts(drill_lab)
    figures.set(production_things_compared=found["compared"], production_differences=found["differences"],
                production_differing=found["differing"], data_wal_records=len(found["data_wal"]),
                primary_lsn_before=found["lsn_before"], primary_lsn_after=found["lsn_after"],
                artifacts_left=len(left))
    # VMs, rows, no data WAL, next xid, sender, slot, standby, rsync hold/last run/snapshots
    assert_production_identical(drill_lab, before, after, found["data_wal"])
    assert left == []

    recs = drill_records(drill_lab, "drill")
    by = {}
    for r in recs:
        by.setdefault((r["kind"], r["name"]), []).append(r)
    vms = [vm for tier in drill_lab["plan"]["tiers"] for vm in tier["vms"]]
    checks = by[("check", "drill_vm")]
    assert sorted(r["data"]["vm"] for r in checks) == sorted(vms) and {r["status"] for r in checks} == {"ok"}
    wanted = {vm["name"]: "10.20." + vm["ip"].split(".", 2)[2] for vm in drill_lab["vms"]}
    assert {r["data"]["vm"]: r["data"]["ip_address"] for r in checks} == wanted
    assert {tuple(r["data"]["portgroups"]) for r in checks} == {("DR-Bubble",)}
    db = by[("check", "database_clone")][0]
    assert db["status"] == "ok" and db["data"]["rows"]["payments"] == before["database"]["public.payments"][0]
    assert by[("change", "hold")][0]["subject"] == "pair:vmstore"
    assert [r["status"] for r in by[("check", "production_unchanged")]] == ["ok"]
    assert ("snapshot", "fingerprint_before") in by and ("snapshot", "fingerprint_after") in by
    assert sorted(r["data"]["tier"] for r in by[("timing", "drill tier data")] + by[("timing", "drill tier app")]
                  + by[("timing", "drill tier web")]) == ["app", "data", "web"]
    cleanup = by[("change", "cleanup")][0]
    assert cleanup["status"] == "changed" and cleanup["data"]["errors"] == []
    done = summary(drill_lab, "drill")["data"]
    figures.set(drill_vms_verified=len([r for r in checks if r["status"] == "ok"]), drill_vms=len(vms),
                drill_result=done["result"], drill_elapsed_s=done.get("elapsed_s"))
    assert done["result"] == "ok" and done["production_unchanged"] is True and done["cleanup"] == "ok"
    assert done["vms_verified"] == len(vms) and done["databases_cloned"] == "paydb"
    assert done["replication_held"] == "vmstore" and done["production_differences"] == 0
    # the rollback journal: every change journaled, and undone by the cleanup (nothing left for a rollback)
    assert journal_states(drill_lab, "drill") == {"drill": "done", "drill/pair:vmstore/hold": "undone",
                                                  "drill/pair:paydb/database_clone": "undone",
                                                  "drill/vm_clones": "undone"}
    no_secret_in_evidence(drill_lab)


def _archived(lab, segment, timeout=60):
    path = os.path.join(lab["plan"]["replication"][1]["archive"]["path"], segment)
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.3)
    return os.path.exists(path)


def test_point_in_time_drill_recovers_before_a_corruption_and_a_rerun_leaves_the_same_end_state(drill_lab):
    with _pg(drill_lab) as conn:
        conn.execute("INSERT INTO payments (from_account, to_account, amount_cents, status, created_at)"
                     " SELECT 1, 2, 700 + g, 'pending', now() FROM generate_series(1, 100) g")
        time.sleep(1.1)
        target = conn.execute("SELECT now()::text").fetchone()[0]
        at_target = conn.execute("SELECT count(*) FROM payments").fetchone()[0]
        time.sleep(1.1)
        conn.execute("DELETE FROM payments WHERE status = 'pending' AND amount_cents > 700 AND id % 2 = 0")  # corruption
        segment = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0]
        conn.execute("SELECT pg_switch_wal()")
        now_rows = conn.execute("SELECT count(*) FROM payments").fetchone()[0]
    assert now_rows < at_target
    assert _archived(drill_lab, segment)          # the standby archived the segment holding the corruption
    before = production(drill_lab)
    run = drill(drill_lab, "pitr", drill_tiers=["data"], drill_target_time=target)
    assert run.rc == 0, run.stdout[-6000:]
    assert_production_identical(drill_lab, before, production(drill_lab))
    assert recovery_artifacts(drill_lab) == []
    db = [r for r in drill_records(drill_lab, "pitr") if r["kind"] == "check" and r["name"] == "database_clone"][0]
    assert db["data"]["rows"]["payments"] == at_target              # as it was before the corruption
    done = summary(drill_lab, "pitr")["data"]
    assert done["result"] == "ok" and done["target"] == "time " + target and done["tiers"] == "data"
    assert done["vms_verified"] == len(drill_lab["plan"]["tiers"][0]["vms"])


@pytest.mark.chaos_item("5")
def test_a_drill_that_fails_midway_still_cleans_up_and_production_is_identical(drill_lab, figures):
    replica = drill_lab["sites"]["recovery"]["replica_dirs"]["Replica-DS-01"]
    broken = drill_lab["plan"]["tiers"][1]["vms"][1]
    nvram = os.path.join(replica, broken, broken + ".nvram")
    before = production(drill_lab)
    os.rename(nvram, nvram + ".away")             # its replica cannot be registered: its clone fails
    try:
        run = drill(drill_lab, "broken", drill_tiers=["data", "app"])
    finally:
        os.rename(nvram + ".away", nvram)
    assert run.rc != 0
    after = production(drill_lab)
    found = production_figures(drill_lab, before, after)
    left = recovery_artifacts(drill_lab)
    recs = drill_records(drill_lab, "broken")
    done = summary(drill_lab, "broken")["data"]
    figures.set(failed_drill_vm=broken, failed_drill_result=done["result"], failed_drill_cleanup=done["cleanup"],
                failed_drill_production_differences=found["differences"],
                failed_drill_data_wal_records=len(found["data_wal"]), failed_drill_artifacts_left=len(left))
    assert_production_identical(drill_lab, before, after, found["data_wal"])
    assert left == []
    clones = [r for r in recs if r["name"] == "vm_clones"][0]
    assert clones["status"] == "failed" and clones["data"]["failed_vms"] == [broken]
    assert [r["status"] for r in recs if r["kind"] == "check" and r["name"] == "drill"] == ["failed"]
    assert [r["status"] for r in recs if r["name"] == "production_unchanged"] == ["ok"]
    cleanup = [r for r in recs if r["name"] == "cleanup"][0]
    assert cleanup["data"]["errors"] == [] and {s["step"] for s in cleanup["data"]["steps"]} == {
        "vm_clones", "database_clone", "release"}
    assert done["result"] == "failed" and broken in done["vms_failed"] and done["cleanup"] == "ok"
    assert done["production_unchanged"] is True
    assert "drill failed at" in run.failures()[-1]["msg"]
    states = journal_states(drill_lab, "broken")
    assert states.pop("drill") == "done" and set(states.values()) == {"undone"}   # cleanup left nothing
    no_secret_in_evidence(drill_lab)


def test_a_bad_point_in_time_target_fails_cleans_up_and_says_why(drill_lab):
    before = production(drill_lab)
    run = drill(drill_lab, "badtarget", drill_tiers=["data"], drill_vms=["db01"],
                drill_target_time="2099-01-01 00:00:00+00")
    assert run.rc != 0
    assert_production_identical(drill_lab, before, production(drill_lab))
    assert recovery_artifacts(drill_lab) == []
    recs = drill_records(drill_lab, "badtarget")
    failure = [r for r in recs if r["kind"] == "check" and r["name"] == "drill"][0]["data"]
    assert "database of pair paydb" in failure["task"]
    assert "recovery ended before configured recovery target was reached" in (failure["log_tail"] or "")
    done = summary(drill_lab, "badtarget")["data"]
    assert done["result"] == "failed" and done["vms_cloned"] == 0 and done["cleanup"] == "ok"


def test_the_time_limit_stops_the_drill_and_cleanup_still_runs(drill_lab):
    before = production(drill_lab)
    run = drill(drill_lab, "timeout", drill_tiers=["data"], drill_vms=["db01"], drill_timeout=1)
    assert run.rc != 0
    assert_production_identical(drill_lab, before, production(drill_lab))
    assert recovery_artifacts(drill_lab) == []
    done = summary(drill_lab, "timeout")["data"]
    assert done["result"] == "failed" and done["timed_out"] is True and done["cleanup"] == "ok"
    assert "time limit" in done["failure"]
    held = replication_state(drill_lab)["rsync_held"]
    assert held is False                          # the hold the drill made was released

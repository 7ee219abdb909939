"""replication / replication_info against real PostgreSQL 15 clusters and real rsync.

The PostgreSQL pair is private (LAB_DIR/pg/t-itest and t-itest-standby on their own
ports): promotion and failback must not touch the shared lab primary. Playbooks set the
pair once with module_defaults for group/continuity.recovery.replication.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest

from playbook_runner import run_playbook

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
import standby as sb  # noqa: E402

pytestmark = pytest.mark.integration

SECRETS = (sb.ADMIN_PASSWORD, sb.REPL_PASSWORD)


def _run(tmp_path, name, tasks, defaults=None, check=False):
    path = tmp_path / ("%s.yml" % name)
    path.write_text(sb.playbook(tasks, defaults), encoding="utf-8")
    run = run_playbook(str(path), check=check)
    text = json.dumps(run.data)
    for secret in SECRETS:
        assert secret not in text, "a password leaked into results"
    return run


def _t(name, module="replication", **args):
    task = {"name": name, "continuity.recovery." + module: args, "register": name.replace(" ", "_")}
    return task


def _r(run, name):
    found = run.task_results(name)
    assert found, "task %r did not run:\n%s" % (name, run.stdout[-3000:])
    return found[-1]


@pytest.fixture
def private_pair(lab):
    base = 35432 + lab["port_offset"]
    primary = sb.Cluster(lab["lab_dir"], "itest", base)
    standby = sb.Cluster(lab["lab_dir"], "itest-standby", base + 1)
    standby.destroy()
    primary.init_primary()
    yield primary, standby
    standby.destroy()
    primary.destroy()


def test_postgresql_pair_lifecycle(private_pair, tmp_path):
    primary, standby = private_pair
    pair = sb.module_pair(primary, standby, "itest", "dr_itest", max_buffer="64MB",
                          archive={"path": standby.archive_dir})

    run = _run(tmp_path, "a", [
        dict(_t("present check", state="present"), check_mode=True),
        _t("slots after check", "database_info", login_host=primary.socket_dir, login_port=primary.port,
           login_user=sb.ADMIN_USER, login_password=sb.ADMIN_PASSWORD, query="slots[].slot_name"),
        _t("present", state="present"),
        _t("present again", state="present"),
        _t("info", "replication_info"),
        dict(_t("paused check", state="paused"), check_mode=True),
        _t("paused", state="paused"),
        _t("paused again", state="paused"),
        dict(_t("synced while paused", state="synced"), ignore_errors=True),
        _t("resumed", state="resumed"),
        _t("resumed again", state="resumed"),
    ], pair)
    assert run.rc == 0, run.stdout[-4000:]
    check = _r(run, "present check")
    assert check["changed"] and any("create physical replication slot" in a for a in check["actions"])
    assert any("pg_basebackup" in a for a in check["actions"]) and check["transfer"] is None
    assert _r(run, "slots after check")["query_result"] == []          # check mode changed nothing
    present = _r(run, "present")
    assert present["changed"] and present["transfer"]["method"] == "pg_basebackup"
    assert present["status"]["link"]["state"] == "connected"
    assert present["status"]["streaming"]["state"] == "streaming"
    assert "SELECT slot_name FROM pg_catalog.pg_create_physical_replication_slot(%s, true)" in present["queries"]
    assert any("pg_basebackup" in c for c in present["commands"])
    assert _r(run, "present again")["changed"] is False
    info = _r(run, "info")
    assert info["changed"] is False
    assert (info["source"]["role"], info["target"]["role"]) == ("primary", "standby")
    assert info["target"]["timeline"] == 1 and info["sync_state"] == "async" and info["tls"]["ssl"] is False
    for key in ("sent_lsn", "write_lsn", "flush_lsn", "replay_lsn"):
        assert info["streaming"][key].count("/") == 1
    assert info["lag"]["bytes"] >= 0 and info["lag"]["seconds"] is not None
    assert _r(run, "paused check")["changed"] and _r(run, "paused")["changed"]
    assert _r(run, "paused again")["changed"] is False
    refused = _r(run, "synced while paused")
    assert refused["failed"] and "paused" in refused["msg"]
    assert _r(run, "resumed")["changed"] and _r(run, "resumed again")["changed"] is False

    # a setting of the running standby changed by hand: check mode says it restarts, as the real run does
    auto = os.path.join(standby.data_dir, "postgresql.auto.conf")
    with open(auto, encoding="utf-8") as handle:
        text = handle.read()
    assert "cluster_name = 'itest_standby'" in text
    with open(auto, "w", encoding="utf-8") as handle:
        handle.write(text.replace("cluster_name = 'itest_standby'", "cluster_name = 'renamed_by_hand'"))
    run = _run(tmp_path, "a2", [
        dict(_t("settings check", state="present"), check_mode=True),
        _t("settings", state="present"),
        _t("settings again", state="present"),
    ], pair)
    assert run.rc == 0, run.stdout[-4000:]
    check, real = _r(run, "settings check"), _r(run, "settings")
    assert check["actions"] == ["write standby settings (primary_conninfo, primary_slot_name, port)",
                                "restart standby to apply settings",
                                "start standby %s:%s" % (standby.endpoint()["host"], standby.port)], check["actions"]
    assert real["actions"] == check["actions"] and real["status"]["link"]["state"] == "connected"
    assert not [c for c in check["commands"] if "pg_ctl" in c]
    assert _r(run, "settings again")["changed"] is False

    with primary.connect() as conn:
        conn.execute("INSERT INTO payments (amount) SELECT 3.25 FROM generate_series(1, 1000)")
        before = sb.fingerprint(conn)

    run = _run(tmp_path, "b", [
        _t("synced", state="synced"),
        dict(_t("promoted check", state="promoted"), check_mode=True),
        _t("promoted", state="promoted"),
        _t("promoted again", state="promoted"),
        dict(_t("absent refused", state="absent"), ignore_errors=True),
    ], pair)
    assert run.rc == 0, run.stdout[-4000:]
    synced = _r(run, "synced")
    assert synced["changed"] is False
    assert sb_lsn(synced["details"]["replay_lsn"]) >= sb_lsn(synced["details"]["target_lsn"])
    plan = _r(run, "promoted check")
    assert plan["changed"] and [a.split()[0] for a in plan["actions"]] == ["fence", "promote", "create"]
    promoted = _r(run, "promoted")
    assert promoted["changed"] and promoted["details"]["writable"] is True
    assert promoted["details"]["fence"] == {"read_only": True, "stopped": True, "marker": True}
    assert promoted["status"]["target"]["role"] == "primary" and promoted["status"]["target"]["timeline"] == 2
    assert _r(run, "promoted again")["changed"] is False
    assert "destroy" in _r(run, "absent refused")["msg"]
    assert not primary.running()
    assert os.path.exists(os.path.join(primary.data_dir, "continuity.recovery.fence"))
    assert os.path.exists(os.path.join(primary.data_dir, "standby.signal"))
    with standby.connect() as conn:
        assert sb.fingerprint(conn) == before            # planned takeover: nothing lost
        conn.execute("INSERT INTO payments (amount) SELECT 7.5 FROM generate_series(1, 500)")
        conn.execute("UPDATE payments SET note = 'dr' WHERE id % 10 = 0")
        after = sb.fingerprint(conn)

    run = _run(tmp_path, "c", [
        dict(_t("reversed check", state="reversed"), check_mode=True),
        _t("reversed", state="reversed"),
        _t("reversed again", state="reversed"),
        _t("info after", "replication_info", query="[direction, source.role, target.role, link.state]"),
    ], pair)
    assert run.rc == 0, run.stdout[-4000:]
    plan = _r(run, "reversed check")
    assert plan["changed"] and any("pg_rewind" in a for a in plan["actions"])
    reversed_ = _r(run, "reversed")
    assert reversed_["changed"] and reversed_["transfer"]["method"] == "pg_rewind"
    assert reversed_["reseeded"] is False and "CHECKPOINT" in reversed_["queries"]
    assert any("pg_rewind" in c for c in reversed_["commands"])
    assert _r(run, "reversed again")["changed"] is False
    assert _r(run, "info after")["query_result"] == ["reverse", "standby", "primary", "connected"]
    assert not os.path.exists(os.path.join(primary.data_dir, "continuity.recovery.fence"))
    with primary.connect() as conn:
        assert sb.fingerprint(conn) == after             # the old primary has everything written at DR


def sb_lsn(text):
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def test_rsync_pair_lifecycle(lab, tmp_path):
    src, tgt = tmp_path / "Prod-DS-T", tmp_path / "Replica-DS-T"
    (src / "vm1").mkdir(parents=True)
    disk = src / "vm1" / "vm1-flat.vmdk"
    disk.write_bytes(os.urandom(4 * 1024 * 1024))
    (src / "vm1" / "vm1.vmx").write_text("displayName = vm1\n")
    pair = {"name": "fstest", "engine": "rsync", "source": {"path": str(src)}, "target": {"path": str(tgt)},
            "snapshots": 2, "max_buffer": "16MB"}
    dd = "dd if=/dev/urandom of=%s bs=65536 count=1 seek=%d conv=notrunc status=none"
    run = _run(tmp_path, "rs", [
        dict(_t("present check", state="present"), check_mode=True),
        {"name": "target after check", "ansible.builtin.stat": {"path": str(tgt)}},
        _t("present", state="present"),
        _t("present again", state="present"),
        {"name": "change a block", "ansible.builtin.command": dd % (disk, 10)},
        _t("buffer", "buffer_info", sample_seconds=0.5),
        dict(_t("synced check", state="synced"), check_mode=True),
        _t("synced", state="synced"),
        _t("synced again", state="synced"),
        {"name": "change another block", "ansible.builtin.command": dd % (disk, 20)},
        _t("synced 2", state="synced"),
        {"name": "change a third block", "ansible.builtin.command": dd % (disk, 30)},
        _t("synced 3", state="synced", canary=True),
        _t("paused", state="paused"),
        dict(_t("synced while held", state="synced"), ignore_errors=True),
        _t("resumed", state="resumed"),
        _t("promoted", state="promoted"),
        dict(_t("synced after promotion", state="synced"), ignore_errors=True),
        {"name": "change at the recovery site", "ansible.builtin.command": dd % (tgt / "vm1" / "vm1-flat.vmdk", 40)},
        _t("reversed", state="reversed"),
        _t("reversed again", state="reversed"),
        _t("info", "replication_info"),
    ], pair)
    assert run.rc == 0, run.stdout[-4000:]
    assert _r(run, "present check")["changed"] and not run.task_results("target after check")[0]["stat"]["exists"]
    present = _r(run, "present")
    assert present["changed"] and present["transfer"]["bytes_sent"] >= 4 * 1024 * 1024
    assert _r(run, "present again")["changed"] is False
    buffer = _r(run, "buffer")
    assert buffer["link"]["state"] == "connected" and buffer["retained_bytes"] == 4 * 1024 * 1024
    assert buffer["capacity_bytes"] == 16 * 1024 * 1024 and buffer["fill_pct"] == 25.0
    assert buffer["rpo_exposure"]["bytes"] == 4 * 1024 * 1024
    check = _r(run, "synced check")
    assert check["changed"] and check["transfer"]["bytes_sent"] is None
    synced = _r(run, "synced")
    # check mode reports the snapshot too (its name is the time of the run)
    kinds = [a.split()[0] for a in synced["actions"]]
    assert [a.split()[0] for a in check["actions"]] == kinds == ["delta:", "snapshot"], check["actions"]
    assert synced["changed"] and synced["transfer"]["method"] == "rsync delta"
    assert 65536 <= synced["transfer"]["literal_data"] < 4 * 65536           # the changed block, not the file
    assert synced["transfer"]["bytes_sent"] < 1024 * 1024
    assert any(a.startswith("snapshot ") for a in synced["actions"])
    # into a target snapshots share inodes with, never in place: a file that changes after rsync compared
    # it gets a new inode, it cannot reach a snapshot through a shared one
    real = [c for c in synced["commands"] if c.startswith("rsync ") and "--dry-run" not in c]
    assert real and not any("--inplace" in c for c in real), real
    assert _r(run, "synced again")["changed"] is False
    third = _r(run, "synced 3")
    assert third["canary"]["read_at_target"] is True
    assert any(a.startswith("prune snapshot") for a in third["actions"])
    assert "held" in _r(run, "synced while held")["msg"]
    assert "authoritative" in _r(run, "synced after promotion")["msg"]
    reversed_ = _r(run, "reversed")
    assert reversed_["changed"] and reversed_["transfer"]["method"] == "rsync reverse delta"
    assert reversed_["transfer"]["literal_data"] < 4 * 65536
    assert any("--inplace" in c for c in reversed_["commands"])      # the source keeps no snapshots
    assert _r(run, "reversed again")["changed"] is False
    info = _r(run, "info")
    assert info["direction"] == "reverse" and info["authoritative"] == "target" and len(info["snapshots"]) == 2
    assert info["last_run"]["kind"] == "reverse delta"
    assert disk.read_bytes() == (tgt / "vm1" / "vm1-flat.vmdk").read_bytes()
    # the snapshots kept their point-in-time content (in-place writes never reached them)
    snaps = sorted((tmp_path / ".Replica-DS-T.snapshots").iterdir())
    assert snaps[0].joinpath("vm1", "vm1-flat.vmdk").read_bytes() != snaps[1].joinpath("vm1", "vm1-flat.vmdk").read_bytes()

    run = _run(tmp_path, "rs-absent", [_t("absent", state="absent"), _t("absent again", state="absent")], pair)
    assert run.rc == 0, run.stdout[-3000:]
    assert _r(run, "absent")["changed"] and _r(run, "absent again")["changed"] is False
    assert not (tmp_path / ".Replica-DS-T.snapshots").exists() and tgt.joinpath("vm1").is_dir()


def _read_only(cluster):
    with cluster.connect() as conn:
        return conn.execute("SHOW default_transaction_read_only").fetchone()[0]


def test_postgresql_guards_against_losing_data(private_pair, tmp_path):
    """Each guard on a real pair: a paused standby is not fenced for, a half-done fence is finished,
    a promoted standby that is down is not removed, an impossible rewind keeps the old directory."""
    primary, standby = private_pair
    pair = sb.module_pair(primary, standby, "itest", "dr_itest", max_buffer="64MB",
                          archive={"path": standby.archive_dir})
    run = _run(tmp_path, "g1", [
        _t("present", state="present"),
        _t("paused", state="paused"),
        dict(_t("promoted while paused", state="promoted"), ignore_errors=True),
        _t("buffer without a sample", "buffer_info", sample_seconds=0),
    ], pair)
    assert run.rc == 0, run.stdout[-4000:]
    refused = _r(run, "promoted while paused")
    assert refused["failed"] and "paused" in refused["msg"] and refused["changed"] is False
    assert primary.running() and _read_only(primary) == "off"      # nothing fenced
    buffer = _r(run, "buffer without a sample")
    assert buffer["sample_seconds"] == 0 and buffer["ingest_rate_bytes_per_second"] is None
    assert buffer["time_to_overflow_seconds"] is None

    # what an interrupted fence leaves: the old primary read-only and still running, the standby behind
    with primary.connect() as conn:
        conn.execute("INSERT INTO payments (amount) SELECT 1.5 FROM generate_series(1, 2000)")
        before = sb.fingerprint(conn)
        conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        conn.execute("SELECT pg_catalog.pg_reload_conf()")
    run = _run(tmp_path, "g2", [
        _t("resumed", state="resumed"),
        _t("promoted", state="promoted"),
        _t("promoted again", state="promoted"),
    ], pair)
    assert run.rc == 0, run.stdout[-4000:]
    promoted = _r(run, "promoted")
    assert any(a.startswith("finish fencing") for a in promoted["actions"]), promoted["actions"]
    assert promoted["details"]["fence"] == {"read_only": True, "stopped": True, "marker": True, "resumed": True}
    assert not primary.running()
    assert os.path.exists(os.path.join(primary.data_dir, "continuity.recovery.fence"))
    assert _r(run, "promoted again")["changed"] is False
    with standby.connect() as conn:
        assert sb.fingerprint(conn) == before            # the final sync ran: nothing lost

    # the promoted standby down: state=absent must not take its silence for a standby's
    standby.stop()
    run = _run(tmp_path, "g3", [dict(_t("absent while down", state="absent"), ignore_errors=True)], pair)
    absent = _r(run, "absent while down")
    assert absent["failed"] and "standby.signal" in absent["msg"] and absent["changed"] is False
    assert os.path.exists(os.path.join(standby.data_dir, "PG_VERSION"))
    standby.start()

    # an old primary that pg_rewind cannot rewind (another system): re-seeded, its directory kept aside
    primary.init_primary()
    kept = None
    try:
        run = _run(tmp_path, "g4", [_t("reversed", state="reversed")], pair)
        assert run.rc == 0, run.stdout[-4000:]
        reversed_ = _r(run, "reversed")
        kept = reversed_["details"]["previous_data_dir"]
        assert reversed_["reseeded"] is True and "different systems" in reversed_["reseed_reason"]
        assert kept in reversed_["reseed_reason"] and os.path.exists(os.path.join(kept, "PG_VERSION"))
        assert reversed_["transfer"]["method"] == "pg_basebackup"
        assert reversed_["status"]["link"]["state"] == "connected"
        with primary.connect() as conn:
            assert sb.fingerprint(conn) == before
        # a rerun that finds the rejoined old primary not streaming (down): restarted, not rewound again
        primary.stop()
        quarantine = tmp_path / "quarantine"
        run = _run(tmp_path, "g5", [_t("reversed again", state="reversed", quarantine_dir=str(quarantine))], pair)
        assert run.rc == 0, run.stdout[-4000:]
        again = _r(run, "reversed again")
        assert again["changed"] and [a for a in again["actions"] if "rewound already" in a], again["actions"]
        assert again["transfer"] is None and again["quarantine"] is None and primary.running()
        assert again["status"]["link"]["state"] == "connected"
    finally:
        if kept:
            shutil.rmtree(kept, ignore_errors=True)

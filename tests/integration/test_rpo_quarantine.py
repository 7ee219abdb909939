"""Exact RPO at takeover and the quarantine of lost transactions at failback (real PostgreSQL 15).

Private pairs (tests/lab/standby.py clusters on ports 35600-35619 + the lab's port_offset; the
``lab`` fixture only gives LAB_DIR). A writer inserts one row per transaction and keeps its own
log: ``attempt <id>`` before the INSERT, ``ack <id>`` after the COMMIT returned. The emergency case
cuts the standby's stream (stops the standby) under load, SIGKILLs every process of the primary
cluster (by the pids of its postmaster.pid and /proc children, never by name), promotes, and
checks the module's ``rpo`` against the writer's log and what the new primary holds; then the
fenced old primary is restarted (read-only, in recovery), killed again, and ``state=reversed`` with
``quarantine_dir`` must put exactly the rows the old primary has and the new one lacks into the
quarantine file, before the old primary streams from the new one.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from playbook_runner import run_playbook

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
import standby as sb  # noqa: E402

pytestmark = pytest.mark.integration

HERE = os.path.dirname(os.path.abspath(__file__))
WRITERS = 2
SECRETS = (sb.ADMIN_PASSWORD, sb.REPL_PASSWORD)


def _run(tmp_path, name, tasks, defaults, check=False):
    path = tmp_path / ("%s.yml" % name)
    path.write_text(sb.playbook(tasks, defaults), encoding="utf-8")
    run = run_playbook(str(path), check=check)
    text = json.dumps(run.data)
    for secret in SECRETS:
        assert secret not in text, "a password leaked into results"
    assert run.rc == 0, run.stdout[-4000:]
    return run


def _t(name, module="replication", check=False, **args):
    task = {"name": name, "continuity.recovery." + module: args}
    if check:
        task["check_mode"] = True
    return task


def _r(run, name):
    found = run.task_results(name)
    assert found, "task %r did not run" % name
    return found[-1]


def _children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid), encoding="utf-8") as handle:
            kids = [int(x) for x in handle.read().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in _children(k)]


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _gone(pid):
    return not os.path.exists("/proc/%d" % pid)


def sigkill_cluster(cluster):
    """SIGKILL the postmaster of ``cluster`` (pid from its postmaster.pid, checked by Cluster.pid) and every
    process under it (/proc children), then wait until they are gone."""
    pid = cluster.pid()
    assert pid, "%s is not running" % cluster.name
    victims = [pid] + _children(pid)
    for victim in victims:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 60
    while any(not _gone(v) for v in victims) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(v) for v in victims)
    return victims


class Writer:
    def __init__(self, cluster, log_dir):
        self.log_dir = str(log_dir)
        os.makedirs(self.log_dir, exist_ok=True)
        env = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(cluster.port), PGUSER=sb.ADMIN_USER,
                   PGPASSWORD=sb.ADMIN_PASSWORD, PGDATABASE=sb.DATABASE)
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "rpo_writer.py"), self.log_dir,
                                      str(WRITERS)], env=env)

    def log(self):
        """{connection: {"attempt": [ids], "ack": [ids], "error": [...]}}"""
        out = {}
        for k in range(1, WRITERS + 1):
            entry = out.setdefault(k, {"attempt": [], "ack": [], "error": []})
            path = os.path.join(self.log_dir, "writer-%d.log" % k)
            if not os.path.exists(path):
                continue
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    kind, _sep, value = line.rstrip("\n").partition(" ")
                    if kind in ("attempt", "ack"):
                        entry[kind].append(int(value))
                    elif kind == "error":
                        entry["error"].append(value)
        return out

    def acked(self):
        return {i for entry in self.log().values() for i in entry["ack"]}

    def wait_acked(self, count, timeout=60):
        deadline = time.monotonic() + timeout
        while len(self.acked()) < count and time.monotonic() < deadline:
            assert self.proc.poll() is None, "the writer stopped early: %s" % self.log()
            time.sleep(0.05)
        assert len(self.acked()) >= count

    def stop(self, timeout=30):
        open(os.path.join(self.log_dir, "stop"), "w").close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()         # our own child, by its pid
            self.proc.wait(10)


def _ids(cluster, **kw):
    with cluster.connect(**kw) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM rpo_writer").fetchall()}


def _writer_table(cluster):
    with cluster.connect() as conn:
        conn.execute("CREATE TABLE rpo_writer (id bigint PRIMARY KEY, conn int NOT NULL,"
                     " at timestamptz NOT NULL DEFAULT clock_timestamp())")


@pytest.fixture
def pairs(lab):
    base = 35600 + lab["port_offset"]
    made = []

    def make(name, offset):
        primary = sb.Cluster(lab["lab_dir"], name, base + offset)
        standby = sb.Cluster(lab["lab_dir"], name + "-standby", base + offset + 1)
        standby.destroy()
        primary.init_primary()
        _writer_table(primary)
        made.extend([standby, primary])
        return primary, standby

    yield make
    for cluster in made:
        cluster.destroy()


@pytest.mark.parametrize("cut", [True, False], ids=["stream-cut", "streaming"])
def test_emergency_takeover_rpo_and_failback_quarantine(pairs, tmp_path, cut):
    """``cut``: the standby is stopped under load before the crash (a known loss); otherwise the crash hits
    a standby streaming under load (whatever was in flight is lost, possibly nothing)."""
    primary, standby = pairs("rpoq", 0)
    pair = sb.module_pair(primary, standby, "rpoq", "dr_rpoq")
    _run(tmp_path, "present", [_t("present", state="present")], pair)

    writer = Writer(primary, tmp_path / "writer")
    try:
        writer.wait_acked(300)
        if cut:
            standby.stop()                               # the stream is cut; the primary keeps committing
        writer.wait_acked(len(writer.acked()) + 200)
        sigkill_cluster(primary)                         # the primary site dies under write load
    finally:
        writer.stop()
    log = writer.log()
    assert all(entry["error"] for entry in log.values()), "every writer connection ended by the crash"
    if cut:
        standby.start()                                  # in recovery, its upstream gone

    qdir = tmp_path / "quarantine"
    run = _run(tmp_path, "promote", [
        _t("promoted check", check=True, state="promoted"),
        _t("promoted", state="promoted"),
        _t("promoted again", state="promoted"),
    ], pair)
    assert _r(run, "promoted check")["rpo"] is None
    promoted = _r(run, "promoted")
    again = _r(run, "promoted again")
    assert again["changed"] is False and again["rpo"] is None
    rpo = promoted["rpo"]
    assert promoted["details"]["fence"]["reachable"] is False
    assert rpo["mode"] == "emergency" and rpo["exact"] is True, rpo
    assert "pg_waldump" in rpo["source"]

    acked = {i for e in log.values() for i in e["ack"]}
    attempted = {i for e in log.values() for i in e["attempt"]}
    in_doubt = attempted - acked
    for entry in log.values():                       # at most one transaction in doubt per connection
        assert len(set(entry["attempt"]) - set(entry["ack"])) <= 1
    new_ids = _ids(standby)
    assert new_ids <= attempted                      # nothing the writer did not write
    missing_acked = acked - new_ids
    assert missing_acked or not cut, "the stream was cut under load: some acknowledged rows must be lost"
    lost = rpo["lost_rows"]
    print("rpo:", json.dumps(rpo), "acked:", len(acked), "missing acked:", len(missing_acked), "in doubt:", in_doubt)
    extra = lost["inserted"] - len(missing_acked)
    assert 0 <= extra <= len(in_doubt - new_ids), (lost, len(missing_acked), in_doubt)
    assert lost["updated"] == 0 and lost["deleted"] == 0 and lost["total"] == lost["inserted"]
    assert rpo["lost_transactions"] == lost["inserted"]          # one row per writer transaction
    assert rpo["timelines"] == {"old": 1, "new": 2}
    if lost["inserted"]:
        assert rpo["tables"] == {"payments:public.rpo_writer": dict(lost)} and rpo["lost_bytes"] > 0
        assert rpo["last_lost_commit"] > rpo["last_replayed_commit"] and rpo["achieved_seconds"] > 0
    else:
        assert rpo["achieved_seconds"] == 0 and rpo["last_lost_commit"] is None

    # a restart of the fenced old primary comes up read-only, in recovery
    primary.start()
    with primary.connect() as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        with pytest.raises(Exception) as refused:
            conn.execute("INSERT INTO rpo_writer (id, conn) VALUES (-1, 0)")
        assert "read-only" in str(refused.value)
    old_ids = _ids(primary)
    if cut:
        sigkill_cluster(primary)                     # it dies again (in recovery this time)
    else:
        primary.stop()                               # shut down cleanly, in recovery
    expected = old_ids - new_ids                     # what only the old primary has: the quarantine
    assert missing_acked <= expected and expected - acked <= in_doubt
    assert len(expected) == lost["inserted"]         # the RPO counted exactly those rows

    with standby.connect() as conn:                  # written at the recovery site during the takeover
        conn.execute("INSERT INTO rpo_writer (id, conn) SELECT -g, 0 FROM generate_series(1, 50) g")
    run = _run(tmp_path, "reverse", [
        _t("reversed check", check=True, state="reversed", quarantine_dir=str(qdir)),
        {"name": "quarantine after check", "ansible.builtin.stat": {"path": str(qdir)}},
        _t("reversed", state="reversed", quarantine_dir=str(qdir)),
        _t("reversed again", state="reversed", quarantine_dir=str(qdir)),
        _t("info", "replication_info", query="[direction, source.role, target.role, link.state]"),
    ], pair)
    assert _r(run, "quarantine after check")["stat"]["exists"] is False      # check mode wrote nothing
    reversed_ = _r(run, "reversed")
    again = _r(run, "reversed again")
    assert again["changed"] is False and again["quarantine"] is None
    assert _r(run, "info")["query_result"] == ["reverse", "standby", "primary", "connected"]
    assert reversed_["transfer"]["method"] == "pg_rewind" and reversed_["reseeded"] is False
    if expected:
        _check_quarantine(_r(run, "reversed check"), reversed_, rpo, qdir, expected, in_doubt)
    else:
        assert reversed_["quarantine"] is None and _r(run, "reversed check")["quarantine"] is None

    # the old primary streams from the new one and has exactly its data (the lost rows are only in quarantine)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with primary.connect() as a, standby.connect() as b:
            if sb.fingerprint(a, "rpo_writer") == sb.fingerprint(b, "rpo_writer"):
                break
        time.sleep(0.3)
    with primary.connect() as a, standby.connect() as b:
        assert sb.fingerprint(a, "rpo_writer") == sb.fingerprint(b, "rpo_writer")
        assert a.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
    assert _ids(primary) == new_ids | {-g for g in range(1, 51)}


def _check_quarantine(plan, reversed_, rpo, qdir, expected, in_doubt):
    lost = rpo["lost_rows"]
    assert plan["quarantine"]["would_extract"] is True and plan["quarantine"]["rows"] is None
    assert plan["quarantine"]["transactions"] == lost["inserted"]
    assert any(a.startswith("extract the") for a in plan["actions"])
    quarantine = reversed_["quarantine"]
    assert quarantine["path"] == plan["quarantine"]["path"] and os.path.basename(quarantine["path"]) == (
        "rpoq-%s.json" % rpo["divergence_lsn"].replace("/", "-"))
    assert quarantine["divergence_lsn"] == rpo["divergence_lsn"]
    assert (quarantine["transactions"], quarantine["rows"], quarantine["tables"], quarantine["deleted"]) == (
        lost["inserted"], len(expected), 1, 0)
    assert stat.S_IMODE(os.stat(qdir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(quarantine["path"]).st_mode) == 0o600
    text = open(quarantine["path"], encoding="utf-8").read()
    for secret in SECRETS + ("password",):
        assert secret not in text
    doc = json.loads(text)
    rows = doc["tables"]["payments:public.rpo_writer"]["rows"]
    assert sorted(r["id"] for r in rows) == sorted(expected)       # exactly the rows only the old primary had
    assert len(doc["transactions"]) == lost["inserted"] and doc["divergence_lsn"] == rpo["divergence_lsn"]
    assert doc["totals"] == {"transactions": lost["inserted"], "rows": len(expected), "tables": 1, "deleted": 0}
    assert {r["id"] for r in rows} & in_doubt == expected & in_doubt   # in-doubt commits quarantined too


def test_planned_takeover_loses_nothing(pairs, tmp_path):
    primary, standby = pairs("rpoq-planned", 2)
    pair = sb.module_pair(primary, standby, "rpoq-planned", "dr_rpoq_planned")
    _run(tmp_path, "present", [_t("present", state="present")], pair)
    writer = Writer(primary, tmp_path / "writer")
    try:
        writer.wait_acked(300)
        run = _run(tmp_path, "promote", [_t("promoted", state="promoted")], pair)   # fenced under load
    finally:
        writer.stop()
    rpo = _r(run, "promoted")["rpo"]
    assert rpo["mode"] == "planned" and rpo["exact"] is True, rpo
    assert rpo["lost_transactions"] == 0 and rpo["lost_bytes"] == 0 and rpo["achieved_seconds"] == 0
    assert rpo["lost_rows"] == {"inserted": 0, "updated": 0, "deleted": 0, "total": 0}
    assert "lsn comparison" in rpo["source"]
    assert writer.acked() <= _ids(standby)            # every acknowledged row is at the new primary

    qdir = tmp_path / "quarantine"
    run = _run(tmp_path, "reverse", [_t("reversed", state="reversed", quarantine_dir=str(qdir))], pair)
    reversed_ = _r(run, "reversed")
    assert reversed_["quarantine"] is None and reversed_["details"]["divergence"]["transactions"] == 0
    assert not qdir.exists() or not os.listdir(qdir)


def test_lost_updates_deletes_and_a_second_database(pairs, tmp_path):
    """Deterministic loss of every kind of change: the RPO counts them per table, the quarantine keeps the
    new versions of updated rows and the inserted rows (in the database the rel path names), counts deletes;
    extraction starts from the crashed old primary directly (no restart in between)."""
    primary, standby = pairs("rpoq-mixed", 4)
    with primary.connect() as conn:
        conn.execute("CREATE DATABASE rpoq_books OWNER %s" % sb.ADMIN_USER)
    with primary.connect(dbname="rpoq_books") as conn:
        conn.execute("CREATE TABLE ledger (id int PRIMARY KEY, v text NOT NULL)")
    pair = sb.module_pair(primary, standby, "rpoq-mixed", "dr_rpoq_mixed")
    _run(tmp_path, "present", [_t("present", state="present")], pair)
    _run(tmp_path, "synced", [_t("synced", state="synced")], pair)
    standby.stop()
    with primary.connect() as conn:
        conn.execute("SET synchronous_commit = on")
        conn.execute("UPDATE payments SET note = 'lost update' WHERE id IN (1, 2, 3)")
        conn.execute("DELETE FROM payments WHERE id IN (4, 5)")
        with conn.transaction():
            conn.execute("INSERT INTO rpo_writer (id, conn) VALUES (1, 0)")
            conn.execute("SAVEPOINT s")
            conn.execute("INSERT INTO rpo_writer (id, conn) VALUES (2, 0)")
        try:
            with conn.transaction():
                conn.execute("INSERT INTO rpo_writer (id, conn) VALUES (3, 0)")
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
    with primary.connect(dbname="rpoq_books") as conn:
        conn.execute("SET synchronous_commit = on")
        with conn.cursor().copy("COPY ledger (id, v) FROM STDIN") as copy:
            for i in range(1, 6):
                copy.write_row((i, "entry %d" % i))
    sigkill_cluster(primary)
    standby.start()

    run = _run(tmp_path, "promote", [_t("promoted", state="promoted")], pair)
    rpo = _r(run, "promoted")["rpo"]
    assert rpo["exact"] is True and rpo["mode"] == "emergency", rpo
    assert rpo["lost_transactions"] == 4                              # the rolled-back one is not lost
    assert rpo["lost_rows"] == {"inserted": 7, "updated": 3, "deleted": 2, "total": 12}
    assert rpo["tables"] == {
        "payments:public.payments": {"inserted": 0, "updated": 3, "deleted": 2, "total": 5},
        "payments:public.rpo_writer": {"inserted": 2, "updated": 0, "deleted": 0, "total": 2},
        "rpoq_books:public.ledger": {"inserted": 5, "updated": 0, "deleted": 0, "total": 5}}

    qdir = tmp_path / "quarantine"
    run = _run(tmp_path, "reverse", [_t("reversed", state="reversed", quarantine_dir=str(qdir))], pair)
    quarantine = _r(run, "reversed")["quarantine"]
    assert (quarantine["transactions"], quarantine["rows"], quarantine["tables"], quarantine["deleted"]) == (
        4, 10, 3, 2)
    with open(quarantine["path"], encoding="utf-8") as handle:
        doc = json.load(handle)
    tables = doc["tables"]
    assert sorted((r["id"], r["note"]) for r in tables["payments:public.payments"]["rows"]) == [
        (1, "lost update"), (2, "lost update"), (3, "lost update")]
    assert tables["payments:public.payments"]["deleted"] == 2
    assert sorted(r["id"] for r in tables["payments:public.rpo_writer"]["rows"]) == [1, 2]   # savepoint included
    assert sorted(r["v"] for r in tables["rpoq_books:public.ledger"]["rows"]) == ["entry %d" % i for i in range(1, 6)]
    assert len([t for t in doc["transactions"] if t["subxacts"]]) == 1
    with primary.connect() as conn:                                   # rewound: the lost changes are gone
        assert conn.execute("SELECT count(*) FROM payments WHERE note = 'lost update'").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM payments WHERE id IN (4, 5)").fetchone()[0] == 2

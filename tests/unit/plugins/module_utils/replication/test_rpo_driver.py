"""The PostgreSQL driver's RPO decision (planned proof, pg_waldump count, estimate) with a fake SQL client
and a fake runner that replays a pg_waldump capture; the real thing is tests/integration/test_rpo_quarantine.py."""

from __future__ import annotations

import os
import subprocess

from ansible_collections.continuity.recovery.plugins.module_utils.replication import postgresql
from ansible_collections.continuity.recovery.plugins.module_utils.replication.base import Outcome
from ansible_collections.continuity.recovery.plugins.module_utils.replication.postgresql import PostgresqlDriver

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


class FakeClient:
    def __init__(self, history="1\t0/4000000\tno recovery target specified\n", replay_ts="2026-12-01 06:43:29.5+00"):
        self.history, self.replay_ts, self.queries = history, replay_ts, []

    def query(self, sql, params=None):
        self.queries.append(sql)
        if sql == postgresql._STATE_SQL:
            return [{"in_recovery": False, "timeline": 2, "current_lsn": "0/4000058", "replay_lsn": None,
                     "receive_lsn": None, "pause_state": None, "read_only": "off"}]
        if sql == postgresql._REPLAY_TS_SQL:
            return [{"t": self.replay_ts}]
        if sql == postgresql._HISTORY_SQL:
            assert params == ("pg_wal/00000002.history",)
            return [{"h": self.history}]
        raise AssertionError(sql)


class FakeRunner:
    def __init__(self, text):
        self.text, self.commands = text, []

    def run(self, argv, **_kwargs):
        self.commands.append(" ".join(str(a) for a in argv))
        if argv[-1] == "-V":
            return subprocess.CompletedProcess(argv, 0, "pg_waldump (PostgreSQL) 15.18\n", "")
        return subprocess.CompletedProcess(argv, 1, self.text, "")


def _driver(tmp_path, data_dir=True, text=""):
    primary = {"name": "primary", "host": "127.0.0.1", "port": 1, "bin_dir": str(tmp_path)}
    if data_dir:
        wal = tmp_path / "old" / "pg_wal"
        wal.mkdir(parents=True)
        for name in ("000000010000000000000003", "000000010000000000000004"):
            with open(wal / name, "wb") as handle:
                handle.truncate(16 * 1024 * 1024)       # sparse: the segment size is read from the file size
        primary["data_dir"] = str(tmp_path / "old")
    pair = {"name": "p", "slot": "s", "primary": primary,
            "standby": {"name": "standby", "host": "127.0.0.1", "port": 1}, "connect_timeout": 1}
    return PostgresqlDriver(pair, FakeRunner(text), timeout=5)


BEFORE = {"timeline": 1, "replay_lsn": "0/4000000", "replay_ts": "2026-12-01 06:43:29.5+00"}


def test_planned_zero_loss_proven_by_lsn(tmp_path):
    rpo = _driver(tmp_path)._measure_rpo(FakeClient(), BEFORE, reachable=True, old_lsn="0/3FFFF00")
    assert rpo["mode"] == "planned" and rpo["exact"] is True and rpo["lost_transactions"] == 0
    assert rpo["achieved_seconds"] == 0 and rpo["divergence_lsn"] == "0/4000000"
    assert rpo["source"].startswith("lsn comparison")


def test_emergency_counted_from_the_old_primarys_wal(tmp_path):
    with open(os.path.join(FIXTURES, "waldump_crash.txt"), encoding="utf-8") as handle:
        driver = _driver(tmp_path, text=handle.read())
    rpo = driver._measure_rpo(FakeClient(), BEFORE, reachable=False, old_lsn=None)
    assert rpo["mode"] == "emergency" and rpo["exact"] is True
    assert rpo["lost_transactions"] == 9 and rpo["lost_rows"]["inserted"] == 26 and rpo["lost_bytes"] == 0x1D3E0
    assert rpo["last_lost_commit"] == "2026-12-01T06:43:31.369511+00:00"
    assert rpo["achieved_seconds"] == 1.869511          # last lost commit - last replayed commit
    # the read window starts one segment before the divergence point's
    assert driver.runner.commands[-1].endswith("pg_waldump -p %s -s 0/3000000 -t 1 -r Heap -r Heap2 -r Transaction"
                                               % (tmp_path / "old" / "pg_wal"))


def test_estimate_when_the_wal_is_not_here(tmp_path):
    rpo = _driver(tmp_path, data_dir=False)._measure_rpo(FakeClient(), BEFORE, reachable=False, old_lsn=None)
    assert rpo["exact"] is False and rpo["lost_transactions"] is None and rpo["lost_rows"] is None
    assert rpo["source"].startswith("estimate") and rpo["achieved_seconds"] > 0
    assert rpo["last_replayed_commit"] == "2026-12-01T06:43:29.500000+00:00"


def test_estimate_when_pg_waldump_cannot_read(tmp_path):
    text = 'pg_waldump: error: could not find file "000000010000000000000004": No such file or directory\n'
    rpo = _driver(tmp_path, text=text)._measure_rpo(FakeClient(), BEFORE, reachable=False, old_lsn=None)
    assert rpo["exact"] is False and "could not find file" in rpo["source"]


class ProgramRunner(FakeRunner):
    """Answers per program: pg_controldata says timeline 1; pg_waldump replays ``text``."""

    def run(self, argv, **_kwargs):
        if argv[0].endswith("pg_controldata"):
            self.commands.append(" ".join(str(a) for a in argv))
            return subprocess.CompletedProcess(argv, 0, "Latest checkpoint's TimeLineID:       1\n", "")
        if argv[0].endswith("pg_waldump"):
            return super().run(argv)
        raise AssertionError("unexpected program %s" % argv[0])


def _outcome():
    return Outcome("reversed", check_mode=False)


def _quarantine_driver(tmp_path, check_mode):
    with open(os.path.join(FIXTURES, "waldump_crash.txt"), encoding="utf-8") as handle:
        driver = _driver(tmp_path, text=handle.read())
    driver.runner = ProgramRunner(driver.runner.text)
    driver.check_mode = check_mode
    driver.pair["quarantine_dir"] = str(tmp_path / "q")
    return driver


def test_quarantine_check_mode_says_what_it_would_extract(tmp_path):
    driver, outcome = _quarantine_driver(tmp_path, check_mode=True), _outcome()
    result = driver._quarantine(outcome, FakeClient())
    assert result == {"path": str(tmp_path / "q" / "p-0-4000000.json"), "transactions": 9, "rows": None,
                      "deleted": 1, "tables": 2, "divergence_lsn": "0/4000000", "would_extract": True}
    assert outcome.actions == ["extract the 9 transactions the old primary committed after 0/4000000 (timeline 1)"
                               " into %s" % result["path"]]
    assert not (tmp_path / "q").exists()
    assert outcome.details["divergence"]["wal_end_lsn"] == "0/401D3E0"
    assert [c.split()[0].rsplit("/", 1)[-1] for c in driver.runner.commands] == [
        "pg_controldata", "pg_waldump", "pg_waldump"]                   # -V, then the read: nothing started


def test_quarantine_file_already_there_is_reused_not_rewritten(tmp_path):
    driver, outcome = _quarantine_driver(tmp_path, check_mode=False), _outcome()
    (tmp_path / "q").mkdir()
    path = tmp_path / "q" / "p-0-4000000.json"
    path.write_text('{"divergence_lsn": "0/4000000", "totals": {"transactions": 9, "rows": 30, "tables": 2,'
                    ' "deleted": 1}}', encoding="utf-8")
    before = path.stat().st_mtime_ns
    result = driver._quarantine(outcome, FakeClient())
    assert result["existing"] is True and result["rows"] == 30 and outcome.actions == []
    assert path.stat().st_mtime_ns == before


def test_quarantine_refuses_when_the_divergence_is_unknown(tmp_path):
    driver = _quarantine_driver(tmp_path, check_mode=False)
    client = FakeClient(history="3\t0/9000000\tno recovery target specified\n")   # not descended from 1
    try:
        driver._quarantine(_outcome(), client)
    except postgresql.TaskFailed as exc:
        assert "rerun without quarantine_dir" in str(exc)
    else:
        raise AssertionError("expected a refusal")

"""Link interruption without loss: the recovery site behind a real veth link.

Two network namespaces created here (tests/lab/netns.py): the primary listens on
10.250.0.1 inside ``crl-lc-p``, the standby streams from it inside ``crl-lc-r``
(10.250.0.2). Modules reach both servers through their unix sockets. The link goes
down while writes continue: buffer_info (reading the primary only; the standby's
address is unreachable from here) reports the link disconnected and the buffer
growing. The link comes back: the standby catches up by itself, and both sides hold
the same rows (count and checksum). No timing is asserted.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import pytest

from playbook_runner import run_playbook

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
import netns  # noqa: E402
import standby as sb  # noqa: E402

pytestmark = pytest.mark.integration


def _run(tmp_path, name, tasks, defaults):
    path = tmp_path / ("%s.yml" % name)
    path.write_text(sb.playbook(tasks, defaults), encoding="utf-8")
    run = run_playbook(str(path))
    assert sb.REPL_PASSWORD not in json.dumps(run.data) and sb.ADMIN_PASSWORD not in json.dumps(run.data)
    return run


def _result(run, name):
    found = run.task_results(name)
    assert found, run.stdout[-3000:]
    return found[-1]


class Writer(threading.Thread):
    """Keeps committing rows at the primary until stopped; counts what it committed."""

    def __init__(self, cluster):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.stop_event = threading.Event()
        self.committed = 0
        self.error = None

    def run(self):
        try:
            with self.cluster.connect() as conn:
                while not self.stop_event.is_set():
                    conn.execute("INSERT INTO payments (amount, note) SELECT 1.5, repeat('x', 200)"
                                 " FROM generate_series(1, 100)")
                    self.committed += 100
                    time.sleep(0.1)
        except Exception as exc:  # surfaced by the test
            self.error = exc


def _wait(what, predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    pytest.fail("timed out waiting for " + what)


@pytest.fixture
def cut_pair(lab):
    link = netns.Link("lc").create()
    base = 35442 + lab["port_offset"]
    primary = sb.Cluster(lab["lab_dir"], "lc", base, listen=netns.PRIMARY_ADDR, netns=link.primary_ns)
    standby = sb.Cluster(lab["lab_dir"], "lc-standby", base + 1, listen=netns.RECOVERY_ADDR, netns=link.recovery_ns)
    try:
        standby.destroy()
        primary.init_primary(extra_conf={"wal_sender_timeout": "'3s'", "wal_receiver_timeout": "'3s'"})
        yield link, primary, standby
    finally:
        standby.destroy()
        primary.destroy()
        link.destroy()


def _sender_state(primary):
    with primary.connect() as conn:
        row = conn.execute("SELECT state FROM pg_stat_replication WHERE application_name = 'linkcut'").fetchone()
    return row[0] if row else None


def _current_lsn(primary):
    with primary.connect() as conn:
        return conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]


def _caught_up(primary, target):
    """Streaming again and replayed at least up to ``target`` (the position when the link came back)."""
    with primary.connect() as conn:
        row = conn.execute("SELECT r.state, pg_wal_lsn_diff(r.replay_lsn, %s::pg_lsn)"
                           " FROM pg_stat_replication r WHERE application_name = 'linkcut'", (target,)).fetchone()
    return bool(row) and row[0] == "streaming" and row[1] is not None and row[1] >= 0


def test_link_cut_loses_nothing_and_the_buffer_shows_it(cut_pair, tmp_path):
    link, primary, standby = cut_pair
    pair = sb.module_pair(primary, standby, "linkcut", "dr_linkcut", max_buffer="64MB")
    pair["primary"]["host"] = primary.socket_dir
    pair["standby"].update(host=standby.socket_dir, listen_addresses=netns.RECOVERY_ADDR,
                           command_prefix=link.exec_prefix("recovery"),
                           upstream_host=netns.PRIMARY_ADDR, upstream_port=primary.port)
    # buffer_info is given the standby's network address, unreachable from here: it must not need it
    far = dict(pair, standby=dict(pair["standby"], host=netns.RECOVERY_ADDR))
    objectives = {"rpo_seconds": 3600, "max_buffer_fill_pct": 80}
    link_dir = str(tmp_path / "links")

    run = _run(tmp_path, "establish", [
        {"name": "present", "continuity.recovery.replication": {"state": "present"}},
        {"name": "buffer", "continuity.recovery.buffer_info": dict(far, sample_seconds=0.5, objectives=objectives,
                                                                   link_state_dir=link_dir)},
    ], pair)
    assert run.rc == 0, run.stdout[-4000:]
    assert _result(run, "present")["status"]["link"]["state"] == "connected"
    assert _result(run, "buffer")["link"]["state"] == "connected"

    writer = Writer(primary)
    writer.start()
    try:
        link.down()
        _wait("the primary to notice the cut", lambda: _sender_state(primary) is None)
        run = _run(tmp_path, "cut", [
            {"name": "buffer 1", "continuity.recovery.buffer_info": dict(far, sample_seconds=1, objectives=objectives,
                                                                         link_state_dir=link_dir)},
            {"name": "buffer 2", "continuity.recovery.buffer_info": dict(far, sample_seconds=1, objectives=objectives,
                                                                         link_state_dir=link_dir)},
            {"name": "info", "continuity.recovery.replication_info": {"standby": far["standby"]}},
        ], pair)
        assert run.rc == 0, run.stdout[-4000:]
        one, two = _result(run, "buffer 1"), _result(run, "buffer 2")
        for b in (one, two):
            assert b["link"]["state"] == "disconnected"
            assert b["link"]["since"] and b["link"]["since_source"] == "last_seen_connected"
            assert b["wal_status"] in ("reserved", "extended")
            assert b["capacity_bytes"] == 64 * 1024 * 1024 and b["capacity_source"] == "max_buffer"
            assert b["ingest_rate_bytes_per_second"] > 0 and b["time_to_overflow_seconds"] > 0
            assert b["rpo_exposure"]["bytes"] > 0 and b["rpo_exposure"]["seconds"] >= 0
            assert "link_down" in [a["alert"] for a in b["alerts"]]
        assert two["retained_bytes"] > one["retained_bytes"] > 0
        assert two["fill_pct"] > one["fill_pct"]
        assert two["headroom_bytes"] < one["headroom_bytes"]
        info = _result(run, "info")
        assert info["link"]["state"] == "disconnected" and info["target"]["reachable"] is False
        assert info["source"]["role"] == "primary"

        link.up()
        back_at = _current_lsn(primary)
        _wait("the standby to catch up by itself", lambda: _caught_up(primary, back_at))
    finally:
        writer.stop_event.set()
        writer.join(30)
    assert writer.error is None, writer.error
    assert writer.committed > 0

    run = _run(tmp_path, "after", [
        {"name": "synced", "continuity.recovery.replication": {"state": "synced"}},
        {"name": "buffer", "continuity.recovery.buffer_info": dict(far, sample_seconds=0, objectives=objectives,
                                                                   link_state_dir=link_dir)},
    ], pair)
    assert run.rc == 0, run.stdout[-4000:]
    after = _result(run, "buffer")
    assert after["link"]["state"] == "connected" and after["alerts"] == []
    with primary.connect() as p, standby.connect() as s:
        source, replica = sb.fingerprint(p), sb.fingerprint(s)
    assert source == replica                       # zero loss: same row count, same checksum
    assert source[0] == 2000 + writer.committed

    run = _run(tmp_path, "absent", [
        {"name": "absent", "continuity.recovery.replication": {"state": "absent"}},
    ], pair)
    assert run.rc == 0, run.stdout[-4000:]
    assert not standby.running() and not os.path.exists(standby.data_dir)
    with primary.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_replication_slots").fetchone()[0] == 0

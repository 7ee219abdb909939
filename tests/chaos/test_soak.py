"""Item 8: soak - protection under continuous writes with repeated inspection.

A private pair (127.0.0.1, ports chaoslib.PORTS['soak']) with a cap of 64 MB
(max_slot_wal_keep_size and the pair's max_buffer) is protected with the protect
role. For CHAOS_SOAK_SECONDS (make chaos: 600) a writer commits rows at the primary
while, every CHAOS_SOAK_INTERVAL seconds (default 5), buffer_info and
replication_info run inside one long-lived inspecting process (tests/chaos/inspector.py:
the modules' main() again and again in the same interpreter, so a leak accumulates),
and the test samples:

- the private memory (RssAnon) of the inspecting process and of the long-lived
  processes of the pair: the primary's walsender, the standby's walreceiver and
  startup (recovery) process;
- the WAL the slot retains (pg_replication_slots) and buffer_info's retained_bytes.

Asserted: every inspection answered (link connected, no critical alert), retained WAL
never above the cap, memory growth of each process (median of the last tenth of the
samples minus median of the first tenth) under 16 MiB, and at the end both sides hold
the same rows (zero loss).
"""

from __future__ import annotations

import os
import statistics
import time

import pytest

import chaoslib as cl
import standby as sb

APP, SLOT = "chsoak", "dr_chsoak"
CAP = 64 * 1024 * 1024
MEMORY_GROWTH_LIMIT_KIB = 16 * 1024


@pytest.fixture
def soak_pair(lab):
    with cl.private_pair(lab, "soak", "ch-soak", extra_conf={
            "max_slot_wal_keep_size": "'64MB'", "max_wal_size": "'128MB'", "min_wal_size": "'32MB'"}) as pair:
        yield pair


def _growth(samples):
    values = [v for v in samples if v is not None]
    if len(values) < 4:
        return None
    tenth = max(2, len(values) // 10)
    return statistics.median(values[-tenth:]) - statistics.median(values[:tenth])


def _standby_pids(standby):
    """pids of the standby's walreceiver and startup processes (children of its postmaster)."""
    out = {}
    postmaster = standby.pid()
    if not postmaster:
        return out
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="utf-8") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                cmd = handle.read().decode("utf-8", "replace")
        except (OSError, ValueError, IndexError):
            continue
        if parent == postmaster:
            for kind in ("walreceiver", "startup"):
                if kind in cmd:
                    out[kind] = int(entry)
    return out


@pytest.mark.chaos_item("8")
def test_soak_memory_stable_and_retained_wal_within_the_cap(lab, soak_pair, figures, chaos_settings, tmp_path):
    primary, standby = soak_pair
    duration = chaos_settings["soak_seconds"]
    interval = float(os.environ.get("CHAOS_SOAK_INTERVAL") or 5)
    extra = cl.protect_vars(lab, tmp_path, primary, standby, APP, SLOT, "64MB")
    run = cl.playbook(lab, cl.PROTECT, extra_vars=extra)
    assert run.rc == 0, run.stdout[-4000:]
    pair = sb.module_pair(primary, standby, APP, SLOT, max_buffer="64MB")
    pair["primary"]["host"] = pair["standby"]["host"] = "127.0.0.1"
    pair.pop("timeout")
    objectives = {"rpo_seconds": 60, "max_buffer_fill_pct": 80}
    buffer_args = dict(pair, sample_seconds=1, objectives=objectives, link_state_dir=str(tmp_path / "links"))

    with primary.connect() as conn:
        rows_before = sb.fingerprint(conn)[0]
        walsender = conn.execute("SELECT pid FROM pg_stat_replication WHERE application_name = %s",
                                 (APP,)).fetchone()[0]
    standby_pids = _standby_pids(standby)
    assert set(standby_pids) == {"walreceiver", "startup"}, standby_pids
    memory = {"inspector": [], "walsender": [], "walreceiver": [], "startup": []}
    retained, reported, lags, problems = [], [], [], []
    inspections = 0
    writer = cl.Writer(primary, batch=100, pause=0.2)
    inspector = cl.Inspector()
    writer.start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < duration:
            tick = time.monotonic()
            buffer, _mem = inspector.run("buffer_info", buffer_args)
            info, mem = inspector.run("replication_info", pair)
            inspections += 1
            memory["inspector"].append(mem.get("rss_anon_kib"))
            for name, pid in [("walsender", walsender)] + sorted(standby_pids.items()):
                memory[name].append(cl.rss_kib(pid))
            row = cl.slot_state(primary, SLOT)
            retained.append(int(row[2] or 0))
            if buffer.get("failed") or info.get("failed"):
                problems.append("inspection %d failed: %s %s" % (inspections, buffer.get("msg"), info.get("msg")))
            else:
                reported.append(buffer["retained_bytes"])
                lags.append(info["lag"]["bytes"])
                critical = [a for a in buffer["alerts"] if a["severity"] == "critical"]
                if buffer["link"]["state"] != "connected" or critical or info["link"]["state"] != "connected":
                    problems.append("inspection %d: link %s/%s, alerts %s" % (
                        inspections, buffer["link"]["state"], info["link"]["state"], buffer["alerts"]))
            if writer.errors:
                problems.append("the writer failed: %s" % writer.last_error)
                break
            time.sleep(max(0.0, interval - (time.monotonic() - tick)))
    finally:
        elapsed = time.monotonic() - started
        writer.stop()
        inspector.close()
    target = cl.current_lsn(primary)
    cl.wait_for("the standby to replay the last rows", lambda: cl.replayed_past(primary, APP, target), timeout=300)
    with primary.connect() as p, standby.connect() as s:
        source, replica = sb.fingerprint(p), sb.fingerprint(s)
        wal_written = p.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')").fetchone()[0]

    growth = {name: _growth(values) for name, values in memory.items()}
    figures.set(soak_seconds=round(elapsed), soak_seconds_requested=duration, inspections=inspections,
                interval_seconds=interval, rows_written=writer.committed, rows_lost=source[0] - replica[0],
                checksums_equal=source[1] == replica[1], wal_written_bytes=int(wal_written),
                cap_bytes=CAP, max_retained_wal_bytes=max(retained) if retained else None,
                max_retained_reported_bytes=max(reported) if reported else None,
                max_replication_lag_bytes=max(lags) if lags else None,
                memory_growth_kib=dict(growth),
                memory_first_last_kib={k: [v[0], v[-1]] for k, v in memory.items() if v},
                inspection_problems=len(problems))
    if elapsed < 600:
        figures.note("soak bounded to %ds by CHAOS_SOAK_SECONDS (the issue asks for >= 600 s where CI allows)"
                     % round(elapsed))
    assert not problems, problems[:10]
    assert inspections >= 3
    assert max(retained) <= CAP and max(reported) <= CAP
    assert source == replica and source[0] == rows_before + writer.committed
    for name, value in growth.items():
        assert value is not None and value < MEMORY_GROWTH_LIMIT_KIB, (name, value, memory[name][:5],
                                                                       memory[name][-5:])

"""Item 4: buffer overflow - the cap is reached while the recovery site is down and the
primary keeps taking writes: detected, alerted, re-seeded, recorded.

A private pair (127.0.0.1, chaoslib.PORTS['overflow']; 1 MB WAL segments, a 4 MB
cap: max_slot_wal_keep_size, checkpoints every 30 s) is protected with the protect
role. The standby stops (the recovery site is down) while a writer keeps committing.
buffer_info runs every second (in the long-lived inspector): the fill rises, the
fill objective raises a warning before the cap, then a checkpoint removes WAL the slot
still needed and buffer_info reports it lost with a critical buffer_overflow alert.
The recovery site comes back (the standby starts and cannot resume: its WAL is gone);
protect runs again, with the writer still running: it re-seeds the pair, records the
reseed and why, and afterwards both sides hold the same rows (zero loss from then on).
The run after that changes nothing. The test never issues a checkpoint itself.
"""

from __future__ import annotations

import time

import pytest

import chaoslib as cl
import standby as sb

APP, SLOT = "chovf", "dr_chovf"
CAP = 4 * 1024 * 1024


@pytest.fixture
def small_cap_pair(lab):
    with cl.private_pair(lab, "overflow", "ch-ovf", wal_segsize=1, extra_conf={
            "max_slot_wal_keep_size": "'4MB'", "min_wal_size": "'2MB'", "max_wal_size": "'32MB'",
            "checkpoint_timeout": "'30s'"}) as pair:
        yield pair


@pytest.mark.chaos_item("4")
def test_overflow_is_detected_alerted_reseeded_and_recorded(lab, small_cap_pair, figures, tmp_path):
    primary, standby = small_cap_pair
    extra = cl.protect_vars(lab, tmp_path, primary, standby, APP, SLOT, "64MB")
    run = cl.playbook(lab, cl.PROTECT, extra_vars=extra)
    assert run.rc == 0, run.stdout[-4000:]
    pair = sb.module_pair(primary, standby, APP, SLOT, max_buffer="64MB")
    pair["primary"]["host"] = pair["standby"]["host"] = "127.0.0.1"
    pair.pop("timeout")
    args = dict(pair, sample_seconds=0.5, objectives={"rpo_seconds": 3600, "max_buffer_fill_pct": 80},
                link_state_dir=str(tmp_path / "links"))

    inspector = cl.Inspector()
    writer = cl.Writer(primary, batch=200, pause=0.1, note_bytes=300)
    samples, warned, lost = [], None, None
    try:
        writer.start()
        cl.wait_for("the writer to commit", lambda: writer.committed >= 1000, timeout=60)
        standby.stop("immediate")                       # the recovery site goes down
        down_at, committed_at_down = time.monotonic(), writer.committed
        while time.monotonic() - down_at < 300:
            buffer, _mem = inspector.run("buffer_info", args)
            assert not buffer.get("failed"), buffer.get("msg")
            names = sorted({a["alert"] for a in buffer["alerts"]})
            samples.append((round(time.monotonic() - down_at, 1), buffer["fill_pct"], buffer["wal_status"], names))
            if warned is None and "buffer_fill" in names and not buffer["lost"]:
                warned = (time.monotonic() - down_at, buffer["fill_pct"], buffer["time_to_overflow_seconds"])
            if buffer["lost"]:
                lost = (time.monotonic() - down_at, buffer)
                break
            time.sleep(0.5)
        assert lost, samples[-5:]
        detected = lost[1]
        written_while_down = writer.committed - committed_at_down

        standby.start()                                 # the recovery site is back, but cannot resume
        time.sleep(3)
        assert (cl.sender(primary, APP) or [None])[0] != "streaming"
        reseed_started = time.monotonic()
        reseed = cl.playbook(lab, cl.PROTECT, extra_vars=dict(extra, recovery_run_id="reseed"))
        reseed_seconds = time.monotonic() - reseed_started
        assert reseed.rc == 0, reseed.stdout[-4000:]
    finally:
        writer.stop()
        inspector.close()
    assert writer.errors == 0, writer.last_error

    present = reseed.task_results("Establish pair " + APP)[0]
    records = [r for r in cl.evidence_records(extra["recovery_evidence_root"]) if r["run_id"] == "reseed"]
    reseeds = [r for r in records if r["name"] == "reseed"]
    target = cl.current_lsn(primary)
    cl.wait_for("the re-seeded standby to catch up", lambda: cl.replayed_past(primary, APP, target), timeout=300)
    with primary.connect() as p, standby.connect() as s:
        source, replica = sb.fingerprint(p), sb.fingerprint(s)
    again = cl.playbook(lab, cl.PROTECT, extra_vars=dict(extra, recovery_run_id="after"))
    after = cl.evidence_records(extra["recovery_evidence_root"])
    buffer_after = [r for r in after if r["run_id"] == "after" and r["name"] == "buffer"]

    critical = [a for a in detected["alerts"] if a["severity"] == "critical"]
    figures.set(cap_bytes=CAP, rows_written=writer.committed, rows_written_while_down=written_while_down,
                warning_after_seconds=round(warned[0], 1) if warned else None,
                fill_pct_at_warning=warned[1] if warned else None,
                time_to_overflow_predicted_seconds=warned[2] if warned else None,
                lost_detected_after_seconds=round(lost[0], 1), wal_status_detected=detected["wal_status"],
                alerts_raised=sorted({a["alert"] for s in samples for a in [{"alert": n} for n in s[3]]}),
                critical_alerts=[a["alert"] for a in critical], inspections=len(samples),
                reseeded=present.get("reseeded"), reseed_reason=present.get("reseed_reason"),
                reseed_seconds=round(reseed_seconds, 1), reseed_records=len(reseeds),
                rows_at_primary=source[0], rows_at_standby=replica[0], rows_lost=source[0] - replica[0],
                checksums_equal=source[1] == replica[1], changes_after=again.stats.get("changed"))
    assert detected["lost"] is True and detected["wal_status"] == "lost"
    assert "buffer_overflow" in [a["alert"] for a in critical]
    assert warned is not None, samples                 # the fill objective warned before the loss
    assert present["reseeded"] is True and "lost" in present["reseed_reason"]
    assert len(reseeds) == 1 and "lost" in reseeds[0]["data"]["reason"]
    assert source == replica
    assert again.rc == 0 and again.stats["changed"] == 0, again.stdout[-3000:]
    assert buffer_after and buffer_after[0]["status"] == "ok", buffer_after

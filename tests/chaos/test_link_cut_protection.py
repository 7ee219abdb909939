"""Item 1a: the link to the recovery site is cut for >= 30 s while the protected
pair takes writes; it comes back by itself.

A private pair in two network namespaces (chaoslib.LinkedPair) is protected with
the protect role. A writer commits rows at the primary throughout; the recovery
side's veth goes down for CHAOS_LINK_DOWN_SECONDS (>= 30) and comes back up. No
step is taken after that: the standby reconnects and catches up by itself, a
second protect run has nothing to repair (changed=0), and both sides hold the same
rows (count and md5 over every row).

Figures: rows written (total / during the cut), rows lost, seconds the link was
down, seconds until the primary noticed, seconds from link-up to streaming and to
caught-up, replication outage (cut to caught-up), writes refused at the primary,
peak retained WAL vs the cap.
"""

from __future__ import annotations

import time

import pytest

import chaoslib as cl
import standby as sb

APP, SLOT = "chlinkcut", "dr_chlinkcut"


@pytest.fixture
def linked(lab):
    with cl.LinkedPair(lab, "lc", "linkcut", APP, SLOT, max_buffer="256MB") as pair:
        yield pair


@pytest.mark.chaos_item("1a")
def test_link_cut_during_protection_loses_nothing_and_resumes_alone(linked, figures, chaos_settings, tmp_path):
    down_for = chaos_settings["link_down_seconds"]
    primary, standby = linked.primary, linked.standby
    extra = cl.protect_vars(linked.lab, tmp_path, primary, standby, APP, SLOT, "256MB", settings={
        "standby": {"listen_addresses": "10.250.0.2", "command_prefix": linked.link.exec_prefix("recovery"),
                    "upstream_host": "10.250.0.1", "upstream_port": primary.port}})
    run = cl.playbook(linked.lab, cl.PROTECT, extra_vars=extra)
    assert run.rc == 0, run.stdout[-4000:]
    assert cl.sender(primary, APP)[0] == "streaming"
    with primary.connect() as conn:
        rows_before = sb.fingerprint(conn)[0]

    writer = cl.Writer(primary)
    writer.start()
    peak = {"retained": 0}
    try:
        cl.wait_for("the writer to commit", lambda: writer.committed >= 500, timeout=60)
        committed_at_cut = writer.committed
        cut_at = time.monotonic()
        linked.link.down()
        noticed = cl.wait_for("the primary to notice the cut", lambda: cl.sender(primary, APP) is None,
                              timeout=down_for + 60)
        far = linked.far_args()
        while time.monotonic() - cut_at < down_for:
            row = cl.slot_state(primary, SLOT)
            peak["retained"] = max(peak["retained"], int(row[2] or 0))
            assert row[0] in ("reserved", "extended"), row          # the cap is never reached here
            time.sleep(1)
        # inspection during the cut, from the primary's side only
        inspect = cl.module_playbook(tmp_path, "during-cut", [
            {"name": "buffer", "continuity.recovery.buffer_info": dict(
                far, sample_seconds=1, objectives={"rpo_seconds": 3600, "max_buffer_fill_pct": 80},
                link_state_dir=str(tmp_path / "links"))}])
        assert inspect.rc == 0, inspect.stdout[-3000:]
        buffer = cl.result(inspect, "buffer")
        assert buffer["link"]["state"] == "disconnected"
        assert "link_down" in [a["alert"] for a in buffer["alerts"]]
        assert buffer["retained_bytes"] > 0
        linked.link.up()
        up_at = time.monotonic()
        committed_at_up = writer.committed
        target = cl.current_lsn(primary)
        streaming = cl.wait_for("streaming again", lambda: (cl.sender(primary, APP) or [None])[0] == "streaming",
                                timeout=300)
        cl.wait_for("the standby to catch up by itself", lambda: cl.replayed_past(primary, APP, target), timeout=300)
        caught_up_at = time.monotonic()
        cl.wait_for("more writes after the link came back", lambda: writer.committed >= committed_at_up + 300,
                    timeout=60)
    finally:
        writer.stop()
    assert writer.errors == 0, writer.last_error        # the primary never refused a write

    again = cl.playbook(linked.lab, cl.PROTECT, extra_vars=dict(extra, recovery_run_id="after-cut"))
    assert again.rc == 0, again.stdout[-4000:]
    assert again.stats["changed"] == 0, "protect had to repair something after the cut"
    target = cl.current_lsn(primary)
    cl.wait_for("the last rows to replay", lambda: cl.replayed_past(primary, APP, target), timeout=120)
    with primary.connect() as p, standby.connect() as s:
        source, replica = sb.fingerprint(p), sb.fingerprint(s)
    written = writer.committed
    figures.set(rows_written=written, rows_written_during_cut=committed_at_up - committed_at_cut,
                rows_at_primary=source[0], rows_at_standby=replica[0],
                rows_lost=source[0] - replica[0], checksums_equal=source[1] == replica[1],
                link_down_seconds=round(up_at - cut_at, 1), cut_noticed_after_seconds=round(noticed, 1),
                streaming_after_link_up_seconds=round(streaming, 1),
                caught_up_after_link_up_seconds=round(caught_up_at - up_at, 1),
                replication_outage_seconds=round(caught_up_at - cut_at, 1),
                write_errors_at_primary=writer.errors, manual_steps=0,
                protect_changes_after_cut=again.stats["changed"],
                peak_retained_wal_bytes=max(peak["retained"], buffer["retained_bytes"]),
                cap_bytes=256 * 1024 * 1024)
    assert source == replica                                  # zero loss: same rows, same checksum
    assert source[0] == rows_before + written
    assert up_at - cut_at >= 30

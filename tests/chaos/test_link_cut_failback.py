"""Item 1b: the link between the sites is cut for >= 30 s while the failback resynchronises
the old primary from the recovery site; the failback goes on by itself and loses nothing.

A private pair in two network namespaces (chaoslib.LinkedPair, tag ``fb``) is protected
with the protect role, then taken over at database level (the replication module,
``state: promoted``: the old primary is fenced and stopped, as the failback role expects).
Rows are written at the recovery site (the takeover's writes) and a writer keeps
committing there. The failback role (playbooks/failback.yml, this pair only: its tier
holds no VM, so no VM moves) runs in the background: its reversal rewinds the old primary (pg_rewind, over
the controller's socket) and starts it as a standby streaming from 10.250.0.2 across the
namespace link. The moment it starts following, the link goes down for
CHAOS_LINK_DOWN_SECONDS (>= 30) while the writer goes on at the recovery site, then up.
No step is taken: the old primary reconnects and catches up the backlog by itself, the
role (still running) verifies the reversed direction, the writer (the recovery site's
application) stops before the final sync as the role's VM shutdown would stop it, and the
role completes: final sync, cut back (the recovery-site server fenced, the original primary
promoted), re-protect in the original direction, proof. Then: every row acknowledged at the
recovery site is at the original primary, both sides hold the same rows (count and md5
over every row), the original primary is primary and streams to the recovery site, and a
second failback run changes nothing.

The takeover's backlog reaches the old primary mostly through pg_rewind (the WAL since
the divergence is copied over the controller's socket, not the namespace link); what
crosses the link is the stream from the rewind on, including everything written during
the cut (``backlog_bytes_at_link_up``).
"""

from __future__ import annotations

import os
import threading
import time

import pytest

import chaoslib as cl
import netns
import standby as sb

APP, SLOT = "chfailback", "dr_chfailback"
FAILBACK = os.path.join(os.path.dirname(cl.PROTECT), "failback.yml")
TAKEOVER_ROWS = 20000  # written at the recovery site right after the takeover


@pytest.fixture
def linked(lab):
    with cl.LinkedPair(lab, "fb", "failback", APP, SLOT, max_buffer="256MB") as pair:
        yield pair


class AckedWriter(cl.Writer):
    """chaoslib.Writer that keeps the ids of every acknowledged row (INSERT ... RETURNING id, autocommit:
    returned = committed) and when each failed statement failed."""

    def __init__(self, cluster, **kwargs):
        super().__init__(cluster, **kwargs)
        self.acked = []
        self.error_times = []

    def run(self):
        while not self.stop_event.is_set():
            try:
                with self.cluster.connect() as conn:
                    while not self.stop_event.is_set():
                        rows = conn.execute("INSERT INTO payments (amount, note) SELECT 2.5, repeat('y', %d)"
                                            " FROM generate_series(1, %d) RETURNING id"
                                            % (self.note_bytes, self.batch)).fetchall()
                        self.acked.extend(r[0] for r in rows)
                        self.committed += len(rows)
                        time.sleep(self.pause)
            except Exception as exc:  # pylint: disable=broad-except
                self.errors += 1
                self.error_times.append(time.monotonic())
                self.last_error = exc
                time.sleep(0.5)


def settings(linked):
    """Per-side settings of the pair (protect_pair_settings / failback_pair_settings): each server runs in its
    own namespace and reaches the other across the link, in either direction."""
    primary, standby = linked.primary, linked.standby
    return {"primary": {"listen_addresses": netns.PRIMARY_ADDR, "command_prefix": linked.link.exec_prefix("primary"),
                        "upstream_host": netns.RECOVERY_ADDR, "upstream_port": standby.port},
            "standby": {"listen_addresses": netns.RECOVERY_ADDR, "command_prefix": linked.link.exec_prefix("recovery"),
                        "upstream_host": netns.PRIMARY_ADDR, "upstream_port": primary.port}}


def module_args(linked):
    """The replication modules' arguments of the pair, both directions over the link (as the roles compose them)."""
    args = linked.module_args()
    args["primary"].update(settings(linked)["primary"])
    return args


def ids(cluster):
    with cluster.connect() as conn:
        return {r[0] for r in conn.execute("SELECT id FROM payments")}


def in_recovery(cluster):
    with cluster.connect() as conn:
        return conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]


def following_recovery_site(cluster):
    """The old primary runs again, configured to stream from the recovery site (the reversal's rejoin)."""
    if not cluster.running():
        return False
    try:
        with open(os.path.join(cluster.data_dir, "postgresql.auto.conf"), encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return False
    return any(line.startswith("primary_conninfo") and "host=%s" % netns.RECOVERY_ADDR in line
               for line in text.splitlines())


def replay_lsn(cluster):
    try:
        with cluster.connect(connect_timeout=2) as conn:
            return conn.execute("SELECT coalesce(pg_last_wal_replay_lsn(), '0/0'::pg_lsn)::text").fetchone()[0]
    except Exception:  # pylint: disable=broad-except
        return None  # still starting (not consistent yet)


def lsn_diff(cluster, a, b):
    with cluster.connect() as conn:
        return int(conn.execute("SELECT pg_wal_lsn_diff(%s::pg_lsn, %s::pg_lsn)", (a, b)).fetchone()[0])


class Background(threading.Thread):
    """One playbook run in a thread (the role runs while the test cuts the link)."""

    def __init__(self, target):
        super().__init__(daemon=True)
        self.target, self.run_result, self.error = target, None, None

    def run(self):
        try:
            self.run_result = self.target()
        except Exception as exc:  # pylint: disable=broad-except
            self.error = exc


@pytest.mark.chaos_item("1b")
def test_link_cut_during_failback_resync_loses_nothing_and_resumes_alone(linked, figures, chaos_settings, tmp_path):
    down_for = chaos_settings["link_down_seconds"]
    primary, recovery = linked.primary, linked.standby
    evidence = str(tmp_path / "evidence")
    extra = cl.protect_vars(linked.lab, tmp_path, primary, recovery, APP, SLOT, "256MB", settings=settings(linked))
    # a takeover at database level: the tier holding the pair holds no VM (the lab's db VMs join the next
    # tier), so the failback of this pair alone moves no VM and splits no tier
    tiers = extra["recovery_plan"]["tiers"]
    tiers[1]["vms"] = list(tiers[0].pop("vms", [])) + list(tiers[1].get("vms") or [])

    # 1. protection, primary -> recovery, across the link
    run = cl.playbook(linked.lab, cl.PROTECT, extra_vars=extra)
    assert run.rc == 0, run.stdout[-4000:]
    assert cl.sender(primary, APP)[0] == "streaming"
    before = ids(primary)

    # 2. takeover at database level: the old primary fenced and stopped, the recovery site promoted
    takeover = cl.module_playbook(tmp_path, "takeover", [
        {"name": "promote", "continuity.recovery.replication": {"state": "promoted"}}], defaults=module_args(linked))
    assert takeover.rc == 0, takeover.stdout[-3000:]
    rpo = cl.result(takeover, "promote")["rpo"]
    assert rpo["mode"] == "planned" and rpo["exact"] and rpo["lost_transactions"] == 0, rpo
    assert not primary.running() and os.path.exists(os.path.join(primary.data_dir, "continuity.recovery.fence"))
    assert not in_recovery(recovery)
    with recovery.connect() as conn:
        # the new primary drops a dead stream after 1 s (the pair's default is 3 s): the failback's check of the
        # reversed direction cannot pass on a stale view of the stream the cut killed
        conn.execute("ALTER SYSTEM SET wal_sender_timeout = '1s'")
        conn.execute("SELECT pg_reload_conf()")
    with recovery.connect() as conn:  # the takeover's writes
        taken = [r[0] for r in conn.execute("INSERT INTO payments (amount, note) SELECT 3.5, 'during takeover'"
                                            " FROM generate_series(1, %d) RETURNING id" % TAKEOVER_ROWS)]

    # 3. the failback role runs; its resync is cut while the writer commits at the recovery site
    writer = AckedWriter(recovery)
    writer.start()
    # this pair only (failback_pairs): its tier has no VM, the other tiers do not need it - no VM moves; the data
    # fails back completely (failback_cutover stays true: false would stop after the reversal)
    failback_vars = dict(extra, failback_pairs=[APP], failback_timeout=300,
                         recovery_evidence_root=evidence)
    role = Background(lambda: cl.playbook(linked.lab, FAILBACK, extra_vars=failback_vars, timeout=900))
    peak = {"retained": 0}
    stopped_at = None
    try:
        cl.wait_for("the writer to commit at the recovery site", lambda: writer.committed >= 500, timeout=60)
        role_started = time.monotonic()
        role.start()
        # the resync stream is live: the rewound old primary has connected across the link
        cl.wait_for("the old primary to stream from the recovery site",
                    lambda: cl.sender(recovery, APP) is not None or not role.is_alive(), timeout=300, interval=0.05)
        at_cut = cl.sender(recovery, APP)
        committed_at_cut = writer.committed
        cut_at = time.monotonic()
        linked.link.down()
        assert role.is_alive(), "the failback ended before the resync: %s" % (role.error or role.run_result.stdout[-4000:])
        assert following_recovery_site(primary)
        reversal_started_after = cut_at - role_started
        info = None
        while time.monotonic() - cut_at < down_for:
            row = cl.slot_state(recovery, SLOT)
            peak["retained"] = max(peak["retained"], int(row[2] or 0))
            if info is None and time.monotonic() - cut_at > 10:
                # what the product's inspection says of the reversed pair during the cut
                info, _rss, _secs = cl.run_module("replication_info", module_args(linked), tmp_path)
            time.sleep(1)
        assert role.is_alive(), "the failback stopped during the cut: %s" % (
            role.error or role.run_result.stdout[-4000:])
        assert info["direction"] == "reverse" and info["link"]["state"] == "disconnected", info
        assert cl.sender(recovery, APP) is None          # nothing streams across a dead link
        linked.link.up()
        up_at = time.monotonic()
        committed_at_up = writer.committed
        target = cl.current_lsn(recovery)
        follower_at = replay_lsn(primary)
        backlog = lsn_diff(recovery, target, follower_at) if follower_at else None
        streaming = cl.wait_for("the old primary streaming from the recovery site again",
                                lambda: (cl.sender(recovery, APP) or [None])[0] == "streaming", timeout=300)
        cl.wait_for("the old primary to catch up by itself", lambda: cl.replayed_past(recovery, APP, target),
                    timeout=300)
        caught_up_at = time.monotonic()
        # the role verifies the reversed direction, then shuts the recovery site's writers down before the final
        # sync (host_cutover shutdown_only; here: the writer stops)
        cl.wait_for("the failback to verify the reversed direction", lambda: any(
            r["name"] == "reversed" and r["kind"] == "check" for r in cl.evidence_records(evidence))
            or not role.is_alive(), timeout=300, interval=0.1)
    finally:
        writer.stop()
        stopped_at = time.monotonic()
    errors_before_stop = len([t for t in writer.error_times if t < stopped_at])
    role.join(900)
    assert role.error is None, role.error
    result = role.run_result
    role_seconds = time.monotonic() - role_started
    assert result.rc == 0, result.stdout[-6000:]
    assert errors_before_stop == 0, writer.last_error    # the active primary never refused a write

    # 4. the failback completed by itself: proof, direction, rows
    verify = cl.result(result, "Read the reversed pairs")["results"][0]
    records = [r for r in cl.evidence_records(evidence) if r["role"] == "failback"]
    summary = [r for r in records if r["kind"] == "summary"][-1]["data"]
    assert summary["proven"] is True and summary["failed_back"] == 1, summary
    preflight = [r for r in records if r["name"] == "preflight"][-1]["data"]
    assert preflight["phases"] == {APP: "taken_over"}, preflight
    steps = [r for r in records if r["name"] == "failback" and r["kind"] == "change"][-1]["data"]["steps"]
    assert [s["step"] for s in steps] == ["reversed", "final_sync", "cut_back", "reprotect"], steps
    assert not any(s["reseeded"] for s in steps), steps   # pg_rewind both ways, no full re-seed after the cut
    assert not in_recovery(primary) and in_recovery(recovery)
    target = cl.current_lsn(primary)
    cl.wait_for("the recovery site to replay the last rows", lambda: cl.replayed_past(primary, APP, target),
                timeout=120)
    assert cl.sender(primary, APP)[0] == "streaming"     # original direction again
    at_primary = ids(primary)
    acked = set(taken) | set(writer.acked)
    missing = acked - at_primary
    with primary.connect() as p, recovery.connect() as r:
        source, replica = sb.fingerprint(p), sb.fingerprint(r)
    with open(primary.log_file, encoding="utf-8", errors="replace") as handle:
        receiver_failures = sum(1 for line in handle if "could not connect to the primary server" in line
                                or "terminating walreceiver due to timeout" in line)

    again = cl.playbook(linked.lab, FAILBACK, extra_vars=failback_vars)
    assert again.rc == 0, again.stdout[-4000:]

    figures.set(rows_written=len(acked), rows_written_during_takeover=len(taken),
                rows_written_during_cut=committed_at_up - committed_at_cut,
                rows_written_after_link_up=writer.committed - committed_at_up,
                rows_at_primary=source[0], rows_at_recovery=replica[0], rows_lost=len(missing),
                checksums_equal=source[1] == replica[1],
                link_down_seconds=round(up_at - cut_at, 1),
                cut_after_failback_start_seconds=round(reversal_started_after, 1),
                streaming_after_link_up_seconds=round(streaming, 1),
                caught_up_after_link_up_seconds=round(caught_up_at - up_at, 1),
                replication_outage_seconds=round(caught_up_at - cut_at, 1),
                sender_state_at_cut=at_cut[0], backlog_bytes_at_cut=int(at_cut[1] or 0),
                backlog_bytes_at_link_up=backlog, receiver_failures_logged=receiver_failures, peak_retained_wal_bytes=peak["retained"],
                write_errors_at_primary=errors_before_stop,
                write_errors_after_writer_stop=writer.errors - errors_before_stop,
                manual_steps=0, failback_seconds=round(role_seconds, 1),
                reversed_check_attempts=verify.get("attempts", 1),
                quarantined_rows=summary["quarantined_rows"],
                failback_changes_on_rerun=again.stats.get("changed", 0))
    assert again.stats.get("changed", 0) == 0, "a second failback had something to change"
    assert not missing, "%d acknowledged rows missing at the original primary" % len(missing)
    assert before | acked <= at_primary
    assert len(at_primary) - len(before | acked) <= writer.batch * (writer.errors - errors_before_stop)
    assert source == replica                                  # same rows, same checksum on both sides
    assert up_at - cut_at >= 30

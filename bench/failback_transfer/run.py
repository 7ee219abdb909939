"""bench/failback_transfer: what failback sends back, against what changed and a full re-seed.

One run, both engines, through the collection's replication drivers (the code behind
continuity.recovery.replication), on real PostgreSQL 15 and real rsync:

PostgreSQL - a private primary (LAB_DIR/pg/t-fb, own port) with a ~44 MB table
(fillfactor 90, vacuumed) is protected (slot + pg_basebackup standby), then an
emergency takeover: the standby is cut off, the old primary commits 500 rows the
standby never gets (lost by the takeover), the old primary goes down, the standby is
promoted (the unreachable old primary gets a fence marker; the new primary keeps a
slot for the way back). At the recovery site 10% of the rows change. ``changed`` =
the 8 kB relation blocks that differ between the two data directories before failback
(what a perfect block-level delta must send). ``failback`` = the bytes pg_rewind copied
for state=reversed (after CHECKPOINT of the new primary). Two workloads, each on a
fresh pair: ``spread`` (the headline: OLTP mix - updates and deletes of rows spread
over the table, inserts appended) and ``clustered`` (printed for information:
contiguous id ranges updated and deleted, as many rows appended). pg_rewind copies
the new primary's WAL since the divergence, the appended tail of relations (so
appended data crosses twice: as blocks and as WAL) and every FSM/VM fork in full, so
clustered changes on a small database cost more than the changed blocks. The
clusters use 1 MB WAL segments and wal_compression (pg_rewind copies WAL as whole
segment files).

rsync - a 64 MB datastore tree (4 x 16 MB disks of random data) is replicated,
promoted, and a share of the data is rewritten at the recovery site (64 kB chunks at
random 64 kB-aligned offsets). ``changed`` = the bytes rewritten; ``failback`` = rsync's
"Total bytes sent" of state=reversed (--inplace --no-whole-file).

``full_reseed`` = a fresh pg_basebackup of the new primary (its data directory
without pg_wal, plus one WAL segment) + the whole tree. Last line:
failback_bytes_vs_changed_pg=<x> failback_bytes_vs_changed_rsync=<y> full_reseed_vs_changed=<z>

    .venv/bin/python bench/failback_transfer/run.py [--lab-dir DIR] [--share 0.1]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))

import standby as sb  # noqa: E402

from ansible_collections.continuity.recovery.plugins.module_utils.replication.commands import Runner  # noqa: E402
from ansible_collections.continuity.recovery.plugins.module_utils.replication.postgresql import (  # noqa: E402
    PostgresqlDriver,
)
from ansible_collections.continuity.recovery.plugins.module_utils.replication.rsync import RsyncDriver  # noqa: E402

BLOCK = 8192
ROWS = 160_000


def log(msg):
    print(msg, flush=True)


def pg_pair(primary, standby):
    pair = {"name": "fb", "engine": "postgresql", "slot": "dr_fb", "replication_user": sb.REPL_USER,
            "replication_password": sb.REPL_PASSWORD, "archive": None, "max_buffer_bytes": None}
    for key, cluster in (("primary", primary), ("standby", standby)):
        pair[key] = dict(cluster.endpoint(), name=key, os_user="postgres", archive_dir=cluster.archive_dir)
    return pair


def apply(driver_cls, pair, state):
    driver = driver_cls(pair, Runner(), timeout=120)
    outcome = driver.apply(state)
    log("  %-9s %s" % (state, "; ".join(outcome.actions) or "no change"))
    return outcome


def relation_blocks_differing(source_dir, target_dir):
    """8 kB blocks of relation files (base/, global/) that differ or exist on one side only."""
    differing = 0
    for sub in ("base", "global"):
        names = set()
        for root_dir in (source_dir, target_dir):
            top = os.path.join(root_dir, sub)
            for base, _dirs, files in os.walk(top):
                for name in files:
                    if name[0].isdigit():   # relation segments, _fsm, _vm, _init
                        names.add(os.path.relpath(os.path.join(base, name), root_dir))
        for rel in names:
            a = _read(os.path.join(source_dir, rel))
            b = _read(os.path.join(target_dir, rel))
            blocks = max(len(a), len(b)) // BLOCK + (1 if max(len(a), len(b)) % BLOCK else 0)
            for i in range(blocks):
                if a[i * BLOCK:(i + 1) * BLOCK] != b[i * BLOCK:(i + 1) * BLOCK]:
                    differing += 1
    return differing * BLOCK


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def tree_bytes(path, skip=()):
    total = 0
    for base, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if os.path.relpath(os.path.join(base, d), path) not in skip]
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                pass
    return total


def bench_pg(lab_dir, port, share, workload):
    primary = sb.Cluster(lab_dir, "fb", port)
    standby = sb.Cluster(lab_dir, "fb-standby", port + 1)
    standby.destroy()
    conf = {"wal_compression": "on", "max_wal_size": "'1GB'", "checkpoint_timeout": "'30min'"}
    primary.init_primary(wal_segsize=1, extra_conf=conf)
    try:
        with primary.connect() as conn:
            conn.execute("CREATE TABLE ledger (id bigint PRIMARY KEY, account int NOT NULL, amount numeric(12,2),"
                         " memo text NOT NULL) WITH (fillfactor = 90)")
            conn.execute("INSERT INTO ledger SELECT g, g %% 1000, (g %% 997) + 0.25, md5(g::text) || md5((g * 7)::text)"
                         " || repeat('.', 120) FROM generate_series(1, %d) g" % ROWS)
            # a steady-state database: vacuumed (hint bits, visibility map) before it is protected
            conn.execute("VACUUM (FREEZE, ANALYZE) ledger")
            conn.execute("CHECKPOINT")
            size = conn.execute("SELECT pg_total_relation_size('ledger')").fetchone()[0]
        log("pg: ledger %d rows, %.1f MB; WAL segments 1 MB, wal_compression on" % (ROWS, size / 2 ** 20))
        pair = pg_pair(primary, standby)
        apply(PostgresqlDriver, pair, "present")
        apply(PostgresqlDriver, pair, "synced")
        # emergency: the recovery site is cut off, the old primary commits what will be lost, then goes down
        standby.stop("fast")
        with primary.connect() as conn:
            conn.execute("INSERT INTO ledger SELECT g, 0, 1, 'lost at the old primary' FROM generate_series(%d, %d) g"
                         % (ROWS + 1, ROWS + 500))
        primary.stop("fast")
        standby.start()
        promoted = apply(PostgresqlDriver, pair, "promoted")
        # the business runs at the recovery site and changes a share of the rows
        changed_rows = int(ROWS * share)
        with standby.connect() as conn:
            if workload == "spread":
                # OLTP mix: updates and deletes of rows spread over the table, inserts appended
                step = max(2, int(round(1 / share)))
                conn.execute("UPDATE ledger SET amount = amount + 1, memo = upper(memo) WHERE id %% %d = 3" % step)
                conn.execute("DELETE FROM ledger WHERE id %% %d = 7" % (step * 5))
                conn.execute("INSERT INTO ledger SELECT g, 1, 2, md5(g::text) || md5((g * 3)::text) || repeat('+', 120)"
                             " FROM generate_series(%d, %d) g" % (ROWS + 1000, ROWS + 1000 + changed_rows // 5))
            else:
                # clustered: contiguous id ranges updated and deleted, as many rows appended
                third = changed_rows // 3
                conn.execute("UPDATE ledger SET amount = amount + 1, memo = upper(memo) WHERE id BETWEEN %d AND %d"
                             % (ROWS // 4, ROWS // 4 + third))
                conn.execute("DELETE FROM ledger WHERE id BETWEEN %d AND %d" % (ROWS // 2, ROWS // 2 + third))
                conn.execute("INSERT INTO ledger SELECT g, 1, 2, md5(g::text) || md5((g * 3)::text) || repeat('+', 120)"
                             " FROM generate_series(%d, %d) g" % (ROWS + 1000, ROWS + 1000 + third))
            conn.execute("CHECKPOINT")
            wal = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)::bigint",
                               (promoted.details["promoted_lsn"],)).fetchone()[0]
            segs = conn.execute("SELECT count(*), sum(size) FROM pg_ls_waldir()").fetchone()
        log("pg: WAL written at the recovery site since promotion %.2f MB; pg_wal holds %d files (%.1f MB)"
            % (wal / 2 ** 20, segs[0], segs[1] / 2 ** 20))
        changed = relation_blocks_differing(standby.data_dir, primary.data_dir)
        full = tree_bytes(standby.data_dir, skip=("pg_wal",)) + 2 ** 20
        outcome = apply(PostgresqlDriver, pair, "reversed")
        assert not outcome.reseeded, outcome.reseed_reason
        sent = outcome.transfer["bytes_sent"]
        with primary.connect() as p, standby.connect() as s:
            assert sb.fingerprint(p, "ledger") == sb.fingerprint(s, "ledger"), "failback lost data"
        log("pg (%s): changed %.2f MB of 8 kB blocks (%d rows), pg_rewind copied %.2f MB (ratio %.2f),"
            " full re-seed %.2f MB"
            % (workload, changed / 2 ** 20, changed_rows, sent / 2 ** 20, sent / changed, full / 2 ** 20))
        return changed, sent, full
    except Exception:
        for cluster in (primary, standby):
            tail = "(none)"
            if os.path.exists(cluster.log_file):
                with open(cluster.log_file, encoding="utf-8", errors="replace") as handle:
                    tail = "".join(handle.readlines()[-12:])
            log("---- %s (last lines)\n%s" % (cluster.log_file, tail))
        raise
    finally:
        standby.destroy()
        primary.destroy()


def bench_rsync(work, share):
    src, tgt = os.path.join(work, "Prod-DS-FB"), os.path.join(work, "Replica-DS-FB")
    rng = random.Random(7)
    files = []
    for i in range(4):
        vm = os.path.join(src, "vm%02d" % i)
        os.makedirs(vm)
        path = os.path.join(vm, "vm%02d-flat.vmdk" % i)
        with open(path, "wb") as handle:
            handle.write(rng.randbytes(16 * 2 ** 20))
        files.append(path)
    pair = {"name": "fbfs", "engine": "rsync", "source": {"path": src}, "target": {"path": tgt},
            "snapshots": 0, "max_buffer_bytes": None}
    apply(RsyncDriver, pair, "present")
    apply(RsyncDriver, pair, "promoted")
    chunk = 64 * 1024
    changed = 0
    for path in files:
        target = os.path.join(tgt, os.path.relpath(path, src))
        slots = rng.sample(range(16 * 2 ** 20 // chunk), int(16 * 2 ** 20 // chunk * share))
        with open(target, "r+b") as handle:
            for slot in slots:
                handle.seek(slot * chunk)
                handle.write(rng.randbytes(chunk))
                changed += chunk
    time.sleep(0.01)
    outcome = apply(RsyncDriver, pair, "reversed")
    sent = outcome.transfer["bytes_sent"]
    for path in files:
        with open(path, "rb") as a, open(os.path.join(tgt, os.path.relpath(path, src)), "rb") as b:
            assert a.read() == b.read(), "reverse delta left a difference"
    full = tree_bytes(tgt)
    log("rsync: changed %.2f MB, reverse delta sent %.2f MB, full copy %.2f MB"
        % (changed / 2 ** 20, sent / 2 ** 20, full / 2 ** 20))
    return changed, sent, full


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab-dir", default=os.environ.get("LAB_DIR", "/var/lib/continuity-recovery-lab"))
    parser.add_argument("--port", type=int, default=35462 + int(os.environ.get("LAB_PORT_OFFSET", "0")))
    parser.add_argument("--share", type=float, default=0.1, help="share of the data changed at the recovery site")
    parser.add_argument("--no-clustered", dest="clustered", action="store_false",
                        help="skip the informational clustered-change PostgreSQL run")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="failback-bench-")
    try:
        if args.clustered:
            bench_pg(args.lab_dir, args.port, args.share, "clustered")
        pg_changed, pg_sent, pg_full = bench_pg(args.lab_dir, args.port, args.share, "spread")
        rs_changed, rs_sent, rs_full = bench_rsync(work, args.share)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("failback_bytes_vs_changed_pg=%.2f failback_bytes_vs_changed_rsync=%.2f full_reseed_vs_changed=%.2f" % (
        pg_sent / pg_changed, rs_sent / rs_changed, (pg_full + rs_full) / (pg_changed + rs_changed)))


if __name__ == "__main__":
    main()

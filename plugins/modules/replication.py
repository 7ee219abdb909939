#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: replication
short_description: Control a replication pair (PostgreSQL streaming or rsync)
version_added: 0.1.0
description:
  - Brings one replication pair of a recovery plan to a state, with one behaviour and one
    result schema whatever the engine.
  - V(present) establishes the pair. C(postgresql) - a physical replication slot on the primary,
    the standby seeded with C(pg_basebackup), its C(primary_conninfo)/C(primary_slot_name) written,
    started, and streaming verified on the primary. A slot that lost WAL (the buffer overflowed) is
    dropped and the standby re-seeded, saying why in RV(reseed_reason). With O(archive), a base backup of the
    standby is kept in O(archive.path)C(/base/) for point-in-time recovery, without C(primary_conninfo) and
    C(primary_slot_name) (the replication password stays in the standby's own C(postgresql.auto.conf)); a
    base backup kept there by an earlier version with them is stripped. C(rsync) - the initial full copy (and
    a snapshot when O(snapshots) > 0).
  - V(present) with C(rsync) on a pair that was promoted and reversed - the cut back - a final reverse delta
    (nothing written at the recovery site is lost), then the source is authoritative again, direction forward,
    a forward delta and a snapshot; refused when the pair was promoted but never reversed.
  - V(paused) / V(resumed) - C(postgresql) pauses or resumes WAL replay on the standby (the guard that
    stops a logical corruption from being mirrored; WAL keeps arriving). C(rsync) - hold / release the pair.
  - V(synced) - C(postgresql) waits until the standby's replay LSN reaches the primary's current LSN taken
    at the call (never changes anything). C(rsync) - an incremental delta (C(--no-whole-file); in place,
    C(--inplace), only when O(snapshots=0) - a snapshot never shares an inode rsync writes into)
    followed by a hard-link snapshot at the target when O(snapshots) > 0.
  - V(promoted) - C(postgresql) fences the old primary when it is reachable (read-only, sessions ended,
    a final sync so a planned takeover loses nothing, then stopped with a fence marker and a
    C(standby.signal) in its data directory so it cannot come back as a primary), promotes the standby and
    verifies it is writable. A fence an earlier run left half-done (the old primary read-only but still
    running, or the standby not promoted yet) is finished first, its final sync included. Refused before
    anything is fenced when WAL replay is paused on the standby and a final sync is due (resume it, or
    O(final_sync=false)). C(rsync) - the target becomes authoritative (forward syncs are refused).
  - V(reversed) - failback preparation. C(postgresql) - the old primary rejoins as a standby of the new
    primary using C(pg_rewind) (after a CHECKPOINT of the new primary), re-seeded only when a rewind is
    impossible, saying so; the old data directory is then kept beside the new one (renamed;
    C(previous_data_dir) in RV(details)), never removed. A C(pg_rewind) that cannot reach the new primary fails
    and moves nothing. C(rsync) - the delta in reverse.
  - V(absent) - C(postgresql) stops and removes the standby and drops the slot; refused when the standby
    is a primary (promoted), and when its data directory holds no C(standby.signal) even if it does not
    answer (a promoted server that is down looks the same). C(rsync) - forgets the
    pair (state, snapshots); the replica's data stays.
  - Every state is idempotent; check mode reports exactly the actions that would be taken in RV(actions).
author:
  - continuity.recovery engineers (@continuity-recovery)
extends_documentation_fragment:
  - continuity.recovery.replication
options:
  state:
    description: The state to bring the pair to.
    type: str
    default: present
    choices: [present, paused, resumed, synced, promoted, reversed, absent]
  final_sync:
    description:
      - With O(state=promoted) and a reachable old primary, wait for the standby to replay everything the
        fenced primary wrote before promoting (a planned takeover loses nothing).
    type: bool
    default: true
  quarantine_dir:
    description:
      - With O(state=reversed) (C(postgresql)), before C(pg_rewind) discards what the old primary committed after
        the divergence point (the transactions an emergency takeover lost), extract them into
        C(<quarantine_dir>/<name>-<divergence LSN with / as ->.json) (directory 0700, file 0600) and return
        RV(quarantine). The divergence point is where the new primary's timeline history left the old primary's
        timeline; the lost transactions come from C(pg_waldump) of the old primary's WAL; their rows (inserted
        rows and new versions of updated rows, by C(xmin)) are read from the old primary started fenced
        (read-only, in recovery, no upstream, on its own port), which is then stopped cleanly before the rewind.
        Deleted rows are counted, not reconstructible.
      - When the extraction is impossible (WAL unreadable, divergence unknown) nothing is rewound and the task
        fails; rerun without O(quarantine_dir) to rewind anyway (the lost transactions are then discarded).
      - Default none - no extraction. Failback roles should always set it.
      - The file holds row data of the lost transactions (by design, for reconciliation) but never passwords or
        connection strings. A rerun after the reversal changes nothing and does not rewrite it; an existing file
        for the same pair and divergence point is reused, not rewritten.
    type: path
  canary:
    description:
      - With O(state=synced), prove the pair end to end after the sync - write a marker at the primary
        (PostgreSQL - an upserted row in C(public.continuity_recovery_canary) of the primary's database;
        rsync - the file C(.continuity-recovery-canary) at the root of the source, rewritten in place) and
        read it back at the recovery site. The probe is verification and does not make the task changed.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports in RV(actions) what would change; changes nothing.
  diff_mode:
    support: none
    description: RV(actions) lists what changes; there is no before/after text to show.
seealso:
  - module: continuity.recovery.replication_info
  - module: continuity.recovery.buffer_info
"""

EXAMPLES = r"""
- name: Protect the payments database
  continuity.recovery.replication:
    name: paydb
    engine: postgresql
    primary: {host: db-prod.example.com, port: 5432, user: dr_admin, password: "{{ vault_db_password }}", database: payments}
    standby:
      host: 127.0.0.1
      port: 5432
      user: dr_admin
      password: "{{ vault_db_password }}"
      database: payments
      data_dir: /var/lib/postgresql/15/standby
    slot: dr_paydb
    replication_password: "{{ vault_replication_password }}"
    archive: {path: /srv/wal/paydb}
    state: present

- name: Stop mirroring while a suspected corruption is investigated
  continuity.recovery.replication:
    name: paydb
    engine: postgresql
    primary: {host: db-prod.example.com, user: dr_admin, password: "{{ vault_db_password }}"}
    standby: {host: 127.0.0.1, user: dr_admin, password: "{{ vault_db_password }}"}
    slot: dr_paydb
    state: paused

- name: Take over (emergency or planned) and record what it cost
  continuity.recovery.replication:
    name: paydb
    engine: postgresql
    primary: {host: db-prod.example.com, user: dr_admin, password: "{{ vault_db_password }}",
              data_dir: /var/lib/postgresql/15/main}
    standby: {host: 127.0.0.1, user: dr_admin, password: "{{ vault_db_password }}",
              data_dir: /var/lib/postgresql/15/standby}
    slot: dr_paydb
    state: promoted
  register: takeover

- name: Fail back, keeping what the old primary committed after the divergence
  continuity.recovery.replication:
    name: paydb
    engine: postgresql
    primary: {host: db-prod.example.com, user: dr_admin, password: "{{ vault_db_password }}",
              data_dir: /var/lib/postgresql/15/main}
    standby: {host: 127.0.0.1, user: dr_admin, password: "{{ vault_db_password }}",
              data_dir: /var/lib/postgresql/15/standby}
    slot: dr_paydb
    replication_password: "{{ vault_replication_password }}"
    quarantine_dir: /srv/dr/quarantine
    state: reversed
  register: failback

- name: Replicate a datastore incrementally, keeping 24 snapshots
  continuity.recovery.replication:
    name: vmstore
    engine: rsync
    source: {path: /srv/datastores/Prod-DS-01}
    target: {path: /srv/replica/Replica-DS-01}
    snapshots: 24
    state: synced
"""

RETURN = r"""
pair:
  description: Name of the pair.
  returned: always
  type: str
engine:
  description: Engine of the pair.
  returned: always
  type: str
state:
  description: The state asked for.
  returned: always
  type: str
actions:
  description: What was done (or, in check mode, would be done), in order. Empty when the pair already matched.
  returned: always
  type: list
  elements: str
  sample: ["create physical replication slot dr_paydb", "seed standby /srv/pg/standby with pg_basebackup from db:5432"]
reseeded:
  description: Whether a standby (or the old primary) was re-seeded from scratch.
  returned: always
  type: bool
reseed_reason:
  description: Why it had to be re-seeded (a lost slot; a rewind that was impossible).
  returned: always
  type: str
transfer:
  description:
    - Data moved by this call - C(method) (pg_basebackup, pg_rewind, rsync full/delta/reverse delta),
      C(bytes_sent) and engine detail (rsync C(literal_data), C(matched_data)); null when nothing moved.
  returned: always
  type: dict
details:
  description:
    - Engine detail of the transition (LSNs waited for, fence, timeline after promotion, pending items).
    - With O(state=reversed) and O(quarantine_dir) (C(postgresql)), C(divergence) - C(lsn), C(timelines),
      C(wal_end_lsn), C(wal_bytes), C(transactions) (lost user transactions) and C(system_transactions).
  returned: always
  type: dict
status:
  description: The pair after the call, in the RV(continuity.recovery.replication_info#module:source) schema
    (source, target, link, streaming, lag, held, direction...).
  returned: always
  type: dict
rpo:
  description:
    - With O(state=promoted) (C(postgresql)), the data this promotion lost (achieved RPO). Null in check mode and
      when the standby was already promoted (a second call does not recompute it), and for C(rsync).
    - C(mode) - V(planned) (the old primary was reachable and fenced) or V(emergency) (unreachable).
    - C(exact) - true when the loss is proven - planned, by LSN comparison (the fenced old primary's last LSN
      C(<=) the standby's replay LSN at promotion, so nothing lost); emergency, by C(pg_waldump) of the old
      primary's WAL from the divergence point when its C(data_dir)/C(pg_wal) is readable on this host and the
      old primary is not running. Otherwise false and the figures are an estimate (C(source) says which).
    - C(lost_transactions) - committed transactions after the divergence point that changed user tables
      (C(lost_system_transactions) - those that changed only catalogs, such as an autovacuum ANALYZE).
    - C(lost_rows) - C(inserted), C(updated), C(deleted), C(total) heap row operations of those transactions in
      user tables (catalog and TOAST relations left out); C(tables) the same per C(<database>:<schema.table>).
    - C(lost_bytes) - WAL bytes the old primary wrote after the divergence point.
    - C(achieved_seconds) - last lost commit time minus last replayed commit time (0 when nothing was lost);
      as an estimate, the time from the last replayed commit to the promotion (an upper bound).
    - C(last_replayed_commit), C(last_lost_commit) - ISO 8601 commit times; C(divergence_lsn) - where the new
      timeline starts (from the new primary's timeline history); C(timelines) - C(old), C(new);
      C(source) - how the figures were obtained.
  returned: always
  type: dict
  sample:
    mode: emergency
    exact: true
    lost_transactions: 412
    lost_system_transactions: 0
    lost_rows: {inserted: 412, updated: 0, deleted: 0, total: 412}
    lost_bytes: 98304
    achieved_seconds: 1.93
    last_replayed_commit: "2026-12-01T07:00:00.123456+00:00"
    last_lost_commit: "2026-12-01T07:00:02.053456+00:00"
    divergence_lsn: 0/5A1C2D8
    timelines: {old: 1, new: 2}
    tables: {"payments:public.payments": {inserted: 412, updated: 0, deleted: 0, total: 412}}
    source: "pg_waldump of the old primary's WAL (/srv/pg/main/pg_wal, timeline 1) from 0/5A1C2D8 to the end of valid WAL 0/5A34000"
quarantine:
  description:
    - With O(state=reversed) and O(quarantine_dir), what was extracted - C(path) of the quarantine file,
      C(transactions), C(rows) (row versions saved), C(tables), C(deleted) (deleted rows, counted only),
      C(divergence_lsn); C(existing) true when the file was already there (reused, not rewritten);
      C(would_extract) true in check mode (C(rows) is then null).
    - Null when nothing diverged (no transaction committed after the divergence point), without
      O(quarantine_dir), and on a rerun after the reversal.
    - "The file: C(pair), C(divergence_lsn), C(timelines), C(wal) span, C(transactions) [{xid, commit_ts, lsn,
      subxacts}], C(tables) {C(<database>:<schema.table>): {inserted, updated, deleted, rows: [row as JSON]}},
      C(totals) {transactions, rows, tables, deleted}."
  returned: always
  type: dict
  sample: {path: /srv/dr/quarantine/paydb-0-5A1C2D8.json, transactions: 412, rows: 412, tables: 1, deleted: 0,
           divergence_lsn: 0/5A1C2D8}
canary:
  description: With O(canary) - C(marker), C(written_at), C(read_at_target) (bool), C(seconds), C(where).
  returned: when O(canary=true) and O(state=synced)
  type: dict
queries:
  description: SQL statements executed, in order (never their parameters).
  returned: always
  type: list
  elements: str
commands:
  description: Programs run (pg_ctl, pg_basebackup, pg_rewind, rsync, cp), with any password masked.
  returned: always
  type: list
  elements: str
"""

import uuid

from ansible_collections.continuity.recovery.plugins.module_utils.errors import RecoveryError
from ansible_collections.continuity.recovery.plugins.module_utils.replication import args as rargs
from ansible_collections.continuity.recovery.plugins.module_utils.replication.base import STATES
from ansible_collections.continuity.recovery.plugins.module_utils.safe_module import SafeModule


def main():
    spec = rargs.replication_argument_spec()
    spec.update(state=dict(type="str", default="present", choices=list(STATES)),
                final_sync=dict(type="bool", default=True), canary=dict(type="bool", default=False),
                quarantine_dir=dict(type="path"))
    module = SafeModule(argument_spec=spec, required_if=rargs.REQUIRED_IF, supports_check_mode=True)
    result = dict(changed=False, pair=module.params["name"], engine=module.params["engine"],
                  state=module.params["state"], actions=[], reseeded=False, reseed_reason=None,
                  transfer=None, details={}, status={}, rpo=None, quarantine=None, queries=[], commands=[])
    try:
        driver = rargs.make_driver(module.params, check_mode=module.check_mode)
        driver.pair["final_sync"] = module.params["final_sync"]
        driver.pair["quarantine_dir"] = module.params["quarantine_dir"]
        result.update(queries=driver.queries, commands=driver.runner.commands)
        outcome = driver.apply(module.params["state"])
        result.update(outcome.as_dict())
        result["rpo"] = result["details"].pop("rpo", None)
        result["quarantine"] = result["details"].pop("quarantine", None)
        if module.params["canary"] and module.params["state"] == "synced" and not module.check_mode:
            result["canary"] = driver.canary("%s-%s" % (module.params["name"], uuid.uuid4().hex[:12]))
            if not result["canary"]["read_at_target"]:
                module.fail_json(msg="canary of pair %s was not read at the recovery site" % module.params["name"],
                                 **result)
        result["status"] = driver.info()
    except RecoveryError as exc:
        module.fail_json(msg=str(exc), **dict(result, **exc.details))
    module.exit_json(**result)


if __name__ == "__main__":
    main()

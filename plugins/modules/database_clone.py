#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: database_clone
short_description: Point-in-time clone of a replicated PostgreSQL database in its own instance
version_added: 0.1.0
description:
  - Recovers a copy of a C(postgresql) replication pair's database into a separate instance - its own
    data directory O(data_dir), its own port O(port) - from the newest base backup kept beside the
    recovery site's WAL archive (O(archive.path)C(/base/), taken by M(continuity.recovery.replication)
    at O(ignore:state=present) when O(archive) is set), replaying archived WAL up to a target and promoting.
  - The target is one of O(target_time), O(target_lsn), O(target_name); none of them means everything
    the archive holds (V(latest)). A target the archive cannot reach (before the base backup, after the
    last archived WAL) fails, with the end of the clone's server log in RV(log_tail).
  - Used by the drill role (recover a copy, verify it, remove it) and to recover from a logical corruption
    the standby has already mirrored. The primary and the standby are never contacted or changed - only
    the archive is read; O(primary) is accepted (the pair's usual options) and ignored.
  - Before anything is copied, a marker C(<data_dir>.continuity-clone.json) records the pair, target,
    base backup and port. V(absent) removes only a directory with this pair's marker (also a clone whose
    recovery failed), its server log and the marker; any other existing directory is refused, never touched.
  - V(present) is idempotent - a running, promoted clone with the same pair, target and port is left alone;
    a stopped one is started; a clone to another target must be removed first (V(absent)).
  - The clone answers with the standby's credentials (O(standby.user), O(standby.password),
    O(standby.database)); server programs run as O(standby.os_user) from O(standby.bin_dir).
author:
  - continuity.recovery engineers (@continuity-recovery)
extends_documentation_fragment:
  - continuity.recovery.replication
options:
  state:
    description: V(present) makes (or starts) the clone; V(absent) stops and removes it.
    type: str
    default: present
    choices: [present, absent]
  data_dir:
    description:
      - Data directory of the clone on the host the module runs on (the recovery site). Must not exist
        for a new clone; its parent directory is created when missing.
    type: path
    required: true
  port:
    description: Port the clone listens on (1-65535, must be free for a new clone; checked before anything is copied).
    type: int
    required: true
  listen_addresses:
    description: Address the clone listens on, and connects to for verification.
    type: str
    default: 127.0.0.1
  target_time:
    description:
      - Recover up to this time (C(recovery_target_time)) - an ISO 8601 time stamp, for example
        V(2026-11-23 18:59:00+00), optionally followed by a time zone name (V(2026-11-23 18:59:00 Europe/Helsinki)).
      - Checked before anything is copied; a malformed one fails naming O(target_time).
    type: str
  target_lsn:
    description:
      - Recover up to this WAL position (C(recovery_target_lsn), for example V(0/3000060)).
      - Checked before anything is copied; a malformed one fails naming O(target_lsn).
    type: str
  target_name:
    description:
      - Recover up to this named restore point (C(pg_create_restore_point)), at most 63 bytes.
      - Checked before anything is copied; a longer one fails naming O(target_name).
    type: str
  base_backup:
    description: Name of the base backup under O(archive.path)C(/base/) to start from (default the newest).
    type: str
  count_tables:
    description:
      - With O(state=present), tables (C([schema.]table), schema C(public) by default) whose rows are counted
        in the clone and returned in RV(rows) - the row check of a drill.
      - Each name is checked before anything is copied (a name that is not C([schema.]table) fails naming
        O(count_tables)), also in check mode; whether the table exists can only be seen in the recovered
        clone - a table missing there fails after the clone was made (it stays, O(state=absent) removes it).
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Reports in RV(actions) what would be done (base backup chosen, target, port); changes nothing.
  diff_mode:
    support: none
    description: RV(actions) lists what changes.
notes:
  - Requires O(archive) (and O(engine=postgresql)). WAL reaches the archive a segment at a time (the standby
    archives each segment it has received, C(archive_mode=always)), so V(latest) is the end of the last
    complete archived segment, not the primary's current position.
  - A failed recovery leaves the clone's directory (and marker) for inspection; O(state=absent) removes it.
seealso:
  - module: continuity.recovery.replication
  - module: continuity.recovery.database_info
"""

EXAMPLES = r"""
- name: Recover the payments database as it was before the bad batch, on port 5440
  continuity.recovery.database_clone:
    name: paydb
    engine: postgresql
    primary: {host: db-prod.example.com}
    standby:
      host: 127.0.0.1
      user: dr_admin
      password: "{{ vault_db_password }}"
      database: payments
    slot: dr_paydb
    archive: {path: /srv/wal/paydb}
    data_dir: /var/lib/postgresql/15/paydb-pitr
    port: 5440
    target_time: "2026-11-23 18:59:00+00"
    count_tables: [payments, accounts]
  register: pitr

- name: Remove it again
  continuity.recovery.database_clone:
    name: paydb
    engine: postgresql
    primary: {host: db-prod.example.com}
    standby: {host: 127.0.0.1}
    slot: dr_paydb
    archive: {path: /srv/wal/paydb}
    data_dir: /var/lib/postgresql/15/paydb-pitr
    port: 5440
    state: absent
"""

RETURN = r"""
pair:
  description: Name of the pair.
  returned: always
  type: str
state:
  description: The state asked for.
  returned: always
  type: str
data_dir:
  description: Data directory of the clone.
  returned: always
  type: str
host:
  description: Address the clone listens on.
  returned: always
  type: str
port:
  description: Port of the clone.
  returned: always
  type: int
target:
  description: The recovery target - C(time), C(lsn), C(name) (null when not set) and C(description) (V(latest) when none).
  returned: always
  type: dict
  sample: {time: "2026-11-23 18:59:00+00", lsn: null, name: null, description: "time 2026-11-23 18:59:00+00"}
base_backup:
  description: The base backup the clone was (or would be) made from.
  returned: with O(state=present)
  type: str
  sample: 20261123T180000Z
created:
  description: Whether the clone was made (or, in check mode, would be made) by this call.
  returned: with O(state=present)
  type: bool
started:
  description: Whether an existing, stopped clone was started (or would be).
  returned: with O(state=present)
  type: bool
removed:
  description: Whether the clone was removed (or would be).
  returned: with O(state=absent)
  type: bool
log_file:
  description: Server log of the clone.
  returned: when the clone was made
  type: str
timeline:
  description: Timeline of the clone after promotion.
  returned: when the clone was made or started
  type: int
clone:
  description:
    - The clone after the call - C(exists), C(pid), C(reachable), C(in_recovery), C(timeline), C(lsn) (its
      current WAL position), C(log_file).
  returned: always
  type: dict
rows:
  description: Rows per table of O(count_tables), counted in the clone.
  returned: with O(state=present) and O(count_tables), not in check mode
  type: dict
  sample: {payments: 200, accounts: 10}
canary:
  description:
    - The pair's canary row in the clone (C(public.continuity_recovery_canary), written by
      M(continuity.recovery.replication) with O(ignore:canary=true)) - C(found), C(token), C(written_at);
      null when the table is not in the clone.
  returned: with O(state=present), not in check mode
  type: dict
actions:
  description: What was done (or, in check mode, would be done), in order. Empty when nothing had to change.
  returned: always
  type: list
  elements: str
  sample: ["copy base backup 20261123T180000Z from /srv/wal/paydb/base into /srv/pg/paydb-pitr",
           "recover to latest (everything archived) from the archive /srv/wal/paydb and promote on 127.0.0.1:5440"]
log_tail:
  description: The last lines of the clone's server log (why a recovery failed).
  returned: failure
  type: str
queries:
  description: SQL statements executed, in order (never their parameters).
  returned: always
  type: list
  elements: str
commands:
  description: Programs run (pg_ctl), with any password masked.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput, RecoveryError
from ansible_collections.continuity.recovery.plugins.module_utils.replication import args as rargs
from ansible_collections.continuity.recovery.plugins.module_utils.replication import clone as cl
from ansible_collections.continuity.recovery.plugins.module_utils.safe_module import SafeModule


def main():
    spec = rargs.replication_argument_spec()
    spec.update(
        state=dict(type="str", default="present", choices=["present", "absent"]),
        data_dir=dict(type="path", required=True),
        port=dict(type="int", required=True),
        listen_addresses=dict(type="str", default="127.0.0.1"),
        target_time=dict(type="str"),
        target_lsn=dict(type="str"),
        target_name=dict(type="str"),
        base_backup=dict(type="str"),
        count_tables=dict(type="list", elements="str", default=[]),
    )
    module = SafeModule(argument_spec=spec, required_if=rargs.REQUIRED_IF,
                        mutually_exclusive=[("target_time", "target_lsn", "target_name")],
                        supports_check_mode=True)
    p = module.params
    result = dict(changed=False, pair=p["name"], state=p["state"], data_dir=p["data_dir"].rstrip("/"),
                  host=p["listen_addresses"], port=p["port"], target={}, clone={}, actions=[], queries=[],
                  commands=[])
    work = None
    try:
        if p["engine"] != "postgresql":
            raise InvalidInput("database_clone needs a pair with engine postgresql, got %s" % p["engine"])
        target = cl.target_of(p["target_time"], p["target_lsn"], p["target_name"])
        cl.check_inputs(p["port"], p["count_tables"])
        result["target"] = dict(target, description=cl.describe_target(target))
        driver = rargs.make_driver(p, check_mode=module.check_mode)
        result.update(queries=driver.queries, commands=driver.runner.commands)
        work = cl.DatabaseClone(driver, p["data_dir"], p["port"], p["listen_addresses"], module.check_mode)
        if p["state"] == "present":
            result.update(work.present(target, p["base_backup"]))
        else:
            result.update(work.absent())
        result["actions"] = work.actions
        result["changed"] = bool(work.actions)
        result["clone"] = work.status()
        result["clone"].pop("dir_exists", None)
        if p["state"] == "present" and not module.check_mode:
            if not (result["clone"]["reachable"] and result["clone"]["in_recovery"] is False):
                raise RecoveryError("the clone on %s:%s does not answer as a promoted server"
                                    % (p["listen_addresses"], p["port"]))
            result.update(work.inspect(p["count_tables"]))
            result["timeline"] = result.get("timeline") or result["clone"]["timeline"]
    except RecoveryError as exc:
        if work is not None:
            result["actions"] = work.actions
            result["changed"] = bool(work.actions) and not module.check_mode
            status = work.status() if not module.check_mode else {}
            status.pop("dir_exists", None)
            result["clone"] = status or result["clone"]
            result["log_tail"] = cl.log_tail((result["clone"] or {}).get("log_file"))
        module.fail_json(msg=str(exc), **dict(result, **exc.details))
    module.exit_json(**result)


if __name__ == "__main__":
    main()

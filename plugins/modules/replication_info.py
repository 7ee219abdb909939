#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: replication_info
short_description: Status of a replication pair (PostgreSQL streaming or rsync)
version_added: 0.1.0
description:
  - Reports one replication pair in one schema whatever the engine - each side's role and position,
    the link, lag in bytes and seconds, whether the pair is held, its direction and which side is authoritative.
  - C(postgresql) - roles, timelines, the streaming state with sent/write/flush/replay LSNs from
    C(pg_stat_replication), replication lag in bytes and seconds, the sync state, whether the replication
    connection uses TLS (and its version), WAL replay pause state and the WAL receiver.
  - C(rsync) - the last run's time, kind and statistics, pending changed bytes at the source, snapshots.
  - Read-only; never changes anything. A side that cannot be reached is reported, not a failure.
author:
  - continuity.recovery engineers (@continuity-recovery)
extends_documentation_fragment:
  - continuity.recovery.replication
options:
  query:
    description: A JMESPath expression applied to the result; its value is returned in RV(query_result).
    type: str
attributes:
  check_mode:
    support: full
    description: The module never changes anything.
"""

EXAMPLES = r"""
- name: How far behind is the recovery site?
  continuity.recovery.replication_info:
    name: paydb
    engine: postgresql
    primary: {host: db-prod.example.com, user: dr_admin, password: "{{ vault_db_password }}"}
    standby: {host: db-dr.example.com, user: dr_admin, password: "{{ vault_db_password }}"}
    slot: dr_paydb
    query: lag
  register: paydb_lag
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
source:
  description:
    - The primary side - C(endpoint), C(reachable), C(role) (primary/standby; rsync source/fenced),
      C(timeline), C(position) (current LSN), C(error) when unreachable; postgresql adds C(slot), C(sender)
      and C(read_only) (its C(default_transaction_read_only) is on - a fenced old primary).
  returned: always
  type: dict
target:
  description:
    - The recovery side - as RV(source), plus for a PostgreSQL standby C(receive_lsn), C(replay_lsn),
      C(replay_paused), C(pause_state) and C(receiver) (pg_stat_wal_receiver).
  returned: always
  type: dict
link:
  description: C(state) - connected, disconnected or unknown.
  returned: always
  type: dict
streaming:
  description: PostgreSQL walsender of the pair - state, sent/write/flush/replay LSNs, lags, sync_state, connected_since.
  returned: always (null for rsync or when not streaming)
  type: dict
lag:
  description: C(bytes) and C(seconds) the recovery side is behind.
  returned: always
  type: dict
sync_state:
  description: async, sync, potential or quorum (PostgreSQL); null otherwise.
  returned: always
  type: str
tls:
  description: C(ssl) (bool) and C(version) of the replication connection (PostgreSQL); null when not streaming.
  returned: always
  type: dict
last_run:
  description: rsync - the last run's C(at), C(started_at), C(kind) and C(stats) (bytes sent, literal data...).
  returned: always
  type: dict
held:
  description: Whether the pair is held (rsync) or WAL replay is paused (PostgreSQL).
  returned: always
  type: bool
direction:
  description: forward, reverse (after state=reversed), or none.
  returned: always
  type: str
authoritative:
  description: Which side is authoritative - source, or target after a promotion.
  returned: always
  type: str
snapshots:
  description: rsync point-in-time snapshots at the target, oldest first.
  returned: always
  type: list
  elements: str
queries:
  description: SQL statements executed, in order.
  returned: always
  type: list
  elements: str
query_result:
  description: Value of O(query) over the result.
  returned: when O(query) is set
  type: raw
"""

from ansible_collections.continuity.recovery.plugins.module_utils.errors import RecoveryError
from ansible_collections.continuity.recovery.plugins.module_utils.query import apply_query
from ansible_collections.continuity.recovery.plugins.module_utils.replication import args as rargs
from ansible_collections.continuity.recovery.plugins.module_utils.safe_module import SafeModule


def main():
    spec = rargs.replication_argument_spec()
    spec.update(query=dict(type="str"))
    module = SafeModule(argument_spec=spec, required_if=rargs.REQUIRED_IF, supports_check_mode=True)
    result = dict(changed=False, queries=[])
    try:
        driver = rargs.make_driver(module.params, check_mode=True)
        result["queries"] = driver.queries
        result.update(driver.info())
        if module.params["query"]:
            result["query_result"] = apply_query(module.params["query"], result)
    except RecoveryError as exc:
        module.fail_json(msg=str(exc), **dict(result, **exc.details))
    module.exit_json(**result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: database_info
short_description: Health, role and replication settings of a PostgreSQL server
version_added: 0.1.0
description:
  - Connects to one PostgreSQL server and reports whether it answers, its role
    (primary or standby), timeline, WAL positions, the settings streaming
    replication, slots, C(pg_rewind) and WAL archiving depend on, its replication
    slots, the standbys streaming from it (with whether they use TLS) and, on a
    standby, its WAL receiver.
  - Lists abnormalities that would stop replication or a failback rewind from working.
  - Read-only; never changes anything. With O(allow_unreachable=true) an
    unreachable server is reported instead of failing, which the baseline gate uses.
author:
  - continuity.recovery engineers (@continuity-recovery)
extends_documentation_fragment:
  - continuity.recovery.postgresql
options:
  allow_unreachable:
    description:
      - Return RV(reachable=false) with the reason instead of failing when the server cannot be reached.
    type: bool
    default: false
  query:
    description:
      - A JMESPath expression applied to the result; its value is returned in RV(query_result).
    type: str
attributes:
  check_mode:
    support: full
    description: The module never changes anything.
"""

EXAMPLES = r"""
- name: Inspect the production database
  continuity.recovery.database_info:
    login_host: db-prod.example.com
    login_user: dr_admin
    login_password: "{{ vault_db_password }}"
    login_db: payments
  register: paydb

- name: Slots that are losing WAL
  continuity.recovery.database_info:
    login_host: db-prod.example.com
    login_user: dr_admin
    login_password: "{{ vault_db_password }}"
    query: "slots[?wal_status=='lost'].slot_name"
  register: lost
"""

RETURN = r"""
reachable:
  description: Whether the server answered.
  returned: always
  type: bool
error:
  description: Why the server could not be reached (only with O(allow_unreachable)).
  returned: when not reachable
  type: str
endpoint:
  description: host:port inspected.
  returned: always
  type: str
  sample: 127.0.0.1:5432
role:
  description: V(primary) or V(standby) (in recovery).
  returned: when reachable
  type: str
timeline:
  description: Timeline of the last checkpoint.
  returned: when reachable
  type: int
version_num:
  description: server_version_num.
  returned: when reachable
  type: int
  sample: 150018
started_at:
  description: Postmaster start time.
  returned: when reachable
  type: str
server_time:
  description: The server's now() when inspected.
  returned: when reachable
  type: str
database:
  description: The database connected to.
  returned: when reachable
  type: str
database_size_bytes:
  description: Size of that database.
  returned: when reachable
  type: int
current_lsn:
  description: Current WAL write position (primary only).
  returned: when role is primary
  type: str
receive_lsn:
  description: Last WAL position received (standby only).
  returned: when role is standby
  type: str
replay_lsn:
  description: Last WAL position replayed (standby only).
  returned: when role is standby
  type: str
replay_paused:
  description: Whether WAL replay is paused (standby only).
  returned: when role is standby
  type: bool
settings:
  description: Replication-relevant settings with their units; a password inside primary_conninfo is masked.
  returned: when reachable
  type: dict
  sample: {wal_level: replica, max_slot_wal_keep_size: 1024MB, wal_log_hints: "on"}
slots:
  description: Replication slots with their retained WAL in bytes, wal_status and safe_wal_size.
  returned: when reachable
  type: list
  elements: dict
senders:
  description: Rows of pg_stat_replication (standbys streaming from this server), each with C(ssl).
  returned: when reachable
  type: list
  elements: dict
receiver:
  description: The WAL receiver of a standby (status, sender, slot, C(ssl_required)), or null.
  returned: when reachable
  type: dict
abnormalities:
  description: What would stop replication or a rewind from working; each with object, check and detail.
  returned: when reachable
  type: list
  elements: dict
queries:
  description: SQL statements executed, in order (never their parameters).
  returned: always
  type: list
  elements: str
query_result:
  description: Value of O(query) over the result.
  returned: when O(query) is set
  type: raw
"""

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.continuity.recovery.plugins.module_utils import database, postgres
from ansible_collections.continuity.recovery.plugins.module_utils.errors import (
    RecoveryError,
)
from ansible_collections.continuity.recovery.plugins.module_utils.postgres_args import (
    postgresql_argument_spec,
)
from ansible_collections.continuity.recovery.plugins.module_utils.query import apply_query
from ansible_collections.continuity.recovery.plugins.module_utils.safe_module import SafeModule


def main():
    argument_spec = postgresql_argument_spec()
    argument_spec.update(
        allow_unreachable=dict(type="bool", default=False),
        query=dict(type="str"),
    )
    module = SafeModule(argument_spec=argument_spec, supports_check_mode=True)
    if not postgres.HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"), exception=str(postgres.PSYCOPG_IMPORT_ERROR))

    client = postgres.Client(**postgres.connection_params(module.params))
    result = dict(changed=False, endpoint=client.endpoint, queries=client.queries)
    try:
        with client:
            result.update(database.inspect(client))
    except RecoveryError as exc:
        if module.params["allow_unreachable"] and client.conn is None:
            result.update(reachable=False, error=str(exc))
            module.exit_json(**result)
        module.fail_json(msg=str(exc), **dict(result, **exc.details))

    if module.params["query"]:
        try:
            result["query_result"] = apply_query(module.params["query"], result)
        except RecoveryError as exc:
            module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

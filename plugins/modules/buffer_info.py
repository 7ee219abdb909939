#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: buffer_info
short_description: Inspect what the primary holds back for a replication pair (its buffer)
version_added: 0.1.0
description:
  - The buffer is what the source keeps while the link is down or slow - retained WAL of the pair's
    replication slot (C(postgresql)), changed bytes not yet replicated (C(rsync)).
  - Reports the link state (connected/disconnected and since when), retained bytes, capacity
    (C(max_slot_wal_keep_size) or the plan's O(max_buffer), the smaller), fill percentage, headroom
    (C(safe_wal_size)), the ingest rate sampled over O(sample_seconds), time to overflow, the slot's
    C(wal_status), the RPO exposure (seconds and bytes the recovery site is behind) and alerts against
    the plan's O(objectives).
  - Reads the primary side only, so it answers while the recovery site is unreachable.
  - Never changes a managed system. It remembers link transitions in a small file per pair under
    O(link_state_dir) so it can say since when a link is down.
author:
  - continuity.recovery engineers (@continuity-recovery)
extends_documentation_fragment:
  - continuity.recovery.replication
options:
  sample_seconds:
    description: Interval over which the ingest rate is measured (0 skips the measurement).
    type: float
    default: 2.0
  objectives:
    description: The plan's objectives (C(rpo_seconds), C(max_buffer_fill_pct)); alerts are raised against them.
    type: dict
    default: {}
  link_state_dir:
    description: Directory of the per-pair link memory (0700); empty to keep none.
    type: path
    default: ~/.cache/continuity.recovery/links
  query:
    description: A JMESPath expression applied to the result; its value is returned in RV(query_result).
    type: str
attributes:
  check_mode:
    support: full
    description: The module never changes a managed system.
"""

EXAMPLES = r"""
- name: How long can the link stay down?
  continuity.recovery.buffer_info:
    name: paydb
    engine: postgresql
    primary: {host: db-prod.example.com, user: dr_admin, password: "{{ vault_db_password }}"}
    standby: {host: db-dr.example.com}
    slot: dr_paydb
    max_buffer: 1GB
    objectives: "{{ recovery_plan.objectives }}"
  register: paydb_buffer

- name: Fail on any critical alert
  ansible.builtin.assert:
    that: paydb_buffer.alerts | selectattr('severity', 'equalto', 'critical') | list | length == 0
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
link:
  description:
    - C(state) connected or disconnected; C(since) when that state began (ISO time) and C(since_source),
      how it is known (walsender_start, last_seen_connected, observed_transition, first_observed, wal_segment_mtime).
    - C(postgresql), link down - when the link memory has only its first sight of the outage (or none), the
      modification time of the WAL segment holding the slot's restart LSN is used when it is earlier
      (C(wal_segment_mtime)) - that segment was last written after the oldest change the standby lacks, so
      it never overstates the RPO exposure, while a first sight may come long after the outage began.
  returned: always
  type: dict
retained_bytes:
  description: WAL retained by the slot (postgresql) or changed bytes pending at the source (rsync).
  returned: always
  type: int
capacity_bytes:
  description: The cap on the buffer, or null when unbounded.
  returned: always
  type: int
capacity_source:
  description: Which cap applies - max_slot_wal_keep_size or max_buffer.
  returned: always
  type: str
fill_pct:
  description: retained_bytes as a percentage of capacity_bytes.
  returned: always
  type: float
headroom_bytes:
  description: How much more can be retained before the slot is lost (safe_wal_size, bounded by the cap).
  returned: always
  type: int
ingest_rate_bytes_per_second:
  description: Growth of the WAL position (or pending bytes) over the sample interval.
  returned: always
  type: float
sample_seconds:
  description: The measured sample interval; 0 when O(sample_seconds=0) (no rate, no time to overflow).
  returned: always
  type: float
time_to_overflow_seconds:
  description: headroom_bytes / ingest rate; null when nothing is written or the buffer is unbounded.
  returned: always
  type: float
wal_status:
  description: The slot's wal_status (reserved, extended, unreserved, lost) or missing; null for rsync.
  returned: always
  type: str
lost:
  description: Whether the buffer overflowed (the slot lost WAL; a re-seed is required).
  returned: always
  type: bool
rpo_exposure:
  description: C(seconds) and C(bytes) the recovery site is behind - what a takeover now would lose.
  returned: always
  type: dict
alerts:
  description: Each C(alert) (link_down, buffer_overflow, buffer_unreserved, buffer_fill, rpo_exceeded,
    overflow_imminent) with C(severity) and C(detail).
  returned: always
  type: list
  elements: dict
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
from ansible_collections.continuity.recovery.plugins.module_utils.replication import buffer, linkstate
from ansible_collections.continuity.recovery.plugins.module_utils.safe_module import SafeModule


def main():
    spec = rargs.replication_argument_spec()
    spec.update(sample_seconds=dict(type="float", default=2.0), objectives=dict(type="dict", default={}),
                link_state_dir=dict(type="path", default="~/.cache/continuity.recovery/links"),
                query=dict(type="str"))
    module = SafeModule(argument_spec=spec, required_if=rargs.REQUIRED_IF, supports_check_mode=True)
    result = dict(changed=False, queries=[])
    directory = module.params["link_state_dir"] or None
    try:
        driver = rargs.make_driver(module.params, check_mode=True)
        result["queries"] = driver.queries
        readings = driver.buffer_readings(
            max(0.0, module.params["sample_seconds"]),
            link_memory=lambda state: linkstate.observe(directory, module.params["name"], state))
        result.update(buffer.report(readings, module.params["objectives"]))
        if module.params["query"]:
            result["query_result"] = apply_query(module.params["query"], result)
    except RecoveryError as exc:
        module.fail_json(msg=str(exc), **dict(result, **exc.details))
    module.exit_json(**result)


if __name__ == "__main__":
    main()

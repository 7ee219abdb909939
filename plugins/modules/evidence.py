#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: evidence
short_description: Write a run's evidence records and snapshots
version_added: 0.1.0
description:
  - Appends records to C(records.jsonl) in the evidence directory of a run and
    writes named JSON snapshots beside it, on the controller.
  - The record schema is documented in C(docs/evidence.md) (schema
    C(continuity.recovery/evidence/v1)). Records are append-only.
  - Every value is redacted before it is written; keys named like passwords,
    secrets or tokens are masked, and passwords inside URLs and libpq
    connection strings are removed. Files are created with mode 0600 and
    directories with 0700.
  - Writing evidence is not a change to any managed system, so the module
    never reports a change, and it writes in check mode too (a check-mode run
    leaves evidence of what it would have done).
author:
  - continuity.recovery engineers (@continuity-recovery)
options:
  dir:
    description: The evidence directory of this run. Created when missing.
    type: path
    required: true
  run_id:
    description: Identifier of the run, stored in every record.
    type: str
  plan:
    description: Name of the recovery plan, stored in every record.
    type: str
  role:
    description: Lifecycle role writing the records (baseline, protect, takeover...).
    type: str
  records:
    description: Records to append, in order.
    type: list
    elements: dict
    default: []
    suboptions:
      kind:
        description: What the record is.
        type: str
        required: true
        choices: [check, change, timing, snapshot, summary, report]
      name:
        description: Short stable name of the check, change or step.
        type: str
        required: true
      status:
        description: Outcome.
        type: str
        required: true
        choices: [ok, changed, abnormal, failed, skipped, info]
      subject:
        description: The object the record is about (VM, host, datastore, database endpoint).
        type: str
      data:
        description: Free-form details (redacted before writing).
        type: raw
  snapshot:
    description: A JSON document to write as O(snapshot.name) in O(dir).
    type: dict
    suboptions:
      name:
        description: File name (no directory part).
        type: str
        required: true
      data:
        description: The document.
        type: raw
        required: true
  document:
    description:
      - A text document (a rendered report, a pointer file) to write as O(document.name) in O(dir).
      - Its content is redacted like every other value.
    type: dict
    suboptions:
      name:
        description: File name (no directory part).
        type: str
        required: true
      content:
        description: The text.
        type: str
        required: true
attributes:
  check_mode:
    support: full
    description: Writes evidence in check mode too; never reports a change.
  action:
    support: full
    description: Runs on the controller as an action plugin.
notes:
  - This module is an action plugin; the file here carries its documentation.
"""

EXAMPLES = r"""
- name: Record a health check
  continuity.recovery.evidence:
    dir: "{{ evidence_dir }}"
    run_id: "{{ recovery_run_id }}"
    plan: payments
    role: baseline
    records:
      - kind: check
        name: host_connected
        subject: esx01
        status: ok

- name: Keep the configuration snapshot
  continuity.recovery.evidence:
    dir: "{{ evidence_dir }}"
    snapshot:
      name: baseline-20261123T190000Z.json
      data: "{{ baseline_record }}"
"""

RETURN = r"""
dir:
  description: The evidence directory.
  returned: always
  type: str
records_path:
  description: Path of C(records.jsonl).
  returned: when records were given
  type: str
records_written:
  description: Number of records appended.
  returned: when records were given
  type: int
snapshot_path:
  description: Path of the snapshot written.
  returned: when a snapshot was given
  type: str
document_path:
  description: Path of the document written.
  returned: when a document was given
  type: str
"""

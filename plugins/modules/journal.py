#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: journal
short_description: Write and read a run's rollback journal
version_added: 0.1.0
description:
  - The rollback journal of a changing role (takeover, drill) - C(journal.jsonl) in the run's
    evidence directory, schema C(continuity.recovery/journal/v1) (C(docs/evidence.md)). Append-only
    JSON lines, one per event of a step - V(started) (about to change, with the spec of the inverse
    change), V(done), V(failed) (may be half done), V(undone) (rolled back). The latest event of a
    step is its state.
  - With O(status) - appends one event of O(step). O(status=started) records O(action),
    O(subject) and O(undo); the other statuses repeat them from the step's last event (a step must
    have started first).
  - Without O(status) - only reads. Either way the result carries the journal's state - RV(done)
    (finished steps, which a rerun skips), RV(pending) (started or failed, not finished), RV(to_undo)
    (what a rollback undoes, newest first) and RV(steps).
  - With O(root) - finds the newest run directory of a plan (C(<evidence root>/<plan>)) that has a
    journal; with O(unfinished) only one whose step of that name is neither V(done) nor V(undone) (an
    interrupted run to resume or roll back; a rollback marks a run's own step undone once it undid
    everything after it).
  - "Undo specs refer to the plan, never to a secret - C({action: host_cutover, params: {action: failback,
    tiers: [data]}}); a spec carrying a password-like key is refused. Every value is redacted before
    it is written; the file is 0600, its directory 0700."
  - The journal is not a managed system - the module never reports a change. In check mode it reads
    but writes no event (nothing was changed, so nothing is journaled); RV(skipped_write) says so.
author:
  - continuity.recovery engineers (@continuity-recovery)
options:
  dir:
    description: The run's evidence directory (the journal is C(journal.jsonl) in it).
    type: path
  root:
    description: Search the run directories under this directory (a plan's evidence directory) instead of O(dir).
    type: path
  unfinished:
    description: With O(root) - only runs whose step of this name exists and is neither V(done) nor V(undone).
    type: str
  step:
    description: Stable step name (C(tier:data), C(pair:paydb/promote), C(storage:present)). Required with O(status).
    type: str
  status:
    description: The event to append; omitted - only read.
    type: str
    choices: [started, done, failed, undone]
  action:
    description: What the step does (C(host_cutover), C(replication), C(storage_mapping)). Required with O(status=started).
    type: str
  subject:
    description: The object changed (C(recovery:tier:data), C(pair:paydb)).
    type: str
  undo:
    description:
      - How to undo the step - C(action) (a collection module, or V(manual) when it cannot be undone
        automatically), C(params) (its arguments, referring to the plan), C(note).
      - Recorded with O(status=started).
    type: dict
  data:
    description: Details of the event (results, measurements; redacted).
    type: raw
attributes:
  check_mode:
    support: full
    description: Reads in check mode; never writes an event there.
  action:
    support: full
    description: Runs on the controller as an action plugin.
notes:
  - This module is an action plugin; the file here carries its documentation.
seealso:
  - module: continuity.recovery.evidence
"""

EXAMPLES = r"""
- name: About to cut tier data over
  continuity.recovery.journal:
    dir: "{{ takeover_evidence_dir }}"
    step: tier:data
    status: started
    action: host_cutover
    subject: recovery:tier:data
    undo: {action: host_cutover, params: {action: failback, mode: planned, shutdown_only: true, tiers: [data]}}

- name: Tier data is up
  continuity.recovery.journal:
    dir: "{{ takeover_evidence_dir }}"
    step: tier:data
    status: done
    data: {changed: true}

- name: What a rollback has to undo
  continuity.recovery.journal:
    dir: "{{ takeover_evidence_dir }}"
  register: journal

- name: The newest interrupted takeover of plan payments
  continuity.recovery.journal:
    root: ./evidence/payments
    unfinished: takeover
  register: interrupted
"""

RETURN = r"""
dir:
  description: The run directory (with O(root) - the one found, or null).
  returned: always
  type: str
found:
  description: Whether O(root) held a matching run.
  returned: with O(root)
  type: bool
run_id:
  description: The found run's id (its directory name).
  returned: with O(root)
  type: str
exists:
  description: Whether the journal has any event.
  returned: when a journal was read
  type: bool
event:
  description: The event appended.
  returned: when an event was written
  type: dict
skipped_write:
  description: True in check mode when O(status) was given (nothing written).
  returned: in check mode with O(status)
  type: bool
done:
  description: Steps whose change completed and was not undone, in the order they started.
  returned: when a journal was read
  type: list
  elements: str
pending:
  description: Steps that started and did not finish (V(started) or V(failed)).
  returned: when a journal was read
  type: list
  elements: str
to_undo:
  description: Latest events of the steps a rollback must undo (done, failed, started), newest start first.
  returned: when a journal was read
  type: list
  elements: dict
steps:
  description: >-
    Per step its latest attempt - C(status), C(action), C(subject), C(undo), C(data) (of the latest event),
    C(started_at) and C(ended_at) (ISO times; C(ended_at) null while running).
  returned: when a journal was read
  type: dict
summary:
  description: Counts of the steps' latest events per status.
  returned: when a journal was read
  type: dict
events:
  description: Number of events in the journal.
  returned: when a journal was read
  type: int
"""

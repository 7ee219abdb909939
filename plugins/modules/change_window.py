#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: change_window
short_description: Refuse to change anything outside the recovery plan's change window
version_added: 0.1.0
description:
  - The guard every changing role (takeover, failback, drill) runs first. It
    compares the controller's clock, in UTC, with the plan's C(change_window)
    (C(start) inclusive, C(end) exclusive) and fails with a message that names
    the window and the current time when the time is outside it.
  - With O(emergency=true) it passes outside the window (and without one),
    and says so in its result, so the evidence shows the override.
  - A plan without a change window passes only when O(require_window=false).
  - It never changes anything and never reports a change.
author:
  - continuity.recovery engineers (@continuity-recovery)
options:
  plan:
    description:
      - The recovery plan (raw or normalised); its C(change_window) is used.
      - Mutually exclusive with O(window).
    type: dict
  window:
    description:
      - The change window itself, C(start) and C(end) as ISO 8601 times with a
        time zone (C(Z) or an offset).
      - Mutually exclusive with O(plan).
    type: dict
  emergency:
    description: Pass outside the window (or without one); the result records it.
    type: bool
    default: false
  require_window:
    description: Fail when no change window is defined (unless O(emergency=true)).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Decides the same way in check mode; never changes anything.
  action:
    support: full
    description: Runs on the controller as an action plugin; the clock is the controller's.
notes:
  - This module is an action plugin; the file here carries its documentation.
  - The window is half-open, so back-to-back windows never overlap.
"""

EXAMPLES = r"""
- name: Refuse to run outside the plan's change window
  continuity.recovery.change_window:
    plan: "{{ recovery_plan }}"
    emergency: "{{ recovery_emergency | default(false) }}"

- name: A role that may run any time when the plan has no window
  continuity.recovery.change_window:
    plan: "{{ recovery_plan }}"
    require_window: false
"""

RETURN = r"""
inside:
  description: Whether now is inside the window; null when no window is defined.
  returned: always
  type: bool
window:
  description: The window in UTC (C(start), C(end) as C(2026-11-28T22:00:00Z)), or null.
  returned: always
  type: dict
  sample: {"start": "2026-11-28T22:00:00Z", "end": "2026-11-29T02:00:00Z"}
now:
  description: The controller's time in UTC when the guard decided.
  returned: always
  type: str
  sample: "2026-11-28T23:10:04Z"
emergency:
  description: Whether the emergency override was given.
  returned: always
  type: bool
msg:
  description: The decision in words, naming the window and now in UTC.
  returned: always
  type: str
  sample: >-
    now (2026-11-28T21:10:04Z) is before the change window 2026-11-28T22:00:00Z - 2026-11-29T02:00:00Z;
    refusing to change anything outside it (set emergency to override)
"""

# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A recovery plan with edits by path, for tests: ``edited(plan, [(path, value), ...])``.

Shared by the unit tests of plan.validate (tests/unit/plugins/module_utils/test_plan.py)
and the malformed plans of the reliability suite (tests/chaos/bad_input_cases.py); it
needs neither the lab nor the collection. Each user puts this directory on ``sys.path``.

``path`` is in plan notation, as the problems name fields (``tiers[0].vms[1]``,
``sites.primary.vcenter.port``):

- ``DELETE`` as the value removes the key or list item;
- an index one past the end of a list appends;
- ``""`` replaces the whole plan with the value (the edits after it are not applied);
- a callable value is called with the plan as edited so far, and its result is set.

The given plan is left as it was (the edits apply to a deep copy).
"""

from __future__ import annotations

import copy
import re

DELETE = object()
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def edited(plan, edits):
    """A deep copy of ``plan`` with the ``(path, value)`` edits applied in order."""
    plan = copy.deepcopy(plan)
    for path, value in edits:
        if path == "":
            return value
        parts = [int(index) if index else key for key, index in _TOKEN.findall(path)]
        node = plan
        for part in parts[:-1]:
            node = node[part]
        if callable(value):
            value = value(plan)
        if value is DELETE:
            del node[parts[-1]]
        elif isinstance(node, list) and parts[-1] == len(node):
            node.append(value)
        else:
            node[parts[-1]] = value
    return plan

# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils.action_arguments: the action plugins' task-argument check and its exact messages."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.continuity.recovery.plugins.plugin_utils.action_arguments import validated_arguments

SPEC = dict(
    dir=dict(type="path"),
    root=dict(type="path"),
    count=dict(type="int", default=3),
    mode=dict(type="str", choices=["read", "write"]),
)


def message(task_args, **constraints):
    with pytest.raises(AnsibleActionFail) as caught:
        validated_arguments("journal", SPEC, task_args, **constraints)
    return caught.value.message


def test_valid_arguments_come_back_coerced_with_defaults():
    args = validated_arguments("journal", SPEC, {"dir": "/tmp/run", "count": "7"})
    assert args == {"dir": "/tmp/run", "root": None, "count": 7, "mode": None}


def test_every_problem_is_reported_at_once_after_the_action_name():
    first, second = message({"count": "many", "mode": "append"}).split("; ")
    assert first.startswith("journal: argument 'count' is of type str and we were unable to convert to int: ")
    assert second == "value of mode must be one of: read, write, got: append"


def test_unknown_arguments_are_refused():
    assert message({"dirr": "/tmp"}) == "journal: dirr. Supported parameters include: count, dir, mode, root."


def test_constraints_are_the_validators_keyword_arguments():
    both = {"dir": "/a", "root": "/b"}
    assert message(both, mutually_exclusive=[["dir", "root"]]) == "journal: parameters are mutually exclusive: dir|root"
    assert message({}, required_one_of=[["dir", "root"]]) == "journal: one of the following is required: dir, root"
    assert message({"mode": "read"}, required_by={"mode": ("dir",)}) == (
        "journal: missing parameter(s) required by 'mode': dir")
    assert validated_arguments("journal", SPEC, both)["root"] == "/b"  # no constraint given: no problem

# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The change-window guard on the controller (docs: modules/change_window.py)."""

from __future__ import annotations

import datetime

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.continuity.recovery.plugins.module_utils import change_window
from ansible_collections.continuity.recovery.plugins.plugin_utils.action_arguments import validated_arguments

ARGUMENT_SPEC = dict(
    plan=dict(type="dict"),
    window=dict(type="dict"),
    emergency=dict(type="bool", default=False),
    require_window=dict(type="bool", default=True),
)


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class ActionModule(ActionBase):
    """Fail outside the change window unless it is an emergency; never changes anything."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    clock = staticmethod(_utcnow)  # tests replace it

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = validated_arguments("change_window", ARGUMENT_SPEC, self._task.args,
                                   mutually_exclusive=[["plan", "window"]])

        window = args["window"]
        if window is None and args["plan"] is not None:
            window = args["plan"].get("change_window")
        try:
            decision = change_window.evaluate(window, self.clock(), emergency=args["emergency"],
                                              require_window=args["require_window"])
        except change_window.WindowError as exc:
            raise AnsibleActionFail("change_window: %s" % exc)
        result.update(changed=False, inside=decision["inside"], window=decision["window"],
                      now=decision["now"], emergency=decision["emergency"], msg=decision["reason"])
        if not decision["allowed"]:
            result["failed"] = True
        return result

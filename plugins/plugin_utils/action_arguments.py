# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The task arguments of the collection's action plugins, checked against their argument spec.

Controller-only (plugin_utils): the action plugins evidence, journal, change_window and
recovery_plan validate ``self._task.args`` with it before doing anything.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator


def validated_arguments(action_name, argument_spec, task_args, **constraints):
    """``task_args`` validated, coerced and with defaults: the validator's ``validated_parameters``.

    ``constraints`` are ArgumentSpecValidator's keyword arguments (``mutually_exclusive``,
    ``required_one_of``, ``required_by``, ...). Any problem fails the task with every message
    at once: ``AnsibleActionFail("<action_name>: <message>; <message>")``, even in check mode.
    """
    validation = ArgumentSpecValidator(argument_spec, **constraints).validate(task_args)
    if validation.error_messages:
        raise AnsibleActionFail(action_name + ": " + "; ".join(validation.error_messages))
    return validation.validated_parameters

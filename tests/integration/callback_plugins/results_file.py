# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only aggregate callback: every task result, as JSON, into $RESULTS_FILE.

ansible-core has no JSON stdout callback of its own (that one lives in
ansible.posix); tests read task results from this file instead of parsing text.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: results_file
type: aggregate
short_description: Write every task result to a JSON file (tests only)
description: Writes every play, task and per-host result, and the stats, as JSON to E(RESULTS_FILE).
requirements: [enable via ANSIBLE_CALLBACKS_ENABLED]
"""

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "results_file"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._plays = []

    def v2_playbook_on_play_start(self, play):
        self._plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._plays[-1]["tasks"].append({"task": {"name": task.get_name()}, "hosts": {}})

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def _record(self, result, **status):
        data = dict(result._result, **status)
        self._plays[-1]["tasks"][-1]["hosts"][result._host.get_name()] = data

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        summary = {host: stats.summarize(host) for host in sorted(stats.processed)}
        with open(os.environ["RESULTS_FILE"], "w", encoding="utf-8") as handle:
            json.dump({"plays": self._plays, "stats": summary}, handle, default=str)

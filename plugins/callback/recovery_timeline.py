# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: recovery_timeline
type: aggregate
short_description: Record every task's start, end, host and status as evidence (the RTO timeline)
version_added: 0.1.0
description:
  - Appends one evidence record of kind C(timing) per task result to C(records.jsonl) in
    the run's evidence directory (schema in C(docs/evidence.md)) - C(name) the task name,
    C(subject) the host, C(status) C(ok), C(changed), C(failed) or C(skipped), and C(data)
    with C(start), C(end) (ISO 8601 UTC), C(duration_s), C(role), C(play) and C(tier) when
    the task names one.
  - The acceptance report (role C(continuity.recovery.report)) draws its timeline from these records.
  - "Where it writes, in this order: the fact C(recovery_evidence_dir) of the host once a task
    sets it (C(set_fact)), the extra variable C(recovery_evidence_dir), the directory of the
    first C(records.jsonl) a M(continuity.recovery.evidence) task appends to, and last
    O(evidence_dir) (E(CONTINUITY_EVIDENCE_DIR)). Results that come before the directory is
    known are kept in memory and written once it is; without any directory, nothing is written."
  - "C(run_id) and C(plan) of each record are taken from the directory, which is
    C(<root>/<plan>/<run id>) by convention."
  - "A task names its tier with a tag C(tier:<name>) or a literal task variable C(recovery_tier)."
  - "A play with the variable C(recovery_timeline: false) is not recorded (the report playbook sets it, so
    rendering a run's report again does not add to that run's timeline)."
  - Never writes task arguments or results - only names, times, status and the host - and every
    record passes the evidence redaction; files are 0600, directories 0700.
author:
  - continuity.recovery engineers (@continuity-recovery)
requirements:
  - Enable it with C(callbacks_enabled = continuity.recovery.recovery_timeline) in ansible.cfg or
    E(ANSIBLE_CALLBACKS_ENABLED=continuity.recovery.recovery_timeline).
options:
  evidence_dir:
    description:
      - Evidence directory to use when no play sets C(recovery_evidence_dir) and no evidence
        task reveals one.
    type: path
    env:
      - name: CONTINUITY_EVIDENCE_DIR
    ini:
      - section: callback_recovery_timeline
        key: evidence_dir
"""

import datetime
import os

from ansible.plugins.callback import CallbackBase

from ansible_collections.continuity.recovery.plugins.module_utils import evidence

FACT = "recovery_evidence_dir"
PLAY_SWITCH = "recovery_timeline"
TIER_VAR = "recovery_tier"
_EVIDENCE_ACTIONS = ("continuity.recovery.evidence", "evidence")


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _iso(moment):
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _literal(value):
    """A plain string (not a template), else None."""
    if isinstance(value, str) and value and "{{" not in value and "{%" not in value:
        return str(value)
    return None


class CallbackModule(CallbackBase):
    """Timing evidence per task result."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "continuity.recovery.recovery_timeline"
    CALLBACK_NEEDS_ENABLED = True

    clock = staticmethod(_now)  # tests replace it

    def __init__(self, display=None):
        super().__init__(display=display)
        self._play = None
        self._recording = True
        self._task_started = {}
        self._host_started = {}
        self._dirs = {}
        self._default_dir = None
        self._pending = []
        self._warned = False
        self.written = 0

    # -- where to write ------------------------------------------------------

    def _option_dir(self):
        try:
            return self.get_option("evidence_dir")
        except KeyError:  # options not loaded (tests constructing the class directly)
            return os.environ.get("CONTINUITY_EVIDENCE_DIR")

    def _learn(self, host, directory, per_host):
        directory = _literal(directory)
        if not directory:
            return
        directory = os.path.abspath(directory)
        if per_host:
            self._dirs[host] = directory
        if per_host or self._default_dir is None:
            self._default_dir = directory
        self._flush()

    def _dir_for(self, host):
        return self._dirs.get(host) or self._default_dir

    def _learn_from_result(self, host, task, result):
        facts = result.get("ansible_facts") if isinstance(result, dict) else None
        if isinstance(facts, dict) and facts.get(FACT):
            self._learn(host, facts[FACT], per_host=True)
        if getattr(task, "action", None) in _EVIDENCE_ACTIONS and isinstance(result, dict):
            path = result.get("records_path")
            if isinstance(path, str) and path and self._default_dir is None:
                self._learn(host, os.path.dirname(path), per_host=False)

    # -- writing ---------------------------------------------------------------

    def _emit(self, host, record_args):
        self._pending.append((host, record_args))
        self._flush()

    def _flush(self, final=False):
        keep = []
        batches = {}
        for host, record_args in self._pending:
            directory = self._dir_for(host) or (self._option_dir() if final else None)
            if not directory:
                keep.append((host, record_args))
                continue
            batches.setdefault(directory, []).append(record_args)
        self._pending = [] if final else keep
        for directory, batch in batches.items():
            run_id = os.path.basename(directory.rstrip(os.sep)) or None
            plan = os.path.basename(os.path.dirname(directory.rstrip(os.sep))) or None
            records = [evidence.make_record(run_id=run_id, plan=plan, **args) for args in batch]
            try:
                evidence.append_records(directory, records)
                self.written += len(records)
            except OSError as exc:
                if not self._warned:
                    self._display.warning("recovery_timeline: cannot write timing evidence to %s: %s" % (directory, exc))
                    self._warned = True

    # -- timing ----------------------------------------------------------------

    def _tier(self, task):
        for tag in getattr(task, "tags", None) or []:
            tag = str(tag)
            if tag.startswith("tier:") and len(tag) > 5:
                return tag[5:]
        task_vars = getattr(task, "vars", None) or {}
        return _literal(task_vars.get(TIER_VAR))

    def _role(self, task):
        role = getattr(task, "_role", None)
        if role is None:
            return None
        try:
            return role.get_name(include_role_fqcn=False)
        except TypeError:  # pragma: no cover - older signature
            return role.get_name()

    def _record(self, result, status, **extra):
        host = result.host.get_name()
        task = result.task
        end = self.clock()
        start = self._host_started.pop((host, task._uuid), None) or self._task_started.get(task._uuid) or end
        if not self._recording:
            return
        if isinstance(result._result, dict):
            self._learn_from_result(host, task, result._result)
        data = {
            "start": _iso(start),
            "end": _iso(end),
            "duration_s": round(max((end - start).total_seconds(), 0.0), 3),
            "role": self._role(task),
            "play": self._play,
            "action": getattr(task, "action", None),
        }
        tier = self._tier(task)
        if tier:
            data["tier"] = tier
        data.update(extra)
        self._emit(host, {
            "kind": "timing",
            "name": str(result.task_name or task.get_name()),
            "status": status,
            "role": data["role"],
            "subject": host,
            "data": data,
        })

    # -- callbacks ---------------------------------------------------------------

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()
        switch = (getattr(play, "vars", None) or {}).get(PLAY_SWITCH, True)
        self._recording = not (switch is False or (isinstance(switch, str) and switch.lower() in ("false", "no", "off")))
        try:
            extra = play.get_variable_manager().extra_vars
        except AttributeError:
            extra = {}
        if extra.get(FACT):
            self._learn(None, extra[FACT], per_host=False)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_started[task._uuid] = self.clock()

    def v2_playbook_on_handler_task_start(self, task):
        self._task_started[task._uuid] = self.clock()

    def v2_runner_on_start(self, host, task):
        self._host_started[(host.get_name(), task._uuid)] = self.clock()

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result, "changed" if result.is_changed() else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed", ignore_errors=bool(ignore_errors))

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "failed", unreachable=True)

    def v2_playbook_on_stats(self, stats):
        self._flush(final=True)

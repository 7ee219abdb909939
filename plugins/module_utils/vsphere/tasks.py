# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait for many vSphere tasks together.

``wait_for_tasks`` puts every task into one PropertyFilter of a private
PropertyCollector (watching ``info.state``, ``info.error`` and ``info.result``,
and - unless ``labels=False`` - ``info.entityName`` and ``info.descriptionId``)
and blocks server-side in ``WaitForUpdatesEx``: no per-task polling loop, so
waiting for 200 power-ons costs about as many SOAP calls as waiting for one.
Each ``WaitForUpdatesEx`` waits at most ``poll`` seconds (starting at one second
and doubling: a backoff for long waits), and the whole wait is bounded by a hard
``timeout`` after which ``TaskTimeout`` names the tasks still pending.

Failures never stop the wait early: every task gets a ``TaskOutcome`` and, with
``raise_on_error`` (the default), one ``TaskFailed`` reports all failures with
each task's localized message; its ``details['outcomes']`` carries the
per-task results so callers can report partial success.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ansible_collections.continuity.recovery.plugins.module_utils.errors import (
    RecoveryError,
    TaskFailed,
    TaskTimeout,
)
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.inventory import retrieve_objects, to_plain

try:
    from pyVmomi import vim, vmodl
except ImportError:  # pragma: no cover - session.py reports the missing library
    vim = vmodl = None

DEFAULT_POLL = 10
"""Longest single server-side wait (seconds); keep it under the session's HTTP timeout."""

WATCHED = ("info.state", "info.error", "info.result", "info.entityName", "info.descriptionId")
LABELS = ("info.entityName", "info.descriptionId")
"""Only for messages: with ``labels=False`` they are read afterwards, for the tasks a raised error names."""
FINAL_STATES = ("success", "error")


@dataclass
class TaskOutcome:
    """What became of one task: ``state`` is success, error, running or queued."""

    task: Any
    moid: str
    state: str = "queued"
    description: str | None = None
    entity_name: str | None = None
    result: Any = None
    error: str | None = None
    fault: str | None = None

    @property
    def done(self) -> bool:
        """The task reached a final state."""
        return self.state in FINAL_STATES

    @property
    def ok(self) -> bool:
        """The task succeeded."""
        return self.state == "success"

    def as_dict(self) -> dict:
        """Plain, JSON-friendly form (results as moids / dicts)."""
        return {"task": self.moid, "state": self.state, "description": self.description,
                "entity_name": self.entity_name, "result": to_plain(self.result),
                "error": self.error, "fault": self.fault}


def wait_for_tasks(session, tasks: Sequence, timeout: float, poll: float = DEFAULT_POLL,
                   raise_on_error: bool = True,
                   clock: Callable[[], float] = time.monotonic, labels: bool = True) -> list[TaskOutcome]:
    """Wait until every task in ``tasks`` ends or ``timeout`` seconds pass.

    Returns one ``TaskOutcome`` per task, in the order given. Raises
    ``TaskTimeout`` (details: ``pending`` moids and ``outcomes``) when the hard
    timeout passes first, and — if ``raise_on_error`` — ``TaskFailed`` (details:
    ``failures`` and ``outcomes``) when any task ended in error.
    """
    outcomes = [TaskOutcome(task=task, moid=task._moId) for task in tasks]
    if not outcomes:
        return []
    by_moid = {outcome.moid: outcome for outcome in outcomes}
    deadline = clock() + max(0.0, float(timeout))
    collector = session.call(session.content.propertyCollector.CreatePropertyCollector)
    try:
        session.call(collector.CreateFilter, _filter_spec(tasks, labels), partialUpdates=True)
        _wait_loop(session, collector, by_moid, deadline, poll, clock)
    except vmodl.MethodFault as exc:
        raise RecoveryError("waiting for tasks on vCenter %s failed: %s"
                            % (session.endpoint, _fault_text(exc)),
                            outcomes=[o.as_dict() for o in outcomes]) from None
    finally:
        try:
            session.call(collector.DestroyPropertyCollector)
        except (RecoveryError, vmodl.MethodFault):
            pass
    if not labels:
        named = [o for o in outcomes if not o.done or (raise_on_error and o.state == "error")]
        if named:
            _read_labels(session, named)
    return _conclude(outcomes, timeout, raise_on_error)


def _filter_spec(tasks: Sequence, labels: bool = True):
    """One filter over all tasks watching their state, error and result (and labels)."""
    paths = WATCHED if labels else tuple(p for p in WATCHED if p not in LABELS)
    return vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=task, skip=False) for task in tasks],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(type=vim.Task, pathSet=list(paths))],
        reportMissingObjectsInResults=True)


def _read_labels(session, outcomes: Sequence[TaskOutcome]) -> None:
    """Description and entity name of ``outcomes`` (one retrieval; best effort: messages only)."""
    try:
        rows = retrieve_objects(session, [o.task for o in outcomes], LABELS)
    except (RecoveryError, vmodl.MethodFault):
        return
    by_moid = {o.moid: o for o in outcomes}
    for row in rows:
        outcome = by_moid.get(row["_moid"])
        if outcome is not None:
            outcome.description = row.get("info.descriptionId")
            outcome.entity_name = row.get("info.entityName")


def _wait_loop(session, collector, by_moid: dict, deadline: float, poll: float,
               clock: Callable[[], float]) -> None:
    """Apply WaitForUpdatesEx update sets until all tasks end or the deadline passes."""
    version = ""
    step = 1.0
    while True:
        remaining = deadline - clock()
        pending = [o for o in by_moid.values() if not o.done]
        if not pending or (remaining <= 0 and version):
            return
        max_wait = int(max(1, min(math.ceil(step), math.ceil(poll), math.ceil(max(remaining, 0)))))
        options = vmodl.query.PropertyCollector.WaitOptions(maxWaitSeconds=max_wait)
        update = session.call(collector.WaitForUpdatesEx, version=version, options=options)
        if update is None:  # the server-side wait ended without changes
            step = min(step * 2, poll)
            continue
        version = update.version
        for filter_update in update.filterSet or []:
            for object_update in filter_update.objectSet or []:
                outcome = by_moid.get(object_update.obj._moId)
                if outcome is not None:
                    apply_changes(outcome, object_update)


def apply_changes(outcome: TaskOutcome, object_update) -> None:
    """Fold one ObjectUpdate (property changes or a missing-object report) into ``outcome``."""
    if getattr(object_update, "kind", None) == "leave":
        if not outcome.done:
            outcome.state, outcome.error = "error", "the task disappeared before it ended"
        return
    for change in object_update.changeSet or []:
        _apply_change(outcome, change.name, getattr(change, "op", "assign"), change.val)
    for missing in getattr(object_update, "missingSet", None) or []:
        if not outcome.done and missing.path in ("", "info", "info.state"):
            outcome.state, outcome.error = "error", "the task no longer exists on the server"


def _apply_change(outcome: TaskOutcome, name: str, op: str, val) -> None:
    """One property change: ``info.<field>`` paths, or ``info`` as a whole TaskInfo."""
    if op in ("remove", "indirectRemove"):
        val = None
    if name == "info":
        if val is None:
            return
        for attr in ("state", "error", "result", "entityName", "descriptionId"):
            _apply_change(outcome, "info." + attr, "assign", getattr(val, attr, None))
        return
    attr = name.split(".", 1)[1] if name.startswith("info.") else name
    if attr == "state" and val is not None:
        outcome.state = str(val)
    elif attr == "error" and val is not None:
        outcome.error = _fault_text(val)
        outcome.fault = type(getattr(val, "fault", None) or val).__name__
    elif attr == "result":
        outcome.result = val
    elif attr == "entityName":
        outcome.entity_name = val
    elif attr == "descriptionId":
        outcome.description = val


def _conclude(outcomes: list[TaskOutcome], timeout: float, raise_on_error: bool) -> list[TaskOutcome]:
    """Raise TaskTimeout / TaskFailed as documented, else return the outcomes."""
    pending = [o for o in outcomes if not o.done]
    if pending:
        raise TaskTimeout("%d of %d tasks still running after %ss: %s"
                          % (len(pending), len(outcomes), _fmt_seconds(timeout),
                             ", ".join(_label(o) for o in pending)),
                          pending=[o.moid for o in pending],
                          outcomes=[o.as_dict() for o in outcomes])
    failures = [o for o in outcomes if o.state == "error"]
    if failures and raise_on_error:
        raise TaskFailed("%d of %d tasks failed: %s"
                         % (len(failures), len(outcomes),
                            "; ".join("%s: %s" % (_label(o), o.error) for o in failures)),
                         failures=[o.as_dict() for o in failures],
                         outcomes=[o.as_dict() for o in outcomes])
    return outcomes


def _label(outcome: TaskOutcome) -> str:
    """``task-12 (VirtualMachine.powerOn on web01)`` for messages."""
    what = " on ".join(x for x in (outcome.description, outcome.entity_name) if x)
    return "%s (%s)" % (outcome.moid, what) if what else outcome.moid


def _fmt_seconds(seconds: float) -> str:
    """Seconds without a useless ``.0``."""
    return ("%d" % seconds) if float(seconds).is_integer() else ("%.1f" % seconds)


def _fault_text(fault) -> str:
    """The localized message of a LocalizedMethodFault or a MethodFault."""
    for candidate in (getattr(fault, "localizedMessage", None), getattr(fault, "msg", None),
                      getattr(getattr(fault, "fault", None), "msg", None)):
        if candidate:
            return str(candidate)
    inner = getattr(fault, "fault", None)
    return type(inner if inner is not None else fault).__name__

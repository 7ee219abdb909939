# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollback journal: append-only JSON lines of the changes a run made.

One file per run, ``journal.jsonl`` in the run's evidence directory (mode 0600,
directory 0700, every value redacted like evidence). Each line is one event of
one step::

    {"schema": "continuity.recovery/journal/v1", "ts": "...Z", "step": "tier:data/vm:db01/power_on",
     "action": "power_on", "subject": "recovery:db01", "status": "started",
     "undo": {"action": "power_off", "subject": "recovery:db01"}, "data": {}}

``status`` is ``started`` (about to change), ``done`` (changed), ``failed``
(the change failed; it may be half done) or ``undone`` (rolled back). The
latest event of a step is its state. A rerun asks :meth:`Journal.done` to
skip finished steps and :meth:`Journal.pending` for steps that started and
never finished; a rollback walks :meth:`Journal.to_undo` (done, failed and
started steps, newest first) and marks each ``undone``. ``started`` events are
fsynced before the change is made. A write interrupted by a crash leaves a torn
line: readers skip it and the next append ends it first
(:func:`evidence.append_lines`); any other unreadable line is a JournalError.

Nothing here touches a managed system: the journal only records what the
caller did and how to undo it.
"""

from __future__ import annotations

import json
import os

from ansible_collections.continuity.recovery.plugins.module_utils import evidence

SCHEMA = "continuity.recovery/journal/v1"
JOURNAL_FILE = evidence.JOURNAL_FILE
STATUSES = ("started", "done", "failed", "undone")


class JournalError(ValueError):
    """A malformed journal event or file."""


class Journal:
    """The journal of one run directory."""

    def __init__(self, directory, clock=None):
        self.directory = directory
        self.path = os.path.join(directory, JOURNAL_FILE)
        self._clock = clock or evidence.utcnow

    # -- writing ---------------------------------------------------------

    def _append(self, step, status, action=None, subject=None, undo=None, data=None):
        if not isinstance(step, str) or not step:
            raise JournalError("step must be a non-empty string, got %r" % (step,))
        if status not in STATUSES:
            raise JournalError("status must be one of %s, got %r" % (", ".join(STATUSES), status))
        if undo is not None and not isinstance(undo, dict):
            raise JournalError("undo must be a dict (the spec of the inverse change), got %r" % (undo,))
        event = evidence.redact({
            "schema": SCHEMA,
            "ts": self._clock(),
            "step": step,
            "action": action,
            "subject": subject,
            "status": status,
            "undo": undo,
            "data": data if data is not None else {},
        })
        evidence.ensure_dir(self.directory)
        # a "started" event is on disk before the change is made: a rollback after a crash depends on it
        evidence.append_lines(self.path, json.dumps(event, sort_keys=True, default=str) + "\n",
                              sync=status == "started")
        return event

    def start(self, step, action, subject=None, undo=None, data=None):
        """Record that ``step`` is about to change ``subject`` (and how to undo it)."""
        return self._append(step, "started", action, subject, undo, data)

    def finish(self, step, data=None):
        """Record that ``step`` completed its change."""
        last = self._require(step)
        return self._append(step, "done", last["action"], last["subject"], last["undo"], data)

    def fail(self, step, data=None):
        """Record that ``step`` failed (its change may be partly applied)."""
        last = self._require(step)
        return self._append(step, "failed", last["action"], last["subject"], last["undo"], data)

    def mark_undone(self, step, data=None):
        """Record that ``step`` was rolled back."""
        last = self._require(step)
        return self._append(step, "undone", last["action"], last["subject"], last["undo"], data)

    def _require(self, step):
        last = self.state().get(step)
        if last is None:
            raise JournalError("step %r was never started" % (step,))
        return last

    # -- reading ---------------------------------------------------------

    def events(self):
        """Every event, in order ([] when there is no journal yet).

        A torn line (an interrupted write, see :func:`evidence.read_lines`) is skipped; any other
        line that does not parse is a JournalError.
        """
        if not os.path.exists(self.path):
            return []
        try:
            return evidence.read_lines(self.path)
        except ValueError as exc:
            raise JournalError(str(exc))

    def state(self):
        """``{step: latest event}``, in the order the steps first started."""
        latest = {}
        for event in self.events():
            latest[event["step"]] = event
        return latest

    def _first_seen(self):
        order = {}
        for index, event in enumerate(self.events()):
            order.setdefault(event["step"], index)
        return order

    def done(self):
        """Steps whose change completed (and was not undone), in the order they started."""
        return [s for s, e in self.state().items() if e["status"] == "done"]

    def is_done(self, step):
        event = self.state().get(step)
        return bool(event and event["status"] == "done")

    def pending(self):
        """Steps that started and did not finish (``started`` or ``failed``): resume or undo these."""
        return [s for s, e in self.state().items() if e["status"] in ("started", "failed")]

    def to_undo(self):
        """Latest events of the steps a rollback must undo, newest start first (reverse order)."""
        state = self.state()
        order = self._first_seen()
        steps = [s for s, e in state.items() if e["status"] in ("done", "failed", "started")]
        steps.sort(key=lambda s: order[s], reverse=True)
        return [state[s] for s in steps]

    def summary(self):
        """Counts per status of the steps' latest events (for evidence and reports)."""
        counts = dict((s, 0) for s in STATUSES)
        for event in self.state().values():
            counts[event["status"]] += 1
        return counts

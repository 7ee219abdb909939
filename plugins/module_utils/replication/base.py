# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one replication driver protocol and its result schema, whatever the engine.

A driver controls one replication pair. ``apply(state)`` reads the pair's state,
returns early when it already matches, in check mode only lists what it would do,
otherwise acts and verifies. Results (see :class:`Outcome`) have the same keys
for every engine; engine-specific detail lives under ``status``.
"""

from __future__ import annotations

import time

from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput, RecoveryError, TaskFailed, TaskTimeout

STATES = ("present", "paused", "resumed", "synced", "promoted", "reversed", "absent")
ENGINES = ("postgresql", "rsync")


class Outcome:
    """What one ``apply`` did (or would do, in check mode)."""

    def __init__(self, state, check_mode):
        self.state = state
        self.check_mode = check_mode
        self.actions = []          # human-readable, in order: what changed / would change
        self.reseeded = False
        self.reseed_reason = None
        self.transfer = None       # {bytes_sent, bytes_total, ...} for data movements
        self.details = {}

    def act(self, text):
        self.actions.append(text)

    @property
    def changed(self):
        return bool(self.actions)

    def as_dict(self):
        return {"changed": self.changed, "state": self.state, "actions": list(self.actions),
                "reseeded": self.reseeded, "reseed_reason": self.reseed_reason,
                "transfer": self.transfer, "details": self.details}


class Driver:
    """Protocol: one subclass per engine. ``pair`` is the module's normalised pair dict."""

    engine = None

    def __init__(self, pair, runner, timeout=300, check_mode=False, clock=time.monotonic, sleep=time.sleep):
        self.pair = pair
        self.runner = runner
        self.timeout = timeout
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.queries = []

    # --- control -------------------------------------------------------
    def apply(self, state):
        if state not in STATES:
            raise InvalidInput("state must be one of %s, got %r" % (", ".join(STATES), state))
        outcome = Outcome(state, self.check_mode)
        try:
            getattr(self, "state_" + state)(outcome)
        except RecoveryError as exc:
            # a failure part-way must still say what it had begun (a dropped slot, a re-seed...)
            exc.details = dict(outcome.as_dict(), **exc.details)
            raise
        except OSError as exc:  # a full disk, a permission: the file, not a traceback
            raise TaskFailed("state=%s of pair %s failed: %s" % (state, self.pair.get("name"), exc),
                             **outcome.as_dict()) from exc
        return outcome

    def state_present(self, outcome):
        raise NotImplementedError

    def state_paused(self, outcome):
        raise NotImplementedError

    def state_resumed(self, outcome):
        raise NotImplementedError

    def state_synced(self, outcome):
        raise NotImplementedError

    def state_promoted(self, outcome):
        raise NotImplementedError

    def state_reversed(self, outcome):
        raise NotImplementedError

    def state_absent(self, outcome):
        raise NotImplementedError

    # --- inspection ----------------------------------------------------
    def info(self):
        """The replication_info schema (see replication_info's RETURN)."""
        raise NotImplementedError

    def buffer_readings(self, sample_seconds):
        """Raw primary-side readings for buffer.report()."""
        raise NotImplementedError

    # --- helpers -------------------------------------------------------
    def wait_until(self, what, predicate, timeout=None, first=0.2, cap=2.0):
        """Poll ``predicate()`` (truthy = done) with backoff until ``timeout``; returns its value."""
        deadline = self.clock() + (self.timeout if timeout is None else timeout)
        delay = first
        while True:
            value = predicate()
            if value:
                return value
            if self.clock() >= deadline:
                raise TaskTimeout("timed out after %ss waiting for %s" % (
                    self.timeout if timeout is None else timeout, what), waiting_for=what)
            self.sleep(delay)
            delay = min(cap, delay * 1.5)


def empty_info(pair, engine):
    """The replication_info skeleton: every key present, whatever the engine."""
    return {
        "pair": pair, "engine": engine,
        "source": {"endpoint": None, "reachable": False, "role": None, "timeline": None, "position": None,
                   "error": None},
        "target": {"endpoint": None, "reachable": False, "role": None, "timeline": None, "position": None,
                   "replay_paused": None, "error": None},
        "link": {"state": "unknown"},
        "streaming": None,
        "lag": {"bytes": None, "seconds": None},
        "sync_state": None,
        "tls": None,
        "last_run": None,
        "held": False,
        "direction": "forward",
        "authoritative": "source",
        "snapshots": [],
    }

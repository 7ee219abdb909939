# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The change-window guard (pure): may a changing role run now?

Used by the ``change_window`` action (docs: plugins/modules/change_window.py).
"""

from __future__ import annotations

import datetime

UTC = datetime.timezone.utc


class WindowError(ValueError):
    """A malformed change window."""


def parse_time(value, field):
    """An ISO 8601 string (``Z`` or offset) or an aware datetime -> aware datetime in UTC."""
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise WindowError("change_window.%s: not an ISO 8601 time, got %r" % (field, value))
    else:
        raise WindowError("change_window.%s: must be an ISO 8601 time with a time zone, got %r" % (field, value))
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise WindowError("change_window.%s: needs a time zone (Z or an offset), got %r" % (field, value))
    return moment.astimezone(UTC)


def iso(moment):
    """Aware datetime -> ``2026-11-28T22:00:00Z``."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def evaluate(window, now, emergency=False, require_window=True):
    """Decide; never raises on a closed window, only on a malformed one.

    Returns ``{allowed, inside, window, now, emergency, reason}``: ``window`` is
    ``{start, end}`` in UTC (or None), ``inside`` whether ``now`` lies in
    ``[start, end)`` (None without a window), ``reason`` a sentence that names
    the window and now in UTC.
    """
    now = parse_time(now, "now")
    result = {"now": iso(now), "emergency": bool(emergency), "window": None, "inside": None}
    if not window:
        result["window"] = None
        if emergency:
            result.update(allowed=True, reason="no change window defined; emergency: running anyway")
        elif require_window:
            result.update(allowed=False, reason="the plan defines no change_window and require_window is true "
                                                "(now is %s); set emergency to run anyway" % iso(now))
        else:
            result.update(allowed=True, reason="no change window defined and none required")
        return result
    if not isinstance(window, dict):
        raise WindowError("change_window: must be a dict with start and end, got %r" % (window,))
    start = parse_time(window.get("start"), "start")
    end = parse_time(window.get("end"), "end")
    if end <= start:
        raise WindowError("change_window.end: must be after start (%s), got %s" % (iso(start), iso(end)))
    inside = start <= now < end
    result.update(window={"start": iso(start), "end": iso(end)}, inside=inside)
    span = "change window %s - %s" % (iso(start), iso(end))
    if inside:
        result.update(allowed=True, reason="now (%s) is inside the %s" % (iso(now), span))
    elif emergency:
        result.update(allowed=True, reason="now (%s) is outside the %s; emergency: running anyway" % (iso(now), span))
    else:
        when = "before" if now < start else "after"
        result.update(allowed=False, reason="now (%s) is %s the %s; refusing to change anything outside it "
                                            "(set emergency to override)" % (iso(now), when, span))
    return result

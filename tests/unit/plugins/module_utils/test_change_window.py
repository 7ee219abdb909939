"""Change-window guard: pure decision and the action plugin, with injected clocks."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.continuity.recovery.plugins.module_utils import change_window as cw

UTC = datetime.timezone.utc
WINDOW = {"start": "2026-11-28T22:00:00Z", "end": "2026-11-29T02:00:00+00:00"}


def at(text):
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_inside_passes():
    out = cw.evaluate(WINDOW, at("2026-11-28T23:30:00"))
    assert out["allowed"] and out["inside"] is True
    assert out["window"] == {"start": "2026-11-28T22:00:00Z", "end": "2026-11-29T02:00:00Z"}
    assert out["now"] == "2026-11-28T23:30:00Z" and out["emergency"] is False


@pytest.mark.parametrize("now, when", [("2026-11-28T21:59:59", "before"), ("2026-11-29T02:00:00", "after")])
def test_outside_fails_naming_window_and_now(now, when):
    out = cw.evaluate(WINDOW, at(now))
    assert not out["allowed"] and out["inside"] is False
    assert when in out["reason"]
    assert "2026-11-28T22:00:00Z - 2026-11-29T02:00:00Z" in out["reason"]
    assert at(now).strftime("%Y-%m-%dT%H:%M:%SZ") in out["reason"]


def test_start_is_inclusive_end_exclusive():
    assert cw.evaluate(WINDOW, at("2026-11-28T22:00:00"))["inside"] is True
    assert cw.evaluate(WINDOW, at("2026-11-29T02:00:00"))["inside"] is False


def test_emergency_overrides_outside_and_says_so():
    out = cw.evaluate(WINDOW, at("2026-11-30T12:00:00"), emergency=True)
    assert out["allowed"] and out["inside"] is False and out["emergency"] is True
    assert "emergency" in out["reason"]


def test_no_window():
    now = at("2026-11-30T12:00:00")
    assert not cw.evaluate(None, now)["allowed"]
    assert cw.evaluate(None, now, require_window=False)["allowed"]
    assert cw.evaluate({}, now, emergency=True)["allowed"]
    assert cw.evaluate(None, now)["window"] is None and cw.evaluate(None, now)["inside"] is None


def test_offsets_are_converted_to_utc():
    window = {"start": "2026-11-28T23:00:00+01:00", "end": "2026-11-29T03:00:00+01:00"}
    out = cw.evaluate(window, datetime.datetime(2026, 11, 29, 0, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=1))))
    assert out["inside"] and out["window"]["start"] == "2026-11-28T22:00:00Z" and out["now"] == "2026-11-28T23:30:00Z"


@pytest.mark.parametrize("window, match", [
    ({"start": "2026-11-28T22:00:00Z", "end": "2026-11-28T21:00:00Z"}, "end: must be after start"),
    ({"start": "2026-11-28T22:00:00", "end": "2026-11-29T02:00:00Z"}, "start: needs a time zone"),
    ({"start": "tonight", "end": "2026-11-29T02:00:00Z"}, "start: not an ISO 8601 time"),
    ({"end": "2026-11-29T02:00:00Z"}, "start: must be an ISO 8601 time"),
    ("22:00-02:00", "must be a dict"),
])
def test_malformed_windows_raise(window, match):
    with pytest.raises(cw.WindowError, match=match):
        cw.evaluate(window, at("2026-11-28T23:00:00"))


def test_naive_now_is_refused():
    with pytest.raises(cw.WindowError):
        cw.evaluate(WINDOW, datetime.datetime(2026, 11, 28, 23, 0))

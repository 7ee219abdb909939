# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Buffer arithmetic (pure): fill, headroom, rate, time to overflow, RPO exposure, alerts.

Engines supply *readings* taken at the primary side only (so this answers while
the recovery site is unreachable); this module turns them into the one
``buffer_info`` schema.
"""

from __future__ import annotations


def report(readings, objectives=None):
    """``readings``: dict with
    pair, engine, link_state ('connected'|'disconnected'), since, since_source,
    retained_bytes, first_position, last_position (ints, bytes), sample_seconds,
    capacity_sources {name: bytes or None}, safe_wal_size (or None), wal_status,
    rpo_bytes, rpo_seconds.
    ``objectives``: plan objectives (rpo_seconds, max_buffer_fill_pct).
    """
    objectives = objectives or {}
    retained = readings.get("retained_bytes")
    caps = {k: v for k, v in (readings.get("capacity_sources") or {}).items() if v}
    capacity_source = min(caps, key=caps.get) if caps else None
    capacity = caps[capacity_source] if caps else None
    fill_pct = round(100.0 * retained / capacity, 2) if capacity and retained is not None else None
    headroom = readings.get("safe_wal_size")
    if capacity and retained is not None:
        own = max(0, capacity - retained)
        headroom = own if headroom is None else min(headroom, own)
    rate = None
    interval = readings.get("sample_seconds") or 0
    if interval > 0 and readings.get("first_position") is not None and readings.get("last_position") is not None:
        rate = round(max(0, readings["last_position"] - readings["first_position"]) / interval, 1)
    ttl = None
    if headroom is not None and rate:
        ttl = round(headroom / rate, 1)
    wal_status = readings.get("wal_status")
    result = {
        "pair": readings.get("pair"),
        "engine": readings.get("engine"),
        "link": {"state": readings.get("link_state"), "since": readings.get("since"),
                 "since_source": readings.get("since_source")},
        "retained_bytes": retained,
        "capacity_bytes": capacity,
        "capacity_source": capacity_source,
        "fill_pct": fill_pct,
        "headroom_bytes": headroom,
        "ingest_rate_bytes_per_second": rate,
        "sample_seconds": interval,
        "time_to_overflow_seconds": ttl,
        "wal_status": wal_status,
        "rpo_exposure": {"seconds": readings.get("rpo_seconds"), "bytes": readings.get("rpo_bytes")},
        "lost": wal_status == "lost",
    }
    result["alerts"] = alerts(result, objectives)
    return result


def alerts(result, objectives):
    """Alerts against the plan's objectives; each {alert, severity, detail}."""
    out = []

    def add(alert, severity, detail):
        out.append({"alert": alert, "severity": severity, "detail": detail})

    if result["link"]["state"] == "disconnected":
        add("link_down", "warning", "the recovery site is not connected%s" % (
            " since %s" % result["link"]["since"] if result["link"]["since"] else ""))
    if result["wal_status"] == "lost":
        add("buffer_overflow", "critical",
            "the buffer overflowed: the slot lost WAL the recovery site still needs; a re-seed is required")
    elif result["wal_status"] == "unreserved":
        add("buffer_unreserved", "critical", "retained WAL exceeds the cap; the next checkpoint removes it")
    max_fill = objectives.get("max_buffer_fill_pct")
    if max_fill and result["fill_pct"] is not None and result["fill_pct"] >= max_fill:
        add("buffer_fill", "warning", "buffer %.1f%% full (objective: below %s%%)" % (result["fill_pct"], max_fill))
    rpo = objectives.get("rpo_seconds")
    seconds = result["rpo_exposure"]["seconds"]
    if rpo and seconds is not None and seconds > rpo:
        add("rpo_exceeded", "critical", "the recovery site is %.0fs behind (objective: %ss)" % (seconds, rpo))
    ttl = result["time_to_overflow_seconds"]
    if rpo and ttl is not None and result["link"]["state"] == "disconnected" and ttl < rpo:
        add("overflow_imminent", "critical", "the buffer overflows in about %.0fs" % ttl)
    return out

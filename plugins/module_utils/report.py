# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The acceptance report's model (pure): a run's evidence records -> one summary.

:func:`build` turns the records of one run (docs/evidence.md) into the data of
``report.json``; :func:`chart` lays the timeline out for the HTML page's inline
SVG. The report role renders both with Jinja templates; nothing here does I/O.
Sections without records say so (``ran: false``) instead of failing. docs/report.md
describes every section and which records feed it.
"""

from __future__ import annotations

import datetime

from ansible_collections.continuity.recovery.plugins.module_utils import evidence

try:
    import jmespath

    HAS_JMESPATH = True
except ImportError:  # pragma: no cover
    HAS_JMESPATH = False

SCHEMA = "continuity.recovery/report/v1"
LIFECYCLE = ("baseline", "protect", "drill", "takeover", "failback")
CHANGING_ROLES = ("drill", "takeover", "failback")
PLAYBOOK_LANE = "playbook"
_RANK = {"failed": 5, "abnormal": 4, "changed": 3, "ok": 2, "info": 1, "skipped": 0}
_PASSED = ("ok",)
_FAILED = ("failed", "abnormal")

# JMESPath selections of the evidence (one place, named).
Q_NOT_REPORT = "[?kind!='report']"
Q_CHECKS = "[?kind=='check' || (kind=='snapshot' && role=='baseline')]"
Q_TIMING = "[?kind=='timing' && data.start && data.end]"
Q_PAIRS = "[?starts_with(subject || '', 'pair:')]"
Q_TAKEOVER_SUMMARY = "[?kind=='summary' && role=='takeover']"
Q_RPO = "[?data.rpo]"
Q_RTO = "[?data.rto.achieved_seconds != null]"


class ReportError(ValueError):
    """Bad input to the report model (a bad query, records that are not records)."""


def select(expression, records):
    """JMESPath over the records (a list); ReportError on a bad expression."""
    if not HAS_JMESPATH:
        raise ReportError("the jmespath library is required for the report")
    try:
        found = jmespath.search(expression, records)
    except jmespath.exceptions.JMESPathError as exc:
        raise ReportError("invalid JMESPath expression %r: %s" % (expression, exc))
    if found is None:
        return []
    if not isinstance(found, list):
        raise ReportError("JMESPath expression %r must select a list of records, got %s" % (
            expression, type(found).__name__))
    return found


def parse_ts(value):
    """ISO 8601 (``Z`` or offset) -> aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def iso(moment):
    if moment is None:
        return None
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _worst(statuses, default="ok"):
    statuses = [s for s in statuses if s in _RANK]
    return max(statuses, key=lambda s: _RANK[s]) if statuses else default


def _seconds(start, end):
    return round((end - start).total_seconds(), 3)


def _data(record):
    """A record's ``data`` when it is an object, else ``{}`` (``data`` may be any JSON value)."""
    data = record.get("data")
    return data if isinstance(data, dict) else {}


def _step_times(record):
    """(start, end) aware datetimes of a timing record, or None.

    ``data.start``/``data.end`` are ISO times, or seconds from ``data.origin`` (an ISO time;
    host_cutover's timeline is in seconds from the start of its run).
    """
    data = _data(record)
    start, end = data.get("start"), data.get("end")
    if isinstance(start, (int, float)) and isinstance(end, (int, float)) and not isinstance(start, bool):
        origin = parse_ts(data.get("origin"))
        if origin is None:
            return None
        return origin + datetime.timedelta(seconds=start), origin + datetime.timedelta(seconds=end)
    start, end = parse_ts(start), parse_ts(end)
    if start is None or end is None:
        return None
    return start, max(start, end)


def _validate(records):
    if not isinstance(records, list):
        raise ReportError("records must be a list, got %s" % type(records).__name__)
    for index, record in enumerate(records):
        if not isinstance(record, dict) or "kind" not in record or "name" not in record:
            raise ReportError("records[%d] is not an evidence record (kind and name required)" % index)


def blame(records, **kwargs):
    """Why :func:`build` fails on ``records`` with ``kwargs`` in a way it should not: the first record
    that fails on its own, named (index, kind, name), or None when no single record does."""
    for index, record in enumerate(records if isinstance(records, list) else []):
        try:
            build([record], **kwargs)
        except Exception as exc:  # pylint: disable=broad-except  # naming the record is the point
            return "records[%d] (kind %r, name %r): %s: %s" % (
                index, record.get("kind") if isinstance(record, dict) else None,
                record.get("name") if isinstance(record, dict) else None, type(exc).__name__, exc)
    return None


def build(records, objectives=None, run_id=None, plan=None, generated_at=None, query=None, expected_roles=LIFECYCLE):
    """The report model of one run. ``objectives``: the plan's (rpo_seconds, rto_seconds, max_buffer_fill_pct)."""
    _validate(records)
    if objectives is not None and not isinstance(objectives, dict):
        raise ReportError("objectives must be a dict, got %s" % type(objectives).__name__)
    # The report's own records (earlier renderings) are not evidence of the run; redact again,
    # since the model is rendered as text where key-based masking no longer applies.
    records = evidence.redact(select(Q_NOT_REPORT, records))
    if query:
        records = select(query, records)
        _validate(records)
    objectives = dict(objectives or {})
    run_id = run_id or next((r.get("run_id") for r in records if r.get("run_id")), None)
    plan = plan or next((r.get("plan") for r in records if r.get("plan")), None)

    timeline = _timeline(records)
    checks = _checks(records)
    roles = _roles(records, timeline, checks, expected_roles)
    pairs = _replication(records, objectives)
    stamps = [t for t in (parse_ts(r.get("ts")) for r in records) if t]
    starts = [parse_ts(timeline["start"])] if timeline["start"] else []
    ends = [parse_ts(timeline["end"])] if timeline["end"] else []
    started = min(stamps + starts) if stamps + starts else None
    ended = max(stamps + ends) if stamps + ends else None

    model = {
        "schema": SCHEMA,
        "generated_at": generated_at,
        "run": {
            "run_id": run_id,
            "plan": plan,
            "started": iso(started),
            "ended": iso(ended),
            "duration_s": _seconds(started, ended) if started and ended else None,
            "records": len(records),
        },
        "objectives": {
            "rpo_seconds": objectives.get("rpo_seconds"),
            "rto_seconds": objectives.get("rto_seconds"),
            "max_buffer_fill_pct": objectives.get("max_buffer_fill_pct"),
        },
        "roles": roles,
        "checks": checks,
        "timeline": timeline,
        "replication": pairs,
        "baseline": _baseline(records),
        "sections": {role: _section(role, records, roles) for role in CHANGING_ROLES},
    }
    model["rpo"] = _rpo(records, objectives, pairs)
    model["rto"] = _rto(records, objectives, timeline, roles)
    model["verdict"] = _verdict(model)
    return model


def _checks(records):
    items = []
    for record in select(Q_CHECKS, records):
        status = record.get("status")
        data = _data(record)
        if record.get("kind") == "snapshot":
            detail = "%s abnormalit%s in %s VMs, %s hosts, %s datastores, %s databases" % (
                data.get("abnormalities", 0), "y" if data.get("abnormalities") == 1 else "ies",
                data.get("vms", "?"), data.get("hosts", "?"), data.get("datastores", "?"), data.get("databases", "?"))
            name = "baseline_gate"
        elif record.get("name") == "canary" and "read_at_target" in data:
            detail = ("marker read at the recovery site after %.2f s" % data["seconds"]
                      if data.get("read_at_target") and _num(data.get("seconds")) is not None
                      else "marker read at the recovery site" if data.get("read_at_target")
                      else "marker not seen at the recovery site")
            name = record.get("name")
        elif record.get("name") == "buffer" and "retained_bytes" in data:
            fill = _num(data.get("fill_pct"))
            detail = "retained %s bytes%s%s%s" % (
                data.get("retained_bytes"), ", fill %.1f %%" % fill if fill is not None else ", unbounded",
                ", WAL %s" % data["wal_status"] if data.get("wal_status") else "",
                "; alerts: " + ", ".join(str(a.get("alert")) for a in data["alerts"] if isinstance(a, dict))
                if isinstance(data.get("alerts"), list) and data["alerts"] else "")
            name = record.get("name")
        else:
            detail = data.get("detail") or data.get("msg") or ""
            if not detail and isinstance(data.get("problems"), list):
                detail = "; ".join(str(p) for p in data["problems"][:5])
            elif not detail and data.get("problems"):
                detail = str(data["problems"])
            name = record.get("name")
        items.append({
            "role": record.get("role"),
            "name": name,
            "subject": record.get("subject"),
            "status": status,
            "result": "passed" if status in _PASSED else "failed" if status in _FAILED else "other",
            "detail": str(detail)[:300],
            "ts": record.get("ts"),
        })
    return {
        "total": len(items),
        "passed": sum(1 for i in items if i["result"] == "passed"),
        "failed": sum(1 for i in items if i["result"] == "failed"),
        "other": sum(1 for i in items if i["result"] == "other"),
        "entries": items,
    }


def _timeline(records):
    steps = []
    for record in select(Q_TIMING, records):
        times = _step_times(record)
        if times is None:
            continue
        data = _data(record)
        steps.append({
            "name": record.get("name"),
            "subject": record.get("subject"),
            "status": record.get("status"),
            "role": str(record.get("role") or data.get("role") or PLAYBOOK_LANE),
            "tier": None if data.get("tier") in (None, "") else str(data["tier"]),
            "play": data.get("play"),
            "start_dt": times[0],
            "end_dt": times[1],
        })
    if not steps:
        return {"start": None, "end": None, "duration_s": None, "steps": [], "lanes": [], "tiers": [],
                "slowest": []}
    steps.sort(key=lambda s: (s["start_dt"], s["end_dt"]))
    origin = steps[0]["start_dt"]
    end = max(s["end_dt"] for s in steps)
    lanes = {}
    for step in steps:
        step["start"] = iso(step["start_dt"])
        step["end"] = iso(step["end_dt"])
        step["start_offset_s"] = _seconds(origin, step["start_dt"])
        step["end_offset_s"] = _seconds(origin, step["end_dt"])
        step["duration_s"] = _seconds(step["start_dt"], step["end_dt"])
        key = (step["role"], step["tier"])
        lane = lanes.setdefault(key, {"role": step["role"], "tier": step["tier"],
                                      "label": step["role"] + (" / tier " + step["tier"] if step["tier"] else ""),
                                      "start_dt": step["start_dt"], "end_dt": step["end_dt"], "steps": [],
                                      "status": []})
        lane["start_dt"] = min(lane["start_dt"], step["start_dt"])
        lane["end_dt"] = max(lane["end_dt"], step["end_dt"])
        lane["steps"].append(len(lane["steps"]))
        lane["status"].append(step["status"])
    out_lanes = []
    for lane in lanes.values():
        out_lanes.append({
            "role": lane["role"], "tier": lane["tier"], "label": lane["label"],
            "start": iso(lane["start_dt"]), "end": iso(lane["end_dt"]),
            "start_offset_s": _seconds(origin, lane["start_dt"]), "end_offset_s": _seconds(origin, lane["end_dt"]),
            "duration_s": _seconds(lane["start_dt"], lane["end_dt"]),
            "steps": len(lane["steps"]),
            "busy_s": round(sum(s["duration_s"] for s in steps if (s["role"], s["tier"]) == (lane["role"], lane["tier"])), 3),
            "status": _worst(lane["status"]),
        })
    for step in steps:
        del step["start_dt"], step["end_dt"]
    return {
        "start": iso(origin),
        "end": iso(end),
        "duration_s": _seconds(origin, end),
        "steps": steps,
        "lanes": out_lanes,
        "tiers": [lane for lane in out_lanes if lane["tier"]],
        "slowest": sorted(steps, key=lambda s: -s["duration_s"])[:10],
    }


def _roles(records, timeline, checks, expected):
    seen = []
    for record in records:
        role = record.get("role")
        if record.get("kind") != "timing" and role and role not in seen:
            seen.append(role)
    for lane in timeline["lanes"]:
        if lane["role"] != PLAYBOOK_LANE and lane["role"] not in seen:
            seen.append(lane["role"])
    names = [r for r in expected if r in seen] + [r for r in seen if r not in expected]
    names += [r for r in expected if r not in names]
    out = []
    for name in names:
        own = [r for r in records if r.get("role") == name and r.get("kind") != "timing"]
        steps = [s for s in timeline["steps"] if s["role"] == name]
        ran = bool(own or steps)
        tasks = dict((k, sum(1 for s in steps if s["status"] == k)) for k in ("ok", "changed", "failed", "skipped"))
        status = _worst([r.get("status") for r in own], default="") if own else ""
        if not status and steps:
            status = "failed" if tasks["failed"] else "changed" if tasks["changed"] else "ok"
        starts = [parse_ts(s["start"]) for s in steps] + [parse_ts(r.get("ts")) for r in own if r.get("ts")]
        ends = [parse_ts(s["end"]) for s in steps] + [parse_ts(r.get("ts")) for r in own if r.get("ts")]
        starts = [t for t in starts if t]
        ends = [t for t in ends if t]
        role_checks = [c for c in checks["entries"] if c["role"] == name]
        out.append({
            "role": name,
            "ran": ran,
            "status": status if ran else "not run",
            "started": iso(min(starts)) if starts else None,
            "ended": iso(max(ends)) if ends else None,
            "duration_s": _seconds(min(starts), max(ends)) if starts and ends else None,
            "records": len(own),
            "tasks": tasks,
            "checks_passed": sum(1 for c in role_checks if c["result"] == "passed"),
            "checks_failed": sum(1 for c in role_checks if c["result"] == "failed"),
            "changes": sum(1 for r in own if r.get("kind") == "change" and r.get("status") == "changed"),
        })
    return out


def _num(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _replication(records, objectives):
    pairs = {}
    for record in select(Q_PAIRS, records):
        name = record["subject"].split(":", 1)[1]
        data = _data(record)
        pair = pairs.setdefault(name, {"pair": name, "engine": None, "statuses": [], "link": None, "lag": None,
                                       "canary": None, "buffer": None, "direction": None, "actions": [],
                                       "reseeded": False, "last_role": None, "updated": None})
        pair["statuses"].append(record.get("status"))
        pair["last_role"] = record.get("role") or pair["last_role"]
        pair["updated"] = record.get("ts") or pair["updated"]
        if record.get("kind") == "check" and record.get("name") == "buffer":
            pair["buffer"] = data
        elif record.get("kind") == "check" and record.get("name") == "canary":
            pair["canary"] = data
        else:
            for key in ("engine", "direction"):
                if data.get(key):
                    pair[key] = data[key]
            for key in ("link", "lag", "canary", "buffer"):
                if isinstance(data.get(key), dict):
                    pair[key] = data[key]
            if isinstance(data.get("actions"), list):
                pair["actions"] += [str(a) for a in data["actions"]]
            if data.get("reseeded"):
                pair["reseeded"] = True
    max_fill = _num(objectives.get("max_buffer_fill_pct"))
    rpo = _num(objectives.get("rpo_seconds"))
    out = []
    for pair in pairs.values():
        buffer = pair["buffer"] or {}
        lag = pair["lag"] or {}
        canary = pair["canary"] or {}
        exposure = buffer.get("rpo_exposure") if isinstance(buffer.get("rpo_exposure"), dict) else {}
        if canary.get("read_at_target"):
            sync = "in sync"
        elif canary and canary.get("read_at_target") is False:
            sync = "not in sync"
        elif _num(lag.get("bytes")) == 0:
            sync = "in sync"
        elif _num(lag.get("bytes")):
            sync = "behind"
        else:
            sync = "unknown"
        fill = _num(buffer.get("fill_pct"))
        alerts = buffer.get("alerts") if isinstance(buffer.get("alerts"), list) else []
        out.append({
            "pair": pair["pair"],
            "engine": pair["engine"],
            "status": _worst(pair["statuses"]),
            "sync": sync,
            "canary_seconds": _num(canary.get("seconds")),
            "link": (pair["link"] or {}).get("state") or "unknown",
            "link_since": (pair["link"] or {}).get("since"),
            "lag_bytes": _num(lag.get("bytes")),
            "lag_seconds": _num(lag.get("seconds")),
            "direction": pair["direction"],
            "buffer": {
                "retained_bytes": _num(buffer.get("retained_bytes")),
                "capacity_bytes": _num(buffer.get("capacity_bytes")),
                "fill_pct": fill,
                "wal_status": buffer.get("wal_status"),
                "alerts": [{"alert": a.get("alert"), "severity": a.get("severity"), "detail": a.get("detail")}
                           for a in alerts if isinstance(a, dict)],
                "within_objective": None if fill is None or max_fill is None else fill <= max_fill,
            },
            "rpo_exposure_seconds": _num(exposure.get("seconds")),
            "rpo_exposure_bytes": _num(exposure.get("bytes")),
            "rpo_exposure_within_objective": (None if rpo is None or _num(exposure.get("seconds")) is None
                                              else exposure["seconds"] <= rpo),
            "reseeded": pair["reseeded"],
            "actions": pair["actions"][-10:],
            "last_role": pair["last_role"],
            "updated": pair["updated"],
        })
    return out


def _latest(found):
    return found[-1] if found else None


def _takeover_summary(records, key):
    """``data.<key>`` (rpo, rto) of the latest takeover summary, and the record; (None, None) without one."""
    found = [r for r in select(Q_TAKEOVER_SUMMARY, records) if isinstance(_data(r).get(key), dict)]
    return (found[-1]["data"][key], found[-1]) if found else (None, None)


def _rpo(records, objectives, pairs):
    """RPO achieved: the latest takeover summary's ``data.rpo`` when there is one (the takeover's own
    verdict over every pair), else the worst pair of the records with ``data.rpo``; never "met" for
    a loss that was not measured (``achieved_seconds`` null: ``met`` null, ``detail`` says why)."""
    objective = _num(objectives.get("rpo_seconds"))
    out = {"objective_seconds": objective, "achieved_seconds": None, "met": None, "source": None, "detail": None,
           "lost_rows": None, "lost_transactions": None, "lost_bytes": None, "exact": None, "mode": None,
           "measured_worst_seconds": None, "unmeasured_pairs": [], "exposure_seconds": None}
    exposures = [p["rpo_exposure_seconds"] for p in pairs if p["rpo_exposure_seconds"] is not None]
    if exposures:
        out["exposure_seconds"] = max(exposures)
    rpo, record = _takeover_summary(records, "rpo")
    if record is not None:
        unmeasured = rpo.get("unmeasured_pairs") if isinstance(rpo.get("unmeasured_pairs"), list) else []
        measured_worst = _num(rpo.get("measured_worst_seconds"))
        note = _data(record).get("note")
    else:
        latest = {}  # the newest data.rpo per pair (a resumed run measures again)
        for found in select(Q_RPO, records):
            if isinstance(_data(found)["rpo"], dict):
                latest[found.get("subject") or found.get("name")] = found
        if not latest:
            return out
        achieved = dict((subject, _num(found["data"]["rpo"].get("achieved_seconds")))
                        for subject, found in latest.items())
        unmeasured = [str(subject).split(":", 1)[-1] for subject, value in achieved.items() if value is None]
        measured = [subject for subject, value in achieved.items() if value is not None]
        worst = max(measured, key=achieved.get) if measured else list(latest)[-1]
        record, rpo = latest[worst], latest[worst]["data"]["rpo"]
        measured_worst = achieved[worst]
        note = None
    out.update(achieved_seconds=None if unmeasured else _num(rpo.get("achieved_seconds")),
               source="%s/%s" % (record.get("role"), record.get("name")),
               lost_rows=_lost_rows(rpo.get("lost_rows")), lost_bytes=_num(rpo.get("lost_bytes")),
               lost_transactions=_num(rpo.get("lost_transactions")),
               exact=rpo.get("exact") if isinstance(rpo.get("exact"), bool) else None,
               mode=rpo.get("mode") or _data(record).get("mode"),
               measured_worst_seconds=measured_worst, unmeasured_pairs=[str(p) for p in unmeasured])
    if _num(rpo.get("objective_seconds")) is not None:
        out["objective_seconds"] = objective = rpo["objective_seconds"]
    if out["achieved_seconds"] is None:
        if note:
            out["detail"] = str(note)
        elif unmeasured:
            out["detail"] = "not measured for %s%s" % (", ".join(out["unmeasured_pairs"]), (
                "; the measured pairs lost at most %g s" % measured_worst) if measured_worst is not None else "")
        else:
            out["detail"] = "not measured"
    elif objective is not None:
        out["met"] = out["achieved_seconds"] <= objective
    return out


def _lost_rows(value):
    """Rows lost: a number, or the ``{inserted, updated, deleted, total}`` of replication's ``rpo``."""
    if isinstance(value, dict):
        return _num(value.get("total"))
    return _num(value)


def _rto(records, objectives, timeline, roles):
    """RTO achieved: the latest takeover summary's ``data.rto``, else the newest record with
    ``data.rto.achieved_seconds``, else the wall time of the takeover role's timing records, but only
    for a takeover that succeeded outside check mode (otherwise achieved and met are null, ``detail``
    says why)."""
    objective = _num(objectives.get("rto_seconds"))
    out = {"objective_seconds": objective, "achieved_seconds": None, "met": None, "source": None, "detail": None}
    rto, record = _takeover_summary(records, "rto")
    if record is None:
        record = _latest([r for r in select(Q_RTO, records) if isinstance(_data(r)["rto"], dict)])
        rto = record["data"]["rto"] if record else None
    if record:
        out.update(achieved_seconds=_num(rto.get("achieved_seconds")),
                   source="%s/%s" % (record.get("role"), record.get("name")))
        if _num(rto.get("objective_seconds")) is not None:
            out["objective_seconds"] = objective = rto["objective_seconds"]
        if out["achieved_seconds"] is None:
            note = _data(record).get("note")
            out["detail"] = (str(note) if note else "not measured: the takeover did not complete"
                             if _data(record).get("complete") is False else "not measured")
    else:
        lanes = [lane for lane in timeline["lanes"] if lane["role"] == "takeover"]
        refused = _takeover_wall_time_refused(records, roles) if lanes else None
        if refused:
            out["detail"] = "not measured: %s (its wall time on the timeline is not an RTO)" % refused
        elif lanes:
            start = min(parse_ts(lane["start"]) for lane in lanes)
            end = max(parse_ts(lane["end"]) for lane in lanes)
            out.update(achieved_seconds=_seconds(start, end), source="timeline of the takeover role")
    if out["achieved_seconds"] is not None and objective is not None:
        out["met"] = out["achieved_seconds"] <= objective
    return out


def _takeover_wall_time_refused(records, roles):
    """Why the takeover role's wall time is no RTO (it failed, ran in check mode), or None."""
    own = [r for r in records if (r.get("role") or _data(r).get("role")) == "takeover"]
    if any(_data(r).get("check_mode") is True for r in own):
        return "the takeover ran in check mode"
    entry = next((r for r in roles if r["role"] == "takeover"), {})
    failed = [r for r in own if r.get("kind") == "timing" and r.get("status") == "failed"
              and not _data(r).get("ignore_errors")]
    if entry.get("status") not in ("ok", "changed") or failed:
        return "the takeover did not succeed"
    return None


def _baseline(records):
    found = [r for r in records if r.get("role") == "baseline" and r.get("kind") == "snapshot"]
    if not found:
        failed = [r for r in records if r.get("role") == "baseline" and r.get("name") == "preflight"]
        return {"ran": bool(failed), "status": "failed" if failed else None, "summary": None}
    record = found[-1]
    return {"ran": True, "status": record.get("status"), "summary": _data(record)}


def _scalars(data):
    return dict((k, v) for k, v in sorted((data or {}).items())
                if isinstance(v, (str, int, float, bool)) or v is None)


def _section(role, records, roles):
    own = [r for r in records if r.get("role") == role]
    entry = next((r for r in roles if r["role"] == role), None)
    if not own and not (entry and entry["ran"]):
        return {"ran": False, "status": "not run", "message": "no %s in this run" % role, "summary": {}}
    summaries = [r for r in own if r.get("kind") == "summary"]
    changes = [r for r in own if r.get("kind") == "change"]
    return {
        "ran": True,
        "status": entry["status"] if entry else _worst([r.get("status") for r in own]),
        "message": "%s ran: %d records, %d changes" % (role, len(own), len(changes)),
        "summary": _scalars(_data(summaries[-1])) if summaries else {},
        "changes": [{"name": r.get("name"), "subject": r.get("subject"), "status": r.get("status")}
                    for r in changes][:50],
    }


def _verdict(model):
    problems = []
    if model["checks"]["failed"]:
        problems.append("%d check(s) failed" % model["checks"]["failed"])
    for role in model["roles"]:
        if role["status"] == "failed":
            problems.append("role %s failed" % role["role"])
    for key in ("rpo", "rto"):
        if model[key]["met"] is False:
            problems.append("%s objective missed" % key.upper())
    for pair in model["replication"]:
        if pair["buffer"]["within_objective"] is False:
            problems.append("buffer of %s above objective" % pair["pair"])
    return {"ok": not problems, "problems": problems}


# -- presentation helper: the SVG timeline's geometry ------------------------


def _tick_step(total):
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if total / step <= 10:
            return step
    return 14400


def chart(model, width=1200, lane_height=28, label_width=230, min_bar=2.0):
    """Geometry of the timeline chart: one lane per role (and tier), one bar per step."""
    timeline = model.get("timeline") or {}
    lanes = timeline.get("lanes") or []
    total = timeline.get("duration_s") or 0.0
    plot = max(width - label_width - 20, 100)
    scale = plot / total if total > 0 else 0.0
    top = 24
    index = dict(((lane["role"], lane["tier"]), number) for number, lane in enumerate(lanes))
    bars = []
    counts = {}
    for step in timeline.get("steps") or []:
        number = index[(step["role"], step["tier"])]
        nth = counts.get(number, 0)
        counts[number] = nth + 1
        x = label_width + step["start_offset_s"] * scale
        w = max(step["duration_s"] * scale, min_bar)
        bars.append({
            "x": round(x, 1), "y": top + number * lane_height + 4 + (nth % 2) * 2, "w": round(w, 1),
            "h": lane_height - 12, "status": step["status"], "alt": nth % 2, "role": step["role"],
            "css": "r-" + "".join(c if c.isalnum() else "-" for c in step["role"]),
            "title": "%s: %s (%s) %.2fs from +%.2fs" % (
                step["role"], step["name"], step["status"], step["duration_s"], step["start_offset_s"]),
            "label": step["name"] if w > 7 * len(step["name"] or "") else "",
        })
    rows = []
    for number, lane in enumerate(lanes):
        rows.append({
            "y": top + number * lane_height, "h": lane_height, "label": lane["label"], "status": lane["status"],
            "text_y": top + number * lane_height + lane_height / 2 + 4, "role": lane["role"],
            "duration": "%.1fs" % lane["duration_s"], "odd": number % 2,
            "x_end": round(label_width + lane["end_offset_s"] * scale, 1),
        })
    step = _tick_step(total) if total > 0 else 1
    ticks = []
    value = 0.0
    while value <= total + 1e-9 and total > 0:
        ticks.append({"x": round(label_width + value * scale, 1), "label": "%gs" % value})
        value += step
    height = top + max(len(lanes), 1) * lane_height + 30
    return {"width": width, "height": height, "label_width": label_width, "top": top,
            "plot_bottom": top + len(lanes) * lane_height, "rows": rows, "bars": bars, "ticks": ticks,
            "total_s": total, "empty": not lanes}

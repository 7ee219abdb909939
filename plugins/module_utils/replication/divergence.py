# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an old primary committed after the divergence point (pure functions).

``parse_waldump`` reads ``pg_waldump`` text (PostgreSQL 15 format) and returns the
committed transactions at or after an LSN - xid, commit time, commit LSN, the
heap changes per relation (``spcoid/dboid/relfilenode``) - with aborted and
unfinished transactions left out, and the WAL byte span up to the end of valid
WAL (pg_waldump stops there with "invalid record length" / "could not find a
valid record"; that is where PostgreSQL's own recovery would stop too).

``parse_history`` / ``switchpoint`` read a timeline history file (where the new
primary's timeline branched off the old one); ``rpo_counts`` and
``quarantine_document`` turn a parse into the ``rpo`` result and the quarantine
file. Nothing here runs programs or touches files.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.continuity.recovery.plugins.module_utils.replication import lsn as lsnmod

_LSN = r"[0-9A-Fa-f]+/[0-9A-Fa-f]+"
_RECORD = re.compile(
    r"^rmgr:\s*(?P<rmgr>\S+)\s+len \(rec/tot\):\s*(?P<rec>\d+)/\s*(?P<tot>\d+),\s*tx:\s*(?P<xid>\d+),"
    r"\s*lsn:\s*(?P<lsn>" + _LSN + r"),\s*prev\s+(?P<prev>" + _LSN + r"),\s*desc:\s*(?P<desc>.*)$")
_COMMIT = re.compile(
    r"^(?P<kind>COMMIT|ABORT)\s+"
    r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)(?:\s+(?P<zone>[A-Za-z]+|[+-]\d\d(?::?\d\d)?))?")
_SUBXACTS = re.compile(r"subxacts:((?:\s+\d+)+)")
_BLKREF = re.compile(r"blkref #\d+: rel (\d+)/(\d+)/(\d+)")
_NTUPLES = re.compile(r"(?:(\d+) tuples|ntuples[:=]\s*(\d+))")
_END_MARKERS = ("invalid record length", "could not find a valid record", "error in WAL record",
                "invalid magic number", "incorrect prev-link", "invalid resource manager",
                "contrecord is requested", "unexpected pageaddr", "record length", "invalid record offset")

#: heap operations per record: Heap INSERT/UPDATE/HOT_UPDATE/DELETE, Heap2 MULTI_INSERT (N tuples)
OPS = ("inserted", "updated", "deleted")
FIRST_NORMAL_OID = 16384


def _norm_lsn(text):
    return lsnmod.format_lsn(lsnmod.parse(text))


def commit_time(stamp, zone):
    """``'2026-12-01 07:00:00.123456'``, ``'UTC'`` -> ISO 8601 with offset (None when the zone is unknown)."""
    zone = (zone or "UTC").strip()
    if zone.upper() in ("UTC", "GMT", "Z", "UCT"):
        offset = datetime.timezone.utc
    else:
        match = re.match(r"^([+-])(\d\d):?(\d\d)?$", zone)
        if not match:
            return None
        minutes = int(match.group(2)) * 60 + int(match.group(3) or 0)
        offset = datetime.timezone(datetime.timedelta(minutes=minutes if match.group(1) == "+" else -minutes))
    try:
        value = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f" if "." in stamp else "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return value.replace(tzinfo=offset).isoformat()


def seconds_between(later, earlier):
    """Seconds from ISO 8601 ``earlier`` to ``later`` (PostgreSQL text like ``'... 06:43:29.78+00'`` too)."""
    a, b = to_datetime(later), to_datetime(earlier)
    if a is None or b is None:
        return None
    return round((a - b).total_seconds(), 6)


def iso(text):
    """PostgreSQL or ISO timestamp text -> ISO 8601 with offset (None stays None)."""
    parsed = to_datetime(text)
    return parsed.isoformat() if parsed else None


_SHORT_OFFSET = re.compile(r"(?:Z|([+-]\d{2})(\d{2})?)$")


def offset_with_colon(stamp):
    """``Z``, ``+00`` and ``+0530`` as ``+00:00`` / ``+05:30``: what fromisoformat reads before Python 3.11
    (the modules may run on an older Python on a database host)."""
    if "T" not in stamp and " " not in stamp:
        return stamp  # a date alone: an offset-looking tail is part of it (2026-11-23)
    match = _SHORT_OFFSET.search(stamp)
    if match is None:
        return stamp
    if match.group(0) == "Z":
        return stamp[:-1] + "+00:00"
    return stamp[:match.start()] + "%s:%s" % (match.group(1), match.group(2) or "00")


def to_datetime(text):
    """PostgreSQL or ISO timestamp text -> aware datetime (UTC when it has no offset), or None."""
    if not text:
        return None
    value = offset_with_colon(str(text).strip().replace(" ", "T", 1))
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


def _heap_op(rmgr, desc):
    """(operation, tuples) of a heap record, or (None, 0) for records that change no row."""
    word = desc.split(" ", 1)[0].split("+", 1)[0].rstrip(",;")
    if rmgr == "Heap":
        if word == "INSERT":
            return "inserted", 1
        if word in ("UPDATE", "HOT_UPDATE"):
            return "updated", 1
        if word == "DELETE":
            return "deleted", 1
    elif rmgr == "Heap2" and word == "MULTI_INSERT":
        match = _NTUPLES.search(desc)
        return "inserted", int(next(g for g in match.groups() if g)) if match else 1
    return None, 0


def is_system_relfilenode(rel):
    """Heuristic when no catalog can be asked: relfilenodes below 16384 belong to the system catalogs."""
    return int(str(rel).rsplit("/", 1)[-1]) < FIRST_NORMAL_OID


def split_rel(rel):
    """``'1663/16386/16396'`` -> {tablespace, database, relfilenode} (ints)."""
    spc, db, node = (int(x) for x in str(rel).split("/"))
    return {"tablespace": spc, "database": db, "relfilenode": node}


def empty_counts():
    return {"inserted": 0, "updated": 0, "deleted": 0, "total": 0}


def _add(counts, op, n):
    counts[op] += n
    counts["total"] += n


def parse_waldump(text, after=None):
    """Committed transactions in ``pg_waldump`` output whose COMMIT record is at or after LSN ``after``.

    The text may start before ``after`` (a read window): changes a lost transaction wrote before the
    divergence point (its commit record came after it) count too, and the last commit before ``after``
    is reported as ``last_commit_before`` (what the other side replayed last).

    Returns ``{transactions: [{xid, commit_ts, commit_ts_text, lsn, subxacts, relations:
    {rel: {inserted, updated, deleted, total}}}], aborted: [xid], unfinished: [xid], relations: {rel: counts},
    rows: counts, last_commit_before, window_start_lsn, start_lsn, end_lsn, bytes, records, end_reason,
    readable, error}`` where ``end_lsn`` is the end of valid WAL (from pg_waldump's closing error, else the
    end of the last record), ``bytes`` the span from ``start_lsn`` to it, and ``readable`` is False when
    pg_waldump could not read any WAL at all (missing segment, unreadable directory).
    """
    start = lsnmod.parse(after) if after else None
    ops = {}           # xid -> {rel: counts}
    commits = {}       # top xid -> commit record at or after ``after``
    before = None      # the last commit before ``after``
    early = set()      # xids settled (committed/aborted) before ``after``
    aborted = set()
    sub_of = {}        # subxact -> top xid
    first = last_end = None
    records = 0
    end_reason = end_lsn = fatal = None
    for line in (text or "").splitlines():
        line = line.rstrip()
        match = _RECORD.match(line)
        if not match:
            if "error" in line or "could not" in line:
                end_reason = re.sub(r"^pg_waldump:\s*(error:\s*)?", "", line).strip()
                tail = line.split(": ", 2)[-1] if "error in WAL record" in line else line
                found = re.findall(_LSN, tail)
                if any(m in line for m in _END_MARKERS):
                    if found:
                        end_lsn = lsnmod.parse(found[-1])
                else:
                    fatal = end_reason
            continue
        at = lsnmod.parse(match.group("lsn"))
        first = at if first is None else first
        last_end = at + int(match.group("tot"))
        lost = start is None or at >= start
        records += 1 if lost else 0
        xid = int(match.group("xid"))
        rmgr, desc = match.group("rmgr"), match.group("desc")
        if rmgr == "Transaction":
            found = _COMMIT.match(desc)
            if not found:
                continue
            subs = [int(x) for x in (_SUBXACTS.search(desc).group(1).split() if _SUBXACTS.search(desc) else [])]
            if not lost:
                early.update([xid] + subs)
                if found.group("kind") == "COMMIT":
                    before = {"xid": xid, "lsn": _norm_lsn(match.group("lsn")),
                              "commit_ts": commit_time(found.group("ts"), found.group("zone"))}
                continue
            if found.group("kind") == "ABORT":
                aborted.update([xid] + subs)
                continue
            for sub in subs:
                sub_of[sub] = xid
            commits[xid] = {"xid": xid, "lsn": _norm_lsn(match.group("lsn")),
                            "commit_ts": commit_time(found.group("ts"), found.group("zone")),
                            "commit_ts_text": "%s %s" % (found.group("ts"), found.group("zone") or ""),
                            "subxacts": subs}
            continue
        if not xid:
            continue
        op, n = _heap_op(rmgr, desc)
        ref = _BLKREF.search(desc) if op else None
        if ref:
            _add(ops.setdefault(xid, {}).setdefault("/".join(ref.groups()), empty_counts()), op, n)
    if end_lsn is None:
        end_lsn = last_end if last_end is not None else start
    begin = start if start is not None else first
    if end_lsn is not None and begin is not None and end_lsn < begin:
        end_lsn = begin
    transactions = []
    for xid in sorted(commits, key=lambda x: lsnmod.parse(commits[x]["lsn"])):
        entry = dict(commits[xid], relations={})
        for member in [xid] + entry["subxacts"]:
            for rel, counts in ops.get(member, {}).items():
                into = entry["relations"].setdefault(rel, empty_counts())
                for op in OPS:
                    _add(into, op, counts[op])
        transactions.append(entry)
    settled = set(commits) | set(sub_of) | aborted | early
    relations = {}
    rows = empty_counts()
    for entry in transactions:
        for rel, counts in entry["relations"].items():
            into = relations.setdefault(rel, empty_counts())
            for op in OPS:
                _add(into, op, counts[op])
                _add(rows, op, counts[op])
    return {
        "transactions": transactions,
        "aborted": sorted(aborted),
        "unfinished": sorted(x for x in ops if x not in settled),
        "relations": relations,
        "rows": rows,
        "last_commit_before": before,
        "window_start_lsn": lsnmod.format_lsn(first),
        "start_lsn": lsnmod.format_lsn(begin),
        "end_lsn": lsnmod.format_lsn(end_lsn),
        "bytes": (end_lsn - begin) if end_lsn is not None and begin is not None else None,
        "records": records,
        "end_reason": end_reason,
        "readable": not (fatal and first is None),
        "error": fatal,
    }


def parse_history(text):
    """Timeline history file text -> [{timeline, switchpoint, reason}] (the timelines this one descends from)."""
    out = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0].isdigit() and re.match("^" + _LSN + "$", parts[1]):
            out.append({"timeline": int(parts[0]), "switchpoint": _norm_lsn(parts[1]),
                        "reason": parts[2] if len(parts) > 2 else ""})
    return out


def switchpoint(history, timeline):
    """Where the history left ``timeline`` (the divergence from a server that stayed on it), or None."""
    for entry in history:
        if entry["timeline"] == timeline:
            return entry["switchpoint"]
    return None


def user_transactions(parsed, system=None):
    """Split a parse into (user, system) transactions; ``system(rel) -> bool`` says which relations are
    catalogs/TOAST (default: relfilenode < 16384). A transaction is a user one when it changed a user row."""
    system = system or is_system_relfilenode
    user, other = [], []
    for entry in parsed["transactions"]:
        (user if any(not system(rel) for rel in entry["relations"]) else other).append(entry)
    return user, other


def rpo_counts(parsed, system=None):
    """lost_transactions, lost_rows (user relations only), lost_bytes, last_lost_commit of a parse."""
    system = system or is_system_relfilenode
    user, other = user_transactions(parsed, system)
    rows = empty_counts()
    for entry in user:
        for rel, counts in entry["relations"].items():
            if not system(rel):
                for op in OPS:
                    _add(rows, op, counts[op])
    last = user[-1] if user else None
    return {"lost_transactions": len(user), "lost_system_transactions": len(other), "lost_rows": rows,
            "lost_bytes": parsed["bytes"] or 0, "last_lost_commit": last["commit_ts"] if last else None,
            "last_lost_lsn": last["lsn"] if last else None}


def quarantine_document(pair, divergence_lsn, timelines, parsed, tables, source, created_at):
    """The quarantine file: the lost transactions and the rows they left behind, per table.

    ``tables``: {name: {database, rel, relfilenode, rows: [row objects], inserted, updated, deleted}} for the user
    relations the lost transactions changed. Deleted rows cannot be reconstructed from the old primary (their
    last version is gone there too): only counted.
    """
    user, _other = user_transactions(parsed, lambda rel: not any(
        t.get("rel") == rel for t in tables.values()))
    total_rows = sum(len(t["rows"]) for t in tables.values())
    deleted = sum(t.get("deleted", 0) for t in tables.values())
    return {
        "format": "continuity.recovery.quarantine/1",
        "pair": pair,
        "created_at": created_at,
        "divergence_lsn": divergence_lsn,
        "timelines": timelines,
        "source": source,
        "wal": {"start_lsn": parsed["start_lsn"], "end_lsn": parsed["end_lsn"], "bytes": parsed["bytes"]},
        "transactions": [{"xid": t["xid"], "commit_ts": t["commit_ts"], "lsn": t["lsn"],
                          "subxacts": t["subxacts"]} for t in user],
        "tables": {name: {"database": t["database"], "rel": t["rel"], "relfilenode": t["relfilenode"],
                          "inserted": t.get("inserted", 0), "updated": t.get("updated", 0),
                          "deleted": t.get("deleted", 0), "rows": t["rows"]}
                   for name, t in sorted(tables.items())},
        "deleted_rows_note": "deleted rows are counted, not reconstructible: their last version is gone",
        "totals": {"transactions": len(user), "rows": total_rows, "tables": len(tables), "deleted": deleted},
    }

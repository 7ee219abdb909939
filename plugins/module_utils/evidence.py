# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evidence: append-only JSON-lines records and JSON snapshots of a run.

Schema: docs/evidence.md. Files are created 0600 and directories 0700; every
value is passed through :func:`redact` first, so no secret is ever written.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import tempfile

SCHEMA = "continuity.recovery/evidence/v1"
RECORDS_FILE = "records.jsonl"
JOURNAL_FILE = "journal.jsonl"  # module_utils/journal.py
# The append-only logs of a run: no snapshot or document may replace them.
APPEND_ONLY_FILES = (RECORDS_FILE, JOURNAL_FILE)
# Ends a torn line (an interrupted write) before the next append, so that readers can tell it from corruption.
TORN_MARK = " #torn"
KINDS = ("check", "change", "timing", "snapshot", "summary", "report")
STATUSES = ("ok", "changed", "abnormal", "failed", "skipped", "info")
MASK = "********"

_SECRET_KEY = re.compile(r"(^|_|pg)(password|passwd|pwd|passphrase|secret|secret_key|secret_access_key|token|api_key"
                         r"|private_key)$", re.IGNORECASE)
# userinfo up to the last @ before the host (a password may hold @ and /; the host holds neither)
_URL_CREDENTIALS = re.compile(r"(://[^:/@\s]+:)\S*?@(?=[^@\s/?#]*(?:[/?#\s]|$))")
# libpq's password=, and PGPASSWORD=... of an environment echoed in a command line
_CONNINFO_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def utcnow():
    """Now in UTC as ISO 8601 with milliseconds and a Z."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def redact(value):
    """A deep copy of ``value`` with secret-named keys masked and passwords inside URLs/DSNs removed."""
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and _SECRET_KEY.search(k) and v not in (None, "")
                    else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        value = _URL_CREDENTIALS.sub(r"\1" + MASK + "@", value)
        return _CONNINFO_PASSWORD.sub(r"\1" + MASK, value)
    return value


def secret_values(value):
    """Every non-empty value of a secret-named key in ``value``, at any depth (the keys redact masks).

    Strings as they are, numbers as ``str()`` (a bare YAML ``password: 12345678``); booleans are
    not secrets. Modules add these to ``AnsibleModule.no_log_values`` so that secrets nested in a
    dict option (a recovery plan's passwords) never reach results, logs or job events.
    """
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            secret = isinstance(key, str) and _SECRET_KEY.search(key)
            if secret and isinstance(item, str) and item:
                found.add(item)
            elif secret and isinstance(item, (int, float)) and not isinstance(item, bool):
                found.add(str(item))
            else:
                found |= secret_values(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            found |= secret_values(item)
    return found


def ensure_dir(path):
    """Create ``path`` (and parents) with mode 0700; tighten an existing one.

    ``os.makedirs`` gives the parents it creates the default mode (0755 under the usual
    umask): each missing component is created here with 0700 instead. Parents that
    already existed keep their mode.
    """
    missing = []
    head = os.path.abspath(path)
    while head and not os.path.isdir(head) and os.path.dirname(head) != head:
        missing.append(head)
        head = os.path.dirname(head)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        else:
            os.chmod(directory, 0o700)
    os.chmod(path, 0o700)
    return path


def make_record(kind, name, status, run_id=None, plan=None, role=None, subject=None, data=None):
    """Build one record in the v1 schema (validated, redacted)."""
    if kind not in KINDS:
        raise ValueError("kind must be one of %s, got %r" % (", ".join(KINDS), kind))
    if status not in STATUSES:
        raise ValueError("status must be one of %s, got %r" % (", ".join(STATUSES), status))
    record = {
        "schema": SCHEMA,
        "ts": utcnow(),
        "run_id": run_id,
        "plan": plan,
        "role": role,
        "kind": kind,
        "name": name,
        "status": status,
        "subject": subject,
        "data": data if data is not None else {},
    }
    return redact(record)


def append_records(directory, records):
    """Append records to ``records.jsonl`` in one write (O_APPEND keeps concurrent writers whole)."""
    ensure_dir(directory)
    path = os.path.join(directory, RECORDS_FILE)
    append_lines(path, "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in records))
    return path


def append_lines(path, text, sync=False):
    """Append whole lines to ``path`` (created 0600) in one write; ``sync``: fsync before returning.

    A file that does not end with a newline ends with a torn line (a write interrupted by a
    crash): it is ended with :data:`TORN_MARK` and a newline first, so that the new lines stay
    whole and readers skip the torn one (:func:`read_lines`).
    """
    payload = text.encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            payload = (TORN_MARK + "\n").encode("utf-8") + payload
        while payload:
            payload = payload[os.write(fd, payload):]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)
    return path


def read_lines(path):
    """The JSON value of every line of ``path``, in order, without blank and torn lines (:func:`parse_lines`)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        return parse_lines(handle, path)


def parse_lines(lines, where="records"):
    """The JSON value of every line of ``lines`` (an iterable of lines, or one text), without blank and torn lines.

    A torn line is the last line without its newline, or a line a later append ended with
    :data:`TORN_MARK` (kept when it parses without the mark: only its newline was lost). Any
    other line that does not parse is corruption: ValueError naming ``where`` and the line.
    """
    if isinstance(lines, str):
        lines = lines.splitlines(keepends=True)
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError as exc:
            text = line.rstrip("\n")
            if text.endswith(TORN_MARK):
                try:
                    out.append(json.loads(text[:-len(TORN_MARK)]))
                except ValueError:
                    pass
            elif line.endswith("\n"):
                raise ValueError("%s line %d: %s" % (where, number, exc))
    return out


def write_json(directory, filename, data):
    """Write ``data`` (redacted) as JSON to ``directory/filename`` atomically, mode 0600."""
    text = json.dumps(redact(data), indent=2, sort_keys=True, default=str) + "\n"
    return _write_atomic(directory, filename, text)


def write_text(directory, filename, text):
    """Write ``text`` (redacted) to ``directory/filename`` atomically, mode 0600."""
    return _write_atomic(directory, filename, redact(text))


def _write_atomic(directory, filename, text):
    if os.path.basename(filename) != filename or filename in ("", ".", ".."):
        raise ValueError("file name must be a plain file name, got %r" % filename)
    if filename in APPEND_ONLY_FILES:
        raise ValueError("%s is the run's append-only log: a snapshot or document cannot replace it" % filename)
    ensure_dir(directory)
    path = os.path.join(directory, filename)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_records(directory):
    """All records of a run, in order (for reports and tests); torn lines are skipped (:func:`read_lines`)."""
    path = os.path.join(directory, RECORDS_FILE)
    if not os.path.exists(path):
        return []
    return read_lines(path)

# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Point-in-time clones of a PostgreSQL pair's database (module database_clone).

A clone is a separate instance in its own data directory on its own port, recovered
from the newest base backup beside the recovery site's WAL archive (or a named one)
up to a target - a time, an LSN, a named restore point, or everything archived
(``latest``) - and promoted. Production (the primary) and the standby are never
touched: only the archive is read.

Ownership is explicit: before anything is copied a marker file
``<data_dir>.continuity-clone.json`` (pair, target, base backup, port, created_at)
is written beside the data directory, so ``absent`` removes only what a clone of
this pair made - also a clone whose recovery failed half way - and refuses any
other data directory. The decisions (what to do from marker + status) are pure
functions, unit-tested in tests/unit/plugins/module_utils/replication/test_clone.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket

from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput
from ansible_collections.continuity.recovery.plugins.module_utils.evidence import utcnow
from ansible_collections.continuity.recovery.plugins.module_utils.replication import divergence

MARKER_SUFFIX = ".continuity-clone.json"
MARKER_SCHEMA = "continuity.recovery/database-clone/v1"
_CANARY_SQL = (
    "SELECT token, written_at::text AS written_at FROM public.continuity_recovery_canary WHERE pair = %s"
)
_CANARY_EXISTS_SQL = "SELECT pg_catalog.to_regclass('public.continuity_recovery_canary') IS NOT NULL AS e"
_REGCLASS_SQL = "SELECT pg_catalog.to_regclass(%s) IS NOT NULL AS e"
_LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")
# a time zone after the time stamp: a name (UTC, Europe/Helsinki) or a numeric offset (+02, -05:30)
_ZONE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*|[+-]\d{1,2}(?::?\d{2})?)$")
MAX_TARGET_NAME = 63  # recovery_target_name: shorter than MAXFNAMELEN (64)


def marker_path(data_dir):
    return data_dir.rstrip("/") + MARKER_SUFFIX


def _is_time(text):
    """Whether ``text`` is an ISO 8601 time stamp, optionally followed by a time zone (name or offset)."""
    candidates = [text]
    if " " in text:
        stamp, zone = text.rsplit(" ", 1)
        if _ZONE.match(zone):
            candidates.append(stamp)
    return any(divergence.to_datetime(stamp) is not None for stamp in candidates)


def target_of(target_time=None, target_lsn=None, target_name=None):
    """The recovery target as a dict; all None means ``latest`` (everything in the archive).

    Each target is checked here, before anything is copied: PostgreSQL would refuse a malformed one only
    when the clone starts."""
    given = {k: v for k, v in (("time", target_time), ("lsn", target_lsn), ("name", target_name)) if v}
    if len(given) > 1:
        raise InvalidInput("only one of target_time, target_lsn, target_name may be set, got %s"
                           % ", ".join("target_" + k for k in sorted(given)))
    if target_time and not _is_time(target_time.strip()):
        raise InvalidInput("target_time: %r is not a time stamp (ISO 8601, for example 2026-11-23 18:59:00+00, "
                           "optionally followed by a time zone name)" % target_time)
    if target_lsn and not _LSN.match(target_lsn.strip()):
        raise InvalidInput("target_lsn: %r is not a WAL position (for example 0/3000060)" % target_lsn)
    if target_name and len(target_name.encode("utf-8")) > MAX_TARGET_NAME:
        raise InvalidInput("target_name: %r is longer than %d bytes (a restore point name is shorter)"
                           % (target_name, MAX_TARGET_NAME))
    return {"time": target_time or None, "lsn": target_lsn or None, "name": target_name or None}


def check_inputs(port, tables=()):
    """Refuse, before anything is copied, the inputs the clone would trip over only once recovered:
    ``port`` out of range, a name of ``tables`` (count_tables) that is not ``[schema.]table``."""
    if not 1 <= int(port) <= 65535:
        raise InvalidInput("port: %s is not a TCP port (1-65535)" % port)
    for name in tables or ():
        quote_table(name)


def describe_target(target):
    for key in ("time", "lsn", "name"):
        if target.get(key):
            return "%s %s" % (key, target[key])
    return "latest (everything archived)"


def wanted_spec(pair, target, base_backup, port):
    """What a clone made for these options records in its marker (base_backup None = newest)."""
    return {"schema": MARKER_SCHEMA, "pair": pair, "target": dict(target), "base_backup": base_backup,
            "port": port}


def same_clone(marker, wanted):
    """Whether an existing clone (its marker) is the one asked for."""
    if not marker or marker.get("pair") != wanted["pair"] or marker.get("port") != wanted["port"]:
        return False
    if (marker.get("target") or {}) != wanted["target"]:
        return False
    return wanted["base_backup"] is None or marker.get("base_backup") == wanted["base_backup"]


def present_steps(marker, status, wanted, data_dir):
    """What ``state=present`` must do: [] (already there), ["start"] or ["create"]; raises when refused.

    ``status`` is PostgresqlDriver.clone_status (exists, pid, reachable, in_recovery)."""
    dir_there = status.get("exists") or status.get("dir_exists")
    if marker is None:
        if dir_there:
            raise InvalidInput("%s exists and was not made by database_clone (no %s): refusing to touch it"
                               % (data_dir, os.path.basename(marker_path(data_dir))))
        return ["create"]
    if marker.get("pair") != wanted["pair"]:
        raise InvalidInput("%s holds a clone of pair %s, not %s" % (data_dir, marker.get("pair"), wanted["pair"]))
    if not same_clone(marker, wanted):
        raise InvalidInput("%s holds a clone of pair %s to %s on port %s (base backup %s); remove it first "
                           "(state=absent)" % (data_dir, marker.get("pair"), describe_target(marker.get("target") or {}),
                                               marker.get("port"), marker.get("base_backup")))
    if not status.get("exists"):
        raise InvalidInput("the clone in %s is incomplete (its recovery failed or was interrupted); remove it "
                           "first (state=absent)" % data_dir)
    if status.get("pid") and status.get("reachable") and status.get("in_recovery") is False:
        return []
    if status.get("pid"):
        raise InvalidInput("the clone in %s runs but has not finished recovery (or does not answer on port %s); "
                           "remove it first (state=absent)" % (data_dir, wanted["port"]))
    return ["start"]


def absent_steps(marker, status, pair, data_dir):
    """What ``state=absent`` must do, in order: stop, remove; raises when the directory is not a clone of ``pair``."""
    dir_there = status.get("exists") or status.get("dir_exists")
    if marker is None:
        if dir_there:
            raise InvalidInput("%s was not made by database_clone (no %s): refusing to remove it"
                               % (data_dir, os.path.basename(marker_path(data_dir))))
        return []
    if marker.get("pair") != pair:
        raise InvalidInput("%s holds a clone of pair %s, not %s: refusing to remove it"
                           % (data_dir, marker.get("pair"), pair))
    steps = []
    if status.get("pid"):
        steps.append("stop")
    steps.append("remove")
    return steps


def quote_table(name):
    """``schema.table`` or ``table`` (schema public) as a quoted identifier; the only SQL built from input."""
    parts = name.split(".")
    if len(parts) == 1:
        parts = ["public"] + parts
    if len(parts) != 2 or not all(parts):
        raise InvalidInput("count_tables: %r is not [schema.]table" % name)
    return ".".join('"%s"' % p.replace('"', '""') for p in parts)


def port_in_use(host, port, timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class DatabaseClone:
    """present/absent of one clone of ``driver``'s pair (a PostgresqlDriver)."""

    def __init__(self, driver, data_dir, port, listen_addresses="127.0.0.1", check_mode=False):
        self.driver = driver
        self.pair = driver.pair["name"]
        self.data_dir = data_dir.rstrip("/")
        self.port = port
        self.listen = listen_addresses
        self.check_mode = check_mode
        self.actions = []

    def act(self, text):
        self.actions.append(text)

    def marker(self):
        try:
            with open(marker_path(self.data_dir), encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def status(self):
        status = self.driver.clone_status(self.data_dir, self.port, self.listen)
        status["dir_exists"] = os.path.lexists(self.data_dir)
        return status

    def _write_marker(self, spec):
        path = marker_path(self.data_dir)
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=0o755)  # the clone's owner must traverse it
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(spec, handle, indent=1, sort_keys=True)
        os.replace(path + ".tmp", path)

    def present(self, target, base_backup=None):
        """Make (or start) the clone; returns the result fields of the module."""
        wanted = wanted_spec(self.pair, target, base_backup, self.port)
        marker = self.marker()
        status = self.status()
        steps = present_steps(marker, status, wanted, self.data_dir)
        result = {"created": False, "started": False}
        if "create" in steps:
            backups = self.driver.base_backups()
            base = base_backup or (backups[-1] if backups else None)
            arch = (self.driver.pair.get("archive") or {}).get("path")
            if not arch:
                raise InvalidInput("pair %s has no archive: point-in-time recovery needs one" % self.pair)
            if not base or base not in backups:
                raise InvalidInput("no base backup %sin %s/base (the replication module takes one at state=present "
                                   "when archive is set)" % ((base + " ") if base else "", arch))
            if port_in_use(self.listen, self.port):
                raise InvalidInput("port %s on %s is in use: choose another port for the clone"
                                   % (self.port, self.listen))
            self.act("copy base backup %s from %s/base into %s" % (base, arch, self.data_dir))
            self.act("recover to %s from the archive %s and promote on %s:%s" % (
                describe_target(target), arch, self.listen, self.port))
            result.update(base_backup=base, created=True)
            if not self.check_mode:
                self._write_marker(dict(wanted, base_backup=base, created_at=utcnow(), data_dir=self.data_dir,
                                        listen_addresses=self.listen))
                recovered = self.driver.recover_to(self.data_dir, self.port, target_time=target["time"],
                                                   target_lsn=target["lsn"], target_name=target["name"], base=base,
                                                   listen_addresses=self.listen)
                result.update(timeline=recovered["timeline"], log_file=recovered["log_file"])
        elif "start" in steps:
            self.act("start the clone in %s on %s:%s" % (self.data_dir, self.listen, self.port))
            result.update(base_backup=marker.get("base_backup"), started=True)
            if not self.check_mode:
                state = self.driver.start_clone(self.data_dir, self.port, self.listen)
                result["timeline"] = state["timeline"]
        else:
            result["base_backup"] = marker.get("base_backup")
        return result

    def absent(self):
        marker = self.marker()
        status = self.status()
        steps = absent_steps(marker, status, self.pair, self.data_dir)
        port = (marker or {}).get("port") or self.port
        if "stop" in steps:
            self.act("stop the clone on port %s (pg_ctl stop -m fast)" % port)
            if not self.check_mode:
                self.driver.stop_clone(self.data_dir, port, self.listen)
        if "remove" in steps:
            log_file = status.get("log_file")
            self.act("remove %s%s and its marker" % (
                self.data_dir, " and its log %s" % log_file if log_file and os.path.exists(log_file) else ""))
            if not self.check_mode:
                if os.path.lexists(self.data_dir):
                    shutil.rmtree(self.data_dir)
                if log_file and os.path.exists(log_file):
                    os.unlink(log_file)
                os.unlink(marker_path(self.data_dir))
        return {"removed": "remove" in steps}

    def inspect(self, tables=()):
        """The running clone: rows of ``tables``, the canary row of the pair, the last replayed commit."""
        node = self.driver.clone_node(self.data_dir, self.port, self.listen)
        out = {"rows": {}, "canary": None}
        with self.driver.connect(node) as client:
            for name in tables:
                if not client.scalar(_REGCLASS_SQL, (quote_table(name),)):
                    raise InvalidInput("count_tables: table %s does not exist in the clone" % name)
                out["rows"][name] = client.scalar("SELECT count(*) FROM %s" % quote_table(name))
            if client.scalar(_CANARY_EXISTS_SQL):
                rows = client.query(_CANARY_SQL, (self.pair,))
                out["canary"] = ({"found": True, "token": rows[0]["token"], "written_at": rows[0]["written_at"]}
                                 if rows else {"found": False})
        return out


def log_tail(path, lines=12):
    """The end of a clone's server log (why a recovery failed), or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:]).strip() or None
    except (OSError, TypeError):
        return None

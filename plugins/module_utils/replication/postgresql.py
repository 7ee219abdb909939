# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL streaming replication driver: slot, pg_basebackup-seeded standby,
replay pause/resume, catch-up, fenced promotion, pg_rewind failback preparation.

SQL goes through postgres.Client (parameterised, recorded in ``queries``); server
programs (pg_basebackup, pg_ctl, pg_rewind) run locally as the data directory's
OS user through commands.Runner (passwords only in the environment). Data
directories are local to the host the module runs on: the standby's for
present/absent, the old primary's for promoted (stop + fence marker) and reversed.
"""

from __future__ import annotations

import datetime
import json
import os
import pwd
import re
import shlex
import shutil
import time

from ansible_collections.continuity.recovery.plugins.module_utils import postgres
from ansible_collections.continuity.recovery.plugins.module_utils.errors import (
    ConnectionFailure,
    InvalidInput,
    RecoveryError,
    TaskFailed,
)
from ansible_collections.continuity.recovery.plugins.module_utils.evidence import utcnow
from ansible_collections.continuity.recovery.plugins.module_utils.replication import divergence, lsn, pgconf, sizes
from ansible_collections.continuity.recovery.plugins.module_utils.replication.base import Driver, empty_info

FENCE_MARKER = "continuity.recovery.fence"
# the standby settings a kept base backup must not carry: primary_conninfo holds the replication password
BASE_BACKUP_RESET = ("primary_conninfo", "primary_slot_name")
DEFAULT_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/14/bin")

_SLOT_SQL = (
    "SELECT slot_name, active, active_pid, restart_lsn::text AS restart_lsn, wal_status, safe_wal_size"
    " FROM pg_catalog.pg_replication_slots WHERE slot_name = %s"
)
_CREATE_SLOT_SQL = "SELECT slot_name FROM pg_catalog.pg_create_physical_replication_slot(%s, true)"
_DROP_SLOT_SQL = "SELECT pg_catalog.pg_drop_replication_slot(%s)"
_SENDER_SQL = (
    "SELECT r.pid, r.application_name, r.state, r.sync_state, r.sent_lsn::text AS sent_lsn,"
    " r.write_lsn::text AS write_lsn, r.flush_lsn::text AS flush_lsn, r.replay_lsn::text AS replay_lsn,"
    " EXTRACT(EPOCH FROM r.write_lag)::float AS write_lag_seconds,"
    " EXTRACT(EPOCH FROM r.flush_lag)::float AS flush_lag_seconds,"
    " EXTRACT(EPOCH FROM r.replay_lag)::float AS replay_lag_seconds,"
    " r.backend_start::text AS connected_since, r.reply_time::text AS reply_time,"
    " COALESCE(s.ssl, false) AS ssl, s.version AS ssl_version"
    " FROM pg_catalog.pg_stat_replication r LEFT JOIN pg_catalog.pg_stat_ssl s ON s.pid = r.pid"
    " WHERE r.application_name = %s"
)
_STATE_SQL = (
    "SELECT pg_catalog.pg_is_in_recovery() AS in_recovery,"
    " CASE WHEN pg_catalog.pg_is_in_recovery()"
    "   THEN COALESCE((SELECT received_tli FROM pg_catalog.pg_stat_wal_receiver),"
    "                 (SELECT timeline_id FROM pg_catalog.pg_control_checkpoint()))"
    "   ELSE ('x' || substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int"
    " END AS timeline,"
    " CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL ELSE pg_catalog.pg_current_wal_lsn()::text END"
    "   AS current_lsn,"
    " CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_receive_lsn()::text END AS receive_lsn,"
    " CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()::text END AS replay_lsn,"
    " CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_get_wal_replay_pause_state() END"
    "   AS pause_state,"
    " pg_catalog.current_setting('default_transaction_read_only') AS read_only"
)
_RECEIVER_SQL = (
    "SELECT status, sender_host, sender_port, slot_name, flushed_lsn::text AS flushed_lsn,"
    " latest_end_lsn::text AS latest_end_lsn, latest_end_time::text AS latest_end_time,"
    " last_msg_receipt_time::text AS last_msg_receipt_time"
    " FROM pg_catalog.pg_stat_wal_receiver"
)
_LAST_REPLAY_SQL = (
    "SELECT EXTRACT(EPOCH FROM (pg_catalog.now() - pg_catalog.pg_last_xact_replay_timestamp()))::float AS s"
)
_CAP_SQL = "SELECT setting, unit FROM pg_catalog.pg_settings WHERE name = 'max_slot_wal_keep_size'"
_CURRENT_LSN_SQL = "SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn"
_RETAINED_SQL = "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), %s::pg_lsn)::bigint AS b"
_WAL_FILE_TIME_SQL = (
    "SELECT modification::text AS t FROM pg_catalog.pg_ls_waldir()"
    " WHERE name = pg_catalog.pg_walfile_name(%s::pg_lsn)"
)
_FENCE_SQL = "ALTER SYSTEM SET default_transaction_read_only = on"
_UNFENCE_SQL = "ALTER SYSTEM RESET default_transaction_read_only"
_RELOAD_SQL = "SELECT pg_catalog.pg_reload_conf()"
_TERMINATE_SQL = (
    "SELECT count(pg_catalog.pg_terminate_backend(pid)) AS n FROM pg_catalog.pg_stat_activity"
    " WHERE backend_type = 'client backend' AND pid <> pg_catalog.pg_backend_pid()"
)
_PAUSE_SQL = "SELECT pg_catalog.pg_wal_replay_pause()"
_RESUME_SQL = "SELECT pg_catalog.pg_wal_replay_resume()"
_PROMOTE_SQL = "SELECT pg_catalog.pg_promote(true, %s) AS promoted"
_WRITABLE_SQL = "SELECT pg_catalog.txid_current() AS xid"
_CHECKPOINT_SQL = "CHECKPOINT"
_REPLAY_TS_SQL = "SELECT pg_catalog.pg_last_xact_replay_timestamp()::text AS t"
_HISTORY_SQL = "SELECT pg_catalog.pg_read_file(%s) AS h"
_DATABASES_SQL = "SELECT oid::bigint AS oid, datname FROM pg_catalog.pg_database WHERE oid = ANY(%s)"
_RELATIONS_SQL = (
    "SELECT pg_catalog.pg_relation_filenode(c.oid)::bigint AS node,"
    " COALESCE(NULLIF(c.reltablespace, 0), d.dattablespace)::bigint AS spc,"
    " pg_catalog.format('%%I.%%I', n.nspname, c.relname) AS name, c.relkind::text AS relkind,"
    " (n.nspname IN ('pg_catalog', 'information_schema', 'pg_toast') OR c.relkind NOT IN ('r', 'p', 'm'))"
    "   AS system"
    " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " JOIN pg_catalog.pg_database d ON d.datname = pg_catalog.current_database()"
    " WHERE pg_catalog.pg_relation_filenode(c.oid) = ANY(%s)"
)
_QUARANTINE_ROWS_SQL = (
    "SELECT pg_catalog.to_jsonb(t) AS row FROM %s t WHERE t.xmin::text::bigint = ANY(%%s)"
    " ORDER BY t.xmin::text::bigint, t.ctid"
)
_RECOVERY_SQL = ("SELECT pg_catalog.pg_is_in_recovery() AS in_recovery,"
                 " pg_catalog.pg_last_wal_replay_lsn()::text AS replay_lsn")
_WALFILE = re.compile(r"^[0-9A-F]{24}$")

_REWIND_COPIED = re.compile(r"(\d+)/(\d+) kB \(100%\) copied")
_REWIND_NEED = re.compile(r"need to copy (\d+) MB")


def parse_rewind_output(text):
    """Bytes pg_rewind copied (from its --progress output) and whether a rewind was needed."""
    text = text or ""
    copied = None
    for match in _REWIND_COPIED.finditer(text):
        copied = int(match.group(1)) * 1024
    if copied is None:
        need = _REWIND_NEED.search(text)
        copied = int(need.group(1)) * 1024 * 1024 if need else 0
    return {"bytes_copied": copied, "rewind_required": "no rewind required" not in text}


_REWIND_UNREACHABLE = re.compile(r"connection to server .*failed|could not connect to|password authentication failed"
                                 r"|no pg_hba\.conf entry|timeout expired|could not translate host name", re.I)


def rewind_unreachable(text):
    """The line of pg_rewind's output saying it could not reach the source server (else None).

    Such a failure says nothing about the old data directory; a re-seed from the same
    server would fail the same way, so nothing is moved for it.
    """
    for line in (text or "").splitlines():
        if _REWIND_UNREACHABLE.search(line):
            return line.strip()
    return None


def _command_path(path):
    """A directory as it goes into archive_command/restore_command: shell-quoted when it needs it, and
    its ``%`` doubled (PostgreSQL substitutes %f, %p and %% in them)."""
    return shlex.quote(str(path)).replace("%", "%%")


def _bin_dir(side):
    if side.get("bin_dir"):
        return side["bin_dir"]
    for candidate in DEFAULT_BIN_DIRS:
        if os.path.exists(os.path.join(candidate, "pg_ctl")):
            return candidate
    found = shutil.which("pg_ctl")
    if found:
        return os.path.dirname(found)
    raise InvalidInput("cannot find the PostgreSQL server programs: set bin_dir")


class PostgresqlDriver(Driver):
    engine = "postgresql"

    def __init__(self, pair, runner, **kwargs):
        super().__init__(pair, runner, **kwargs)
        self.primary = pair["primary"]
        self.standby = pair["standby"]
        if not pair.get("slot"):
            raise InvalidInput("slot is required for engine postgresql")
        self.slot = pair["slot"]
        self.app_name = re.sub(r"[^A-Za-z0-9_]", "_", pair["name"])
        if not pair.get("replication_password") and not self.primary.get("password"):
            pass  # libpq may find it in ~/.pgpass

    # ------------------------------------------------------------ plumbing
    def _conninfo(self, side):
        params = {"host": side.get("host"), "port": side.get("port"), "user": side.get("user"),
                  "password": side.get("password"), "dbname": side.get("database") or "postgres",
                  "connect_timeout": self.pair.get("connect_timeout") or 5,
                  "application_name": "continuity.recovery"}
        if side.get("ssl_mode"):
            params["sslmode"] = side["ssl_mode"]
        return {k: v for k, v in params.items() if v not in (None, "")}

    def connect(self, side):
        """A connected postgres.Client for ``side`` whose queries land in self.queries."""
        client = postgres.Client(**self._conninfo(side))
        client.queries = self.queries
        client.connect()
        return client

    def try_connect(self, side):
        try:
            return self.connect(side), None
        except RecoveryError as exc:
            return None, str(exc)

    def _state(self, client):
        return client.query(_STATE_SQL)[0]

    def _run_pg(self, side, program, args, check=True, timeout=None, env=None):
        argv = [os.path.join(_bin_dir(side), program)] + list(args)
        return self.runner.run(argv, user=side.get("os_user") or "postgres", prefix=side.get("command_prefix"),
                               env=env, timeout=timeout or self.timeout, check=check)

    def _log_file(self, side):
        if side.get("log_file"):
            return side["log_file"]
        data = side["data_dir"].rstrip("/")
        logdir = os.path.join(os.path.dirname(data), "log")
        if os.path.isdir(logdir):
            return os.path.join(logdir, os.path.basename(data) + ".log")
        return data + ".log"

    def _require_data_dir(self, side, name, why):
        if not side.get("data_dir"):
            raise InvalidInput("%s.data_dir is required to %s" % (name, why))
        return side["data_dir"]

    @staticmethod
    def _has_cluster(data_dir):
        return bool(data_dir) and os.path.exists(os.path.join(data_dir, "PG_VERSION"))

    @staticmethod
    def _running_pid(data_dir):
        """The postmaster pid of ``data_dir`` when it is alive (from postmaster.pid)."""
        try:
            with open(os.path.join(data_dir, "postmaster.pid"), encoding="utf-8") as handle:
                pid = int(handle.readline().strip())
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                cmd = handle.read().split(b"\0")
            with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return None
            if b"-D" in cmd and os.path.realpath(cmd[cmd.index(b"-D") + 1].decode()) == os.path.realpath(data_dir):
                return pid
            return pid if any(os.path.basename(c.decode(errors="replace")) == "postgres" for c in cmd[:1]) else None
        except (OSError, ValueError, IndexError):
            return None

    def _start(self, side):
        data_dir = side["data_dir"]
        log_file = self._log_file(side)
        self._ensure_log_dir(side, log_file)
        self._run_pg(side, "pg_ctl", ["-D", data_dir, "-l", log_file, "-w", "-t", str(int(self.timeout)), "start"])

    def _stop(self, side, mode="fast"):
        self._run_pg(side, "pg_ctl", ["-D", side["data_dir"], "-m", mode, "-w", "-t", str(int(self.timeout)), "stop"])

    def _ensure_log_dir(self, side, log_file):
        directory = os.path.dirname(log_file)
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700)
            self._chown(side, directory)
        if not os.path.exists(log_file):
            fd = os.open(log_file, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
            self._chown(side, log_file)

    @staticmethod
    def _chown(side, path):
        if os.geteuid() == 0:
            pw = pwd.getpwnam(side.get("os_user") or "postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def _write_file(self, side, path, text, mode=0o600):
        tmp = path + ".continuity-tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        self._chown(side, tmp)
        os.replace(tmp, path)

    # ---------------------------------------------------- standby settings
    def _client_env(self, password):
        """Environment of a client program (pg_basebackup, pg_rewind): its password, and the pair's
        replication_ssl_mode as PGSSLMODE, so a seed or a rewind never copies data over a connection
        weaker than the one streaming requires."""
        env = {"PGPASSWORD": password or ""}
        if self.pair.get("replication_ssl_mode"):
            env["PGSSLMODE"] = self.pair["replication_ssl_mode"]
        return env

    def _upstream_conninfo(self, upstream, follower):
        """primary_conninfo of ``follower`` streaming from ``upstream`` (contains the replication password)."""
        return pgconf.conninfo(
            host=follower.get("upstream_host") or upstream.get("host"),
            port=follower.get("upstream_port") or upstream.get("port"),
            user=self.pair.get("replication_user") or upstream.get("user"),
            password=self.pair.get("replication_password"),
            application_name=self.app_name,
            sslmode=self.pair.get("replication_ssl_mode"),
            connect_timeout=5,
        )

    def _node_settings(self, node, upstream, archive=True):
        """Settings this collection manages in a standby's postgresql.auto.conf."""
        host = node.get("host") or ""
        settings = {"port": node.get("port"),
                    "primary_conninfo": self._upstream_conninfo(upstream, node),
                    "primary_slot_name": self.slot,
                    "hot_standby": "on",
                    "cluster_name": "%s_%s" % (self.app_name, node.get("name", "node"))}
        if node.get("listen_addresses") is not None:
            settings["listen_addresses"] = node["listen_addresses"]
        elif host and not host.startswith("/"):
            settings["listen_addresses"] = host
        if host.startswith("/"):
            settings["unix_socket_directories"] = host
        arch = self.pair.get("archive")
        if archive and arch and arch.get("path"):
            settings["archive_mode"] = "always"
            path = _command_path(arch["path"])
            settings["archive_command"] = "test ! -f %s/%%f && cp %%p %s/%%f" % (path, path)
        return settings

    def _settings_differ(self, node, upstream, archive=True):
        path = os.path.join(node["data_dir"], "postgresql.auto.conf")
        try:
            with open(path, encoding="utf-8") as handle:
                current = pgconf.parse(handle.read())
        except OSError:
            return True
        wanted = self._node_settings(node, upstream, archive)
        return any(str(current.get(k.lower())) != str(v) for k, v in wanted.items() if v is not None)

    def _configure(self, node, upstream, archive=True, reset=()):
        path = os.path.join(node["data_dir"], "postgresql.auto.conf")
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError:
            text = ""
        arch = self.pair.get("archive")
        if archive and arch and arch.get("path") and not os.path.isdir(arch["path"]):
            os.makedirs(arch["path"], mode=0o700)
            self._chown(node, arch["path"])
        self._write_file(node, path, pgconf.apply(text, self._node_settings(node, upstream, archive), reset=reset))
        signal = os.path.join(node["data_dir"], "standby.signal")
        if not os.path.exists(signal):
            self._write_file(node, signal, "")

    # ---------------------------------------------------------- observers
    def _slot(self, client):
        rows = client.query(_SLOT_SQL, (self.slot,))
        return rows[0] if rows else None

    def _sender(self, client):
        rows = client.query(_SENDER_SQL, (self.app_name,))
        return rows[0] if rows else None

    def _streaming(self, upstream_side):
        def check():
            client, _error = self.try_connect(upstream_side)
            if client is None:
                return None
            with client:
                sender = self._sender(client)
            return sender if sender and sender["state"] == "streaming" else None
        return check

    # ------------------------------------------------------------- states
    def state_present(self, outcome):
        primary, error = self.try_connect(self.primary)
        if primary is None:
            raise ConnectionFailure("the primary of pair %s is unreachable: %s" % (self.pair["name"], error))
        data_dir = self._require_data_dir(self.standby, "standby", "seed and run the standby")
        with primary:
            if self._state(primary)["in_recovery"]:
                raise InvalidInput("the primary endpoint of pair %s is in recovery (a standby); after a takeover "
                                   "use state=reversed to protect in the other direction" % self.pair["name"])
            slot = self._slot(primary)
            reseed_reason = None
            if slot and slot["wal_status"] == "lost":
                reseed_reason = ("replication slot %s lost WAL the standby needs (wal_status lost, the buffer "
                                 "overflowed): re-seeding the standby" % self.slot)
            elif self._has_cluster(data_dir) and not os.path.exists(os.path.join(data_dir, "standby.signal")):
                raise InvalidInput("the standby data directory %s holds a primary (promoted?); use state=reversed "
                                   "or state=absent first" % data_dir)
            seed = not self._has_cluster(data_dir) or reseed_reason
            if reseed_reason:
                outcome.reseeded, outcome.reseed_reason = True, reseed_reason
                outcome.act("drop lost slot %s" % self.slot)
                if not self.check_mode:
                    if self._running_pid(data_dir):
                        self._stop(self.standby, "immediate")
                    primary.query(_DROP_SLOT_SQL, (self.slot,))
                    shutil.rmtree(data_dir)
                slot = None
            if slot is None:
                outcome.act("create physical replication slot %s" % self.slot)
                if not self.check_mode:
                    primary.query(_CREATE_SLOT_SQL, (self.slot,))
        if seed:
            outcome.act("seed standby %s with pg_basebackup from %s" % (data_dir, self._endpoint(self.primary)))
            if not self.check_mode:
                outcome.transfer = self._basebackup(self.standby, self.primary)
        restart = False
        if seed or self._settings_differ(self.standby, self.primary):
            # a running standby reads the new settings only when restarted (check mode says so too)
            restart = not seed and bool(self._running_pid(data_dir))
            if not seed:
                outcome.act("write standby settings (primary_conninfo, primary_slot_name, port)")
            if restart:
                outcome.act("restart standby to apply settings")
            if not self.check_mode:
                self._configure(self.standby, self.primary)
                if restart:
                    self._stop(self.standby)
        if seed or restart or not self._running_pid(data_dir):
            outcome.act("start standby %s" % self._endpoint(self.standby))
            if not self.check_mode:
                self._start(self.standby)
        arch = (self.pair.get("archive") or {}).get("path")
        if arch and not self.base_backups():
            outcome.act("base backup of the standby into %s/base for point-in-time recovery" % arch)
        for name in self._base_backups_with_upstream():
            outcome.act("remove primary_conninfo and primary_slot_name (the replication password) from the kept "
                        "base backup %s/base/%s" % (arch, name))
            if not self.check_mode:
                self._strip_upstream(os.path.join(arch, "base", name))
        if not self.check_mode:
            what = "standby %s streaming from %s" % (self._endpoint(self.standby), self._endpoint(self.primary))
            sender = self.wait_until(what, self._streaming(self.primary))
            outcome.details["streaming"] = {"state": sender["state"], "sync_state": sender["sync_state"]}
            if arch and not self.base_backups():
                outcome.details["base_backup"] = self._base_backup_at_recovery_site(arch)

    def _basebackup(self, node, upstream):
        data_dir = node["data_dir"]
        if not os.path.isdir(data_dir):
            os.makedirs(data_dir, mode=0o700)
        os.chmod(data_dir, 0o700)
        self._chown(node, data_dir)
        env = dict(self._client_env(self.pair.get("replication_password") or upstream.get("password")),
                   PGAPPNAME="continuity.recovery")
        self._run_pg(node, "pg_basebackup", [
            "-D", data_dir, "-h", upstream["host"], "-p", str(upstream["port"]),
            "-U", self.pair.get("replication_user") or upstream.get("user") or "postgres",
            "-X", "stream", "-S", self.slot, "-c", "fast", "-w", "--no-sync"], env=env)
        total = 0
        for root, _dirs, files in os.walk(data_dir):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except OSError:
                    pass
        for stale in (FENCE_MARKER, "postmaster.opts"):
            if os.path.exists(os.path.join(data_dir, stale)):
                os.unlink(os.path.join(data_dir, stale))
        return {"method": "pg_basebackup", "bytes_sent": total, "bytes_total": total}

    @staticmethod
    def _endpoint(side):
        return "%s:%s" % (side.get("host"), side.get("port"))

    def _standby_client(self, require_recovery=True):
        client, error = self.try_connect(self.standby)
        if client is None:
            raise ConnectionFailure("the standby of pair %s is unreachable: %s" % (self.pair["name"], error))
        if require_recovery and not self._state(client)["in_recovery"]:
            client.close()
            raise InvalidInput("the standby of pair %s is not in recovery (promoted)" % self.pair["name"])
        return client

    def state_paused(self, outcome):
        with self._standby_client() as client:
            state = self._state(client)
            if state["pause_state"] == "not paused":
                outcome.act("pause WAL replay on %s" % self._endpoint(self.standby))
                if not self.check_mode:
                    client.query(_PAUSE_SQL)
            outcome.details["replay_lsn"] = state["replay_lsn"]

    def state_resumed(self, outcome):
        with self._standby_client() as client:
            state = self._state(client)
            if state["pause_state"] != "not paused":
                outcome.act("resume WAL replay on %s" % self._endpoint(self.standby))
                if not self.check_mode:
                    client.query(_RESUME_SQL)

    def state_synced(self, outcome):
        primary, error = self.try_connect(self.primary)
        if primary is None:
            raise ConnectionFailure("the primary of pair %s is unreachable: %s" % (self.pair["name"], error))
        with primary:
            target = primary.query(_CURRENT_LSN_SQL)[0]["lsn"]
        with self._standby_client() as client:
            state = self._state(client)
            if state["pause_state"] != "not paused":
                raise InvalidInput("WAL replay is paused on the standby of pair %s: it cannot catch up; "
                                   "use state=resumed first" % self.pair["name"])

            def caught_up():
                replay = self._state(client)["replay_lsn"]
                return replay if lsn.parse(replay) >= lsn.parse(target) else None
            outcome.details["target_lsn"] = target
            if self.check_mode:
                outcome.details["replay_lsn"] = state["replay_lsn"]
                outcome.details["behind_bytes"] = max(0, lsn.diff(target, state["replay_lsn"]) or 0)
                return
            started = time.monotonic()
            outcome.details["replay_lsn"] = self.wait_until("standby replay to reach %s" % target, caught_up)
            outcome.details["waited_seconds"] = round(time.monotonic() - started, 3)

    def _fenced(self, client):
        return client is not None and self._state(client)["read_only"] == "on"

    def _fence(self, outcome, primary_client, final_sync=True, resume=False):
        """Make the old primary refuse writes, wait for the standby to have everything, stop it, mark it.

        ``resume``: it already refuses writes (an earlier run fenced it and failed before the end,
        e.g. its final sync timed out): the rest is done now, the final sync included.
        """
        outcome.act("%s old primary %s (read-only, sessions ended%s)" % (
            "finish fencing" if resume else "fence", self._endpoint(self.primary),
            ", stopped, fence marker" if self.primary.get("data_dir") else ""))
        if self.check_mode:
            return
        if not resume:
            primary_client.query(_FENCE_SQL)
            primary_client.query(_RELOAD_SQL)
            time.sleep(0.2)
        primary_client.query(_TERMINATE_SQL)
        last = primary_client.query(_CURRENT_LSN_SQL)[0]["lsn"]
        outcome.details["fenced_at_lsn"] = last
        if final_sync:
            with self._standby_client() as standby:
                self.wait_until("final sync of the standby to %s" % last,
                                lambda: lsn.parse(self._state(standby)["replay_lsn"] or "0/0") >= lsn.parse(last))
        data_dir = self.primary.get("data_dir")
        if data_dir and self._has_cluster(data_dir):
            marker = {"fenced_at": utcnow(), "pair": self.pair["name"], "last_lsn": last,
                      "new_primary": self._endpoint(self.standby),
                      "reason": "takeover: this server must not come back as primary"}
            self._write_file(self.primary, os.path.join(data_dir, FENCE_MARKER), json.dumps(marker) + "\n")
            # standby.signal: if anyone starts it, it comes up read-only in recovery
            self._write_file(self.primary, os.path.join(data_dir, "standby.signal"), "")
            primary_client.close()
            if self._running_pid(data_dir):
                self._stop(self.primary)
        outcome.details["fence"] = {"read_only": True, "stopped": bool(data_dir), "marker": bool(data_dir)}
        if resume:
            outcome.details["fence"]["resumed"] = True

    def _refuse_paused_final_sync(self, standby):
        if self._state(standby)["pause_state"] != "not paused":
            raise InvalidInput("WAL replay is paused on the standby of pair %s: the final sync of a planned takeover "
                               "cannot complete and nothing was fenced; resume replay first (state=resumed), or "
                               "promote without it (final_sync: false)" % self.pair["name"])

    def state_promoted(self, outcome):
        standby = self._standby_client(require_recovery=False)
        outcome.details["rpo"] = None
        with standby:
            in_recovery = self._state(standby)["in_recovery"]
            old, error = self.try_connect(self.primary)
            old_lsn = None
            if old is not None:
                with old:
                    old_state = self._state(old)
                    final_sync = in_recovery and self.pair.get("final_sync", True)
                    writable = not old_state["in_recovery"] and old_state["read_only"] != "on"
                    # read-only but not finished: still running with a data directory we stop, or not promoted yet
                    half_fenced = not old_state["in_recovery"] and not writable and (
                        in_recovery or bool(self.primary.get("data_dir") and self._running_pid(self.primary["data_dir"])))
                    if (writable or half_fenced) and final_sync:
                        self._refuse_paused_final_sync(standby)
                    if writable or half_fenced:
                        self._fence(outcome, old, final_sync=final_sync, resume=half_fenced)
                        old_lsn = outcome.details.get("fenced_at_lsn")
                    else:
                        outcome.details["fence"] = {"already": True}
                        old_lsn = old_state["current_lsn"] or old_state["replay_lsn"]
            else:
                outcome.details["fence"] = {"reachable": False, "error": error}
                marker = self.primary.get("data_dir") and os.path.join(self.primary["data_dir"], FENCE_MARKER)
                if marker and self._has_cluster(self.primary["data_dir"]) and not os.path.exists(marker):
                    outcome.act("leave fence marker in %s" % self.primary["data_dir"])
                    if not self.check_mode:
                        self._write_file(self.primary, marker, json.dumps({
                            "fenced_at": utcnow(), "pair": self.pair["name"],
                            "new_primary": self._endpoint(self.standby),
                            "reason": "emergency takeover while this server was unreachable"}) + "\n")
                        self._write_file(self.primary, os.path.join(self.primary["data_dir"], "standby.signal"), "")
            if in_recovery:
                outcome.act("promote %s" % self._endpoint(self.standby))
                if not self.check_mode:
                    state = self._state(standby)
                    if state["pause_state"] != "not paused":
                        standby.query(_RESUME_SQL)
                    # what the standby has when it stops following: the RPO is measured from here
                    before = dict(self._state(standby), replay_ts=standby.query(_REPLAY_TS_SQL)[0]["t"])
                    if not standby.query(_PROMOTE_SQL, (int(self.timeout),))[0]["promoted"]:
                        raise TaskFailed("pg_promote did not complete within %ss" % self.timeout)
                    try:
                        outcome.details["rpo"] = self._measure_rpo(standby, before, reachable=old is not None,
                                                                   old_lsn=old_lsn)
                    except (RecoveryError, OSError) as exc:
                        # the promotion happened: a failed measurement must not turn it into a failure
                        outcome.details["rpo"] = {
                            "mode": "planned" if old is not None else "emergency", "exact": False,
                            "lost_transactions": None, "lost_rows": None, "lost_bytes": None,
                            "achieved_seconds": None, "last_replayed_commit": divergence.iso(before["replay_ts"]),
                            "last_lost_commit": None, "divergence_lsn": before["replay_lsn"], "timelines": None,
                            "tables": None, "source": "not measured: %s" % exc}
            # the way back starts now: retain the new primary's WAL for the old primary's return (failback)
            if in_recovery or self._slot(standby) is None:
                outcome.act("create physical replication slot %s on the new primary (WAL kept for failback)"
                            % self.slot)
            if not self.check_mode:
                state = self._state(standby)
                if state["in_recovery"]:
                    raise TaskFailed("%s is still in recovery after promotion" % self._endpoint(self.standby))
                if self._slot(standby) is None:
                    standby.query(_CREATE_SLOT_SQL, (self.slot,))
                standby.query(_WRITABLE_SQL)
                outcome.details.update(writable=True, timeline=state["timeline"], promoted_lsn=state["current_lsn"])

    # ------------------------------------------------- RPO and divergence
    def _history(self, client, timeline, side=None):
        """The timeline history of ``timeline`` on the server behind ``client`` (parsed), [] for timeline 1."""
        if not timeline or int(timeline) <= 1:
            return []
        name = "pg_wal/%08X.history" % int(timeline)
        try:
            return divergence.parse_history(client.query(_HISTORY_SQL, (name,))[0]["h"])
        except RecoveryError:
            data_dir = (side or {}).get("data_dir")
            if data_dir and os.path.exists(os.path.join(data_dir, name)):
                with open(os.path.join(data_dir, name), encoding="utf-8") as handle:
                    return divergence.parse_history(handle.read())
            return None

    @staticmethod
    def _wal_segment_size(wal_dir):
        for name in sorted(os.listdir(wal_dir)):
            if _WALFILE.match(name):
                return os.path.getsize(os.path.join(wal_dir, name))
        return None

    def _waldump_major(self, side):
        res = self._run_pg(side, "pg_waldump", ["-V"], check=False)
        match = re.search(r"(\d+)(?:\.\d+)?", res.stdout or "")
        return int(match.group(1)) if match else 0

    def _read_wal(self, side, start, timeline):
        """pg_waldump of ``side``'s own WAL (its pg_wal, else its archive_dir) on ``timeline`` from the start
        of the WAL segment before the one holding ``start`` (changes of transactions that committed after
        ``start`` may precede it), parsed relative to ``start``."""
        parsed = None
        for wal_dir in (os.path.join(side["data_dir"], "pg_wal"), side.get("archive_dir")):
            if not wal_dir or not os.path.isdir(wal_dir):
                continue
            segsize = self._wal_segment_size(wal_dir) or 16 * 1024 * 1024
            point = lsn.parse(start)
            window = point - point % segsize
            per_id = 0x100000000 // segsize
            previous = window - segsize
            if previous >= 0 and os.path.exists(os.path.join(wal_dir, "%08X%08X%08X" % (
                    int(timeline), (previous // segsize) // per_id, (previous // segsize) % per_id))):
                window = previous
            args = ["-p", wal_dir, "-s", lsn.format_lsn(window), "-t", str(int(timeline))]
            if self._waldump_major(side) >= 15:
                # only the records that matter (PostgreSQL 15 accepts several -r): a long cut means a lot of WAL
                args += ["-r", "Heap", "-r", "Heap2", "-r", "Transaction"]
            res = self._run_pg(side, "pg_waldump", args, check=False, env={"TZ": "UTC"})
            parsed = divergence.parse_waldump((res.stdout or "") + (res.stderr or ""), after=start)
            parsed["wal_dir"] = wal_dir
            if parsed["readable"]:
                return parsed
        return parsed

    def _classify(self, side, rels):
        """{rel: {name, database, system}} for ``spc/db/relfilenode`` paths, resolved in each database of
        ``side`` (relfilenode -> pg_class); unresolved ones keep name None (system by the OID heuristic)."""
        out = {rel: {"name": None, "database": None, "system": divergence.is_system_relfilenode(rel)}
               for rel in rels}
        by_db = {}
        for rel in rels:
            by_db.setdefault(divergence.split_rel(rel)["database"], []).append(rel)
        if not by_db:
            return out
        try:
            with self.connect(side) as client:
                names = {r["oid"]: r["datname"] for r in client.query(_DATABASES_SQL, (sorted(by_db),))}
        except RecoveryError:
            return out
        for oid, members in by_db.items():
            if oid not in names:
                continue
            try:
                with self.connect(dict(side, database=names[oid])) as client:
                    nodes = [divergence.split_rel(r)["relfilenode"] for r in members]
                    found = {(r["spc"], r["node"]): r for r in client.query(_RELATIONS_SQL, (nodes,))}
            except RecoveryError:
                continue
            for rel in members:
                parts = divergence.split_rel(rel)
                row = found.get((parts["tablespace"], parts["relfilenode"]))
                if row:
                    out[rel] = {"name": row["name"], "database": names[oid], "system": bool(row["system"])}
                else:
                    out[rel]["database"] = names[oid]
        return out

    def _lost_summary(self, parsed, names):
        counts = divergence.rpo_counts(parsed, lambda rel: names[rel]["system"])
        tables = {}
        for rel, value in parsed["relations"].items():
            if not names[rel]["system"]:
                key = "%s:%s" % (names[rel]["database"], names[rel]["name"]) if names[rel]["name"] else rel
                tables[key] = dict(value)
        counts["tables"] = tables
        return counts

    def _measure_rpo(self, standby, before, reachable, old_lsn):
        """The data lost by this promotion: exact when the old primary's WAL can be read here (or when the
        fence proved zero loss by LSN), an estimate otherwise (``exact`` false, ``source`` says why)."""
        after = self._state(standby)
        old_tli = before["timeline"]
        history = self._history(standby, after["timeline"], self.standby) or []
        point = divergence.switchpoint(history, old_tli) or before["replay_lsn"]
        replayed = standby.query(_REPLAY_TS_SQL)[0]["t"] or before["replay_ts"]
        rpo = {"mode": "planned" if reachable else "emergency", "exact": False, "lost_transactions": None,
               "lost_rows": None, "lost_bytes": None, "achieved_seconds": None,
               "last_replayed_commit": divergence.iso(replayed), "last_lost_commit": None,
               "divergence_lsn": point, "timelines": {"old": old_tli, "new": after["timeline"]},
               "tables": None, "source": None}
        if reachable and old_lsn and lsn.parse(old_lsn) <= lsn.parse(point):
            rpo.update(exact=True, lost_transactions=0, lost_rows=divergence.empty_counts(), lost_bytes=0,
                       achieved_seconds=0.0, tables={},
                       source="lsn comparison: the fenced old primary's last LSN %s <= the standby's replay "
                              "LSN %s at promotion" % (old_lsn, point))
            return rpo
        data_dir = self.primary.get("data_dir")
        parsed = None
        if data_dir and os.path.isdir(os.path.join(data_dir, "pg_wal")):
            try:
                parsed = self._read_wal(self.primary, point, old_tli)
            except RecoveryError as exc:
                parsed = {"readable": False, "error": str(exc)}
        if parsed and parsed["readable"]:
            names = self._classify(self.standby, list(parsed["relations"]))
            counts = self._lost_summary(parsed, names)
            if parsed["last_commit_before"]:
                rpo["last_replayed_commit"] = parsed["last_commit_before"]["commit_ts"]
            lost = counts["lost_transactions"]
            seconds = divergence.seconds_between(counts["last_lost_commit"], rpo["last_replayed_commit"])
            running = self._running_pid(data_dir)
            rpo.update(exact=not running,
                       lost_transactions=lost, lost_rows=counts["lost_rows"], lost_bytes=counts["lost_bytes"],
                       achieved_seconds=0.0 if not lost else (max(0.0, seconds) if seconds is not None else None),
                       last_lost_commit=counts["last_lost_commit"], tables=counts["tables"],
                       lost_system_transactions=counts["lost_system_transactions"],
                       source="pg_waldump of the old primary's WAL (%s, timeline %s) from %s to the end of "
                              "valid WAL %s%s" % (parsed["wal_dir"], old_tli, point, parsed["end_lsn"],
                                                  "; the old primary is still running: a lower bound"
                                                  if running else ""))
            return rpo
        since = divergence.seconds_between(divergence.iso(utcnow()), rpo["last_replayed_commit"])
        why = ("its WAL is not readable on this host (%s)" % parsed.get("error") if parsed
               else "its data directory is not on this host")
        if reachable and old_lsn:
            rpo["lost_bytes"] = max(0, lsn.diff(old_lsn, point) or 0)
        rpo.update(achieved_seconds=since,
                   source="estimate: the old primary's lost transactions cannot be counted, %s; achieved_seconds "
                          "is an upper bound (time from the last replayed commit to the promotion)" % why)
        return rpo

    # ------------------------------------------------------- quarantine
    def _old_timeline(self):
        res = self._run_pg(self.primary, "pg_controldata", ["-D", self.primary["data_dir"]], check=False)
        match = re.search(r"Latest checkpoint's TimeLineID:\s*(\d+)", res.stdout or "")
        if not match:
            raise TaskFailed("cannot read the timeline of the old primary %s: %s" % (
                self.primary["data_dir"], (res.stderr or res.stdout or "").strip()[-300:]))
        return int(match.group(1))

    def _divergence(self, new):
        """(divergence LSN, old timeline, new timeline): where the new primary's history left the timeline
        the old primary stayed on."""
        new_tli = self._state(new)["timeline"]
        old_tli = self._old_timeline()
        history = self._history(new, new_tli, self.standby)
        if history is None:
            raise TaskFailed("cannot read the timeline history %08X.history of the new primary %s" % (
                new_tli, self._endpoint(self.standby)))
        return divergence.switchpoint(history, old_tli), old_tli, new_tli

    def _quarantine_path(self, point):
        return os.path.join(self.pair["quarantine_dir"], "%s-%s.json" % (
            re.sub(r"[^A-Za-z0-9_.-]", "_", self.pair["name"]), point.replace("/", "-")))

    @staticmethod
    def _quarantine_result(path, doc):
        totals = doc["totals"]
        return {"path": path, "transactions": totals["transactions"], "rows": totals["rows"],
                "tables": totals["tables"], "deleted": totals["deleted"],
                "divergence_lsn": doc["divergence_lsn"]}

    def _quarantine(self, outcome, new):
        """Extract what the old primary committed after the divergence into the quarantine file
        (None when nothing diverged). Refuses (nothing rewound) when it cannot be extracted."""
        point, old_tli, new_tli = self._divergence(new)
        if point is None:
            raise TaskFailed("cannot tell where the old primary (timeline %s) diverged: the new primary's "
                             "timeline %s does not descend from it; rerun without quarantine_dir to rewind "
                             "without extracting" % (old_tli, new_tli))
        path = self._quarantine_path(point)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                result = self._quarantine_result(path, json.load(handle))
            return dict(result, existing=True)
        parsed = self._read_wal(self.primary, point, old_tli)
        if not parsed or not parsed["readable"]:
            raise TaskFailed("cannot read the old primary's WAL after %s (timeline %s): %s; nothing rewound" % (
                point, old_tli, (parsed or {}).get("error") or "no WAL directory"))
        names = self._classify(self.standby, list(parsed["relations"]))
        user, _system = divergence.user_transactions(parsed, lambda rel: names[rel]["system"])
        outcome.details["divergence"] = {"lsn": point, "timelines": {"old": old_tli, "new": new_tli},
                                         "wal_end_lsn": parsed["end_lsn"], "wal_bytes": parsed["bytes"],
                                         "transactions": len(user),
                                         "system_transactions": len(parsed["transactions"]) - len(user)}
        if not user:
            return None
        deleted = sum(c["deleted"] for r, c in parsed["relations"].items() if not names[r]["system"])
        outcome.act("extract the %d transactions the old primary committed after %s (timeline %s) into %s"
                    % (len(user), point, old_tli, path))
        if self.check_mode:
            return {"path": path, "transactions": len(user), "rows": None, "deleted": deleted,
                    "tables": len([r for r in parsed["relations"] if not names[r]["system"]]),
                    "divergence_lsn": point, "would_extract": True}
        tables = self._extract_rows(parsed, user)
        doc = divergence.quarantine_document(
            self.pair["name"], point, {"old": old_tli, "new": new_tli}, parsed, tables,
            source="pg_waldump of %s (timeline %s) from %s; rows read by xmin from the old primary started "
                   "fenced (read-only, in recovery, no upstream)" % (parsed["wal_dir"], old_tli, point),
            created_at=utcnow())
        self._write_private(path, json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n")
        return self._quarantine_result(path, doc)

    def _write_private(self, path, text):
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700)
        os.chmod(directory, 0o700)
        tmp = path + ".continuity-tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)

    def _fenced_start(self):
        """Start the old primary read-only in recovery on its own port with no upstream and no archive: it
        replays its own local WAL (the lost transactions included) and nothing else."""
        data_dir = self.primary["data_dir"]
        signal = os.path.join(data_dir, "standby.signal")
        if not os.path.exists(signal):
            self._write_file(self.primary, signal, "")
        self.wait_until("the killed postmaster of %s to be gone" % data_dir,
                        lambda: not _pid_present(_pidfile_pid(data_dir)), timeout=60)
        log_file = self._log_file(self.primary)
        self._ensure_log_dir(self.primary, log_file)
        options = ("-c port=%d -c primary_conninfo='' -c primary_slot_name='' -c restore_command=''"
                   " -c recovery_target_timeline=current -c archive_mode=off -c hot_standby=on"
                   " -c default_transaction_read_only=on" % int(self.primary.get("port") or 5432))
        self._run_pg(self.primary, "pg_ctl", ["-D", data_dir, "-l", log_file, "-w", "-t", str(int(self.timeout)),
                                              "-o", options, "start"])

    def _extract_rows(self, parsed, user):
        """Rows whose xmin is a lost transaction, per touched user table, read at the fenced old primary."""
        xids = sorted({x for t in user for x in [t["xid"]] + t["subxacts"]})
        target = max(lsn.parse(t["lsn"]) for t in user)
        self._fenced_start()
        try:
            def replayed():
                client, _error = self.try_connect(self.primary)
                if client is None:
                    return None
                with client:
                    row = client.query(_RECOVERY_SQL)[0]
                if not row["in_recovery"]:
                    raise TaskFailed("the old primary came up as a primary, not fenced: stopped, nothing rewound")
                return row if lsn.parse(row["replay_lsn"] or "0/0") > target else None
            self.wait_until("the fenced old primary to replay its WAL past %s" % lsn.format_lsn(target), replayed)
            names = self._classify(self.primary, list(parsed["relations"]))
            tables = {}
            for rel, counts in parsed["relations"].items():
                info = names[rel]
                if info["system"]:
                    continue
                entry = {"database": info["database"], "rel": rel,
                         "relfilenode": divergence.split_rel(rel)["relfilenode"], "inserted": counts["inserted"],
                         "updated": counts["updated"], "deleted": counts["deleted"], "rows": []}
                if info["name"]:
                    with self.connect(dict(self.primary, database=info["database"])) as client:
                        entry["rows"] = [r["row"] for r in client.query(_QUARANTINE_ROWS_SQL % info["name"],
                                                                        (xids,))]
                else:
                    entry["unresolved"] = True
                tables["%s:%s" % (info["database"], info["name"] or rel)] = entry
            return tables
        finally:
            if self._running_pid(self.primary["data_dir"]):
                self._stop(self.primary)

    def state_reversed(self, outcome):
        old_dir = self._require_data_dir(self.primary, "primary", "rejoin the old primary as a standby")
        outcome.details["quarantine"] = None
        new = self._standby_client(require_recovery=False)
        # the old primary follows the new one: roles swap for settings
        follower = dict(self.primary, name="primary")
        with new:
            if self._state(new)["in_recovery"]:
                raise InvalidInput("the standby of pair %s is still in recovery: promote it first" % self.pair["name"])
            sender = self._sender(new)
            slot = self._slot(new)
            streaming = sender is not None and sender["state"] == "streaming" and slot is not None
            if streaming and not self._settings_differ(follower, self.standby, archive=False):
                outcome.details["already_reversed"] = True
                return
            if slot is None:
                outcome.act("create physical replication slot %s on the new primary" % self.slot)
                if not self.check_mode:
                    new.query(_CREATE_SLOT_SQL, (self.slot,))
            if not self._has_cluster(old_dir):
                outcome.act("seed %s from the new primary (no old data directory to rewind)" % old_dir)
                outcome.reseeded, outcome.reseed_reason = True, "no data directory at %s to rewind" % old_dir
                if not self.check_mode:
                    outcome.transfer = self._basebackup(follower, self.standby)
                    self._rejoin(follower)
                return
            if os.path.exists(os.path.join(old_dir, "standby.signal")) and \
                    not os.path.exists(os.path.join(old_dir, FENCE_MARKER)):
                # an earlier run rewound it and made it a standby of the new primary (the fence's marker is
                # gone, its standby.signal is there): nothing diverged is left in it to quarantine or rewind
                outcome.act("reconfigure and restart old primary %s as a standby of the new primary (rewound "
                            "already)" % self._endpoint(self.primary))
                if not self.check_mode:
                    if self._running_pid(old_dir):
                        self._stop(self.primary)
                    self._rejoin(follower)
                return
            if self._running_pid(old_dir):
                outcome.act("stop old primary %s" % self._endpoint(self.primary))
                if not self.check_mode:
                    self._stop(self.primary)
            if self.pair.get("quarantine_dir"):
                # before the rewind discards them: what the old primary committed after the divergence
                outcome.details["quarantine"] = self._quarantine(outcome, new)
            outcome.act("CHECKPOINT the new primary, then pg_rewind %s from it" % old_dir)
            if self.check_mode:
                return
            new.query(_CHECKPOINT_SQL)
        signal = os.path.join(old_dir, "standby.signal")
        if os.path.exists(signal):
            os.unlink(signal)  # pg_rewind's single-user crash recovery refuses standby mode
        env = self._client_env(self.standby.get("password"))
        source = pgconf.conninfo(host=self.standby["host"], port=self.standby["port"], user=self.standby.get("user"),
                                 dbname=self.standby.get("database") or "postgres",
                                 sslmode=self.standby.get("ssl_mode") or self.pair.get("replication_ssl_mode"))
        rewind_args = ["-D", old_dir, "--source-server=" + source, "-P"]
        if self.primary.get("archive_dir"):
            # WAL the old primary recycled since the last common checkpoint comes from its own archive
            auto = os.path.join(old_dir, "postgresql.auto.conf")
            with open(auto, encoding="utf-8") as handle:
                text = handle.read()
            self._write_file(self.primary, auto, pgconf.apply(
                text, {"restore_command": "cp %s/%%f %%p" % _command_path(self.primary["archive_dir"])}))
            rewind_args.append("--restore-target-wal")
        res = self._run_pg(self.primary, "pg_rewind", rewind_args, env=env, check=False)
        output = (res.stdout or "") + (res.stderr or "")
        if res.returncode == 0:
            stats = parse_rewind_output(output)
            outcome.transfer = {"method": "pg_rewind", "bytes_sent": stats["bytes_copied"],
                                "rewind_required": stats["rewind_required"]}
        else:
            unreachable = rewind_unreachable(output)
            if unreachable:
                raise ConnectionFailure("pg_rewind could not reach the new primary %s (%s): %s is left as it was; "
                                        "fix the connection and rerun"
                                        % (self._endpoint(self.standby), unreachable, old_dir))
            why = [line for line in output.splitlines() if "error" in line or "fatal" in line.lower()]
            kept = "%s.before-reseed-%s" % (old_dir.rstrip(os.sep), time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
            reason = "pg_rewind impossible (%s): re-seeded with pg_basebackup, the old data directory kept as %s" % (
                (why[-1] if why else "exit %d" % res.returncode).strip(), kept)
            outcome.act("re-seed %s: %s" % (old_dir, reason))
            outcome.reseeded, outcome.reseed_reason = True, reason
            # kept, not removed: it holds whatever the old primary committed after the divergence
            os.rename(old_dir, kept)
            outcome.details["previous_data_dir"] = kept
            outcome.transfer = self._basebackup(follower, self.standby)
        marker = os.path.join(old_dir, FENCE_MARKER)
        if os.path.exists(marker):
            os.unlink(marker)
        self._rejoin(follower)

    def _rejoin(self, follower):
        reset = ("default_transaction_read_only", "archive_mode", "archive_command", "restore_command")
        # WAL the new primary no longer holds comes from the recovery site's archive (new timeline)
        # or from the old primary's own archive (the old timeline before the divergence)
        sources = [d for d in ((self.pair.get("archive") or {}).get("path"), self.primary.get("archive_dir")) if d]
        extra = {"restore_command": " || ".join("cp %s/%%f %%p" % _command_path(d) for d in sources)} if sources else {}
        self._configure(follower, self.standby, archive=False, reset=reset)
        if extra:
            auto = os.path.join(follower["data_dir"], "postgresql.auto.conf")
            with open(auto, encoding="utf-8") as handle:
                text = handle.read()
            self._write_file(follower, auto, pgconf.apply(text, extra))
        self._start(follower)
        self.wait_until("old primary %s streaming from the new primary" % self._endpoint(self.primary),
                        self._streaming(self.standby))

    def state_absent(self, outcome):
        data_dir = self.standby.get("data_dir")
        client, _error = self.try_connect(self.standby)
        if client is not None:
            with client:
                if not self._state(client)["in_recovery"]:
                    raise InvalidInput("the standby of pair %s is a primary now (promoted): state=absent would "
                                       "destroy it; fail back first" % self.pair["name"])
        if data_dir and self._has_cluster(data_dir) and not os.path.exists(os.path.join(data_dir, "standby.signal")):
            # not answering is no proof it is still a standby: a promoted one that is down looks the same
            raise InvalidInput("the standby data directory %s of pair %s holds no standby.signal: it is a primary "
                               "(promoted) or an unfinished seed, and state=absent refuses to remove it; fail back "
                               "first, or remove it by hand if it is really a seed's remains"
                               % (data_dir, self.pair["name"]))
        if data_dir and self._has_cluster(data_dir):
            if self._running_pid(data_dir):
                outcome.act("stop standby %s" % self._endpoint(self.standby))
                if not self.check_mode:
                    self._stop(self.standby)
            outcome.act("remove standby data directory %s" % data_dir)
            if not self.check_mode:
                shutil.rmtree(data_dir)
        primary, error = self.try_connect(self.primary)
        if primary is None:
            outcome.details["primary"] = {"reachable": False, "error": error}
            return
        with primary:
            if self._slot(primary):
                outcome.act("drop replication slot %s" % self.slot)
                if not self.check_mode:
                    self.wait_until("slot %s to be released" % self.slot,
                                    lambda: not (self._slot(primary) or {}).get("active"), timeout=30)
                    primary.query(_DROP_SLOT_SQL, (self.slot,))

    _CANARY_TABLE_SQL = (
        "CREATE TABLE IF NOT EXISTS public.continuity_recovery_canary"
        " (pair text PRIMARY KEY, token text NOT NULL, written_at timestamptz NOT NULL)"
    )
    _CANARY_WRITE_SQL = (
        "INSERT INTO public.continuity_recovery_canary (pair, token, written_at) VALUES (%s, %s, pg_catalog.now())"
        " ON CONFLICT (pair) DO UPDATE SET token = EXCLUDED.token, written_at = EXCLUDED.written_at"
    )
    _CANARY_READ_SQL = (
        "SELECT token FROM public.continuity_recovery_canary WHERE pair = %s"
        " AND pg_catalog.to_regclass('public.continuity_recovery_canary') IS NOT NULL"
    )

    def canary(self, token):
        """Write a marker row at the primary; wait until the standby can read it."""
        started = time.monotonic()
        with self.connect(self.primary) as primary:
            primary.query(self._CANARY_TABLE_SQL)
            primary.query(self._CANARY_WRITE_SQL, (self.pair["name"], token))
        with self._standby_client() as standby:
            def seen():
                try:
                    rows = standby.query(self._CANARY_READ_SQL, (self.pair["name"],))
                except RecoveryError:
                    return None
                return rows and rows[0]["token"] == token
            self.wait_until("the canary to be readable at the standby", seen)
        return {"marker": token, "written_at": utcnow(), "read_at_target": True,
                "seconds": round(time.monotonic() - started, 3), "where": "public.continuity_recovery_canary"}

    # ------------------------------------------- continuous data protection
    def base_backups(self):
        """Base backups kept beside the recovery-site WAL archive, oldest first."""
        arch = (self.pair.get("archive") or {}).get("path")
        base = os.path.join(arch, "base") if arch else None
        if not base or not os.path.isdir(base):
            return []
        return sorted(n for n in os.listdir(base)
                      if not n.startswith(".") and os.path.exists(os.path.join(base, n, "PG_VERSION")))

    def _base_backups_with_upstream(self):
        """Kept base backups whose postgresql.auto.conf still holds the standby's upstream settings
        (primary_conninfo carries the replication password): taken before they were stripped."""
        arch = (self.pair.get("archive") or {}).get("path")
        out = []
        for name in self.base_backups():
            try:
                with open(os.path.join(arch, "base", name, "postgresql.auto.conf"), encoding="utf-8") as handle:
                    current = pgconf.parse(handle.read())
            except OSError:
                continue
            if any(key in current for key in BASE_BACKUP_RESET):
                out.append(name)
        return out

    def _strip_upstream(self, path):
        """Remove the standby's upstream settings from the postgresql.auto.conf of the base backup in ``path``:
        the replication password stays in the standby's own file only (a clone sets its own settings)."""
        auto = os.path.join(path, "postgresql.auto.conf")
        if not os.path.exists(auto):
            return
        with open(auto, encoding="utf-8") as handle:
            text = handle.read()
        self._write_file(self.standby, auto, pgconf.apply(text, {}, reset=BASE_BACKUP_RESET))

    def _base_backup_at_recovery_site(self, arch):
        """pg_basebackup of the standby into ``<arch>/base/<UTC time>``, taken into a hidden directory, stripped
        of the upstream settings (the replication password), then renamed: a listed base backup is complete."""
        base = os.path.join(arch, "base")
        if not os.path.isdir(base):
            os.makedirs(base, mode=0o700)
            self._chown(self.standby, base)
        name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        partial = os.path.join(base, ".%s.partial" % name)
        if os.path.lexists(partial):
            shutil.rmtree(partial)  # the remains of an interrupted run
        env = self._client_env(self.pair.get("replication_password"))
        self._run_pg(self.standby, "pg_basebackup", [
            "-D", partial, "-h", self.standby["host"], "-p", str(self.standby["port"]),
            "-U", self.pair.get("replication_user") or "postgres", "-X", "fetch", "-c", "fast", "-w", "--no-sync"],
            env=env)
        self._strip_upstream(partial)
        os.rename(partial, os.path.join(base, name))
        return {"path": os.path.join(base, name)}

    def recover_to(self, data_dir, port, target_time=None, target_lsn=None, target_name=None, base=None,
                   listen_addresses="127.0.0.1"):
        """Point-in-time recovery into a separate instance: the newest base backup (or ``base``) at the
        recovery site, WAL from the recovery-site archive up to the target, promoted on its own ``port``."""
        arch = (self.pair.get("archive") or {}).get("path")
        if not arch:
            raise InvalidInput("pair %s has no archive: point-in-time recovery needs one" % self.pair["name"])
        backups = self.base_backups()
        base = base or (backups[-1] if backups else None)
        if not base:
            raise InvalidInput("no base backup in %s/base" % arch)
        if self._has_cluster(data_dir):
            raise InvalidInput("%s already holds a cluster" % data_dir)
        node = dict(self.standby, data_dir=data_dir, port=port, name="pitr", host=listen_addresses,
                    listen_addresses=listen_addresses, log_file=None, command_prefix=None)
        shutil.copytree(os.path.join(arch, "base", base), data_dir, symlinks=True)
        for root, dirs, files in os.walk(data_dir):
            for name in dirs + files:
                self._chown(node, os.path.join(root, name))
        self._chown(node, data_dir)
        os.chmod(data_dir, 0o700)
        for stale in ("standby.signal", "postmaster.pid", FENCE_MARKER):
            if os.path.exists(os.path.join(data_dir, stale)):
                os.unlink(os.path.join(data_dir, stale))
        settings = {"port": port, "listen_addresses": listen_addresses,
                    "restore_command": "cp %s/%%f %%p" % _command_path(arch), "recovery_target_action": "promote",
                    "recovery_target_time": target_time, "recovery_target_lsn": target_lsn,
                    "recovery_target_name": target_name, "archive_mode": "off",
                    "cluster_name": "%s_pitr" % self.app_name}
        auto = os.path.join(data_dir, "postgresql.auto.conf")
        with open(auto, encoding="utf-8") as handle:
            text = handle.read()
        self._write_file(node, auto, pgconf.apply(text, settings, reset=(
            "primary_conninfo", "primary_slot_name", "archive_command", "recovery_target_time",
            "recovery_target_lsn", "recovery_target_name")))
        self._write_file(node, os.path.join(data_dir, "recovery.signal"), "")
        self._start(node)
        client_side = dict(self.standby, host=listen_addresses, port=port)

        def promoted():
            client, _error = self.try_connect(client_side)
            if client is None:
                if not self._running_pid(data_dir):  # recovery failed (target not reachable): the server stopped
                    raise TaskFailed("point-in-time recovery on port %s stopped before promotion: see %s"
                                     % (port, self._log_file(node)))
                return None
            with client:
                state = self._state(client)
            return state if not state["in_recovery"] else None
        state = self.wait_until("point-in-time recovery on port %s" % port, promoted)
        return {"data_dir": data_dir, "port": port, "base_backup": base, "timeline": state["timeline"],
                "target": {"time": target_time, "lsn": target_lsn, "name": target_name},
                "log_file": self._log_file(node)}

    # ------------------------------- clones made by recover_to (database_clone)
    def clone_node(self, data_dir, port, listen_addresses="127.0.0.1"):
        """The endpoint of a point-in-time clone in ``data_dir`` (the one recover_to runs)."""
        return dict(self.standby, data_dir=data_dir, port=port, name="pitr", host=listen_addresses,
                    listen_addresses=listen_addresses, log_file=None, command_prefix=None)

    def clone_status(self, data_dir, port, listen_addresses="127.0.0.1"):
        """Whether ``data_dir`` holds a cluster, its running postmaster and, when it answers, its state."""
        node = self.clone_node(data_dir, port, listen_addresses)
        status = {"exists": self._has_cluster(data_dir), "pid": self._running_pid(data_dir) if
                  os.path.isdir(data_dir) else None, "reachable": False, "in_recovery": None, "timeline": None,
                  "lsn": None, "log_file": self._log_file(node)}
        if status["pid"]:
            client, _error = self.try_connect(node)
            if client is not None:
                with client:
                    state = self._state(client)
                status.update(reachable=True, in_recovery=state["in_recovery"], timeline=state["timeline"],
                              lsn=state["current_lsn"] or state["replay_lsn"])
        return status

    def start_clone(self, data_dir, port, listen_addresses="127.0.0.1"):
        """Start a stopped clone and wait until it answers as a primary (recovery finished)."""
        node = self.clone_node(data_dir, port, listen_addresses)
        self._start(node)

        def promoted():
            client, _error = self.try_connect(node)
            if client is None:
                if not self._running_pid(data_dir):
                    raise TaskFailed("the clone on port %s stopped before promotion: see %s"
                                     % (port, self._log_file(node)))
                return None
            with client:
                state = self._state(client)
            return state if not state["in_recovery"] else None
        return self.wait_until("clone on port %s to finish recovery" % port, promoted)

    def stop_clone(self, data_dir, port, listen_addresses="127.0.0.1", mode="fast"):
        """Stop a clone's postmaster (pg_ctl stop) when it runs; True when it was running."""
        if not self._running_pid(data_dir):
            return False
        self._stop(self.clone_node(data_dir, port, listen_addresses), mode)
        return True

    # --------------------------------------------------------- inspection
    def info(self):
        info = empty_info(self.pair["name"], self.engine)
        sides = {}
        for key, side in (("source", self.primary), ("target", self.standby)):
            entry = info[key]
            entry["endpoint"] = self._endpoint(side)
            client, error = self.try_connect(side)
            if client is None:
                entry["error"] = error
                continue
            with client:
                state = self._state(client)
                entry.update(reachable=True, role="standby" if state["in_recovery"] else "primary",
                             timeline=state["timeline"],
                             position=state["current_lsn"] if not state["in_recovery"] else state["replay_lsn"],
                             read_only=state["read_only"] == "on")
                if state["in_recovery"]:
                    entry.update(receive_lsn=state["receive_lsn"], replay_lsn=state["replay_lsn"],
                                 replay_paused=state["pause_state"] != "not paused", pause_state=state["pause_state"])
                    rows = client.query(_RECEIVER_SQL)
                    entry["receiver"] = rows[0] if rows else None
                else:
                    entry["slot"] = self._slot(client)
                    entry["sender"] = self._sender(client)
            sides[key] = state
        upstream_key = "source"
        if info["target"].get("role") == "primary" and info["source"].get("role") != "primary":
            upstream_key = "target"  # reversed: the recovery site is the primary now
            info["direction"] = "reverse"
            info["authoritative"] = "target"
        elif info["target"].get("role") == "primary":
            info["authoritative"] = "target"
            info["direction"] = "none (promoted)"
        upstream = info[upstream_key]
        downstream = info["target" if upstream_key == "source" else "source"]
        sender = upstream.get("sender")
        if sender:
            info["streaming"] = {k: sender.get(k) for k in (
                "state", "sent_lsn", "write_lsn", "flush_lsn", "replay_lsn", "sync_state", "connected_since",
                "reply_time", "write_lag_seconds", "flush_lag_seconds", "replay_lag_seconds")}
            info["sync_state"] = sender["sync_state"]
            info["tls"] = {"ssl": bool(sender["ssl"]), "version": sender.get("ssl_version")}
            info["link"] = {"state": "connected"}
            info["lag"] = {"bytes": max(0, lsn.diff(upstream["position"], sender["replay_lsn"]) or 0),
                           "seconds": sender.get("replay_lag_seconds") or 0.0}
        else:
            info["link"] = {"state": "disconnected" if upstream.get("reachable") else "unknown"}
            if upstream.get("reachable") and downstream.get("reachable") and downstream.get("replay_lsn"):
                info["lag"]["bytes"] = max(0, lsn.diff(upstream["position"], downstream["replay_lsn"]) or 0)
        if downstream.get("reachable") and downstream.get("role") == "standby":
            client, _error = self.try_connect(self.standby if upstream_key == "source" else self.primary)
            if client:
                with client:
                    seconds = client.query(_LAST_REPLAY_SQL)[0]["s"]
                if info["lag"]["seconds"] is None and seconds is not None:
                    info["lag"]["seconds"] = seconds if info["lag"]["bytes"] else 0.0
            info["held"] = bool(downstream.get("replay_paused"))
        return info

    def buffer_readings(self, sample_seconds, link_memory=None):
        """Primary-side only: the slot, the sender, the cap and the WAL ingest rate."""
        client, error = self.try_connect(self.primary)
        if client is None:
            raise ConnectionFailure("the primary of pair %s is unreachable: %s" % (self.pair["name"], error))
        with client:
            if self._state(client)["in_recovery"]:
                raise InvalidInput("the primary endpoint of pair %s is in recovery; inspect the buffer at the "
                                   "current primary" % self.pair["name"])
            first = client.query(_CURRENT_LSN_SQL)[0]["lsn"]
            started = time.monotonic()
            if sample_seconds > 0:
                time.sleep(sample_seconds)
            slot = self._slot(client)
            sender = self._sender(client)
            last = client.query(_CURRENT_LSN_SQL)[0]["lsn"]
            elapsed = time.monotonic() - started
            cap_row = client.query(_CAP_SQL)[0]
            cap = sizes.pg_setting_bytes(cap_row["setting"], cap_row["unit"])
            retained = None
            if slot and slot["restart_lsn"]:
                retained = client.query(_RETAINED_SQL, (slot["restart_lsn"],))[0]["b"]
            connected = bool(sender and sender["state"] in ("streaming", "catchup"))
            state = "connected" if connected else "disconnected"
            since, since_source = (link_memory(state) if link_memory else (None, "unknown"))
            if connected and sender.get("connected_since"):
                since, since_source = sender["connected_since"], "walsender_start"
            if not connected and since_source in ("unknown", "first_observed") and slot and slot["restart_lsn"]:
                rows = client.query(_WAL_FILE_TIME_SQL, (slot["restart_lsn"],))
                # the segment holding the restart LSN was last written after the oldest change the standby
                # lacks, so its time never overstates the exposure; a first sight of an outage may come long
                # after it began: the earlier of the two is the closer
                segment = divergence.to_datetime(rows[0]["t"]) if rows else None
                seen = divergence.to_datetime(since) if since_source == "first_observed" else None
                if segment is not None and (seen is None or segment < seen):
                    since, since_source = rows[0]["t"], "wal_segment_mtime"
            if connected:
                rpo_bytes = max(0, lsn.diff(last, sender["replay_lsn"]) or 0)
                rpo_seconds = (sender.get("replay_lag_seconds") or 0.0) if rpo_bytes else 0.0
            else:
                rpo_bytes = max(0, lsn.diff(last, slot["restart_lsn"]) or 0) if slot and slot["restart_lsn"] else None
                rpo_seconds = _seconds_since(since) if rpo_bytes != 0 else 0.0  # nothing unreplicated
        return {
            "pair": self.pair["name"], "engine": self.engine, "link_state": state, "since": since,
            "since_source": since_source, "retained_bytes": retained,
            "first_position": lsn.parse(first), "last_position": lsn.parse(last),
            "sample_seconds": elapsed if sample_seconds > 0 else 0,  # 0: no rate from a few milliseconds
            "capacity_sources": {"max_slot_wal_keep_size": cap, "max_buffer": self.pair.get("max_buffer_bytes")},
            "safe_wal_size": slot["safe_wal_size"] if slot else None,
            "wal_status": slot["wal_status"] if slot else "missing",
            "rpo_bytes": rpo_bytes, "rpo_seconds": rpo_seconds,
            "slot": slot, "position": last,
        }


def _seconds_since(iso):
    then = divergence.to_datetime(iso)
    if then is None:
        return None
    return round((datetime.datetime.now(datetime.timezone.utc) - then).total_seconds(), 1)


def _pidfile_pid(data_dir):
    try:
        with open(os.path.join(data_dir, "postmaster.pid"), encoding="utf-8") as handle:
            return int(handle.readline().strip())
    except (OSError, ValueError):
        return None


def _pid_present(pid):
    """Whether ``pid`` is a dead but unreaped process (a zombie a new postmaster would mistake for a live one)."""
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False

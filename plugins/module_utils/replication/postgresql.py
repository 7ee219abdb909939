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

import json
import os
import pwd
import re
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
from ansible_collections.continuity.recovery.plugins.module_utils.replication import lsn, pgconf, sizes
from ansible_collections.continuity.recovery.plugins.module_utils.replication.base import Driver, empty_info

FENCE_MARKER = "continuity.recovery.fence"
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
            settings["archive_command"] = "test ! -f %s/%%f && cp %%p %s/%%f" % (arch["path"], arch["path"])
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
        if seed or self._settings_differ(self.standby, self.primary):
            if not seed:
                outcome.act("write standby settings (primary_conninfo, primary_slot_name, port)")
            if not self.check_mode:
                self._configure(self.standby, self.primary)
                if not seed and self._running_pid(data_dir):
                    outcome.act("restart standby to apply settings")
                    self._stop(self.standby)
        if seed or not self._running_pid(data_dir):
            outcome.act("start standby %s" % self._endpoint(self.standby))
            if not self.check_mode:
                self._start(self.standby)
        arch = (self.pair.get("archive") or {}).get("path")
        if arch and not self.base_backups():
            outcome.act("base backup of the standby into %s/base for point-in-time recovery" % arch)
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
        env = {"PGPASSWORD": self.pair.get("replication_password") or upstream.get("password") or "",
               "PGAPPNAME": "continuity.recovery"}
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

    def _fence(self, outcome, primary_client, final_sync=True):
        """Make the old primary refuse writes, wait for the standby to have everything, stop it, mark it."""
        outcome.act("fence old primary %s (read-only, sessions ended%s)" % (
            self._endpoint(self.primary), ", stopped, fence marker" if self.primary.get("data_dir") else ""))
        if self.check_mode:
            return
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

    def state_promoted(self, outcome):
        standby = self._standby_client(require_recovery=False)
        with standby:
            in_recovery = self._state(standby)["in_recovery"]
            old, error = self.try_connect(self.primary)
            if old is not None:
                with old:
                    old_state = self._state(old)
                    if not old_state["in_recovery"] and old_state["read_only"] != "on":
                        self._fence(outcome, old, final_sync=in_recovery and self.pair.get("final_sync", True))
                    else:
                        outcome.details["fence"] = {"already": True}
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
                    if not standby.query(_PROMOTE_SQL, (int(self.timeout),))[0]["promoted"]:
                        raise TaskFailed("pg_promote did not complete within %ss" % self.timeout)
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

    def state_reversed(self, outcome):
        old_dir = self._require_data_dir(self.primary, "primary", "rejoin the old primary as a standby")
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
            if self._running_pid(old_dir):
                outcome.act("stop old primary %s" % self._endpoint(self.primary))
                if not self.check_mode:
                    self._stop(self.primary)
            outcome.act("CHECKPOINT the new primary, then pg_rewind %s from it" % old_dir)
            if self.check_mode:
                return
            new.query(_CHECKPOINT_SQL)
        signal = os.path.join(old_dir, "standby.signal")
        if os.path.exists(signal):
            os.unlink(signal)  # pg_rewind's single-user crash recovery refuses standby mode
        env = {"PGPASSWORD": self.standby.get("password") or ""}
        source = pgconf.conninfo(host=self.standby["host"], port=self.standby["port"], user=self.standby.get("user"),
                                 dbname=self.standby.get("database") or "postgres")
        rewind_args = ["-D", old_dir, "--source-server=" + source, "-P"]
        if self.primary.get("archive_dir"):
            # WAL the old primary recycled since the last common checkpoint comes from its own archive
            auto = os.path.join(old_dir, "postgresql.auto.conf")
            with open(auto, encoding="utf-8") as handle:
                text = handle.read()
            self._write_file(self.primary, auto, pgconf.apply(
                text, {"restore_command": "cp %s/%%f %%p" % self.primary["archive_dir"]}))
            rewind_args.append("--restore-target-wal")
        res = self._run_pg(self.primary, "pg_rewind", rewind_args, env=env, check=False)
        output = (res.stdout or "") + (res.stderr or "")
        if res.returncode == 0:
            stats = parse_rewind_output(output)
            outcome.transfer = {"method": "pg_rewind", "bytes_sent": stats["bytes_copied"],
                                "rewind_required": stats["rewind_required"]}
        else:
            why = [line for line in output.splitlines() if "error" in line or "fatal" in line.lower()]
            reason = "pg_rewind impossible (%s): re-seeded with pg_basebackup" % (
                (why[-1] if why else "exit %d" % res.returncode).strip())
            outcome.act("re-seed %s: %s" % (old_dir, reason))
            outcome.reseeded, outcome.reseed_reason = True, reason
            shutil.rmtree(old_dir)
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
        extra = {"restore_command": " || ".join("cp %s/%%f %%p" % d for d in sources)} if sources else {}
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
        return sorted(n for n in os.listdir(base) if os.path.exists(os.path.join(base, n, "PG_VERSION")))

    def _base_backup_at_recovery_site(self, arch):
        base = os.path.join(arch, "base")
        if not os.path.isdir(base):
            os.makedirs(base, mode=0o700)
            self._chown(self.standby, base)
        name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        env = {"PGPASSWORD": self.pair.get("replication_password") or ""}
        self._run_pg(self.standby, "pg_basebackup", [
            "-D", os.path.join(base, name), "-h", self.standby["host"], "-p", str(self.standby["port"]),
            "-U", self.pair.get("replication_user") or "postgres", "-X", "fetch", "-c", "fast", "-w", "--no-sync"],
            env=env)
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
                    "restore_command": "cp %s/%%f %%p" % arch, "recovery_target_action": "promote",
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
                if rows and since_source == "unknown":
                    since, since_source = rows[0]["t"], "wal_segment_mtime"
            if connected:
                rpo_bytes = max(0, lsn.diff(last, sender["replay_lsn"]) or 0)
                rpo_seconds = (sender.get("replay_lag_seconds") or 0.0) if rpo_bytes else 0.0
            else:
                rpo_bytes = max(0, lsn.diff(last, slot["restart_lsn"]) or 0) if slot and slot["restart_lsn"] else None
                rpo_seconds = _seconds_since(since)
        return {
            "pair": self.pair["name"], "engine": self.engine, "link_state": state, "since": since,
            "since_source": since_source, "retained_bytes": retained,
            "first_position": lsn.parse(first), "last_position": lsn.parse(last), "sample_seconds": elapsed,
            "capacity_sources": {"max_slot_wal_keep_size": cap, "max_buffer": self.pair.get("max_buffer_bytes")},
            "safe_wal_size": slot["safe_wal_size"] if slot else None,
            "wal_status": slot["wal_status"] if slot else "missing",
            "rpo_bytes": rpo_bytes, "rpo_seconds": rpo_seconds,
            "slot": slot, "position": last,
        }


def _seconds_since(iso):
    if not iso:
        return None
    import datetime
    text = iso.replace("Z", "+00:00").replace(" ", "T")
    if re.search(r"[+-]\d\d$", text):
        text += ":00"
    try:
        then = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=datetime.timezone.utc)
    return round((datetime.datetime.now(datetime.timezone.utc) - then).total_seconds(), 1)

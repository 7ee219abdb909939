# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only inspection of one PostgreSQL server: health, role, and the settings
replication depends on. Works on a primary and on a standby.
"""

from __future__ import annotations

import re

_PASSWORD_RE = re.compile(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")

# Settings whose values decide whether streaming replication, slots, pg_rewind
# and WAL archiving can work. Recorded in the baseline.
REPLICATION_SETTINGS = (
    "wal_level",
    "max_wal_senders",
    "max_replication_slots",
    "max_slot_wal_keep_size",
    "wal_keep_size",
    "wal_log_hints",
    "data_checksums",
    "hot_standby",
    "archive_mode",
    "archive_command",
    "synchronous_commit",
    "synchronous_standby_names",
    "primary_conninfo",
    "primary_slot_name",
    "restore_command",
    "recovery_target_timeline",
    "ssl",
    "listen_addresses",
    "port",
    "server_version",
)

_SETTINGS_SQL = "SELECT name, setting, unit FROM pg_catalog.pg_settings WHERE name = ANY(%s)"
_STATE_SQL = (
    "SELECT pg_catalog.pg_is_in_recovery() AS in_recovery,"
    " pg_catalog.current_setting('server_version_num')::int AS version_num,"
    " (SELECT timeline_id FROM pg_catalog.pg_control_checkpoint()) AS timeline,"
    " pg_catalog.pg_postmaster_start_time()::text AS started_at,"
    " pg_catalog.now()::text AS server_time,"
    " pg_catalog.pg_database_size(pg_catalog.current_database()) AS database_size_bytes,"
    " pg_catalog.current_database() AS database"
)
_PRIMARY_LSN_SQL = "SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn"
_STANDBY_LSN_SQL = (
    "SELECT pg_catalog.pg_last_wal_receive_lsn()::text AS receive_lsn,"
    " pg_catalog.pg_last_wal_replay_lsn()::text AS replay_lsn,"
    " pg_catalog.pg_is_wal_replay_paused() AS replay_paused,"
    " pg_catalog.pg_last_xact_replay_timestamp()::text AS last_replay_at"
)
_SLOTS_SQL = (
    "SELECT slot_name, slot_type, active, restart_lsn::text AS restart_lsn, wal_status,"
    " safe_wal_size, pg_catalog.pg_wal_lsn_diff("
    "   CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_receive_lsn()"
    "        ELSE pg_catalog.pg_current_wal_lsn() END, restart_lsn)::bigint AS retained_bytes"
    " FROM pg_catalog.pg_replication_slots ORDER BY slot_name"
)
_SENDERS_SQL = (
    "SELECT r.application_name, r.client_addr::text AS client_addr, r.state, r.sync_state,"
    " r.sent_lsn::text AS sent_lsn, r.write_lsn::text AS write_lsn,"
    " r.flush_lsn::text AS flush_lsn, r.replay_lsn::text AS replay_lsn,"
    " EXTRACT(EPOCH FROM r.replay_lag)::float AS replay_lag_seconds,"
    " COALESCE(s.ssl, false) AS ssl"
    " FROM pg_catalog.pg_stat_replication r"
    " LEFT JOIN pg_catalog.pg_stat_ssl s ON s.pid = r.pid ORDER BY r.application_name"
)
_RECEIVER_SQL = (
    "SELECT status, sender_host, sender_port, slot_name, flushed_lsn::text AS flushed_lsn,"
    " latest_end_time::text AS latest_end_time,"
    " (conninfo LIKE '%%sslmode=require%%' OR conninfo LIKE '%%sslmode=verify%%') AS ssl_required"
    " FROM pg_catalog.pg_stat_wal_receiver"
)


def inspect(client):
    """Inspect the server behind ``client`` (a postgres.Client). Returns a dict."""
    state = client.query(_STATE_SQL)[0]
    settings = {
        row["name"]: _with_unit(row["setting"], row["unit"])
        for row in client.query(_SETTINGS_SQL, (list(REPLICATION_SETTINGS),))
    }
    # Never record a password from primary_conninfo.
    if settings.get("primary_conninfo"):
        settings["primary_conninfo"] = redact_conninfo(settings["primary_conninfo"])
    role = "standby" if state["in_recovery"] else "primary"
    info = {
        "reachable": True,
        "endpoint": client.endpoint,
        "role": role,
        "timeline": state["timeline"],
        "version_num": state["version_num"],
        "started_at": state["started_at"],
        "server_time": state["server_time"],
        "database": state["database"],
        "database_size_bytes": state["database_size_bytes"],
        "settings": settings,
        "slots": client.query(_SLOTS_SQL),
        "senders": client.query(_SENDERS_SQL),
        "receiver": None,
    }
    if role == "primary":
        info["current_lsn"] = client.query(_PRIMARY_LSN_SQL)[0]["lsn"]
    else:
        info.update(client.query(_STANDBY_LSN_SQL)[0])
        rows = client.query(_RECEIVER_SQL)
        info["receiver"] = rows[0] if rows else None
    info["abnormalities"] = abnormalities(info)
    return info


def abnormalities(info):
    """What in an inspected server would stop replication or a rewind from working."""
    found = []
    settings = info.get("settings", {})

    def add(check, detail):
        found.append({"object": info.get("endpoint"), "check": check, "detail": detail})

    if settings.get("wal_level") not in ("replica", "logical"):
        add("wal_level", "wal_level is %r; streaming replication needs replica or logical"
            % settings.get("wal_level"))
    if info.get("role") == "primary" and str(settings.get("max_wal_senders", "0")) == "0":
        add("max_wal_senders", "max_wal_senders is 0: no standby can connect")
    if settings.get("wal_log_hints") != "on" and settings.get("data_checksums") != "on":
        add("rewind_prerequisite",
            "neither wal_log_hints nor data_checksums is on: pg_rewind cannot be used for failback")
    for slot in info.get("slots", []):
        if slot.get("wal_status") == "lost":
            add("slot_lost", "replication slot %s has lost required WAL (wal_status lost)"
                % slot["slot_name"])
    return found


def redact_conninfo(conninfo):
    """Replace the value of password=... in a libpq keyword/value string (quoted or not)."""
    return _PASSWORD_RE.sub("password=********", conninfo)


def _with_unit(value, unit):
    """Keep the raw setting and its unit together: '1024' + 'MB' -> '1024MB'."""
    if unit and value not in (None, "-1"):
        if unit[0].isdigit():  # e.g. '8kB' pages
            return "%s x %s" % (value, unit)
        return value + unit
    return value

"""PostgreSQL inspection helpers that need no server (the server is tested in tests/integration)."""

from __future__ import annotations

import pytest

from ansible_collections.continuity.recovery.plugins.module_utils import database


@pytest.mark.parametrize("conninfo,expected", [
    ("host=a password=x port=1", "host=a password=******** port=1"),
    ("host=a password='a b\\' c' port=1", "host=a password=******** port=1"),
    ("user=r password = s3 sslmode=require", "user=r password=******** sslmode=require"),
    ("host=a port=1", "host=a port=1"),
])
def test_redact_conninfo(conninfo, expected):
    assert database.redact_conninfo(conninfo) == expected


def _info(**settings):
    base = {"wal_level": "replica", "max_wal_senders": "10", "wal_log_hints": "on", "data_checksums": "on"}
    base.update(settings)
    return {"endpoint": "db:5432", "role": "primary", "settings": base, "slots": []}


def test_healthy_primary_has_no_abnormality():
    assert database.abnormalities(_info()) == []


def test_each_replication_blocker_is_named():
    info = _info(wal_level="minimal", max_wal_senders="0", wal_log_hints="off", data_checksums="off")
    info["slots"] = [{"slot_name": "dr", "wal_status": "lost"}]
    checks = [a["check"] for a in database.abnormalities(info)]
    assert checks == ["wal_level", "max_wal_senders", "rewind_prerequisite", "slot_lost"]


def test_units_are_kept_with_values():
    assert database._with_unit("1024", "MB") == "1024MB"
    assert database._with_unit("-1", "MB") == "-1"
    assert database._with_unit("on", None) == "on"

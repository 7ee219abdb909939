"""Continuous data protection: the recovery site archives WAL and keeps a base backup, so a
separate instance on its own port can be recovered to just before a logical corruption that
the standby has already mirrored (real PostgreSQL 15, driven through the replication driver)."""

from __future__ import annotations

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
import standby as sb  # noqa: E402

from ansible_collections.continuity.recovery.plugins.module_utils.replication.commands import Runner  # noqa: E402
from ansible_collections.continuity.recovery.plugins.module_utils.replication.postgresql import (  # noqa: E402
    PostgresqlDriver,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def clusters(lab):
    base = 35472 + lab["port_offset"]
    made = [sb.Cluster(lab["lab_dir"], name, base + i) for i, name in enumerate(("pitr", "pitr-standby", "pitr-clone"))]
    for cluster in made[1:]:
        cluster.destroy()
    made[0].init_primary()
    yield made
    for cluster in reversed(made):
        cluster.destroy()


def test_point_in_time_recovery_into_its_own_instance(clusters):
    primary, standby, clone = clusters
    pair = {"name": "pitr", "engine": "postgresql", "slot": "dr_pitr", "replication_user": sb.REPL_USER,
            "replication_password": sb.REPL_PASSWORD, "archive": {"path": standby.archive_dir},
            "primary": dict(primary.endpoint(), name="primary"), "standby": dict(standby.endpoint(), name="standby")}
    driver = PostgresqlDriver(pair, Runner(), timeout=120)
    outcome = driver.apply("present")
    assert any(a.startswith("base backup of the standby") for a in outcome.actions)
    assert len(driver.base_backups()) == 1
    assert PostgresqlDriver(pair, Runner(), timeout=120).apply("present").actions == []
    # the replication password is in the standby's own postgresql.auto.conf, never in the kept base backup
    kept = os.path.join(standby.archive_dir, "base", driver.base_backups()[0])
    assert _files_holding(kept, sb.REPL_PASSWORD) == []
    with open(os.path.join(kept, "postgresql.auto.conf"), encoding="utf-8") as handle:
        assert "primary_conninfo" not in handle.read()
    assert sorted(os.listdir(os.path.join(standby.archive_dir, "base"))) == driver.base_backups()  # no partial
    with open(os.path.join(standby.data_dir, "postgresql.auto.conf"), encoding="utf-8") as handle:
        assert sb.REPL_PASSWORD in handle.read()

    with primary.connect() as conn:
        conn.execute("INSERT INTO payments (amount, note) SELECT 9, 'good' FROM generate_series(1, 100)")
        time.sleep(1.1)
        before_corruption = conn.execute("SELECT now()::text").fetchone()[0]
        expected = sb.fingerprint(conn)
        time.sleep(1.1)
        conn.execute("DELETE FROM payments WHERE note = ''")          # the logical corruption
        last = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0]
        conn.execute("SELECT pg_switch_wal()")
    # the standby mirrors the corruption, and archives the segment holding it
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(standby.archive_dir, last)) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert os.path.exists(os.path.join(standby.archive_dir, last))
    PostgresqlDriver(pair, Runner(), timeout=120).apply("synced")
    with standby.connect() as conn:
        assert sb.fingerprint(conn)[0] == 100

    driver = PostgresqlDriver(pair, Runner(), timeout=120)
    result = driver.recover_to(clone.data_dir, clone.port, target_time=before_corruption)
    assert result["port"] == clone.port and result["timeline"] == 2
    with clone.connect(socket=False, host="127.0.0.1") as conn:
        assert sb.fingerprint(conn) == expected                        # just before the corruption
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
    with primary.connect() as conn:                                    # production untouched
        assert sb.fingerprint(conn)[0] == 100


def _files_holding(root, text):
    """Files under ``root`` whose bytes contain ``text`` (relative paths)."""
    found = []
    for base, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(base, name)
            if os.path.islink(path):
                continue
            with open(path, "rb") as handle:
                if text.encode() in handle.read():
                    found.append(os.path.relpath(path, root))
    return found

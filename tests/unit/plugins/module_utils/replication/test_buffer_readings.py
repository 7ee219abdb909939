"""buffer_info's PostgreSQL readings with the link down (a fake primary, no server): since when, RPO exposure,
and no rate without a sample."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.continuity.recovery.plugins.module_utils.replication import postgresql
from ansible_collections.continuity.recovery.plugins.module_utils.replication.postgresql import PostgresqlDriver


def _ago(seconds):
    return (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds)).isoformat()


class DownLinkPrimary:
    """The primary with its slot held back at ``restart`` and no walsender (the standby is gone)."""

    def __init__(self, restart="0/3000000", current="0/3400000", segment_age=3600):
        self.restart, self.current, self.segment_age = restart, current, segment_age

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        return False

    def query(self, sql, params=None):
        answers = {
            postgresql._STATE_SQL: [{"in_recovery": False, "read_only": "off"}],
            postgresql._CURRENT_LSN_SQL: [{"lsn": self.current}],
            postgresql._SLOT_SQL: [{"slot_name": "s", "active": False, "restart_lsn": self.restart,
                                    "wal_status": "reserved", "safe_wal_size": 1 << 30}],
            postgresql._SENDER_SQL: [],
            postgresql._CAP_SQL: [{"setting": "1024", "unit": "MB"}],
            postgresql._RETAINED_SQL: [{"b": 4 << 20}],
            postgresql._WAL_FILE_TIME_SQL: [{"t": _ago(self.segment_age)}],
        }
        return answers[sql]


def _readings(client, memory, sample=0):
    driver = PostgresqlDriver({"name": "db", "slot": "s", "primary": {"name": "primary", "host": "h", "port": 1},
                               "standby": {"name": "standby", "host": "r", "port": 2}},
                              runner=None, timeout=5)
    driver.connect = lambda side: client
    return driver.buffer_readings(sample, link_memory=lambda state: memory)


def test_a_first_sight_of_an_outage_counts_from_the_wal_segment_when_that_is_earlier():
    # buffer_info runs for the first time an hour into the outage: the first sight is now
    out = _readings(DownLinkPrimary(segment_age=3600), (_ago(1), "first_observed"))
    assert out["since_source"] == "wal_segment_mtime"
    assert out["rpo_seconds"] >= 3590                    # not the ~1 s of the first sight


def test_an_earlier_first_sight_is_kept():
    out = _readings(DownLinkPrimary(segment_age=60), (_ago(3600), "first_observed"))
    assert out["since_source"] == "first_observed" and out["rpo_seconds"] >= 3590


def test_a_transition_seen_is_not_replaced():
    out = _readings(DownLinkPrimary(segment_age=7200), (_ago(120), "observed_transition"))
    assert out["since_source"] == "observed_transition" and 115 <= out["rpo_seconds"] < 200


def test_nothing_unreplicated_is_no_exposure():
    out = _readings(DownLinkPrimary(restart="0/3400000", current="0/3400000"), (_ago(600), "first_observed"))
    assert out["rpo_bytes"] == 0 and out["rpo_seconds"] == 0.0


@pytest.mark.parametrize("sample", [0, 0.0])
def test_no_sample_no_rate(sample):
    assert _readings(DownLinkPrimary(), (_ago(5), "first_observed"), sample)["sample_seconds"] == 0

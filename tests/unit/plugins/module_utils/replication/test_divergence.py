"""divergence.py: pg_waldump text (captured from PostgreSQL 15 in the lab, see fixtures/README.md),
timeline history files, RPO counts and the quarantine document."""

from __future__ import annotations

import os

import pytest

from ansible_collections.continuity.recovery.plugins.module_utils.replication import divergence

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def _fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def test_mixed_workload_committed_transactions_only():
    parsed = divergence.parse_waldump(_fixture("waldump_mixed.txt"), after="0/1FD1D40")
    xids = [t["xid"] for t in parsed["transactions"]]
    assert xids == [732, 734, 735, 736, 737, 738, 739, 741]          # 733 rolled back, 740 a subtransaction
    assert parsed["aborted"] == [733] and parsed["unfinished"] == []
    by_xid = {t["xid"]: t for t in parsed["transactions"]}
    w, ledger = "1663/16386/16396", "1663/16403/16404"
    assert by_xid[735]["relations"][w]["updated"] == 1                 # HOT_UPDATE
    assert by_xid[736]["relations"][w]["updated"] == 1                 # UPDATE (key changed)
    assert by_xid[737]["relations"][w]["deleted"] == 1
    assert by_xid[738]["relations"][w]["inserted"] == 10               # COPY: Heap2 MULTI_INSERT 10 tuples
    assert by_xid[739]["subxacts"] == [740] and by_xid[739]["relations"][w]["inserted"] == 2
    assert by_xid[741]["relations"] == {ledger: {"inserted": 2, "updated": 0, "deleted": 0, "total": 2}}
    assert by_xid[732]["lsn"] == "0/1FD6DB0" and by_xid[732]["commit_ts"] == "2026-12-01T06:45:35.542687+00:00"
    assert parsed["rows"] == {"inserted": 16, "updated": 2, "deleted": 1, "total": 19}
    assert parsed["relations"][ledger]["total"] == 2
    assert parsed["end_lsn"] == "0/1FDDCC8"                            # from pg_waldump's end-of-WAL error
    assert parsed["bytes"] == 0x1FDDCC8 - 0x1FD1D40
    assert parsed["readable"] is True and "invalid record length" in parsed["end_reason"]


def test_changes_before_the_divergence_of_a_transaction_committed_after_it_count():
    # the DELETE of xid 737 is at 0/1FD7060, its COMMIT at 0/1FD7098: divergence in between
    parsed = divergence.parse_waldump(_fixture("waldump_mixed.txt"), after="0/1FD7080")
    assert [t["xid"] for t in parsed["transactions"]][:2] == [737, 738]
    assert parsed["transactions"][0]["relations"]["1663/16386/16396"]["deleted"] == 1
    assert parsed["last_commit_before"] == {"xid": 736, "lsn": "0/1FD7038",
                                            "commit_ts": "2026-12-01T06:45:35.545653+00:00"}
    assert parsed["window_start_lsn"] == "0/1FD1D40" and parsed["start_lsn"] == "0/1FD7080"
    assert parsed["bytes"] == 0x1FDDCC8 - 0x1FD7080


def test_crash_capture_after_the_standby_replay_lsn():
    # captured after SIGKILL of a primary whose standby had replayed up to 0/4000000
    parsed = divergence.parse_waldump(_fixture("waldump_crash.txt"), after="0/4000000")
    assert len(parsed["transactions"]) == 9 and parsed["end_lsn"] == "0/401D3E0"
    assert parsed["relations"]["1663/16386/16388"] == {"inserted": 0, "updated": 3, "deleted": 0, "total": 3}
    assert parsed["rows"]["inserted"] == 26 and parsed["last_commit_before"] is None
    counts = divergence.rpo_counts(parsed)
    assert counts["lost_transactions"] == 9 and counts["lost_bytes"] == 0x1D3E0
    assert counts["last_lost_commit"] == "2026-12-01T06:43:31.369511+00:00" and counts["last_lost_lsn"] == "0/401D3B8"


def test_nothing_after_the_divergence():
    text = "pg_waldump: error: could not find a valid record after 0/5000098\n"
    parsed = divergence.parse_waldump(text, after="0/5000098")
    assert parsed["transactions"] == [] and parsed["readable"] is True
    assert parsed["end_lsn"] == "0/5000098" and parsed["bytes"] == 0
    assert divergence.rpo_counts(parsed)["lost_rows"] == divergence.empty_counts()


def test_commits_before_the_start_are_not_lost():
    parsed = divergence.parse_waldump(_fixture("waldump_mixed.txt"), after="0/1FDDCC8")
    assert parsed["transactions"] == [] and parsed["last_commit_before"]["xid"] == 741 and parsed["bytes"] == 0


def test_missing_wal_is_not_readable():
    text = ('pg_waldump: error: could not find file "000000010000000000000007": No such file or directory\n')
    parsed = divergence.parse_waldump(text, after="0/7000000")
    assert parsed["readable"] is False and "could not find file" in parsed["error"]


@pytest.mark.parametrize("desc,tuples", [
    ("MULTI_INSERT+INIT 7 tuples flags 0x02", 7),                     # PostgreSQL 15
    ("MULTI_INSERT+INIT ntuples: 5, flags: 0x02", 5),                 # PostgreSQL 16
    ("MULTI_INSERT ntuples=3 flags 0x00", 3),
])
def test_multi_insert_formats(desc, tuples):
    text = ("rmgr: Heap2       len (rec/tot):    289/   289, tx:        900, lsn: 0/01000028, prev 0/01000000, "
            "desc: %s, blkref #0: rel 1663/5/16500 blk 0\n"
            "rmgr: Transaction len (rec/tot):     34/    34, tx:        900, lsn: 0/01000150, prev 0/01000028, "
            "desc: COMMIT 2026-12-01 07:00:00.5 +02\n" % desc)
    parsed = divergence.parse_waldump(text)
    assert parsed["rows"]["inserted"] == tuples
    assert parsed["transactions"][0]["commit_ts"] == "2026-12-01T07:00:00.500000+02:00"
    assert parsed["end_lsn"] == "0/1000172"                             # no end error: end of the last record


def test_unfinished_transactions_are_not_lost_commits():
    text = ("rmgr: Heap        len (rec/tot):     65/    65, tx:        901, lsn: 0/01000028, prev 0/01000000, "
            "desc: INSERT off 1 flags 0x00, blkref #0: rel 1663/5/16500 blk 0\n")
    parsed = divergence.parse_waldump(text)
    assert parsed["transactions"] == [] and parsed["unfinished"] == [901]


def test_history_and_switchpoint():
    history = divergence.parse_history("1\t0/4000000\tno recovery target specified\n\n"
                                       "2\t0/5A1C2D8\tno recovery target specified\n")
    assert history[1] == {"timeline": 2, "switchpoint": "0/5A1C2D8", "reason": "no recovery target specified"}
    assert divergence.switchpoint(history, 1) == "0/4000000"
    assert divergence.switchpoint(history, 2) == "0/5A1C2D8" and divergence.switchpoint(history, 3) is None


def test_rpo_counts_leave_system_relations_out():
    parsed = divergence.parse_waldump(_fixture("waldump_mixed.txt"), after="0/1FD1D40")
    counts = divergence.rpo_counts(parsed, system=lambda rel: rel == "1663/16403/16404")
    assert counts["lost_transactions"] == 7 and counts["lost_system_transactions"] == 1
    assert counts["lost_rows"] == {"inserted": 14, "updated": 2, "deleted": 1, "total": 17}
    assert divergence.is_system_relfilenode("1663/16386/2619") and not divergence.is_system_relfilenode("1663/1/16384")


def test_quarantine_document_totals():
    parsed = divergence.parse_waldump(_fixture("waldump_mixed.txt"), after="0/1FD1D40")
    tables = {"payments:public.w": {"database": "payments", "rel": "1663/16386/16396", "relfilenode": 16396,
                                    "inserted": 14, "updated": 2, "deleted": 1,
                                    "rows": [{"id": 4, "note": "c"}, {"id": 10, "note": "copy"}]}}
    doc = divergence.quarantine_document("paydb", "0/1FD1D40", {"old": 1, "new": 2}, parsed, tables,
                                         source="test", created_at="2026-12-01T07:00:00Z")
    assert doc["totals"] == {"transactions": 7, "rows": 2, "tables": 1, "deleted": 1}
    assert [t["xid"] for t in doc["transactions"]] == [732, 734, 735, 736, 737, 738, 739]
    assert doc["tables"]["payments:public.w"]["rows"][1] == {"id": 10, "note": "copy"}
    assert doc["wal"]["end_lsn"] == "0/1FDDCC8" and "not reconstructible" in doc["deleted_rows_note"]


def test_times():
    assert divergence.commit_time("2026-12-01 07:00:00", "UTC") == "2026-12-01T07:00:00+00:00"
    assert divergence.commit_time("2026-12-01 07:00:00", "CEST") is None
    assert divergence.iso("2026-12-01 06:43:29.789211+00") == "2026-12-01T06:43:29.789211+00:00"
    assert divergence.seconds_between("2026-12-01T07:00:02.5+00:00", "2026-12-01 07:00:00+00") == 2.5
    assert divergence.seconds_between(None, "2026-12-01 07:00:00+00") is None

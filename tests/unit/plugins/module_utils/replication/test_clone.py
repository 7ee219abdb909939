"""database_clone's decisions: target, ownership marker, what present/absent must do (pure)."""

from __future__ import annotations

import pytest

from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput
from ansible_collections.continuity.recovery.plugins.module_utils.replication import clone as cl
from ansible_collections.continuity.recovery.plugins.module_utils.replication import divergence

LATEST = {"time": None, "lsn": None, "name": None}
RUNNING = {"exists": True, "pid": 42, "reachable": True, "in_recovery": False}
STOPPED = {"exists": True, "pid": None, "reachable": False, "in_recovery": None}
NOTHING = {"exists": False, "pid": None, "dir_exists": False}


def _marker(**extra):
    spec = cl.wanted_spec("paydb", LATEST, None, 5440)
    spec.update(base_backup="20261123T180000Z")
    spec.update(extra)
    return spec


def test_target_latest_and_one_target_only():
    assert cl.target_of() == LATEST
    assert cl.describe_target(cl.target_of()) == "latest (everything archived)"
    assert cl.describe_target(cl.target_of(target_lsn="0/3000060")) == "lsn 0/3000060"
    with pytest.raises(InvalidInput, match="only one of"):
        cl.target_of(target_time="2026-11-23 18:59:00+00", target_name="before_batch")


def test_present_creates_when_nothing_is_there():
    assert cl.present_steps(None, NOTHING, cl.wanted_spec("paydb", LATEST, None, 5440), "/d") == ["create"]


def test_present_refuses_a_directory_it_did_not_make():
    with pytest.raises(InvalidInput, match="not made by database_clone"):
        cl.present_steps(None, dict(NOTHING, dir_exists=True), cl.wanted_spec("paydb", LATEST, None, 5440), "/d")
    with pytest.raises(InvalidInput, match="not made by database_clone"):
        cl.present_steps(None, RUNNING, cl.wanted_spec("paydb", LATEST, None, 5440), "/d")


def test_present_is_idempotent_and_starts_a_stopped_clone():
    wanted = cl.wanted_spec("paydb", LATEST, None, 5440)
    assert cl.present_steps(_marker(), RUNNING, wanted, "/d") == []
    assert cl.present_steps(_marker(), STOPPED, wanted, "/d") == ["start"]
    # a named base backup must match the one the clone was made from
    named = cl.wanted_spec("paydb", LATEST, "20261123T180000Z", 5440)
    assert cl.present_steps(_marker(), RUNNING, named, "/d") == []
    with pytest.raises(InvalidInput, match="remove it first"):
        cl.present_steps(_marker(), RUNNING, cl.wanted_spec("paydb", LATEST, "20261124T000000Z", 5440), "/d")


def test_present_refuses_another_target_port_or_pair():
    with pytest.raises(InvalidInput, match="latest .* remove it first"):
        cl.present_steps(_marker(), RUNNING, cl.wanted_spec("paydb", cl.target_of(target_lsn="0/1"), None, 5440), "/d")
    with pytest.raises(InvalidInput, match="port 5440"):
        cl.present_steps(_marker(), RUNNING, cl.wanted_spec("paydb", LATEST, None, 5441), "/d")
    with pytest.raises(InvalidInput, match="clone of pair paydb, not crm"):
        cl.present_steps(_marker(), RUNNING, cl.wanted_spec("crm", LATEST, None, 5440), "/d")


def test_present_refuses_a_failed_or_unfinished_clone():
    wanted = cl.wanted_spec("paydb", LATEST, None, 5440)
    with pytest.raises(InvalidInput, match="incomplete"):
        cl.present_steps(_marker(), dict(NOTHING, dir_exists=True), wanted, "/d")
    with pytest.raises(InvalidInput, match="not finished recovery"):
        cl.present_steps(_marker(), dict(RUNNING, in_recovery=True), wanted, "/d")


def test_absent_removes_only_its_own_clone():
    assert cl.absent_steps(None, NOTHING, "paydb", "/d") == []
    assert cl.absent_steps(_marker(), RUNNING, "paydb", "/d") == ["stop", "remove"]
    assert cl.absent_steps(_marker(), STOPPED, "paydb", "/d") == ["remove"]
    assert cl.absent_steps(_marker(), NOTHING, "paydb", "/d") == ["remove"]      # a copy that failed half way
    with pytest.raises(InvalidInput, match="refusing to remove"):
        cl.absent_steps(None, STOPPED, "paydb", "/d")
    with pytest.raises(InvalidInput, match="clone of pair paydb, not crm"):
        cl.absent_steps(_marker(), STOPPED, "crm", "/d")


def test_marker_beside_the_data_directory():
    assert cl.marker_path("/srv/pg/drill-paydb/") == "/srv/pg/drill-paydb.continuity-clone.json"


@pytest.mark.parametrize("name, quoted", [
    ("payments", '"public"."payments"'),
    ("sales.orders", '"sales"."orders"'),
    ('we"ird', '"public"."we""ird"'),
])
def test_quote_table(name, quoted):
    assert cl.quote_table(name) == quoted


@pytest.mark.parametrize("name", ["a.b.c", ".x", "x.", ""])
def test_quote_table_rejects(name):
    with pytest.raises(InvalidInput):
        cl.quote_table(name)


def test_log_tail(tmp_path):
    log = tmp_path / "clone.log"
    log.write_text("".join("line %d\n" % i for i in range(20)))
    assert cl.log_tail(str(log), lines=2) == "line 18\nline 19"
    assert cl.log_tail(str(tmp_path / "missing.log")) is None
    assert cl.log_tail(None) is None


@pytest.mark.parametrize("kwargs", [
    {"target_time": "2026-11-23 18:59:00+00"}, {"target_time": "2026-12-01 06:44:43.123456+00"},
    {"target_time": "2026-11-23T18:59:00Z"}, {"target_time": "2026-11-23 18:59:00 Europe/Helsinki"},
    {"target_time": "2026-11-23 18:59:00 UTC"}, {"target_time": "2026-11-23"},
    {"target_lsn": "0/3000060"}, {"target_lsn": "16/B374D848"}, {"target_name": "before_batch"},
    {"target_name": "n" * 63},
])
def test_target_accepts_what_postgresql_accepts(kwargs):
    target = cl.target_of(**kwargs)
    assert [v for v in target.values() if v] == list(kwargs.values())


@pytest.mark.parametrize("kwargs, field", [
    ({"target_time": "now"}, "target_time"), ({"target_time": "23/11/2026 18:59"}, "target_time"),
    ({"target_time": "2026-11-23 25:00:00+00"}, "target_time"), ({"target_time": "garbage UTC"}, "target_time"),
    ({"target_lsn": "0/3000060/1"}, "target_lsn"), ({"target_lsn": "G/1"}, "target_lsn"),
    ({"target_lsn": "123456789/0"}, "target_lsn"), ({"target_name": "n" * 64}, "target_name"),
])
def test_target_refuses_a_malformed_one_naming_the_field(kwargs, field):
    with pytest.raises(InvalidInput, match="^%s: " % field):
        cl.target_of(**kwargs)


def test_check_inputs():
    cl.check_inputs(5440, ["payments", "sales.orders"])
    cl.check_inputs(1, [])
    with pytest.raises(InvalidInput, match="^port: 65536 "):
        cl.check_inputs(65536)
    with pytest.raises(InvalidInput, match="^count_tables: 'a.b.c' "):
        cl.check_inputs(5440, ["payments", "a.b.c"])


@pytest.mark.parametrize("stamp, older_python_reads", [
    ("2026-11-23 18:59:00+00", "2026-11-23 18:59:00+00:00"),
    ("2026-11-23T18:59:00Z", "2026-11-23T18:59:00+00:00"),
    ("2026-11-23 18:59:00+0530", "2026-11-23 18:59:00+05:30"),
    ("2026-11-23 18:59:00-05", "2026-11-23 18:59:00-05:00"),
    ("2026-11-23 18:59:00+05:30", "2026-11-23 18:59:00+05:30"),
    ("2026-11-23 18:59:00", "2026-11-23 18:59:00"),
    ("2026-11-23", "2026-11-23"),
])
def test_time_offsets_as_python_before_3_11_reads_them(stamp, older_python_reads):
    # datetime.fromisoformat before 3.11 takes only +HH:MM offsets; the module may run on such a database host
    assert divergence.offset_with_colon(stamp) == older_python_reads

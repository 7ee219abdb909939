"""database_clone without servers: documented options equal the argument spec (shared fragment included),
and the refusals that happen before anything is touched."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.continuity.recovery.plugins.doc_fragments.replication import ModuleDocFragment
from ansible_collections.continuity.recovery.plugins.module_utils.replication import args as rargs
from ansible_collections.continuity.recovery.plugins.modules import database_clone

FRAGMENT = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
EXTRA = {"state": {"type": "str", "default": "present"}, "data_dir": {"type": "path", "required": True},
         "port": {"type": "int", "required": True}, "listen_addresses": {"type": "str", "default": "127.0.0.1"},
         "target_time": {"type": "str"}, "target_lsn": {"type": "str"}, "target_name": {"type": "str"},
         "base_backup": {"type": "str"}, "count_tables": {"type": "list", "default": []}}


def test_documented_options_match_the_spec():
    documented = dict(FRAGMENT, **yaml.safe_load(database_clone.DOCUMENTATION)["options"])
    spec = rargs.replication_argument_spec()
    spec.update(EXTRA)
    assert sorted(documented) == sorted(spec)
    for name, option in EXTRA.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name
        assert bool(documented[name].get("required")) == bool(option.get("required")), name
    assert yaml.safe_load(database_clone.RETURN)["clone"]["type"] == "dict"


def _run(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            database_clone.main()
    return json.loads(capsys.readouterr().out)


def _pair(tmp_path, **extra):
    args = {"name": "paydb", "engine": "postgresql", "primary": {"host": "db-prod.invalid"},
            "standby": {"host": "127.0.0.1", "password": "s3cret-standby"}, "slot": "dr_paydb",
            "archive": {"path": str(tmp_path / "archive")}, "data_dir": str(tmp_path / "clone"), "port": 1}
    args.update(extra)
    return args


def test_only_postgresql_pairs(tmp_path, capsys):
    result = _run({"name": "fs", "engine": "rsync", "source": {"path": str(tmp_path)},
                   "target": {"path": str(tmp_path / "t")}, "data_dir": str(tmp_path / "c"), "port": 1}, capsys)
    assert result["failed"] and "engine postgresql" in result["msg"]


def test_one_target_only(tmp_path, capsys):
    result = _run(_pair(tmp_path, target_time="2026-11-23 18:59:00+00", target_lsn="0/1"), capsys)
    assert result["failed"] and "mutually exclusive" in result["msg"]


def test_no_base_backup_is_refused_before_anything_is_made(tmp_path, capsys):
    result = _run(_pair(tmp_path, _ansible_check_mode=True), capsys)
    assert result["failed"] and "no base backup" in result["msg"]
    assert not os.path.exists(tmp_path / "clone") and not os.path.exists(str(tmp_path / "clone") + ".continuity-clone.json")
    assert "s3cret-standby" not in json.dumps(result)


def test_a_foreign_directory_is_never_removed(tmp_path, capsys):
    (tmp_path / "clone" / "data").mkdir(parents=True)
    result = _run(_pair(tmp_path, state="absent"), capsys)
    assert result["failed"] and "not made by database_clone" in result["msg"]
    assert (tmp_path / "clone" / "data").is_dir()


def test_absent_without_a_clone_changes_nothing(tmp_path, capsys):
    result = _run(_pair(tmp_path, state="absent"), capsys)
    assert result["changed"] is False and result["actions"] == [] and not result.get("failed")


def _with_base_backup(tmp_path):
    """An archive holding a base backup, and server programs that cannot run: whatever gets past the input checks
    copies the backup into the clone's directory (and fails to start it)."""
    base = tmp_path / "archive" / "base" / "20261123T180000Z"
    base.mkdir(parents=True)
    (base / "PG_VERSION").write_text("15\n")
    (base / "postgresql.auto.conf").write_text("port = '5433'\n")
    return {"standby": {"host": "127.0.0.1", "password": "s3cret-standby", "bin_dir": str(tmp_path / "no-bin")}}


@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize("bad, field", [
    ({"target_lsn": "0/XYZ"}, "target_lsn"),
    ({"target_lsn": "3000060"}, "target_lsn"),
    ({"target_time": "yesterday"}, "target_time"),
    ({"target_time": "2026-13-01 00:00:00+00"}, "target_time"),
    ({"target_name": "x" * 64}, "target_name"),
    ({"count_tables": ["payments", "a.b.c"]}, "count_tables"),
    ({"count_tables": [".payments"]}, "count_tables"),
    ({"port": 0}, "port"),
    ({"port": 70000}, "port"),
])
def test_every_input_is_checked_before_anything_is_copied(tmp_path, capsys, bad, field, check_mode):
    args = _pair(tmp_path, **_with_base_backup(tmp_path))
    args.update(bad, _ansible_check_mode=check_mode)
    result = _run(args, capsys)
    assert result["failed"] and result["msg"].startswith(field + ":"), result["msg"]
    assert result["actions"] == [] and result["commands"] == [] and result["changed"] is False
    assert not os.path.lexists(tmp_path / "clone")
    assert not os.path.exists(str(tmp_path / "clone") + ".continuity-clone.json")


def test_well_formed_inputs_pass_the_checks(tmp_path, capsys):
    args = _pair(tmp_path, target_lsn="0/3000060", count_tables=["payments", "sales.orders"], port=5440,
                 _ansible_check_mode=True, **_with_base_backup(tmp_path))
    result = _run(args, capsys)
    assert not result.get("failed"), result["msg"]
    assert result["changed"] and result["actions"][0].startswith("copy base backup 20261123T180000Z")
    assert result["target"]["lsn"] == "0/3000060" and not os.path.lexists(tmp_path / "clone")

"""replication / replication_info / buffer_info without servers: documented options equal the
argument spec (the shared doc fragment included), and the module glue on an rsync pair."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.continuity.recovery.plugins.doc_fragments.replication import ModuleDocFragment
from ansible_collections.continuity.recovery.plugins.module_utils.replication import args as rargs
from ansible_collections.continuity.recovery.plugins.modules import buffer_info, replication, replication_info

FRAGMENT = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
EXTRA = {
    replication: {"state": {"type": "str", "default": "present"}, "final_sync": {"type": "bool", "default": True},
                  "canary": {"type": "bool", "default": False}, "quarantine_dir": {"type": "path"}},
    replication_info: {"query": {"type": "str"}},
    buffer_info: {"sample_seconds": {"type": "float", "default": 2.0}, "objectives": {"type": "dict", "default": {}},
                  "link_state_dir": {"type": "path", "default": "~/.cache/continuity.recovery/links"},
                  "query": {"type": "str"}},
}


def _same(doc, spec, where):
    assert sorted(doc) == sorted(spec), where
    for name, option in spec.items():
        d = doc[name]
        assert d["type"] == option["type"], (where, name)
        assert d.get("default") == option.get("default"), (where, name)
        assert bool(d.get("required")) == bool(option.get("required")), (where, name)
        assert bool(d.get("no_log", False)) is False  # no_log lives in the spec, not the docs
        if "options" in option:
            _same(d["suboptions"], option["options"], where + "." + name)


@pytest.mark.parametrize("module", [replication, replication_info, buffer_info])
def test_documented_options_match_the_spec(module):
    documented = dict(FRAGMENT, **yaml.safe_load(module.DOCUMENTATION).get("options", {}))
    spec = rargs.replication_argument_spec()
    spec.update(EXTRA[module])
    _same(documented, spec, module.__name__)
    assert "continuity.recovery.replication" in yaml.safe_load(module.DOCUMENTATION)["extends_documentation_fragment"]
    assert yaml.safe_load(module.RETURN)


def test_secrets_are_no_log():
    spec = rargs.replication_argument_spec()
    assert spec["replication_password"]["no_log"] is True
    assert spec["primary"]["options"]["password"]["no_log"] is True


def _run(module, args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def _rsync_pair(tmp_path, **extra):
    src = tmp_path / "src"
    (src / "vm").mkdir(parents=True)
    (src / "vm" / "disk").write_bytes(b"x" * 1000)
    args = {"name": "fs", "engine": "rsync", "source": {"path": str(src)}, "target": {"path": str(tmp_path / "tgt")},
            "max_buffer": "4kB"}
    args.update(extra)
    return args


def test_unestablished_pair_refuses_to_pause(tmp_path, capsys):
    result = _run(replication, dict(_rsync_pair(tmp_path), state="paused"), capsys)
    assert result["failed"] and "not established" in result["msg"]


def test_check_mode_reports_the_full_copy_without_doing_it(tmp_path, capsys):
    result = _run(replication, dict(_rsync_pair(tmp_path), state="present", _ansible_check_mode=True), capsys)
    assert result["changed"] and result["actions"][0].startswith("initial full copy")
    assert result["commands"] == [] and not os.path.exists(tmp_path / "tgt")


def test_buffer_info_reads_the_source_side_only(tmp_path, capsys):
    result = _run(buffer_info, dict(_rsync_pair(tmp_path), sample_seconds=0, link_state_dir=str(tmp_path / "l"),
                                    objectives={"rpo_seconds": 60, "max_buffer_fill_pct": 10}), capsys)
    assert result["changed"] is False
    assert result["link"]["state"] == "disconnected"          # the target does not exist
    assert result["retained_bytes"] == 1000 and result["capacity_bytes"] == 4096
    assert result["fill_pct"] == round(100 * 1000 / 4096, 2)
    assert {a["alert"] for a in result["alerts"]} == {"link_down", "buffer_fill"}


def test_engine_requires_its_keys(capsys):
    result = _run(replication, {"name": "x", "engine": "postgresql"}, capsys)
    assert result["failed"] and "primary" in result["msg"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the server programs switch to os_user only as root")
def test_an_unknown_os_user_is_named_before_anything_runs(tmp_path, capsys):
    args = {"name": "db", "engine": "postgresql", "slot": "s",
            "primary": {"host": "127.0.0.1", "port": 1, "data_dir": str(tmp_path / "p")},
            "standby": {"host": "127.0.0.1", "port": 2, "data_dir": str(tmp_path / "s"), "os_user": "postgress"}}
    result = _run(replication, args, capsys)
    assert result["failed"] and result["msg"].startswith("standby.os_user:") and "'postgress'" in result["msg"]
    assert result["commands"] == [] and result["queries"] == []


def test_a_file_system_error_is_a_failure_not_a_traceback(tmp_path, capsys):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    result = _run(replication, _rsync_pair(tmp_path, target={"path": str(blocker / "tgt")}), capsys)
    assert result["failed"] and "state=present of pair fs failed" in result["msg"], result["msg"]
    assert str(blocker) in result["msg"]


def test_negative_snapshots_are_refused_before_anything_runs(tmp_path, capsys):
    result = _run(replication, _rsync_pair(tmp_path, snapshots=-1), capsys)
    assert result["failed"] and result["msg"].startswith("snapshots:") and result["commands"] == []
    assert not (tmp_path / "tgt").exists()

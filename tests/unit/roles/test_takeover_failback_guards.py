"""The guards of the takeover and failback roles, without a lab.

Two kinds of test:

- the roles' pure decision files run for real - ``roles/takeover/tasks/judge_primary.yml`` (what of the primary
  answers, the read-only state of its databases, healthy, blocked pairs) and ``roles/failback/tasks/tier_pairs.yml``
  (which tiers may move back when ``failback_pairs`` names some pairs only) - through one ansible-playbook run on
  localhost per file, one scenario per include, with the inputs the probes would have returned;
- static checks of the task files: what must not run with ``failback_cutover: false``, the change-window refusal
  inside the failback's block (recorded), the empty-reference refusal, the planned zero-loss gate between the
  promotions and the storage, and the new override documented and off by default.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "helpers"))
import task_files  # noqa: E402  pylint: disable=wrong-import-position

TAKEOVER = REPO / "roles" / "takeover"
FAILBACK = REPO / "roles" / "failback"


def load(path: Path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def run_scenarios(tmp_path: Path, tasks_file: Path, scenarios: dict, outputs: list[str]) -> dict:
    """Include ``tasks_file`` once per scenario (its inputs as include vars); returns name -> {output: value}."""
    playbook_bin = Path(sys.executable).parent / "ansible-playbook"
    if not playbook_bin.exists():
        pytest.skip("ansible-playbook is not installed beside this Python")
    wrapper = [
        {"name": "Decide", "ansible.builtin.include_tasks": str(tasks_file)},
        {"name": "Keep the outputs", "ansible.builtin.set_fact": {
            "scenario_results": "{{ scenario_results | combine({scenario_name: {%s}}) }}" % ", ".join(
                "'%s': %s" % (name, name) for name in outputs)}},
    ]
    (tmp_path / "wrapper.yml").write_text(yaml.safe_dump(wrapper), encoding="utf-8")
    tasks = [{"name": "Scenario " + name, "ansible.builtin.include_tasks": str(tmp_path / "wrapper.yml"),
              "vars": dict(inputs, scenario_name=name)} for name, inputs in scenarios.items()]
    write = {"dest": str(tmp_path / "out.json"), "mode": "0600", "content": "{{ scenario_results | to_json }}"}
    tasks.append({"name": "Write", "ansible.builtin.copy": write})
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local",
             "vars": {"scenario_results": {}}, "tasks": tasks}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play), encoding="utf-8")
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
           "ANSIBLE_HOME": str(tmp_path / "home"), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
           "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".build" / "collections")}
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    run = subprocess.run([str(playbook_bin), "-i", "localhost,", "-e", "ansible_python_interpreter=%s" % sys.executable,
                          str(tmp_path / "play.yml")], env=env, capture_output=True, text=True, timeout=300,
                         check=False, cwd=str(tmp_path))
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------ takeover: the primary site
PLAN = {"sites": {"primary": {"vcenter": {"hostname": "vc-prod.example.com"}}}}
READ_OK = {"changed": False, "vms": [{"name": "db01", "power_state": "poweredOn"},
                                     {"name": "app01", "power_state": "poweredOff"}]}
AUTH_FAILED = {"failed": True, "error_type": "AuthenticationFailure",
               "msg": "vCenter vc-prod.example.com:443 refused the login of dr: incorrect user name or password"}
NOT_FOUND = {"failed": True, "error_type": "NotFound", "msg": "datacenter 'DC9' not found"}
CRASHED = {"failed": True, "msg": "MODULE FAILURE: timed out"}  # no error_type: what answered is unknown
UNREACHABLE = {"failed": True, "error_type": "ConnectionFailure", "reason": "unreachable",
               "msg": "cannot connect to vCenter vc-prod.example.com:443: [Errno 111] Connection refused"}
TLS_FAILED = {"failed": True, "error_type": "ConnectionFailure", "reason": "tls",
              "msg": "cannot connect to vCenter vc-prod.example.com:443: certificate verify failed"}


def side(reachable=True, role="primary", read_only=False, endpoint="10.0.0.5:5432", error=None):
    if not reachable:
        return {"endpoint": endpoint, "reachable": False, "role": None, "error": error or "connection refused"}
    out = {"endpoint": endpoint, "reachable": True, "role": role, "position": "0/3000060", "read_only": read_only,
           "error": None}
    if role == "standby":
        out["replay_lsn"] = "0/3000060"
    return out


def probe(primary, standby):
    return {"pair": "paydb", "engine": "postgresql", "source": primary, "target": standby}


STANDBY = side(role="standby", read_only=False, endpoint="10.1.0.5:5432")
TAKEOVER_SCENARIOS = {
    "auth_error_db_down": {"takeover_primary_site": AUTH_FAILED, "takeover_mode": "emergency",
                           "takeover_pair_probes": {"paydb": probe(side(reachable=False), STANDBY)}},
    "config_error": {"takeover_primary_site": NOT_FOUND, "takeover_mode": "emergency", "takeover_pair_probes": {}},
    "module_crash": {"takeover_primary_site": CRASHED, "takeover_mode": "emergency", "takeover_pair_probes": {}},
    "tls_error": {"takeover_primary_site": TLS_FAILED, "takeover_mode": "emergency", "takeover_pair_probes": {}},
    "vcenter_down_db_up": {"takeover_primary_site": UNREACHABLE, "takeover_mode": "emergency",
                           "takeover_pair_probes": {"paydb": probe(side(), STANDBY)}},
    "nothing_answers": {"takeover_primary_site": UNREACHABLE, "takeover_mode": "emergency",
                        "takeover_pair_probes": {"paydb": probe(side(reachable=False), STANDBY)}},
    "healthy": {"takeover_primary_site": READ_OK, "takeover_mode": "planned",
                "takeover_pair_probes": {"paydb": probe(side(), STANDBY)}},
    "fenced_read_only": {"takeover_primary_site": READ_OK, "takeover_mode": "planned",
                         "takeover_pair_probes": {"paydb": probe(side(read_only=True), STANDBY)}},
    "planned_db_down": {"takeover_primary_site": READ_OK, "takeover_mode": "planned",
                        "takeover_pair_probes": {"paydb": probe(side(reachable=False), STANDBY)}},
    "in_recovery": {"takeover_primary_site": UNREACHABLE, "takeover_mode": "emergency",
                    "takeover_pair_probes": {"paydb": probe(side(role="standby", read_only=True),
                                                            side(endpoint="10.1.0.5:5432"))}},
}
TAKEOVER_OUTPUTS = ["takeover_primary_vcenter_up", "takeover_primary_vcenter_answers", "takeover_databases",
                    "takeover_primary_answered", "takeover_primary_healthy", "takeover_blocked_pairs"]


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    scenarios = {name: dict(inputs, takeover_plan=PLAN) for name, inputs in TAKEOVER_SCENARIOS.items()}
    return run_scenarios(tmp_path_factory.mktemp("judge"), TAKEOVER / "tasks" / "judge_primary.yml", scenarios,
                         TAKEOVER_OUTPUTS)


@pytest.mark.parametrize("name", ["auth_error_db_down", "config_error", "module_crash", "tls_error"])
def test_a_vcenter_refusing_the_login_or_the_configuration_answers(judged, name):
    out = judged[name]
    assert out["takeover_primary_vcenter_up"] is False and out["takeover_primary_vcenter_answers"] is True
    assert len(out["takeover_primary_answered"]) == 1
    assert out["takeover_primary_answered"][0].startswith("vCenter vc-prod.example.com answers but could not be read")
    assert TAKEOVER_SCENARIOS[name]["takeover_primary_site"]["msg"] in out["takeover_primary_answered"][0]
    assert out["takeover_primary_healthy"] is False


def test_an_answering_primary_database_needs_the_confirmation_with_the_vcenter_down(judged):
    out = judged["vcenter_down_db_up"]
    assert out["takeover_primary_vcenter_answers"] is False
    assert out["takeover_primary_answered"] == ["database paydb 10.0.0.5:5432 answers (writable primary)"]
    assert out["takeover_databases"]["paydb"]["primary"]["writable"] is True


def test_nothing_answers_no_confirmation_needed(judged):
    out = judged["nothing_answers"]
    assert out["takeover_primary_answered"] == [] and out["takeover_primary_vcenter_answers"] is False
    assert out["takeover_databases"]["paydb"]["primary"] == {
        "reachable": False, "role": None, "endpoint": "10.0.0.5:5432", "error": "connection refused",
        "current_lsn": None, "replay_lsn": None, "read_only": None, "writable": False}
    assert out["takeover_blocked_pairs"] == []  # emergency: the standby answers, it can be promoted


def test_healthy_primary(judged):
    out = judged["healthy"]
    assert out["takeover_primary_healthy"] is True
    assert out["takeover_primary_answered"] == [
        "vCenter vc-prod.example.com answers (1 of the plan's VMs powered on there)",
        "database paydb 10.0.0.5:5432 answers (writable primary)"]
    assert out["takeover_databases"]["paydb"]["primary"]["current_lsn"] == "0/3000060"
    assert out["takeover_databases"]["paydb"]["standby"]["replay_lsn"] == "0/3000060"


def test_a_read_only_primary_is_not_writable(judged):
    """default_transaction_read_only on (replication_info read_only): not writable, not healthy. A planned takeover
    is not blocked by it (a fence left half-done by an interrupted attempt: the promotion finishes it)."""
    out = judged["fenced_read_only"]
    primary = out["takeover_databases"]["paydb"]["primary"]
    assert primary["read_only"] is True and primary["writable"] is False
    assert out["takeover_primary_healthy"] is False
    assert "database paydb 10.0.0.5:5432 answers (primary, read-only (fenced))" in out["takeover_primary_answered"]
    assert out["takeover_blocked_pairs"] == []


def test_planned_is_blocked_by_a_primary_database_down_or_in_recovery(judged):
    out = judged["planned_db_down"]
    assert out["takeover_blocked_pairs"] == [
        "paydb: the primary database 10.0.0.5:5432 is not up as a primary (connection refused) and the standby is not"
        " promoted: a planned takeover cannot fence it and prove zero loss (use takeover_mode=emergency)"]


def test_an_old_primary_in_recovery_still_answers(judged):
    out = judged["in_recovery"]
    assert out["takeover_primary_answered"] == ["database paydb 10.0.0.5:5432 answers (in recovery)"]
    assert out["takeover_databases"]["paydb"]["primary"]["writable"] is False


# ------------------------------------------------------------------ failback: tiers of a partial failback
def vms(*names):
    return [{"name": n, "recovery_ip": None, "network": None} for n in names]


LAB_PLAN = {
    "datastores": [{"primary": "Prod-DS-01", "recovery": "Replica-DS-01", "replication": "vmstore"}],
    "replication": [{"name": "vmstore", "engine": "rsync"}, {"name": "paydb", "engine": "postgresql"}],
    "tiers": [{"name": "data", "vms": vms("db01", "db02"), "databases": ["paydb"]},
              {"name": "app", "vms": vms("app01"), "databases": []},
              {"name": "web", "vms": vms("web01"), "databases": []}],
}
LAB_DS = {"db01": ["Prod-DS-01"], "db02": ["Prod-DS-01"], "app01": ["Prod-DS-01"], "web01": ["Prod-DS-01"]}
SPLIT_PLAN = {
    "datastores": [{"primary": "DS-A", "recovery": "R-A", "replication": "rs_a"},
                   {"primary": "DS-B", "recovery": "R-B", "replication": "rs_b"}],
    "replication": [{"name": "rs_a"}, {"name": "rs_b"}, {"name": "pg_a"}],
    "tiers": [{"name": "t1", "vms": vms("a1"), "databases": ["pg_a"]},
              {"name": "t2", "vms": vms("b1"), "databases": []}],
}
FAILBACK_SCENARIOS = {
    "lab_paydb_only": {"failback_plan": LAB_PLAN, "failback_selected": ["paydb"], "failback_todo": ["paydb"],
                       "failback_vm_datastores": LAB_DS},
    "lab_vmstore_only": {"failback_plan": LAB_PLAN, "failback_selected": ["vmstore"], "failback_todo": ["vmstore"],
                         "failback_vm_datastores": LAB_DS},
    "split_first_half": {"failback_plan": SPLIT_PLAN, "failback_selected": ["rs_a", "pg_a"],
                         "failback_todo": ["rs_a", "pg_a"], "failback_vm_datastores": {"a1": ["DS-A"], "b1": ["DS-B"]}},
    "split_vm_unknown": {"failback_plan": SPLIT_PLAN, "failback_selected": ["rs_a", "pg_a"],
                         "failback_todo": ["rs_a", "pg_a"], "failback_vm_datastores": {"b1": ["DS-B"]}},
    "split_already_protected": {"failback_plan": SPLIT_PLAN, "failback_selected": ["rs_a"], "failback_todo": [],
                                "failback_vm_datastores": {"a1": ["DS-A"], "b1": ["DS-B"]}},
}
FAILBACK_OUTPUTS = ["failback_tier_needs", "failback_move_tiers", "failback_kept_tiers", "failback_tier_problems"]


@pytest.fixture(scope="module")
def tiers(tmp_path_factory):
    return run_scenarios(tmp_path_factory.mktemp("tiers"), FAILBACK / "tasks" / "tier_pairs.yml", FAILBACK_SCENARIOS,
                         FAILBACK_OUTPUTS)


def test_the_pairs_a_tier_needs(tiers):
    assert tiers["lab_paydb_only"]["failback_tier_needs"] == {
        "data": {"paydb": ["database of the tier"],
                 "vmstore": ["VM db01 on datastore Prod-DS-01", "VM db02 on datastore Prod-DS-01"]},
        "app": {"vmstore": ["VM app01 on datastore Prod-DS-01"]},
        "web": {"vmstore": ["VM web01 on datastore Prod-DS-01"]}}


def test_a_database_failed_back_under_a_tier_that_stays_is_refused(tiers):
    out = tiers["lab_paydb_only"]
    assert out["failback_move_tiers"] == [] and out["failback_kept_tiers"] == ["data", "app", "web"]
    assert out["failback_tier_problems"] == [
        "tier data needs pair vmstore (VM db01 on datastore Prod-DS-01, VM db02 on datastore Prod-DS-01), which is not"
        " failed back (not in failback_pairs), so its VMs stay at the recovery site, running; but it also needs pair"
        " paydb (database of the tier), which this failback would cut back"]


def test_a_datastore_failed_back_under_a_tier_that_stays_is_refused(tiers):
    out = tiers["lab_vmstore_only"]
    assert out["failback_move_tiers"] == ["app", "web"] and out["failback_kept_tiers"] == ["data"]
    assert len(out["failback_tier_problems"]) == 1
    problem = out["failback_tier_problems"][0]
    assert problem.startswith("tier data needs pair paydb (database of the tier), which is not failed back")
    assert "pair vmstore (VM db01 on datastore Prod-DS-01, VM db02 on datastore Prod-DS-01), which this failback" in problem


def test_tiers_of_their_own_pairs_move_alone(tiers):
    out = tiers["split_first_half"]
    assert out["failback_move_tiers"] == ["t1"] and out["failback_kept_tiers"] == ["t2"]
    assert out["failback_tier_problems"] == []


def test_a_vm_whose_datastores_are_unknown_needs_every_datastore_pair(tiers):
    out = tiers["split_vm_unknown"]
    assert out["failback_tier_needs"]["t1"]["rs_b"] == ["VM a1 (not found at the primary site: any datastore)"]
    assert out["failback_move_tiers"] == [] and len(out["failback_tier_problems"]) == 1
    assert out["failback_tier_problems"][0].startswith("tier t1 needs pair rs_b (VM a1 (not found at the primary site")


def test_a_pair_already_protected_is_no_conflict(tiers):
    out = tiers["split_already_protected"]
    assert out["failback_move_tiers"] == [] and out["failback_tier_problems"] == []


# ------------------------------------------------------------------ static checks of the task files
def tasks(path: Path) -> list[dict]:
    return list(task_files.document_tasks(load(path)))


def named(path: Path, name: str) -> dict:
    found = [t for t in tasks(path) if t.get("name") == name]
    assert len(found) == 1, "%s: no single task named %r" % (path, name)
    return found[0]


def test_reverse_and_verify_only_stops_after_the_verification():
    """With failback_cutover false nothing after the verification runs: every task that syncs, cuts back, fences,
    moves VMs or re-protects is inside the block conditioned on failback_cutover."""
    data = load(FAILBACK / "tasks" / "data.yml")
    block = [t for t in data if t.get("name") == "Final sync, cut back and re-protect"]
    assert len(block) == 1 and block[0]["when"] == "failback_cutover | bool"
    inside = {t.get("name") for t in task_files.tasks_in(block[0]["block"])}
    for name in ("Check the change window again before the final sync",
                 "Shut the VMs at the recovery site down (writers stop before the final sync)",
                 "Final reverse delta of rsync pairs (the recovery site's VMs are down)",
                 "Final sync of PostgreSQL pairs - the primary-site standby replays everything the recovery site wrote",
                 "Cut back PostgreSQL pairs - fence the recovery-site server after a final sync, promote the primary site",
                 "Cut back rsync pairs - last reverse delta, the source authoritative again, forward delta and snapshot",
                 "Re-protect PostgreSQL pairs - the recovery-site server rejoins as a standby of the primary (pg_rewind)",
                 "Re-protect every pair with the protect role (present, synced, canary, buffer)"):
        assert name in inside, name
    outside = [t for t in data if t is not block[0]]
    changing = [t.get("name") for t in outside
                if any(k in t for k in ("continuity.recovery.replication", "continuity.recovery.host_cutover",
                                        "ansible.builtin.include_role"))
                and (t.get("continuity.recovery.replication") or {}).get("state") != "reversed"]
    assert changing == [], changing
    reverse = [t.get("name") for t in outside if (t.get("continuity.recovery.replication") or {}).get("state") == "reversed"]
    assert reverse == ["Reverse PostgreSQL pairs - quarantine what the old primary alone committed, pg_rewind, rejoin as standby",
                       "Reverse rsync pairs - delta from the recovery site back to the primary site"]
    skipped = named(FAILBACK / "tasks" / "data.yml", "Record that this run stops after the reversal (failback_cutover false)")
    assert skipped["when"] == "not failback_cutover | bool"
    assert skipped["continuity.recovery.evidence"]["records"][0]["status"] == "skipped"
    main = FAILBACK / "tasks" / "main.yml"
    assert "failback_cutover | bool" in named(main, "Prove that nothing written at the recovery site was lost")["when"]
    assert "failback_cutover | bool" in named(main, "Journal the end of the failback")["when"]


def test_the_failback_change_window_refusal_is_recorded():
    main = load(FAILBACK / "tasks" / "main.yml")
    guard_outside = [t for t in main if "continuity.recovery.change_window" in t]
    assert guard_outside == [], "the change window is checked outside the block: its refusal leaves no evidence"
    (block,) = [t for t in main if t.get("name") == "Fail back"]
    first = block["block"][0]
    assert "continuity.recovery.change_window" in first["block"][0]
    records = [r for t in first["rescue"] for r in (t.get("continuity.recovery.evidence") or {}).get("records", [])]
    assert [(r["kind"], r["name"], r["status"]) for r in records] == [("check", "change_window", "failed")]
    assert any("failback_refused" in (t.get("ansible.builtin.set_fact") or {}) for t in first["rescue"])


def test_an_empty_reference_stops_the_takeover():
    reference = load(TAKEOVER / "tasks" / "reference.yml")
    names = [t.get("name") for t in reference]
    stop = "Refuse a takeover without the primary VMs' configuration (an empty reference)"
    assert names.index(stop) == names.index("Record the reference configuration") + 1
    task = reference[names.index(stop)]
    assert "ansible.builtin.fail" in task and task["when"] == "takeover_reference_vms | length == 0"
    main = [t.get("name") for t in load(TAKEOVER / "tasks" / "main.yml")]
    assert main.index("Reference configuration of the primary VMs") < main.index("Journal the start of the takeover")


def test_the_zero_loss_gate_sits_between_the_promotions_and_the_storage():
    main = load(TAKEOVER / "tasks" / "main.yml")
    names = [t.get("name") for t in main]
    gate = names.index("Planned - stop before storage and tiers when a promotion did not prove zero loss")
    assert names.index("Promote the replication pairs") < gate < names.index("Present the replica datastores")
    assert main[gate]["when"] == ["takeover_mode == 'planned'", "not ansible_check_mode"]
    stop = named(TAKEOVER / "tasks" / "zero_loss_gate.yml", "Stop a planned takeover that could not prove zero loss")
    assert "not (takeover_accept_data_loss | bool)" in stop["when"]


def test_the_read_only_state_comes_from_replication_info():
    """database_info returns no default_transaction_read_only (its settings are the replication ones): reading it
    there made every primary 'writable'; replication_info returns read_only per server."""
    for path in (TAKEOVER / "tasks").glob("*.yml"):
        assert "settings.default_transaction_read_only" not in path.read_text(encoding="utf-8"), path
    probe = named(TAKEOVER / "tasks" / "probe_pair.yml", "Probe the servers (role, read-only state) of pair {{ takeover_pair.name }}")
    assert "continuity.recovery.replication_info" in probe
    source = (REPO / "plugins" / "module_utils" / "replication" / "postgresql.py").read_text(encoding="utf-8")
    assert "read_only=state[\"read_only\"] == \"on\"" in source  # the field the judge reads


def test_the_data_loss_override_is_documented_and_off_by_default():
    defaults = load(TAKEOVER / "defaults" / "main.yml")
    options = load(TAKEOVER / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert defaults["takeover_accept_data_loss"] is False
    assert options["takeover_accept_data_loss"]["type"] == "bool" and options["takeover_accept_data_loss"]["default"] is False


# ------------------------------------------------------------------ failback: the VMs' datastores
def vm_datastores_tasks(tmp_path: Path) -> Path:
    """A tasks file computing tiers.yml's own ``failback_vm_datastores`` template (read from the role)."""
    block = next(t for t in load(FAILBACK / "tasks" / "tiers.yml") if "block" in t)["block"]
    template = next(t for t in block if "ansible.builtin.include_tasks" in t)["vars"]["failback_vm_datastores"]
    path = tmp_path / "vm_datastores.yml"
    path.write_text(yaml.safe_dump([{"name": "As tiers.yml computes it", "ansible.builtin.set_fact": {
        "failback_vm_datastores": template}}]), encoding="utf-8")
    return path


def test_the_vm_datastores_come_from_the_primary_read_over_any_baseline_shape(tmp_path):
    vms = [{"name": "db01", "datastores": ["Prod-DS-01"]}, {"name": "lost01", "datastores": ["Prod-DS-02"]}]
    read = {"vms": [{"name": "db01", "datastores": ["Prod-DS-09"]}, {"name": "app01"}]}
    scenarios = {"none": {"failback_baseline": None, "failback_primary_read": read},
                 "skipped_read": {"failback_baseline": vms, "failback_primary_read": {"skipped": True}}}
    for name, shape in (("list", vms), ("site_info", {"vms": vms}), ("record", {"sites": {"primary": {"vms": vms}}}),
                        ("role_result", {"record": {"sites": {"primary": {"vms": vms}}}})):
        scenarios[name] = {"failback_baseline": shape, "failback_primary_read": read}
    out = run_scenarios(tmp_path, vm_datastores_tasks(tmp_path), scenarios, ["failback_vm_datastores"])
    assert out["none"]["failback_vm_datastores"] == {"db01": ["Prod-DS-09"], "app01": []}
    assert out["skipped_read"]["failback_vm_datastores"] == {"db01": ["Prod-DS-01"], "lost01": ["Prod-DS-02"]}
    for name in ("list", "site_info", "record", "role_result"):  # the live read wins, the baseline adds a lost VM
        assert out[name]["failback_vm_datastores"] == {"db01": ["Prod-DS-09"], "lost01": ["Prod-DS-02"],
                                                       "app01": []}, name

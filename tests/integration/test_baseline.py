"""The baseline role and playbook against the lab: snapshot, gate, check mode, preflight."""

from __future__ import annotations

import copy
import glob
import json
import os
import ssl
import stat
import time

import pytest
import yaml
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

from fingerprint import lab_fingerprint
from playbook_runner import REPO, run_playbook

pytestmark = pytest.mark.integration

PLAN_FILE = os.path.join(REPO, "inventories", "lab", "group_vars", "all", "recovery_plan.yml")


def lab_plan():
    with open(PLAN_FILE, encoding="utf-8") as handle:
        return copy.deepcopy(yaml.safe_load(handle)["recovery_plan"])


def _snapshots(root):
    return sorted(glob.glob(os.path.join(root, "*", "*", "baseline-*.json")))


def _load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def test_baseline_snapshot_records_what_the_lab_created(lab, tmp_path):
    root = str(tmp_path / "evidence")
    run = run_playbook("continuity.recovery.baseline", extra_vars={"recovery_evidence_root": root})
    assert run.rc == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert run.stats.get("changed") == 0  # read-only

    [path] = _snapshots(root)
    snap = _load(path)
    assert snap["schema"] == "continuity.recovery/baseline/v1"
    assert snap["summary"]["healthy"] is True and snap["abnormalities"] == []
    assert snap["summary"]["vms"] == lab["vm_count"]

    recorded = {vm["name"]: vm for vm in snap["sites"]["primary"]["vms"]}
    assert set(recorded) == {vm["name"] for vm in lab["vms"]}
    for vm in lab["vms"]:
        got = recorded[vm["name"]]
        assert got["power_state"] == "poweredOn"
        [nic] = got["nics"]
        assert nic["portgroup"] == vm["portgroup"]
        assert nic["ip_addresses"] == [vm["ip"]]
        assert nic["mac"]
        assert got["datastores"] == [vm["datastore"]]
        assert got["disks"] and all(d["datastore"] == vm["datastore"] for d in got["disks"])

    hosts = {h["name"]: h for h in snap["sites"]["primary"]["hosts"]}
    assert sorted(hosts) == sorted(lab["sites"]["primary"]["hosts"])
    assert all(h["connection_state"] == "connected" for h in hosts.values())
    datastores = {d["name"]: d for d in snap["sites"]["primary"]["datastores"]}
    assert sorted(datastores["Prod-DS-01"]["hosts"]) == sorted(lab["sites"]["primary"]["hosts"])

    storage = {vm["name"]: vm for vm in snap["storage_mapping"]["vms"]}
    assert all(d["replica"]["datastore"] == "Replica-DS-01" for vm in storage.values() for d in vm["disks"])
    assert snap["storage_mapping"]["unprotected"] == []

    db = snap["databases"]["paydb"]["primary"]
    assert db["role"] == "primary" and db["settings"]["wal_level"] == "replica"
    standby = snap["databases"]["paydb"]["standby"]
    # Before protect the standby does not answer: recorded, not abnormal. After, it must be a standby.
    assert standby["role"] == "standby" if standby["reachable"] else "error" in standby

    # Evidence hygiene: private files, no secret anywhere in the run directory.
    run_dir = os.path.dirname(path)
    secrets = [lab["sites"]["primary"]["vcenter"]["password"], lab["postgres"]["primary"]["password"]]
    for name in os.listdir(run_dir):
        file_path = os.path.join(run_dir, name)
        assert stat.S_IMODE(os.stat(file_path).st_mode) == 0o600
        with open(file_path, encoding="utf-8") as handle:
            text = handle.read()
        assert not any(s in text for s in secrets), name
    assert stat.S_IMODE(os.stat(run_dir).st_mode) == 0o700
    records = [json.loads(line) for line in open(os.path.join(run_dir, "records.jsonl"), encoding="utf-8")]
    assert [r["name"] for r in records] == ["baseline"] and records[0]["status"] == "ok"


def test_baseline_runs_in_check_mode(lab, tmp_path):
    root = str(tmp_path / "evidence")
    run = run_playbook("continuity.recovery.baseline", extra_vars={"recovery_evidence_root": root}, check=True)
    assert run.rc == 0, run.stdout[-4000:]
    assert len(_snapshots(root)) == 1


def _set_power(vcenter, vm_name, on):
    si = SmartConnect(host=vcenter["hostname"], port=int(vcenter["port"]), user=vcenter["username"],
                      pwd=vcenter["password"], sslContext=ssl._create_unverified_context())
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        [vm] = [v for v in view.view if v.name == vm_name]
        view.Destroy()
        task = vm.PowerOnVM_Task() if on else vm.PowerOffVM_Task()
        deadline = time.monotonic() + 30
        while task.info.state not in ("success", "error") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert task.info.state == "success", task.info.error
    finally:
        Disconnect(si)


def test_gate_fails_on_abnormality_and_allow_degraded_records_it(lab, tmp_path):
    vcenter = lab["sites"]["primary"]["vcenter"]
    victim = lab["vms"][-1]["name"]
    _set_power(vcenter, victim, on=False)
    try:
        root = str(tmp_path / "evidence")
        run = run_playbook("continuity.recovery.baseline", extra_vars={"recovery_evidence_root": root})
        assert run.rc != 0
        [gate] = run.failures()
        assert "found 1 abnormality" in gate["msg"]
        assert victim in gate["msg"]

        run = run_playbook("continuity.recovery.baseline",
                           extra_vars={"recovery_evidence_root": root, "baseline_allow_degraded": True})
        assert run.rc == 0, run.stdout[-4000:]
        snap = _load(_snapshots(root)[-1])
        assert [a["object"] for a in snap["abnormalities"]] == [victim]
        assert snap["summary"]["healthy"] is False
    finally:
        _set_power(vcenter, victim, on=True)


def _preflight(plan, tmp_path):
    """Run the baseline playbook with ``plan``; return (run, preflight result, fingerprints before/after)."""
    vars_file = tmp_path / "plan.yml"
    vars_file.write_text(yaml.safe_dump({"recovery_plan": plan}), encoding="utf-8")
    before = lab_fingerprint(LAB)
    run = run_playbook("continuity.recovery.baseline", args=["-e", "@%s" % vars_file],
                       extra_vars={"recovery_evidence_root": str(tmp_path / "evidence")})
    after = lab_fingerprint(LAB)
    [preflight] = run.task_results("Run the preflight")
    return run, preflight, before, after


LAB = {}


@pytest.fixture(autouse=True)
def _lab(lab):
    LAB.update(lab)


def test_preflight_names_five_problems_by_path_and_changes_nothing(tmp_path):
    plan = lab_plan()
    plan["networks"][0]["recovery_gateway"] = "10.99.0.1"       # gateway outside its subnet
    plan["objectives"]["rpo_seconds"] = -5                      # objective not positive
    plan["tiers"][2]["vms"].append(plan["tiers"][0]["vms"][0])  # one VM in two tiers
    plan["tiers"][1]["depends_on"] = ["web"]                    # depends on a later tier
    plan["replication"][1]["slot"] = "Bad-Slot!"                # slot name not allowed
    run, preflight, before, after = _preflight(plan, tmp_path)

    assert run.rc != 0
    problems = preflight["problems"]
    assert len(problems) == 5, problems
    assert sorted(p.split(":", 1)[0] for p in problems) == sorted([
        "networks[0].recovery_gateway", "objectives.rpo_seconds",
        "tiers[2].vms[%d]" % (len(plan["tiers"][2]["vms"]) - 1), "tiers[1].depends_on[0]",
        "replication[1].slot"])
    assert before == after
    # The failed preflight is itself evidence.
    records = glob.glob(str(tmp_path / "evidence" / "*" / "*" / "records.jsonl"))
    assert len(records) == 1
    [record] = [json.loads(line) for line in open(records[0], encoding="utf-8")]
    assert record["name"] == "preflight" and record["status"] == "failed"
    assert record["data"]["problems"] == problems


def test_preflight_checks_the_live_sites_all_at_once(tmp_path):
    plan = lab_plan()
    plan["tiers"][1]["vms"][0] = "app99"              # no such VM at the primary site
    plan["networks"][0]["recovery"] = "DR-Missing"    # no such portgroup at the recovery site
    plan["sites"]["recovery"]["cluster"] = "DC9_C9"   # no such cluster at the recovery site
    run, preflight, before, after = _preflight(plan, tmp_path)

    assert run.rc != 0
    problems = preflight["problems"]
    assert "tiers[1].vms[0]: VM 'app99' not found at site primary" in problems
    assert any(p.startswith("networks[0].recovery: ") and "'DR-Missing'" in p for p in problems)
    assert any(p.startswith("sites.recovery.cluster: ") and "'DC9_C9'" in p for p in problems)
    assert len(problems) == 3, problems
    assert before == after

"""The lifecycle playbooks as AWX / Automation Controller runs them: through ansible-runner.

A job's private data directory is laid out the way AWX lays it out (env/extravars,
env/envvars, env/settings, inventory/, project/), its extra variables are the job
template's extra_vars plus the survey's answers from docs/awx/controller.yml -
typed as AWX sends them (integer questions as ints, "true"/"false" choices as
strings), nothing nested but the lab's recovery plan, which in AWX comes from the
inventory and here overrides it because this lab is not the default one.

The drill changes things at the recovery site, so the jobs run on a lab of their
own (RUNNER_LAB_DIR, default /var/lib/crl-runner-it, port offset 350), protected
first by the protect job template, and purged afterwards; the shared lab is never
touched. The evidence root is the job's artifacts directory
(AWX_ISOLATED_DATA_DIR, which ansible-runner exports to every job), so the
evidence report is among the job's artifacts.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys

import ansible_runner
import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
LAB_DIR = os.environ.get("RUNNER_LAB_DIR", "/var/lib/crl-runner-it")
OFFSET = os.environ.get("RUNNER_LAB_PORT_OFFSET", "350")
CONTROLLER = os.path.join(REPO, "docs", "awx", "controller.yml")
DRILL_TEMPLATE = "continuity.recovery drill"
# Where the job writes its evidence: inside its own artifacts directory.
ARTIFACT_EVIDENCE_ROOT = "{{ lookup('ansible.builtin.env', 'AWX_ISOLATED_DATA_DIR') }}/evidence"
SECRETS = ("lab-vcenter-secret", "lab-db-secret", "lab-repl-secret")


def labctl(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "tests", "lab", "labctl.py")] + list(args),
                          capture_output=True, text=True, timeout=900, cwd=REPO, check=False)


def templates():
    with open(CONTROLLER, encoding="utf-8") as handle:
        return {t["name"]: t for t in yaml.safe_load(handle)["controller_templates"]}


def survey_answers(template):
    """The survey's defaults as AWX puts them into extra_vars (optional questions without one are left out)."""
    answers = {}
    for question in (template.get("survey_spec") or {}).get("spec", []):
        if "default" in question and question["default"] not in ("", None):
            answers[question["variable"]] = question["default"]
    return answers


@pytest.fixture(scope="module")
def runner_lab():
    res = labctl("up", "--lab-dir", LAB_DIR, "--port-offset", OFFSET)
    if res.returncode != 0:
        pytest.fail("labctl up failed:\n%s%s" % (res.stdout, res.stderr))
    plan = labctl("plan", "--lab-dir", LAB_DIR, "--port-offset", OFFSET, "--format", "json")
    assert plan.returncode == 0, plan.stderr
    with open(os.path.join(LAB_DIR, "lab.json"), encoding="utf-8") as handle:
        lab = json.load(handle)
    lab["plan"] = json.loads(plan.stdout)["recovery_plan"]
    yield lab
    res = labctl("down", "--lab-dir", LAB_DIR, "--purge")
    assert res.returncode == 0, res.stdout + res.stderr


class Job:
    """One ansible-runner job in an AWX-like private data directory."""

    def __init__(self, base, ident, template, plan, extra=None, inventory=None):
        self.template = template
        self.ident = ident
        self.pdd = os.path.join(str(base), ident)
        self.artifacts = os.path.join(self.pdd, "artifacts", ident)
        env = os.path.join(self.pdd, "env")
        os.makedirs(env)
        # AWX: project/ is the project checkout (cwd of the job, its ansible.cfg applies),
        # inventory/ the job's inventory (here the project's lab inventory, as the scm source would give)
        os.symlink(REPO, os.path.join(self.pdd, "project"))
        os.symlink(inventory or os.path.join(REPO, "inventories", "lab"), os.path.join(self.pdd, "inventory"))
        self.extravars = dict(template.get("extra_vars") or {})
        self.extravars.update(survey_answers(template))
        if plan is not None:
            self.extravars["recovery_plan"] = plan
        self.extravars["recovery_evidence_root"] = ARTIFACT_EVIDENCE_ROOT
        self.extravars.update(extra or {})
        self._write(os.path.join(env, "extravars"), self.extravars)
        # what the execution environment provides: the collection (here the work tree's link) and
        # ansible on PATH; LAB_DIR/LAB_PORT_OFFSET point the lab inventory's settings at this lab
        self._write(os.path.join(env, "envvars"), {
            "LAB_DIR": LAB_DIR,
            "LAB_PORT_OFFSET": OFFSET,  # the lab inventory's drill clone port follows it
            "ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, ".build", "collections"),
            "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
        })
        self._write(os.path.join(env, "settings"), {"job_timeout": 1800, "suppress_ansible_output": True})

    @staticmethod
    def _write(path, data):
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(data, handle)

    def run(self):
        self.result = ansible_runner.run(private_data_dir=self.pdd, ident=self.ident,
                                         playbook=self.template["playbook"], quiet=True)
        return self.result

    def read(self, name):
        with open(os.path.join(self.artifacts, name), encoding="utf-8") as handle:
            return handle.read()

    def events(self, event=None):
        out = []
        for path in sorted(glob.glob(os.path.join(self.artifacts, "job_events", "*.json"))):
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            if event is None or data.get("event") == event:
                out.append(data)
        return out

    def failures(self):
        return [(e["event_data"].get("task"), e["event_data"].get("res", {}).get("msg"))
                for e in self.events("runner_on_failed") if not e["event_data"].get("ignore_errors")]

    def evidence_runs(self, plan_name):
        return sorted(glob.glob(os.path.join(self.artifacts, "evidence", plan_name, "*")))


def _roles_of(playbook):
    with open(os.path.join(REPO, playbook), encoding="utf-8") as handle:
        plays = yaml.safe_load(handle)
    return [(r["role"] if isinstance(r, dict) else r).split(".")[-1] for play in plays for r in play.get("roles", [])]


def _assert_successful(job):
    assert job.result.status == "successful", (job.result.status, job.failures(), job.read("stdout")[-4000:])
    # what AWX reads back from the artifacts directory
    assert job.read("status") == "successful"
    assert job.read("rc") == "0"
    [stats] = job.events("playbook_on_stats")
    assert not stats["event_data"]["failures"] and not stats["event_data"]["dark"]
    assert stats["event_data"]["ok"].get("localhost")


def test_protect_then_drill_job_through_ansible_runner(runner_lab, tmp_path):
    plan = runner_lab["plan"]
    jobs = templates()

    protect = Job(tmp_path, "protect", jobs["continuity.recovery protect"], plan)
    # integer survey answers arrive as ints, boolean choices as the strings "true"/"false"
    assert isinstance(protect.extravars["protect_timeout"], int)
    assert protect.extravars["protect_canary"] == "true"
    protect.run()
    _assert_successful(protect)
    [run_dir] = protect.evidence_runs(plan["name"])
    with open(os.path.join(run_dir, "records.jsonl"), encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    canaries = [r for r in records if r["role"] == "protect" and r["name"] == "canary"]
    assert canaries and all(r["status"] == "ok" for r in canaries)

    drill = Job(tmp_path, "drill", jobs[DRILL_TEMPLATE], plan)
    drill.run()
    _assert_successful(drill)

    # the evidence directory of the run is inside the job's artifacts
    [run_dir] = drill.evidence_runs(plan["name"])
    # the job's artifacts as AWX reads them (set_stats, playbook_on_stats.artifact_data): the run it made
    [stats] = drill.events("playbook_on_stats")
    artifacts = stats["event_data"]["artifact_data"]
    assert os.path.realpath(artifacts["recovery_evidence_dir"]) == os.path.realpath(run_dir), artifacts
    assert artifacts["recovery_run_id"] == os.path.basename(run_dir)
    if "report" not in _roles_of(jobs[DRILL_TEMPLATE]["playbook"]):
        # the drill workflow's next node: the report job template, with the drill job's artifacts
        # as its extra variables (what AWX passes from a workflow node to the next)
        report = Job(tmp_path, "report", jobs["continuity.recovery report"], plan, extra=artifacts)
        report.run()
        _assert_successful(report)
    files = sorted(os.listdir(run_dir))
    assert "records.jsonl" in files
    with open(os.path.join(run_dir, "records.jsonl"), encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    # the project's ansible.cfg applies to the job (as in AWX): the timeline callback recorded its tasks
    timings = [r for r in records if r["kind"] == "timing"]
    assert timings and {r["run_id"] for r in records} == {os.path.basename(run_dir)}
    [summary] = [r for r in records if r["role"] == "drill" and r["kind"] == "summary"]
    assert summary["status"] == "ok", summary
    assert summary["data"]["vms_cloned"] > 0 and summary["data"]["vms_verified"] == summary["data"]["vms_cloned"]
    assert summary["data"]["databases_verified"] >= 1 and summary["data"]["cleanup"] == "ok"
    unchanged = [r for r in records if r["name"] == "production_unchanged"]
    assert unchanged and unchanged[-1]["status"] == "ok", unchanged
    assert {"report.html", "report.json", "report.md"} <= set(files), files
    with open(os.path.join(run_dir, "report.json"), encoding="utf-8") as handle:
        report_model = json.load(handle)
    assert report_model["verdict"] == {"ok": True, "problems": []}, report_model["verdict"]
    [drill_role] = [r for r in report_model["roles"] if r["role"] == "drill"]
    assert drill_role["ran"] and drill_role["checks_failed"] == 0 and drill_role["checks_passed"] > 0
    for path in glob.glob(os.path.join(run_dir, "*")):
        assert oct(os.stat(path).st_mode & 0o777) == "0o600", path
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        assert not [s for s in SECRETS if s in text], path
    # what AWX stores and shows of the job - its stdout and every job event (task results with their
    # invocation) - holds no secret of the plan, although the plan came in as extra vars
    for job in (protect, drill):
        assert not [s for s in SECRETS if s in job.read("stdout")], job.ident
        leaks = sorted({(e["event_data"].get("task"), s) for e in job.events() for s in SECRETS if s in json.dumps(e)})
        assert not leaks, "%s job events carry secrets: %s" % (job.ident, leaks)


def _credential_inventory(base, plan):
    """The lab inventory as a real plan's would be: no secret in it, passwords from the credential's extra vars."""
    inventory = os.path.join(str(base), "inventory-with-credential")
    shutil.copytree(os.path.join(REPO, "inventories", "lab"), inventory)
    plan = json.loads(json.dumps(plan))
    for site in ("primary", "recovery"):
        plan["sites"][site]["vcenter"]["password"] = "{{ recovery_secret_vcenter_%s }}" % site
    for pair in plan["replication"]:
        for side in ("primary", "standby"):
            if isinstance(pair.get(side), dict) and "password" in pair[side]:
                pair[side]["password"] = "{{ recovery_secret_database }}"
    group_vars = os.path.join(inventory, "group_vars", "all")
    with open(os.path.join(group_vars, "recovery_plan.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump({"recovery_plan": plan}, handle)
    with open(os.path.join(group_vars, "protect.yml"), encoding="utf-8") as handle:
        protect = handle.read()
    assert "lab-repl-secret" in protect
    with open(os.path.join(group_vars, "protect.yml"), "w", encoding="utf-8") as handle:
        handle.write(protect.replace("lab-repl-secret", '"{{ recovery_secret_replication }}"'))
    for path in glob.glob(os.path.join(inventory, "**", "*.yml"), recursive=True):
        with open(path, encoding="utf-8") as handle:
            assert not [s for s in SECRETS if s in handle.read()], path
    return inventory


def test_plan_from_the_inventory_secrets_from_the_credential(runner_lab, tmp_path):
    """As docs/awx/README.md sets it up: nothing nested at launch - the plan is the inventory's, its
    passwords the extra vars the 'continuity.recovery secrets' credential type injects."""
    with open(CONTROLLER, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    [credential_type] = [c for c in config["controller_credential_types"] if c["name"] == "continuity.recovery secrets"]
    inputs = {"vcenter_primary_password": runner_lab["sites"]["primary"]["vcenter"]["password"],
              "vcenter_recovery_password": runner_lab["sites"]["recovery"]["vcenter"]["password"],
              "database_password": runner_lab["postgres"]["primary"]["password"],
              "replication_password": runner_lab["postgres"]["primary"]["replication_password"]}
    assert {f["id"] for f in credential_type["inputs"]["fields"]} == set(inputs)
    # the injector, rendered as AWX renders it: "{{ field }}" -> the credential's input
    injected = {var: inputs[template.strip("{} ")] for var, template in credential_type["injectors"]["extra_vars"].items()}

    job = Job(tmp_path, "baseline", templates()["continuity.recovery baseline"], None, extra=injected,
              inventory=_credential_inventory(tmp_path, runner_lab["plan"]))
    assert all(not isinstance(v, (dict, list)) for v in job.extravars.values()), job.extravars
    job.run()
    _assert_successful(job)
    [run_dir] = job.evidence_runs(runner_lab["plan"]["name"])
    snapshot = [f for f in os.listdir(run_dir) if f.startswith("baseline-") and f.endswith(".json")]
    assert snapshot, os.listdir(run_dir)
    with open(os.path.join(run_dir, snapshot[0]), encoding="utf-8") as handle:
        baseline = json.load(handle)
    # both sites and the database were read with the injected passwords
    assert baseline["sites"]["primary"]["vms"] and baseline["sites"]["recovery"]
    assert baseline["databases"]
    for path in glob.glob(os.path.join(run_dir, "*")):
        with open(path, encoding="utf-8", errors="replace") as handle:
            assert not [s for s in SECRETS if s in handle.read()], path
    leaks = sorted({(e["event_data"].get("task"), s) for e in job.events() for s in SECRETS if s in json.dumps(e)})
    assert not leaks, leaks

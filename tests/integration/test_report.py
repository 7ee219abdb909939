"""The lifecycle playbook (the `make demo` job) with the timeline callback and the report role, on the lab.

The lifecycle takes the shared lab over (planned) and fails it back, so the lab ends as it began:
protected in the original direction."""

from __future__ import annotations

import glob
import json
import os
import stat

import pytest

from playbook_runner import REPO, run_playbook

pytestmark = pytest.mark.integration

TIMELINE = {"ANSIBLE_CALLBACKS_ENABLED": "results_file,continuity.recovery.recovery_timeline"}
SECRETS = ("lab-vcenter-secret", "lab-db-secret", "lab-repl-secret")


def _records(run_dir):
    with open(os.path.join(run_dir, "records.jsonl"), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="module")
def lifecycle(lab, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("evidence"))
    run = run_playbook("continuity.recovery.lifecycle", extra_vars={"recovery_evidence_root": root}, env=TIMELINE)
    assert run.rc == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return root, run


def test_lifecycle_writes_the_report_and_points_latest_report_at_it(lifecycle):
    root, run = lifecycle
    with open(os.path.join(root, "LATEST_REPORT"), encoding="utf-8") as handle:
        html = handle.read().strip()
    run_dir = os.path.dirname(html)
    assert html.endswith("/report.html") and os.path.dirname(os.path.dirname(run_dir)) == root
    [published] = run.task_results("Publish where the report was written")
    assert published["ansible_facts"]["report_path"] == html
    for name in ("report.html", "report.json", "report.md", "records.jsonl"):
        path = os.path.join(run_dir, name)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, name
    assert stat.S_IMODE(os.stat(run_dir).st_mode) == 0o700

    # No secret anywhere in the run's evidence, the report included.
    for path in glob.glob(os.path.join(run_dir, "**", "*"), recursive=True):
        if os.path.isdir(path):
            continue
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        assert not [s for s in SECRETS if s in text], path


def test_timeline_records_cover_the_baseline_tasks(lifecycle):
    root, run = lifecycle
    [run_dir] = glob.glob(os.path.join(root, "payments", "*"))
    timings = [r for r in _records(run_dir) if r["kind"] == "timing"]
    baseline = {r["name"]: r for r in timings if r["role"] == "baseline"}
    for name in ("Run the preflight", "Inspect the primary site", "Inspect the recovery site",
                 "Write the configuration snapshot and one record per check", "Gate on abnormality"):
        assert name in baseline, sorted(baseline)
    gate = baseline["Gate on abnormality"]
    assert gate["status"] == "skipped" and gate["subject"] == "localhost"
    assert baseline["Run the preflight"]["status"] == "ok"
    # one record per task result from the callback (subject: the host); roles add timings of their own
    # steps (a takeover's tiers and phases) with other data
    by_callback = [r for r in timings if r["subject"] == "localhost"]
    assert len(by_callback) > 100
    for record in by_callback:
        data = record["data"]
        assert record["run_id"] == os.path.basename(run_dir) and record["plan"] == "payments"
        assert data["start"] <= data["end"] and data["duration_s"] >= 0
        assert set(data) <= {"start", "end", "duration_s", "role", "play", "action", "tier", "ignore_errors",
                             "unreachable"}
    assert {r["role"] for r in by_callback} >= {"baseline", "protect", "drill", "takeover", "failback"}
    tiers = {r["data"]["tier"] for r in timings if r["role"] == "takeover" and r["name"].startswith("tier ")}
    assert tiers == {"data", "app", "web"}
    # The first task (before the directory was known) is not lost.
    assert timings[0]["name"] == "Fix one run identity for every role"


def test_report_contents(lifecycle):
    root, run = lifecycle
    [run_dir] = glob.glob(os.path.join(root, "payments", "*"))
    with open(os.path.join(run_dir, "report.json"), encoding="utf-8") as handle:
        model = json.load(handle)
    assert model["schema"] == "continuity.recovery/report/v1"
    assert model["run"]["run_id"] == os.path.basename(run_dir) and model["run"]["plan"] == "payments"
    roles = {r["role"]: r for r in model["roles"]}
    assert roles["baseline"]["status"] == "ok" and roles["baseline"]["tasks"]["ok"] >= 10
    assert roles["protect"]["ran"]
    for role in ("drill", "takeover", "failback"):
        assert roles[role]["ran"] and roles[role]["status"] in ("ok", "changed"), (role, roles[role])
    # a planned takeover: zero loss, proven exactly; the RTO measured and compared with the objective
    assert model["rpo"]["achieved_seconds"] == 0 and model["rpo"]["lost_rows"] == 0, model["rpo"]
    assert model["rpo"]["exact"] is True and model["rpo"]["mode"] == "planned" and model["rpo"]["met"] is True
    assert model["rto"]["achieved_seconds"] > 0 and model["rto"]["met"] is True, model["rto"]
    assert model["checks"]["failed"] == 0 and model["checks"]["passed"] >= 1
    assert model["objectives"] == {"rpo_seconds": 60, "rto_seconds": 900, "max_buffer_fill_pct": 80}
    assert {p["pair"] for p in model["replication"]} == {"paydb", "vmstore"}
    assert all(p["link"] == "connected" and p["sync"] == "in sync" for p in model["replication"])
    lanes = [lane["role"] for lane in model["timeline"]["lanes"]]
    order = [lanes.index(role) for role in ("baseline", "protect", "drill", "takeover", "failback", "report")]
    assert order == sorted(order), lanes
    tier_lanes = {lane.get("tier") for lane in model["timeline"]["lanes"] if lane["role"] == "takeover"}
    assert {"data", "app", "web"} <= tier_lanes, model["timeline"]["lanes"]

    with open(os.path.join(run_dir, "report.html"), encoding="utf-8") as handle:
        html = handle.read()
    assert "<svg" in html and html.count('class="bar r-baseline') >= 10 and "r-protect" in html
    assert "no takeover in this run" not in html and "RPO" in html and "RTO" in html
    assert "takeover / tier data" in html and "rows lost" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # self-contained
    assert "https://" not in html and "<script" not in html and "<link" not in html
    with open(os.path.join(run_dir, "report.md"), encoding="utf-8") as handle:
        markdown = handle.read()
    assert "# Recovery report" in markdown and "| paydb | postgresql | in sync | connected |" in markdown


def test_report_playbook_rerenders_the_newest_run(lifecycle):
    root, run = lifecycle
    [run_dir] = glob.glob(os.path.join(root, "payments", "*"))
    before = _records(run_dir)
    again = run_playbook(os.path.join(REPO, "playbooks", "report.yml"), env=TIMELINE,
                         extra_vars={"recovery_evidence_root": root, "report_formats": ["md"]})
    assert again.rc == 0, again.stdout[-3000:]
    [shown] = again.task_results("Show where the report is")
    assert shown["msg"] == os.path.join(run_dir, "report.md")
    after = _records(run_dir)
    assert after[:len(before)] == before  # append-only
    assert [r["kind"] for r in after[len(before):]] == ["report"]  # re-rendering adds no timing to the run


def test_report_without_evidence_fails_clearly(lab, tmp_path):
    run = run_playbook(os.path.join(REPO, "playbooks", "report.yml"),
                       extra_vars={"recovery_evidence_dir": str(tmp_path / "nothing")})
    assert run.rc != 0
    [failure] = run.failures()
    assert "no evidence at" in failure["msg"]

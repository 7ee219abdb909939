"""Baseline at 1,000 VMs costs the same number of vCenter calls as at 12.

A second lab (own directory, ports +100) is seeded with 1,000 VMs; the
baseline playbook runs against its generated plan and against the default
12-VM lab, and the SOAP calls each made (``vcenter_calls``, counted on the
wire by the session layer) are compared.
"""

from __future__ import annotations

import glob
import json
import os

import pytest

from playbook_runner import run_playbook

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCALE_VMS = 1000
SCALE_OFFSET = 100


@pytest.fixture(scope="module")
def scale_lab(labctl, tmp_path_factory):
    lab_dir = os.environ.get("LAB_SCALE_DIR", "/var/lib/continuity-recovery-lab-scale")
    base = ["--lab-dir", lab_dir]
    up = labctl("up", *base, "--vm-count", SCALE_VMS, "--port-offset", SCALE_OFFSET)
    if up.returncode != 0:
        pytest.fail("scale lab did not come up:\n%s%s" % (up.stdout, up.stderr))
    plan_file = tmp_path_factory.mktemp("scale") / "plan.yml"
    plan = labctl("plan", *base, "--vm-count", SCALE_VMS, "--port-offset", SCALE_OFFSET, "--output", plan_file)
    assert plan.returncode == 0, plan.stderr
    try:
        yield plan_file
    finally:
        down = labctl("down", *base, "--purge")
        assert down.returncode == 0, down.stdout + down.stderr


def _baseline(tmp_path, name, args=()):
    root = str(tmp_path / name)
    run = run_playbook("continuity.recovery.baseline", args=list(args),
                       extra_vars={"recovery_evidence_root": root}, timeout=600)
    assert run.rc == 0, run.stdout[-4000:] + run.stderr[-2000:]
    [path] = glob.glob(os.path.join(root, "*", "*", "baseline-*.json"))
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)["summary"]


def test_vcenter_calls_do_not_grow_with_the_vm_count(lab, scale_lab, tmp_path):
    small = _baseline(tmp_path, "small")
    large = _baseline(tmp_path, "large", args=["-e", "@%s" % scale_lab])
    assert small["vms"] == lab["vm_count"]
    assert large["vms"] == SCALE_VMS
    assert large["healthy"] is True
    print("vcenter_calls: %d VMs -> %d calls, %d VMs -> %d calls"
          % (small["vms"], small["vcenter_calls"], large["vms"], large["vcenter_calls"]))
    assert large["vcenter_calls"] == small["vcenter_calls"]

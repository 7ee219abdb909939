"""The released artifact works on its own: build the tarball, install it into a clean
collections path, run a playbook by its FQCN from there against the lab.

Nothing of the work tree is visible to the run: an empty ansible.cfg, the clean
path as the only collections path, the working directory outside the repository.
Only the lab inventory (the plan of the shared lab) is read from the repository -
as a user's own inventory would be. The playbook is continuity.recovery.baseline,
read-only at both sites, and in check mode on top; it is allowed to record a
degraded lab (other tests share it), since what is tested here is the installed
collection: its playbook, roles, modules, action plugins and the timeline callback,
all resolved from the clean path.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def _galaxy():
    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(environment, collections path, installed collection dir) of a clean install of a fresh tarball."""
    base = tmp_path_factory.mktemp("installed")
    dist = base / "dist"
    collections = base / "collections"
    cfg = base / "ansible.cfg"
    cfg.write_text("[defaults]\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update({"ANSIBLE_CONFIG": str(cfg), "ANSIBLE_COLLECTIONS_PATH": str(collections), "HOME": str(base),
                "PATH": BIN + os.pathsep + os.environ.get("PATH", ""), "ANSIBLE_NOCOLOR": "1"})
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(dist), REPO],
                   cwd=str(base), env=env, check=True, capture_output=True, text=True)
    galaxy = _galaxy()
    tarball = dist / ("%s-%s-%s.tar.gz" % (galaxy["namespace"], galaxy["name"], galaxy["version"]))
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--offline", "-p", str(collections),
                    str(tarball)], cwd=str(base), env=env, check=True, capture_output=True, text=True)
    target = collections / "ansible_collections" / "continuity" / "recovery"
    assert (target / "MANIFEST.json").is_file() and not os.path.islink(str(target))
    return env, base, target


def test_only_the_installed_copy_is_visible(installed):
    env, base, target = installed
    listing = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "list", "continuity.recovery",
                              "--format", "json"], cwd=str(base), env=env, check=True, capture_output=True, text=True)
    found = json.loads(listing.stdout)
    assert list(found) == [str(target.parent.parent)], found
    doc = subprocess.run([os.path.join(BIN, "ansible-doc"), "-t", "callback", "continuity.recovery.recovery_timeline",
                          "--json"], cwd=str(base), env=env, check=True, capture_output=True, text=True)
    filename = json.loads(doc.stdout)["continuity.recovery.recovery_timeline"]["doc"]["filename"]
    assert filename.startswith(str(target) + os.sep), filename


def test_baseline_playbook_by_fqcn_from_the_installed_collection(installed, lab):
    env, base, target = installed
    evidence = base / "evidence"
    env = dict(env, ANSIBLE_CALLBACKS_ENABLED="continuity.recovery.recovery_timeline")
    proc = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "continuity.recovery.baseline", "--check",
         "-i", os.path.join(REPO, "inventories", "lab"),
         "-e", json.dumps({"recovery_evidence_root": str(evidence), "recovery_run_id": "installed",
                           "baseline_allow_degraded": True})],
        cwd=str(base), env=env, check=False, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "continuity.recovery.baseline : " in proc.stdout  # the role's tasks, by FQCN
    assert REPO not in proc.stdout.replace(os.path.join(REPO, "inventories"), "")

    [run_dir] = glob.glob(str(evidence / "*" / "installed"))
    with open(os.path.join(run_dir, "records.jsonl"), encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    [snapshot] = [r for r in records if r["kind"] == "snapshot" and r["name"] == "baseline"]
    assert snapshot["plan"] == lab_plan_name() and snapshot["run_id"] == "installed"
    assert os.path.isfile(os.path.join(run_dir, snapshot["data"]["snapshot"]))
    # the callback of the installed collection wrote the run's timeline
    timings = [r for r in records if r["kind"] == "timing"]
    assert timings and all(r["role"] in ("baseline", None) for r in timings)
    assert any(r["name"].endswith("Gate on abnormality") for r in timings)


def lab_plan_name():
    with open(os.path.join(REPO, "inventories", "lab", "group_vars", "all", "recovery_plan.yml"),
              encoding="utf-8") as handle:
        return yaml.safe_load(handle)["recovery_plan"]["name"]

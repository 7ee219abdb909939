"""The release's CHANGELOG comes out of the fragments: `antsibull-changelog release`
on a copy of the collection (the work tree keeps its fragments until the real release).

Checks that the release step works with the collection as it is - every fragment's
entries end up in CHANGELOG.rst under its section, every module and plugin is
listed as new with its short description, the fragments are consumed - so a broken
fragment or a plugin antsibull-changelog cannot read fails now, not on release day.
`make changelog-preview` runs the same release into .build/changelog.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
COPY = ("galaxy.yml", "README.md", "changelogs", "plugins", "roles", "meta", "playbooks")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    base = tmp_path_factory.mktemp("changelog")
    root = base / "ansible_collections" / "continuity" / "recovery"
    root.mkdir(parents=True)
    for name in COPY:
        src = os.path.join(REPO_ROOT, name)
        if os.path.isdir(src):
            shutil.copytree(src, str(root / name), ignore=shutil.ignore_patterns("__pycache__"))
        elif os.path.isfile(src):
            shutil.copy2(src, str(root / name))
    with open(os.path.join(REPO_ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        version = yaml.safe_load(handle)["version"]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(base), PATH=BIN + os.pathsep + os.environ.get("PATH", ""),
               HOME=str(base))
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run([os.path.join(BIN, "antsibull-changelog"), "release", "--version", version,
                           "--date", "2026-12-01", "--use-ansible-doc"],
                          cwd=str(root), env=env, check=False, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, version


def _fragments():
    out = {}
    for path in sorted(glob.glob(os.path.join(REPO_ROOT, "changelogs", "fragments", "*.yml"))):
        with open(path, encoding="utf-8") as handle:
            out[os.path.basename(path)] = yaml.safe_load(handle) or {}
    return out


def test_changelog_rst_has_every_fragment_entry(released):
    root, version = released
    with open(str(root / "CHANGELOG.rst"), encoding="utf-8") as handle:
        # whitespace normalised (entries are re-wrapped), RST escapes dropped
        text = " ".join(handle.read().replace("\\", "").split())
    assert "v%s" % version in text
    fragments = _fragments()
    assert fragments
    for name, fragment in fragments.items():
        for section, entries in fragment.items():
            if section in ("trivial",):
                continue
            for entry in [entries] if isinstance(entries, str) else entries:
                # the first words of the entry (RST escaping may change what follows)
                head = " ".join(entry.replace("\\", "").split()[:4])
                assert head in text, "%s (%s): %r is not in CHANGELOG.rst" % (name, section, head)


def test_new_modules_and_plugins_listed(released):
    root, version = released
    with open(str(root / "changelogs" / "changelog.yaml"), encoding="utf-8") as handle:
        changelog = yaml.safe_load(handle)
    release = changelog["releases"][version]
    listing = subprocess.run([os.path.join(BIN, "ansible-doc"), "-t", "module", "-l", "continuity.recovery", "--json"],
                             cwd=REPO_ROOT, check=True, capture_output=True, text=True)
    modules = {name.rsplit(".", 1)[1]: summary for name, summary in json.loads(listing.stdout).items()}
    # (add_plugin_period in changelogs/config.yaml ends each description with a period)
    # (and escapes RST: "Point\\-in\\-time")
    new = {m["name"]: m["description"].rstrip(".").replace("\\", "") for m in release.get("modules", [])}
    modules = {name: summary.rstrip(".") for name, summary in modules.items()}
    assert new == modules
    plugins = release.get("plugins", {})
    assert {p["name"] for p in plugins.get("callback", [])} >= {"recovery_timeline"}
    assert {p["name"] for p in plugins.get("filter", [])} >= {"ip_remap", "report_model"}


def test_fragments_consumed_in_the_copy_only(released):
    root = released[0]
    assert not glob.glob(str(root / "changelogs" / "fragments" / "*.yml"))
    assert glob.glob(os.path.join(REPO_ROOT, "changelogs", "fragments", "*.yml"))

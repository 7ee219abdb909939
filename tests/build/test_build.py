"""The collection builds into a clean, installable artifact.

`make build` runs `ansible-galaxy collection build --force --output-path
.build/dist` and then these tests. Run alone (`pytest tests/build`), the tests
build the tarball themselves when it is missing or older than galaxy.yml.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile

import pytest

import collection_tarball
from collection_tarball import REPO_ROOT, env as _env, galaxy as _galaxy, tool as _tool

# Content that must never be shipped, as top-level path prefixes in the tarball.
FORBIDDEN_PREFIXES = (".venv/", ".build/", ".lab/", "evidence/", "tests/output/", ".git/", ".ci/", "bench/")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tarball() -> str:
    return collection_tarball.tarball()


@pytest.fixture(scope="module")
def members(tarball: str) -> list[str]:
    with tarfile.open(tarball, "r:gz") as tar:
        return [m.name[2:] if m.name.startswith("./") else m.name for m in tar.getmembers()]


def test_tarball_named_after_galaxy_yml(tarball: str) -> None:
    galaxy = _galaxy()
    assert os.path.basename(tarball) == "continuity-recovery-%s.tar.gz" % galaxy["version"]
    assert (galaxy["namespace"], galaxy["name"]) == ("continuity", "recovery")


def test_manifest_matches_galaxy_yml(tarball: str) -> None:
    with tarfile.open(tarball, "r:gz") as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))  # type: ignore[arg-type]
    info = manifest["collection_info"]
    galaxy = _galaxy()
    assert info["version"] == galaxy["version"]
    assert info["license"] == ["GPL-3.0-or-later"]


def test_required_content_shipped(members: list[str]) -> None:
    assert "MANIFEST.json" in members
    assert "FILES.json" in members
    assert "meta/runtime.yml" in members
    assert "README.md" in members
    modules = [m for m in members if m.startswith("plugins/modules/") and m.endswith(".py")]
    assert modules, "no plugins/modules/*.py in the tarball"
    # every module in the work tree is shipped
    on_disk = sorted(
        "plugins/modules/" + f for f in os.listdir(os.path.join(REPO_ROOT, "plugins", "modules"))
        if f.endswith(".py") and not f.startswith("_")
    )
    assert set(on_disk) <= set(modules)
    assert any(m == "roles" or m.startswith("roles/") for m in members), "no roles/ in the tarball"


@pytest.mark.parametrize("prefix", FORBIDDEN_PREFIXES)
def test_no_build_or_runtime_content(members: list[str], prefix: str) -> None:
    leaked = [m for m in members if m == prefix.rstrip("/") or m.startswith(prefix)]
    assert not leaked, "%s shipped: %s" % (prefix, leaked[:5])


def test_no_bytecode_or_nested_tarballs(members: list[str]) -> None:
    leaked = [m for m in members if "__pycache__" in m.split("/") or m.endswith((".pyc", ".tar.gz"))]
    assert not leaked, leaked[:5]


def test_installs_and_documents_from_clean_path(tarball: str, tmp_path) -> None:
    """Install the tarball into an empty collections path; ansible-doc lists its modules from there."""
    collections = tmp_path / "collections"
    # an empty ansible.cfg instead of the repository's, and only the clean path
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[defaults]\n", encoding="utf-8")
    env = _env(ANSIBLE_CONFIG=str(cfg), ANSIBLE_COLLECTIONS_PATH=str(collections), HOME=str(tmp_path))
    subprocess.run(
        [_tool("ansible-galaxy"), "collection", "install", "--offline", "--force", "-p", str(collections), tarball],
        cwd=str(tmp_path), env=env, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    installed = collections / "ansible_collections" / "continuity" / "recovery"
    assert (installed / "MANIFEST.json").is_file()
    assert not os.path.islink(str(installed))

    listing = subprocess.run(
        [_tool("ansible-doc"), "-t", "module", "-l", "continuity.recovery", "--json"],
        cwd=str(tmp_path), env=env, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    documented = json.loads(listing.stdout)
    shipped = sorted(
        "continuity.recovery." + os.path.splitext(f)[0]
        for f in os.listdir(str(installed / "plugins" / "modules")) if f.endswith(".py") and not f.startswith("_")
    )
    assert shipped, "no modules installed"
    missing = [m for m in shipped if m not in documented]
    assert not missing, "ansible-doc -l did not list: %s (stderr: %s)" % (missing, listing.stderr[-2000:])
    # each with its one-line summary (short_description), as `ansible-doc -l continuity.recovery` shows it
    no_summary = [m for m in shipped if not (documented[m] or "").strip() or "\n" in documented[m]
                  or documented[m] == "UNDOCUMENTED"]
    assert not no_summary, "no one-line summary: %s" % no_summary

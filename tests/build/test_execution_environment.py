"""execution-environment.yml builds a valid ansible-builder v3 context (no container build).

``ansible-builder create`` writes the build context into a temporary directory;
the tests read what a container build would use: the Containerfile's pinned
ansible-core / ansible-runner, the Python and system requirements, and the
collection tarball the galaxy stage installs. The galaxy stage and
ansible-builder's dependency introspection are then replayed here, offline,
exactly as the Containerfile runs them (``ansible-galaxy collection install -r
requirements.yml`` in ``_build``, ``introspect.py introspect``), so a wrong
tarball name, a missing ``meta/execution-environment.yml`` or an unparsable
bindep file fails here and not in a registry build.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile

import pytest
import yaml

import collection_tarball
from collection_tarball import REPO_ROOT, env as _env, tool as _tool

pytestmark = pytest.mark.slow


def _yaml(*parts: str):
    with open(os.path.join(REPO_ROOT, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _requirement_lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [line.split("#", 1)[0].strip() for line in handle if line.split("#", 1)[0].strip()]


def _pin(path: str, name: str) -> str:
    for line in _requirement_lines(path):
        if re.split(r"[=<>~!\[ ]", line, maxsplit=1)[0].lower() == name:
            return line
    raise AssertionError("%s is not pinned in %s" % (name, path))


@pytest.fixture(scope="module")
def ee_definition() -> dict:
    return _yaml("execution-environment.yml")


@pytest.fixture(scope="module")
def tarball() -> str:
    return collection_tarball.tarball("requirements.txt", "bindep.txt", os.path.join("meta", "execution-environment.yml"))


@pytest.fixture(scope="module")
def context(tarball: str, tmp_path_factory) -> str:
    """``ansible-builder create`` into a fresh directory; returns the context directory."""
    out = str(tmp_path_factory.mktemp("ee") / "context")
    proc = subprocess.run(
        [_tool("ansible-builder"), "create", "--file", "execution-environment.yml", "--context", out,
         "--output-filename", "Containerfile", "-v", "2"],
        cwd=REPO_ROOT, env=_env(), check=False, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_definition_is_builder_v3(ee_definition: dict) -> None:
    assert ee_definition["version"] == 3
    deps = ee_definition["dependencies"]
    assert deps["python"] == "requirements.txt"
    assert deps["system"] == "bindep.txt"
    assert ee_definition["images"]["base_image"]["name"]


def test_containerfile_pins_ansible_core_and_runner_as_tested(context: str) -> None:
    with open(os.path.join(context, "Containerfile"), encoding="utf-8") as handle:
        containerfile = handle.read()
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="([^"]*)"', containerfile, re.M)
    assert refs, containerfile[:2000]
    installed = refs.group(1).split()
    assert _pin(os.path.join(REPO_ROOT, "requirements.txt"), "ansible-core") in installed
    assert _pin(os.path.join(REPO_ROOT, "requirements-dev.txt"), "ansible-runner") in installed
    # the four stages of a v3 build, and the image runs as an arbitrary non-root user
    for stage in ("AS base", "AS galaxy", "AS builder", "AS final"):
        assert stage in containerfile
    assert re.search(r"^USER 1000$", containerfile, re.M)
    assert "introspect --user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile


def test_context_carries_the_collection_requirements(context: str) -> None:
    build = os.path.join(context, "_build")
    assert _requirement_lines(os.path.join(build, "requirements.txt")) == \
        _requirement_lines(os.path.join(REPO_ROOT, "requirements.txt"))
    assert _requirement_lines(os.path.join(build, "bindep.txt")) == \
        _requirement_lines(os.path.join(REPO_ROOT, "bindep.txt"))
    python = {re.split(r"[=\[]", line, maxsplit=1)[0].lower() for line in _requirement_lines(os.path.join(build, "requirements.txt"))}
    assert {"pyvmomi", "netaddr", "jmespath", "psycopg"} <= python


def test_context_ships_this_version_of_the_collection(context: str) -> None:
    galaxy = _yaml("galaxy.yml")
    with open(os.path.join(context, "_build", "requirements.yml"), encoding="utf-8") as handle:
        requirements = yaml.safe_load(handle)
    [entry] = requirements["collections"]
    assert entry["type"] == "file"
    path = os.path.join(context, "_build", entry["name"])
    assert os.path.isfile(path), "the galaxy stage would not find %s" % entry["name"]
    with tarfile.open(path, "r:gz") as tar:
        info = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]  # type: ignore[arg-type]
    assert (info["namespace"], info["name"], info["version"]) == (galaxy["namespace"], galaxy["name"],
                                                                  galaxy["version"])


def test_bindep_parses_and_this_platform_has_it() -> None:
    """bindep reads bindep.txt; on this Debian machine (make apt) nothing it names is missing."""
    proc = subprocess.run([_tool("bindep"), "--file", "bindep.txt", "--brief"], cwd=REPO_ROOT, env=_env(),
                          check=False, capture_output=True, text=True)
    assert proc.returncode == 0, "missing here: %s%s" % (proc.stdout, proc.stderr)
    listed = subprocess.run([_tool("bindep"), "--file", "bindep.txt", "--list_all", "newline"], cwd=REPO_ROOT,
                            env=_env(), check=True, capture_output=True, text=True).stdout.split()
    assert "rsync" in listed and "postgresql-15" in listed


def test_galaxy_stage_and_introspection_replayed(context: str, tmp_path) -> None:
    """What the galaxy and builder stages do, offline: install from _build, then introspect."""
    build = os.path.join(context, "_build")
    collections = tmp_path / "collections"
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[defaults]\n", encoding="utf-8")
    # only the empty path: with the work tree's collection link visible, galaxy would find it "already installed"
    env = _env(ANSIBLE_CONFIG=str(cfg), HOME=str(tmp_path), ANSIBLE_COLLECTIONS_PATH=str(collections),
               ANSIBLE_GALAXY_DISABLE_GPG_VERIFY="1")
    subprocess.run(
        [_tool("ansible-galaxy"), "collection", "install", "--offline", "-r", "requirements.yml",
         "--collections-path", str(collections)],
        cwd=build, env=env, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    installed = collections / "ansible_collections" / "continuity" / "recovery"
    assert (installed / "meta" / "execution-environment.yml").is_file()

    pip_out, bindep_out = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    proc = subprocess.run(
        [sys.executable, os.path.join(build, "scripts", "introspect.py"), "introspect",
         "--user-pip=" + os.path.join(build, "requirements.txt"), "--user-bindep=" + os.path.join(build, "bindep.txt"),
         "--write-pip=%s" % pip_out, "--write-bindep=%s" % bindep_out, str(collections)],
        cwd=build, env=env, check=False, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pip_lines = pip_out.read_text(encoding="utf-8").splitlines()
    bindep_lines = bindep_out.read_text(encoding="utf-8").splitlines()
    # the installed collection declares its own requirements (meta/execution-environment.yml) ...
    from_collection = [line for line in pip_lines if line.endswith("# from collection continuity.recovery")]
    assert any(line.startswith("psycopg[binary]==") for line in from_collection), pip_lines
    # ... without ansible-core, which the base stage pins (ANSIBLE_INSTALL_REFS)
    assert not any(line.startswith("ansible-core") for line in from_collection), from_collection
    assert any(line.startswith("postgresql-server [platform:rpm]") for line in bindep_lines), bindep_lines
    assert any(line.startswith("rsync ") for line in bindep_lines), bindep_lines

"""Shared by the build tests: the venv's ansible tools, their environment, and the collection tarball."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIST = os.path.join(REPO_ROOT, ".build", "dist")
BIN = os.path.dirname(sys.executable)


def tool(name: str) -> str:
    """An ansible CLI from the same environment as this Python (the venv)."""
    candidate = os.path.join(BIN, name)
    return candidate if os.path.exists(candidate) else (shutil.which(name) or name)


def galaxy() -> dict:
    with open(os.path.join(REPO_ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def env(**extra: str) -> dict:
    """This environment with the venv first on PATH, plus ``extra``."""
    out = dict(os.environ)
    out["PATH"] = BIN + os.pathsep + out.get("PATH", "")
    out.update(extra)
    return out


def tarball(*inputs: str) -> str:
    """Path of the collection tarball, built again when missing or older than galaxy.yml or any of ``inputs``."""
    meta = galaxy()
    path = os.path.join(DIST, "%s-%s-%s.tar.gz" % (meta["namespace"], meta["name"], meta["version"]))
    newest_input = max(os.path.getmtime(os.path.join(REPO_ROOT, name)) for name in ("galaxy.yml",) + inputs)
    if not os.path.exists(path) or os.path.getmtime(path) < newest_input:
        subprocess.run(
            [tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", DIST],
            cwd=REPO_ROOT, env=env(), check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
    assert os.path.isfile(path), "no tarball at %s" % path
    return path

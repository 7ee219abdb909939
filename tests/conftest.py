"""Shared pytest set-up for every suite (unit, integration, build).

Makes the collection importable as ``ansible_collections.continuity.recovery``:
the repository root *is* the collection, and
``.build/collections/ansible_collections/continuity/recovery -> ../../../..``
(``make collection-link``, re-created here when missing) puts it under an
``ansible_collections`` tree, so ``.build/collections`` goes on ``sys.path``.
The same link serves ``ansible.cfg``'s ``collections_path``.

Registers the reliability figures recorder (tests/chaos/figures_plugin.py: the
``chaos_item`` marker and the ``figures`` fixture) for every suite.
"""

from __future__ import annotations

import os
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS_PATH = os.path.join(REPO_ROOT, ".build", "collections")
COLLECTION_LINK = os.path.join(COLLECTIONS_PATH, "ansible_collections", "continuity", "recovery")
LINK_TARGET = os.path.join("..", "..", "..", "..")


def ensure_collection_link() -> str:
    """Create (or repair) the collection symlink; return the collections path."""
    if os.path.islink(COLLECTION_LINK) and os.readlink(COLLECTION_LINK) == LINK_TARGET:
        return COLLECTIONS_PATH
    os.makedirs(os.path.dirname(COLLECTION_LINK), exist_ok=True)
    if os.path.islink(COLLECTION_LINK):
        os.unlink(COLLECTION_LINK)
    elif os.path.isdir(COLLECTION_LINK):
        os.rmdir(COLLECTION_LINK)  # only ever an empty placeholder
    tmp = COLLECTION_LINK + ".tmp-%d" % os.getpid()
    os.symlink(LINK_TARGET, tmp)
    os.replace(tmp, COLLECTION_LINK)  # atomic: safe with concurrent test runs
    return COLLECTIONS_PATH


ensure_collection_link()
if COLLECTIONS_PATH not in sys.path:
    sys.path.insert(0, COLLECTIONS_PATH)
# Subprocesses (ansible-playbook, ansible-doc, python -c ...) see the same tree.
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", COLLECTIONS_PATH)


CHAOS_DIR = os.path.join(REPO_ROOT, "tests", "chaos")


def pytest_configure(config):
    """The figures recorder, for the chaos suite and the integration tests that measure a reliability item."""
    if CHAOS_DIR not in sys.path:
        sys.path.insert(0, CHAOS_DIR)
    import figures_plugin  # pylint: disable=import-outside-toplevel
    if not config.pluginmanager.is_registered(figures_plugin):
        config.pluginmanager.register(figures_plugin, "continuity-recovery-figures")


def pytest_collection_modifyitems(config, items):  # pylint: disable=unused-argument
    """Everything under tests/integration needs the lab: mark it ``integration``."""
    integration_dir = os.path.join(REPO_ROOT, "tests", "integration") + os.sep
    for item in items:
        if str(item.fspath).startswith(integration_dir):
            item.add_marker(pytest.mark.integration)

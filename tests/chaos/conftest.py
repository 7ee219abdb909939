"""Fixtures of the reliability (chaos) suite: ``make chaos`` (docs/reliability.md).

The suite runs on a lab of its own (``lab`` is overridden here): CHAOS_LAB_DIR
(default /var/lib/crl-chaos-it) with port offset CHAOS_LAB_PORT_OFFSET (default 390),
started at the first test that needs it and purged at the end of the session
(CHAOS_KEEP_LAB=1 keeps it). The shared default lab is never touched, and the
before/after fingerprints of item 6 cannot be disturbed by other users of it.
Private PostgreSQL pairs live under that lab's directory (chaoslib.PORTS).

Reuses the integration fixtures (``labctl``, ``vsphere``, ``pg_connect``:
tests/integration/conftest.py, loaded here under its own name; they use this
``lab``) and adds:

``lab``       session fixture: the chaos lab's lab.json, plus ``plan`` (its recovery plan,
              from ``labctl.py plan``) and ``env`` (LAB_DIR/LAB_PORT_OFFSET for playbooks).

``figures``   (tests/chaos/figures_plugin.py, registered for every suite by tests/conftest.py)
              the ``Item`` of the test's ``@pytest.mark.chaos_item(key)``;
              ``figures.set(rows_written=..., ...)`` / ``figures.note(text)``. Recorded into
              ``.build/chaos/figures.json`` with the test's outcome when the test ends,
              whether it passed or failed; this suite's run header carries SETTINGS.
``chaos_settings`` session fixture: the bounds of this run (CHAOS_SOAK_SECONDS, CHAOS_LINK_DOWN_SECONDS).

Every test here needs the lab and is marked ``integration`` and ``chaos``.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
for _path in (HERE, os.path.join(TESTS, "integration"), os.path.join(TESTS, "lab")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import figures_plugin  # noqa: E402

_spec = importlib.util.spec_from_file_location("chaos_integration_fixtures",
                                               os.path.join(TESTS, "integration", "conftest.py"))
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)
# re-exported: pytest finds fixtures by the names bound in this module
labctl_fixture = _integration.labctl_fixture
vsphere = _integration.vsphere
pg_connect = _integration.pg_connect

CHAOS_LAB_DIR = os.environ.get("CHAOS_LAB_DIR") or "/var/lib/crl-chaos-it"
CHAOS_LAB_PORT_OFFSET = int(os.environ.get("CHAOS_LAB_PORT_OFFSET") or 390)

SETTINGS = {
    # the soak's length; make chaos passes CHAOS_SOAK_SECONDS (default 600 there)
    "soak_seconds": int(os.environ.get("CHAOS_SOAK_SECONDS") or 600),
    # how long each link cut lasts; the issue asks for >= 30 s
    "link_down_seconds": max(30, int(os.environ.get("CHAOS_LINK_DOWN_SECONDS") or 35)),
}
figures_plugin.SUITE_SETTINGS["chaos"] = SETTINGS


def pytest_configure(config):
    config.addinivalue_line("markers", "chaos: the reliability suite (make chaos)")


def pytest_collection_modifyitems(config, items):  # pylint: disable=unused-argument
    for item in items:
        if str(item.fspath).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.chaos)


@pytest.fixture(scope="session")
def lab_dir():
    return CHAOS_LAB_DIR


@pytest.fixture(scope="session")
def lab():
    import json
    base = ("--lab-dir", CHAOS_LAB_DIR, "--port-offset", str(CHAOS_LAB_PORT_OFFSET))
    res = _integration.labctl("up", *base)
    if res.returncode != 0:
        pytest.fail("labctl up (chaos lab) failed (exit %d):\n%s%s" % (res.returncode, res.stdout, res.stderr))
    with open(os.path.join(CHAOS_LAB_DIR, "lab.json")) as handle:
        data = json.load(handle)
    plan = _integration.labctl("plan", *base, "--format", "json")
    assert plan.returncode == 0, plan.stderr
    data["plan"] = json.loads(plan.stdout)["recovery_plan"]
    data["env"] = {"LAB_DIR": CHAOS_LAB_DIR, "LAB_PORT_OFFSET": str(CHAOS_LAB_PORT_OFFSET)}
    yield data
    if not os.environ.get("CHAOS_KEEP_LAB"):
        _integration.labctl("down", "--lab-dir", CHAOS_LAB_DIR, "--purge")


@pytest.fixture(scope="session")
def chaos_settings():
    return dict(SETTINGS)

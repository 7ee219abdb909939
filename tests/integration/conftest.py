"""Integration fixtures: the two-site lab of tests/lab/labctl.py (real vcsim + PostgreSQL).

``lab``        session fixture: runs ``labctl.py up`` (idempotent, fast when the lab
               is already up) and returns LAB_DIR/lab.json as a dict. The lab is
               never taken down at the end: other tests and sessions reuse it.
``vsphere``    session fixture: ``vsphere(site)`` -> pyVmomi ServiceInstance for
               "primary" or "recovery" (one per site, disconnected at session end).
``labctl``     session fixture: ``labctl(*args, env=None)`` runs tests/lab/labctl.py
               with this interpreter and returns the CompletedProcess.
``pg_connect`` session fixture: ``pg_connect(**overrides)`` -> psycopg connection to
               the lab's PostgreSQL primary as dr_admin (caller closes it).

LAB_DIR, LAB_VM_COUNT and LAB_PORT_OFFSET select the lab (defaults: the shared
12-VM lab in /var/lib/continuity-recovery-lab, offset 0). Every test that uses
``lab`` is marked ``integration`` automatically.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LABCTL = REPO / "tests" / "lab" / "labctl.py"
DEFAULT_LAB_DIR = "/var/lib/continuity-recovery-lab"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "integration: needs the two-site lab (tests/lab/labctl.py up runs on demand; the lab stays up)",
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "lab" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


def labctl(*args, env=None, timeout=900):
    """Run tests/lab/labctl.py with this interpreter (the venv); returns CompletedProcess."""
    return subprocess.run(
        [sys.executable, str(LABCTL)] + [str(a) for a in args], check=False,
        capture_output=True, text=True, timeout=timeout, env=env, cwd=str(REPO),
    )


@pytest.fixture(scope="session", name="labctl")
def labctl_fixture():
    """``labctl(*args, env=None)`` -> CompletedProcess of tests/lab/labctl.py (does not start the lab)."""
    return labctl


@pytest.fixture(scope="session")
def lab_dir():
    return os.environ.get("LAB_DIR") or DEFAULT_LAB_DIR


@pytest.fixture(scope="session")
def lab(lab_dir):
    res = labctl("up", "--lab-dir", lab_dir)
    if res.returncode != 0:
        pytest.fail("labctl up failed (exit %d):\n%s%s" % (res.returncode, res.stdout, res.stderr))
    with open(os.path.join(lab_dir, "lab.json")) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def vsphere(lab):
    from pyVim.connect import Disconnect, SmartConnect

    sessions = {}

    def connect(site):
        if site not in sessions:
            vc = lab["sites"][site]["vcenter"]
            sessions[site] = SmartConnect(
                host=vc["hostname"], port=vc["port"], user=vc["username"], pwd=vc["password"],
                disableSslCertValidation=not vc["validate_certs"],
            )
        return sessions[site]

    yield connect
    for si in sessions.values():
        Disconnect(si)


@pytest.fixture(scope="session")
def pg_connect(lab):
    import psycopg

    def connect(which="primary", **overrides):
        pg = lab["postgres"][which]
        params = {"host": pg["host"], "port": pg["port"], "user": pg["user"], "password": pg["password"],
                  "dbname": pg["database"], "connect_timeout": 10}
        params.update(overrides)
        return psycopg.connect(**params)

    return connect

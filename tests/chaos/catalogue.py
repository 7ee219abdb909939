"""The reliability catalogue: every item of the reliability issue, the test file that
covers it (repository-relative) and, while it has none, why.

The renderer (render_reliability.py) lists every item here, so a missing test is
visible in docs/reliability.md as a gap, never silently absent. Adding a fault:
write ``tests/chaos/test_<fault>.py`` with ``@pytest.mark.chaos_item("<key>")`` on
its test(s), record figures with the ``figures`` fixture, and fill in ``test`` below.
Items 2, 3 and 5 are measured where the roles they exercise are tested end to end
(tests/integration, own labs, under ``make integration``): the same marker and fixture
(tests/chaos/figures_plugin.py) record their figures; they are not run twice.
"""

from __future__ import annotations

# key -> (title, test file or None, what is measured / why it is missing)
ITEMS = {
    "1a": ("Link interruption during protection", "tests/chaos/test_link_cut_protection.py",
           "namespace link down >= 30 s under write load; zero loss (rows + checksum), no manual step"),
    "1b": ("Link interruption during failback resync", "tests/chaos/test_link_cut_failback.py",
           "namespace link down >= 30 s while the failback role resyncs the old primary under writes at the recovery "
           "site; zero loss after cut back (rows + checksum), no manual step, rerun changes nothing"),
    "2": ("Crash takeover", "tests/integration/test_failback.py",
          "SIGKILL of every primary process under 3 writers, emergency takeover, old primary restarted: fenced "
          "until failback rejoins it; reported RPO vs the writers' acked rows; no row lost after failback"),
    "3": ("Interrupted takeover", "tests/integration/test_takeover.py",
          "ansible-playbook SIGKILLed during tier 2: the rerun completes, every VM registered once; the rollback "
          "playbook undoes that state (check mode first), then a rerun completes"),
    "4": ("Buffer overflow", "tests/chaos/test_buffer_overflow.py",
          "cap reached under write load with the recovery site down: detected, alerted, re-seeded, recorded"),
    "5": ("Drill isolation", "tests/integration/test_drill.py",
          "production fingerprint (VMs, rows, WAL that changes data, next xid, sender, slot, standby, rsync "
          "state) before and after a passing drill and a drill that fails midway; drill artifacts left"),
    "6": ("Bad input", "tests/chaos/test_bad_input.py",
          "malformed plans and inventories through the real preflight; field named; both sites unchanged"),
    "7": ("Security", "tests/chaos/test_security.py",
          "no secret in -vvv output, evidence, reports, logs; validate_certs default; replication TLS; file modes"),
    "8": ("Soak", "tests/chaos/test_soak.py",
          "continuous writes + repeated inspection; memory growth; retained WAL vs cap"),
}

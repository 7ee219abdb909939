"""The reliability suite's catalogue: every item of the reliability issue, the test
file that covers it (one file per fault) and, while it has none, who will add it.

The renderer (render_reliability.py) lists every item here, so a missing test is
visible in docs/reliability.md as a gap, never silently absent. Adding a fault:
write ``tests/chaos/test_<fault>.py`` with ``@pytest.mark.chaos_item("<key>")`` on
its test(s), record figures with the ``figures`` fixture, and fill in ``test`` below.
"""

from __future__ import annotations

# key -> (title, test file or None, what is measured / why it is missing)
ITEMS = {
    "1a": ("Link interruption during protection", "test_link_cut_protection.py",
           "namespace link down >= 30 s under write load; zero loss (rows + checksum), no manual step"),
    "1b": ("Link interruption during failback resync", "tests/chaos/test_link_cut_failback.py",
           "namespace link down >= 30 s while the failback role resyncs the old primary under writes at the recovery "
           "site; zero loss after cut back (rows + checksum), no manual step, rerun changes nothing"),
    "2": ("Crash takeover", None, "not written yet: needs the takeover role (H1/H3)"),
    "3": ("Interrupted takeover", None, "not written yet: needs the takeover role and its journal (H1/H3)"),
    "4": ("Buffer overflow", "test_buffer_overflow.py",
          "cap reached under write load with the recovery site down: detected, alerted, re-seeded, recorded"),
    "5": ("Drill isolation", None, "not written yet: needs the drill role (H2)"),
    "6": ("Bad input", "test_bad_input.py",
          "malformed plans and inventories through the real preflight; field named; both sites unchanged"),
    "7": ("Security", "test_security.py",
          "no secret in -vvv output, evidence, reports, logs; validate_certs default; replication TLS; file modes"),
    "8": ("Soak", "test_soak.py",
          "continuous writes + repeated inspection; memory growth; retained WAL vs cap"),
}

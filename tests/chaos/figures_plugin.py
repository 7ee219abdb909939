"""The pytest side of the figures recorder (figures.py), for every suite under tests/.

Registered by tests/conftest.py, so a test anywhere can measure a reliability item
(tests/chaos/catalogue.py): mark it ``@pytest.mark.chaos_item("<key>")`` and take the
``figures`` fixture:

    @pytest.mark.chaos_item("2")
    def test_crash(figures, ...):
        ...
        figures.set(rows_lost=0, ...)      # figures.note("...") for a sentence

When the test ends, passed or not, its figures and outcome are recorded into
``.build/chaos/figures.json`` (CHAOS_FIGURES overrides) under the suite that ran it (the
directory under tests/: ``chaos``, ``integration``); each suite's session starts its
own run header there. A suite's conftest adds settings to its header through
``SUITE_SETTINGS`` (the chaos suite: its soak and link-cut bounds).
"""

from __future__ import annotations

import os
import time

import pytest

import catalogue
import figures as figures_mod

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITE_SETTINGS = {}   # suite -> settings recorded in its run header
_RECORDER = None
_STARTED = set()


def suite_of(path):
    """The directory under tests/ that holds ``path`` (``chaos``, ``integration``, ...)."""
    relative = os.path.relpath(str(path), TESTS)
    return relative.split(os.sep, 1)[0]


def _recorder(suite):
    global _RECORDER  # pylint: disable=global-statement
    if _RECORDER is None:
        _RECORDER = figures_mod.Recorder()
    if suite not in _STARTED:
        _RECORDER.start_run(suite, **SUITE_SETTINGS.get(suite, {}))
        _STARTED.add(suite)
    return _RECORDER


def pytest_configure(config):
    config.addinivalue_line("markers", "chaos_item(key): the reliability item (tests/chaos/catalogue.py) a test "
                                       "measures; its figures go to .build/chaos/figures.json")


def pytest_sessionfinish(session, exitstatus):  # pylint: disable=unused-argument
    for suite in sorted(_STARTED):
        _RECORDER.finish_run(suite)


@pytest.fixture
def figures(request):
    marker = request.node.get_closest_marker("chaos_item")
    assert marker, "the figures fixture needs @pytest.mark.chaos_item(key) on the test"
    key = marker.args[0]
    item = figures_mod.Item(key, catalogue.ITEMS[key][0], request.node.nodeid)
    suite = suite_of(request.node.fspath)
    recorder = _recorder(suite)
    started = time.monotonic()
    yield item
    report = getattr(request.node, "_chaos_call_report", None)
    outcome = report.outcome if report is not None else "error"
    if report is not None and report.skipped and hasattr(report, "wasxfail"):
        outcome = "xfailed"  # a known gap, documented where the test says why
    recorder.record(item, outcome, time.monotonic() - started, suite)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # pylint: disable=unused-argument
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item._chaos_call_report = report  # pylint: disable=protected-access

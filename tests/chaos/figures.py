"""The figures recorder of the reliability items: ``.build/chaos/figures.json``.

One JSON document, rewritten atomically after every test:

    {"runs": {"<suite>": {started_at, finished_at, host, cpus, kernel, python, postgresql,
                          command, ...settings (chaos: soak_seconds, link_down_seconds)}},
     "items": {"<catalogue key>": {"title", "test", "suite", "outcome", "duration_seconds",
                                   "recorded_at", "run_started_at", "figures": {...}, "notes": [...]}}}

The suite is the directory under tests/ that recorded the item: ``chaos`` (make chaos)
or ``integration`` (make integration: the crash takeover, interrupted takeover and drill
isolation items are measured by the integration tests of the roles they exercise).
Each suite's session has its own run header. A run of part of a suite updates the items
it ran and keeps the others (with their own ``recorded_at``), so the rendered doc
always says when each figure was taken. A file written before suites existed (one
``run``) is read as the chaos suite's run.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_PATH = os.path.join(REPO, ".build", "chaos", "figures.json")


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pg_version():
    try:
        out = subprocess.run(["/usr/lib/postgresql/15/bin/postgres", "--version"], capture_output=True,
                             text=True, timeout=10, check=False).stdout
        return out.strip() or None
    except OSError:
        return None


def machine():
    """What the figures were measured on."""
    return {"host": platform.node(), "cpus": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version(), "postgresql": _pg_version(),
            "ci": bool(os.environ.get("CI"))}


class Item:
    """Figures of one catalogue item, filled in by its test."""

    def __init__(self, key, title, test):
        self.key, self.title, self.test = key, title, test
        self.figures = {}
        self.notes = []

    def set(self, **figures):
        self.figures.update(figures)

    def note(self, text):
        self.notes.append(text)


def _worst(outcomes):
    order = ["passed", "xfailed", "skipped", "failed", "error"]
    return max(outcomes, key=lambda o: order.index(o) if o in order else len(order))


def load(path):
    """The figures file at ``path`` ({"runs", "items"}; empty when missing or unreadable)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("items"), dict):
        return {"runs": {}, "items": {}}
    if "runs" not in data:  # the one-suite format
        run = data.pop("run", None)
        data["runs"] = {"chaos": run} if run else {}
        for entry in data["items"].values():
            entry.setdefault("suite", "chaos")
    return data


class Recorder:
    def __init__(self, path=None):
        self.path = path or os.environ.get("CHAOS_FIGURES") or DEFAULT_PATH
        self.data = load(self.path)

    def start_run(self, suite, **settings):
        run = dict(machine(), started_at=utcnow(), finished_at=None,
                   command=os.environ.get("CHAOS_COMMAND") or " ".join(["pytest"] + sys.argv[1:]))
        run.update(settings)
        self.data["runs"][suite] = run
        self.save()

    def finish_run(self, suite):
        self.data["runs"][suite]["finished_at"] = utcnow()
        self.save()

    def record(self, item, outcome, duration, suite):
        """Store the item's figures; several tests of one item in one run are merged (figures, notes,
        tests), and the item's outcome is the worst of theirs."""
        entry = {
            "title": item.title, "test": item.test, "tests": [item.test], "suite": suite, "outcome": outcome,
            "outcomes": {item.test: outcome}, "duration_seconds": round(duration, 1), "recorded_at": utcnow(),
            "run_started_at": self.data["runs"][suite].get("started_at"),
            "figures": dict(item.figures), "notes": list(item.notes),
        }
        previous = self.data["items"].get(item.key)
        if previous and previous.get("run_started_at") == entry["run_started_at"]:
            outcomes = dict(previous.get("outcomes") or {}, **entry["outcomes"])
            entry.update(
                tests=sorted(outcomes), outcomes=outcomes, test=", ".join(sorted(outcomes)),
                outcome=_worst(outcomes.values()),
                duration_seconds=round(previous.get("duration_seconds", 0) + duration, 1),
                figures=dict(previous.get("figures") or {}, **item.figures),
                notes=list(previous.get("notes") or []) + list(item.notes))
        self.data["items"][item.key] = entry
        self.save()

    def save(self):
        directory = os.path.dirname(self.path)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".figures-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.data, handle, indent=2, sort_keys=True, default=str)
            handle.write("\n")
        os.replace(tmp, self.path)

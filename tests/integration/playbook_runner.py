"""Run ansible-playbook the way a user does, and read its results as JSON.

Uses the venv's ansible-playbook, the repository's ansible.cfg and the
collection link; the test-only ``results_file`` callback (callback_plugins/)
hands every task result over as JSON, so tests assert on results, not on text.

Every run also fails the test when ansible-core warns that a task's arguments are one
template (``ARGS_TEMPLATE_WARNING``): the roles pass settings as ``module_defaults``,
and this holds it at run time, not only in tests/unit/roles/test_task_args.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
HERE = os.path.dirname(os.path.abspath(__file__))
ARGS_TEMPLATE_WARNING = "Using a template for task args is unsafe"


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    data: dict = field(default_factory=dict)

    def task_results(self, name, host="localhost"):
        """Results of every task called ``name`` (in play order); a role's tasks match without the role prefix."""
        found = []
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                task_name = task["task"]["name"]
                if (task_name == name or task_name.endswith(" : " + name)) and host in task["hosts"]:
                    found.append(task["hosts"][host])
        return found

    def failures(self, host="localhost"):
        return [t["hosts"][host] for p in self.data.get("plays", []) for t in p.get("tasks", [])
                if host in t["hosts"] and t["hosts"][host].get("failed")]

    @property
    def stats(self):
        return self.data.get("stats", {}).get("localhost", {})


def run_playbook(playbook, inventory=None, extra_vars=None, check=False, env=None, timeout=900, args=()):
    """Run ``playbook`` (a path or an FQCN) and return a PlaybookRun."""
    cmd = [os.path.join(BIN, "ansible-playbook"), playbook,
           "-i", inventory or os.path.join(REPO, "inventories", "lab")]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    cmd += list(args)
    fd, results_file = tempfile.mkstemp(prefix="playbook-results-", suffix=".json")
    os.close(fd)
    full_env = dict(os.environ)
    full_env.update({
        "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"),
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "results_file",
        "RESULTS_FILE": results_file,
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, ".build", "collections"),
        "PATH": BIN + os.pathsep + full_env.get("PATH", ""),
    })
    full_env.update(env or {})
    try:
        proc = subprocess.run(cmd, check=False, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout)
        with open(results_file, encoding="utf-8") as handle:
            text = handle.read()
    finally:
        os.unlink(results_file)
    for stream in (proc.stdout, proc.stderr):
        assert ARGS_TEMPLATE_WARNING not in stream, "%s warned: %s" % (
            playbook, stream[stream.index(ARGS_TEMPLATE_WARNING) - 12:][:600])
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, json.loads(text) if text else {})

"""No task of the collection passes its module arguments as one template.

``module: "{{ some_dict | combine(...) }}"`` makes ansible-core 2.19 warn, on every
run, "Using a template for task args is unsafe in some situations" (a variable
shadowed by an injected fact would become the task's arguments). The roles pass a
pair's or a cutover's settings through task-level ``module_defaults`` instead - the
form ansible-core documents for templated argument sets (only the values may be
templates) - and name the task's own arguments as keys.

A static check over every task file the collection ships or runs (roles,
playbooks, molecule scenarios), so a new splat fails here, not as a warning in
somebody's change window.
"""

from __future__ import annotations

import glob
import os
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(REPO, "tests", "helpers"))
import task_files  # noqa: E402  pylint: disable=wrong-import-position

# actions whose string argument is free-form (raw params), not a splat of arguments
FREE_FORM = {
    "ansible.builtin." + name
    for name in ("command", "shell", "raw", "script", "meta", "include_tasks", "import_tasks",
                 "import_playbook", "include_vars", "include_role", "import_role")
}


def files_to_check() -> list[str]:
    patterns = ("roles/*/tasks/*.yml", "roles/*/handlers/*.yml", "playbooks/*.yml",
                "extensions/molecule/*/*.yml")
    found = sorted(path for pattern in patterns for path in glob.glob(os.path.join(REPO, pattern)))
    assert found, "no task files found under %s" % REPO
    return found


def splats(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    found = []
    for task in task_files.document_tasks(document):
        for key, value in task.items():
            if key == "args" or ("." in key and key not in FREE_FORM):
                if isinstance(value, str) and "{{" in value:
                    found.append("%s: task %r: %s: %s" % (os.path.relpath(path, REPO), task.get("name"), key, value))
    return found


@pytest.mark.parametrize("path", files_to_check(), ids=lambda p: os.path.relpath(p, REPO))
def test_task_arguments_are_keys_not_one_template(path: str) -> None:
    assert splats(path) == []


def test_the_check_finds_a_splat(tmp_path) -> None:
    sample = tmp_path / "main.yml"
    sample.write_text(
        "- name: Splat\n  continuity.recovery.replication: \"{{ pair | combine({'state': 'present'}) }}\"\n"
        "- name: Nested\n  block:\n    - name: Inner\n      args: \"{{ more }}\"\n      continuity.recovery.replication_info: {}\n"
        "- name: Keys\n  continuity.recovery.replication:\n    state: present\n"
        "  module_defaults:\n    continuity.recovery.replication: \"{{ pair }}\"\n"
        "- name: Free form\n  ansible.builtin.include_tasks: \"{{ file }}\"\n",
        encoding="utf-8")
    found = splats(str(sample))
    assert [line.split(": task ")[1].split(":")[0] for line in found] == ["'Splat'", "'Inner'"]

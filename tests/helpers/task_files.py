# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every task of a task file or a playbook, as loaded YAML, for static checks in tests.

Shared by tests/build/test_awx_config.py (which roles a playbook runs) and
tests/unit/roles/test_task_args.py (no task's arguments are one template); it needs
neither the lab nor the collection. Each user puts this directory on ``sys.path``.
"""

from __future__ import annotations

from typing import Any, Iterator

BLOCK_KEYS = ("block", "rescue", "always")
PLAY_KEYS = ("pre_tasks", "tasks", "post_tasks", "handlers")


def tasks_in(tasks: Any) -> Iterator[dict]:
    """Every task of a task list, depth first; a block is yielded, then its tasks."""
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in BLOCK_KEYS:
            yield from tasks_in(task.get(key))


def document_tasks(document: Any) -> Iterator[dict]:
    """Every task of a loaded task file (a list of tasks) or playbook (a list of plays); else none."""
    if not isinstance(document, list):
        return
    for item in document:
        if isinstance(item, dict) and "hosts" in item:
            for key in PLAY_KEYS:
                yield from tasks_in(item.get(key))
        else:
            yield from tasks_in([item])

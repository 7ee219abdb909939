# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side rollback journal writer and reader (docs: modules/journal.py).

Over module_utils/journal.py: one event per call (``status`` given), or a read of
a run's journal (``status`` omitted), or a search for the newest run directory of a
plan whose journal holds an unfinished step (``root``).
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.continuity.recovery.plugins.module_utils import evidence
from ansible_collections.continuity.recovery.plugins.module_utils import journal as journal_lib
from ansible_collections.continuity.recovery.plugins.plugin_utils.action_arguments import validated_arguments

ARGUMENT_SPEC = dict(
    dir=dict(type="path"),
    root=dict(type="path"),
    unfinished=dict(type="str"),
    step=dict(type="str"),
    status=dict(type="str", choices=list(journal_lib.STATUSES)),
    action=dict(type="str"),
    subject=dict(type="str"),
    undo=dict(type="dict"),
    data=dict(type="raw"),
)


def undo_problems(undo):
    """Why an undo spec is refused: it must refer to the plan, never carry a secret."""
    if undo is None:
        return []
    problems = []
    if not isinstance(undo.get("action"), str) or not undo.get("action"):
        problems.append("undo.action: is required (the collection module or 'manual')")
    if evidence.redact(undo) != undo:
        problems.append("undo: must not carry secrets (passwords, tokens): refer to the plan instead")
    return problems


def step_view(journal):
    """``{step: {status, action, subject, undo, data, started_at, ended_at}}`` of the latest attempt of each step."""
    steps = {}
    for event in journal.events():
        entry = steps.setdefault(event["step"], {"started_at": None, "ended_at": None})
        if event["status"] == "started":
            entry.update(started_at=event["ts"], ended_at=None)
        elif event["status"] in ("done", "failed"):
            entry["ended_at"] = event["ts"]
        entry.update(status=event["status"], action=event.get("action"), subject=event.get("subject"),
                     undo=event.get("undo"), data=event.get("data") or {})
    return steps


def read(directory):
    journal = journal_lib.Journal(directory)
    events = journal.events()
    return {"dir": directory, "exists": bool(events), "steps": step_view(journal), "done": journal.done(),
            "pending": journal.pending(), "to_undo": journal.to_undo(), "summary": journal.summary(),
            "events": len(events)}


def find_run(root, unfinished=None):
    """Newest run directory under ``root`` (``<evidence root>/<plan>``) with a journal.

    With ``unfinished``: only runs whose step of that name exists and is neither ``done`` nor
    ``undone`` (a rollback marks a run's own step undone only once everything after it was undone).
    Run directories are named by their run id (UTC timestamps sort in time order).
    """
    if not os.path.isdir(root):
        return None
    for name in sorted(os.listdir(root), reverse=True):
        directory = os.path.join(root, name)
        if not os.path.isfile(os.path.join(directory, journal_lib.JOURNAL_FILE)):
            continue
        journal = journal_lib.Journal(directory)
        if unfinished is None:
            return directory
        event = journal.state().get(unfinished)
        if event is not None and event["status"] not in ("done", "undone"):
            return directory
    return None


class ActionModule(ActionBase):
    """Append one journal event or read a journal; never reports a change, writes nothing in check mode."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = validated_arguments(
            "journal", ARGUMENT_SPEC, self._task.args,
            mutually_exclusive=[["dir", "root"]], required_one_of=[["dir", "root"]],
            required_by={"status": ("dir", "step"), "unfinished": ("root",)},
        )
        result["changed"] = False

        if args["root"]:
            try:
                found = find_run(args["root"], args["unfinished"])
                result.update(dir=found, run_id=os.path.basename(found) if found else None, found=found is not None)
                if found:
                    result.update(read(found))
            except (journal_lib.JournalError, OSError) as exc:
                raise AnsibleActionFail("journal: cannot search the runs under %s: a journal is unreadable (repair "
                                        "it or move its run directory aside): %s" % (args["root"], exc))
            return result

        directory = args["dir"]
        try:
            if args["status"]:
                problems = undo_problems(args["undo"])
                if problems:
                    raise AnsibleActionFail("journal: " + "; ".join(problems))
                if self._task.check_mode:
                    result.update(skipped_write=True, msg="check mode: journal event not written")
                else:
                    journal = journal_lib.Journal(directory)
                    if args["status"] == "started":
                        if not args["action"]:
                            raise AnsibleActionFail("journal: action is required with status=started")
                        event = journal.start(args["step"], args["action"], args["subject"], args["undo"],
                                              args["data"])
                    elif args["status"] == "done":
                        event = journal.finish(args["step"], args["data"])
                    elif args["status"] == "failed":
                        event = journal.fail(args["step"], args["data"])
                    else:
                        event = journal.mark_undone(args["step"], args["data"])
                    result["event"] = event
            result.update(read(directory))
        except (journal_lib.JournalError, OSError) as exc:
            raise AnsibleActionFail("journal: %s: %s" % (directory, exc))
        return result

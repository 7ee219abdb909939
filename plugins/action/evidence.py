# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side writer of a run's evidence (see modules/evidence.py for the docs)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.continuity.recovery.plugins.module_utils import evidence
from ansible_collections.continuity.recovery.plugins.plugin_utils.action_arguments import validated_arguments

_RECORD_SPEC = dict(
    kind=dict(type="str", required=True, choices=list(evidence.KINDS)),
    name=dict(type="str", required=True),
    status=dict(type="str", required=True, choices=list(evidence.STATUSES)),
    subject=dict(type="str"),
    data=dict(type="raw"),
)

ARGUMENT_SPEC = dict(
    dir=dict(type="path", required=True),
    run_id=dict(type="str"),
    plan=dict(type="str"),
    role=dict(type="str"),
    records=dict(type="list", elements="dict", default=[], options=_RECORD_SPEC),
    snapshot=dict(type="dict", options=dict(
        name=dict(type="str", required=True),
        data=dict(type="raw", required=True),
    )),
    document=dict(type="dict", options=dict(
        name=dict(type="str", required=True),
        content=dict(type="str", required=True),
    )),
)


class ActionModule(ActionBase):
    """Append records and write snapshots on the controller; never reports a change."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = validated_arguments("evidence", ARGUMENT_SPEC, self._task.args)

        result.update(changed=False, dir=args["dir"])
        try:
            if args["records"]:
                records = [
                    evidence.make_record(run_id=args["run_id"], plan=args["plan"], role=args["role"],
                                         **record)
                    for record in args["records"]
                ]
                result["records_path"] = evidence.append_records(args["dir"], records)
                result["records_written"] = len(records)
            if args["snapshot"]:
                result["snapshot_path"] = evidence.write_json(
                    args["dir"], args["snapshot"]["name"], args["snapshot"]["data"])
            if args["document"]:
                result["document_path"] = evidence.write_text(
                    args["dir"], args["document"]["name"], args["document"]["content"])
        except (OSError, ValueError) as exc:
            raise AnsibleActionFail("evidence: cannot write to %s: %s" % (args["dir"], exc))
        return result

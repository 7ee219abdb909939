# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compose a baseline: one configuration record and one list of abnormalities
from what site_info, storage_mapping_info and database_info returned.

Pure: no I/O. The baseline role calls it through the ``baseline_record`` filter.
"""

from __future__ import annotations

from typing import Any, Mapping

SCHEMA = "continuity.recovery/baseline/v1"

# Keys of a module result that are Ansible plumbing, not facts.
_PLUMBING = ("changed", "failed", "invocation", "item", "ansible_loop_var", "skipped",
             "skip_reason", "false_condition", "msg", "_ansible_no_log", "_ansible_item_label")


_VM_LIST_PATHS = (("record", "sites", "primary", "vms"), ("sites", "primary", "vms"), ("vms",))
BASELINE_SHAPES = ("a baseline record (the baseline role's result or its record), a site_info result of the "
                   "primary site, or a list of VM records")


def _vm_list(baseline: Any) -> list | None:
    if isinstance(baseline, list):
        return baseline
    if isinstance(baseline, Mapping):
        for path in _VM_LIST_PATHS:
            node: Any = baseline
            for key in path:
                node = node.get(key) if isinstance(node, Mapping) else None
            if isinstance(node, list):
                return node
    return None


def vm_records(baseline: Any) -> dict:
    """``{name: vm record}`` of the primary VMs in any shape a baseline is passed around in.

    A baseline record (``compose``'s result, or its ``record``), a site_info result of the
    primary site, or its ``vms`` list; entries without a name are left out, anything else
    gives ``{}`` (``vm_records_problem`` says why). host_cutover's ``baseline`` option and the
    ``baseline_vms`` filter read it so.
    """
    return {vm["name"]: vm for vm in _vm_list(baseline) or [] if isinstance(vm, Mapping) and vm.get("name")}


def vm_records_problem(baseline: Any) -> str | None:
    """Why ``baseline`` is none of the shapes ``vm_records`` reads (None when it is one)."""
    if _vm_list(baseline) is not None:
        return None
    if isinstance(baseline, Mapping):
        return "has no list of VMs at record.sites.primary.vms, sites.primary.vms or vms (keys: %s); give %s" % (
            ", ".join(sorted(str(k) for k in baseline)[:8]) or "none", BASELINE_SHAPES)
    # the plain type: ansible-core 2.19 passes its own subclasses (a tagged str, say)
    kind = next((t.__name__ for t in (bool, str, int, float) if isinstance(baseline, t)), type(baseline).__name__)
    return "must be %s, got %s" % (BASELINE_SHAPES, kind)


def compose(plan, primary, recovery, storage, databases, captured_at, run_id=None):
    """Return ``{"record": ..., "abnormalities": [...], "summary": {...}}``.

    ``databases`` is a list of ``{"pair", "side", "result"}`` where result is a
    database_info result (possibly ``reachable: false``).
    """
    abnormalities = []
    abnormalities += _site_abnormalities("primary", primary)
    if recovery is not None:
        abnormalities += _site_abnormalities("recovery", recovery)
    abnormalities += _storage_abnormalities(storage)
    db_record = {}
    for entry in databases:
        result = _facts(entry["result"])
        db_record.setdefault(entry["pair"], {})[entry["side"]] = result
        abnormalities += _database_abnormalities(entry["pair"], entry["side"], result)

    record = {
        "schema": SCHEMA,
        "plan": plan.get("name"),
        "run_id": run_id,
        "captured_at": captured_at,
        "plan_snapshot": plan,
        "sites": {"primary": _facts(primary)},
        "storage_mapping": _facts(storage),
        "databases": db_record,
        "abnormalities": abnormalities,
    }
    if recovery is not None:
        record["sites"]["recovery"] = _facts(recovery)
    summary = {
        "vms": len(primary.get("vms", [])),
        "hosts": sum(len(_facts(s).get("hosts", [])) for s in (primary, recovery) if s),
        "datastores": sum(len(_facts(s).get("datastores", [])) for s in (primary, recovery) if s),
        "databases": sum(len(sides) for sides in db_record.values()),
        "unprotected_disks": len(storage.get("unprotected", [])),
        "abnormalities": len(abnormalities),
        "healthy": not abnormalities,
        "vcenter_calls": sum(int(s.get("vcenter_calls") or 0) for s in (primary, recovery, storage) if s),
    }
    record["summary"] = summary
    return {"record": record, "abnormalities": abnormalities, "summary": summary}


def _facts(result):
    return {k: v for k, v in (result or {}).items() if k not in _PLUMBING}


def _site_abnormalities(site, result):
    return [dict(item, site=site) for item in result.get("abnormalities", [])]


def _storage_abnormalities(storage):
    found = []
    for gap in storage.get("unprotected", []):
        found.append({
            "site": "primary",
            "object": "%s/%s" % (gap.get("vm"), gap.get("disk")),
            "check": "unprotected_disk",
            "detail": "disk %s of VM %s is on datastore %s, which has no replica in the storage map (%s)"
                      % (gap.get("disk"), gap.get("vm"), gap.get("datastore"), gap.get("reason", "no mapping")),
        })
    return found


def _database_abnormalities(pair, side, result):
    if not result.get("reachable", False):
        if side == "standby":
            # A standby is only expected once protection is established.
            return []
        return [{"site": side, "object": "%s.%s" % (pair, side), "check": "database_reachable",
                 "detail": "database %s of pair %s does not answer: %s" % (side, pair, result.get("error"))}]
    found = [dict(item, site=side, object="%s.%s" % (pair, side)) for item in result.get("abnormalities", [])]
    expected = "primary" if side == "primary" else "standby"
    if result.get("role") != expected:
        found.append({"site": side, "object": "%s.%s" % (pair, side), "check": "database_role",
                      "detail": "the %s of pair %s is in role %s" % (side, pair, result.get("role"))})
    return found

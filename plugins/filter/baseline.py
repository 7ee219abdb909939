# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``baseline_record`` and ``baseline_vms`` filters (docs: baseline_record.yml, baseline_vms.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.continuity.recovery.plugins.module_utils import baseline


def baseline_record(primary, plan, recovery=None, storage=None, databases=None, captured_at=None, run_id=None):
    """Compose the baseline record and abnormalities from module results."""
    if not isinstance(primary, dict) or not isinstance(plan, dict):
        raise AnsibleFilterError("baseline_record: the site_info result and the plan must be dicts")
    try:
        return baseline.compose(plan, primary, recovery, storage or {}, databases or [], captured_at, run_id)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise AnsibleFilterError("baseline_record: malformed input: %s: %s" % (type(exc).__name__, exc), orig_exc=exc)


def baseline_vms(value, name="the baseline", strict=True):
    """The primary VM records of a baseline record, a site_info result or a list of them (in order).

    ``name``: what the error calls the value (a variable name); ``strict=False``: [] for any other shape.
    """
    if value is None:
        return []
    problem = baseline.vm_records_problem(value)
    if problem and strict:
        raise AnsibleFilterError("baseline_vms: %s %s" % (name, problem))
    return list(baseline.vm_records(value).values())


class FilterModule:
    """Baseline composition."""

    def filters(self):
        return {"baseline_record": baseline_record, "baseline_vms": baseline_vms}

# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``evidence_records``, ``report_model`` and ``report_chart`` filters (docs: their .yml files)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.continuity.recovery.plugins.module_utils import evidence, report


def evidence_records(text):
    """The text of a run's records.jsonl -> its records (a torn last line, a crash's, is skipped)."""
    if not isinstance(text, str):
        raise AnsibleFilterError("evidence_records: the input must be the text of records.jsonl, got %s"
                                 % type(text).__name__)
    try:
        return evidence.parse_lines(text, "records.jsonl")
    except ValueError as exc:
        raise AnsibleFilterError("evidence_records: %s" % exc)


def report_model(records, objectives=None, run_id=None, plan=None, generated_at=None, query=None):
    """Evidence records of one run -> the report model."""
    records = list(records) if isinstance(records, (list, tuple)) else records
    options = dict(objectives=objectives, run_id=run_id, plan=plan, generated_at=generated_at, query=query or None)
    try:
        return report.build(records, **options)
    except report.ReportError as exc:
        raise AnsibleFilterError("report_model: %s" % exc)
    except Exception as exc:  # pylint: disable=broad-except  # a record the model cannot read: say which
        culprit = report.blame(records, **options)
        raise AnsibleFilterError("report_model: cannot model %s" % (
            culprit or "these records: %s: %s" % (type(exc).__name__, exc)), orig_exc=exc)


def report_chart(model, width=1200):
    """The report model -> geometry of the SVG timeline chart."""
    if not isinstance(model, dict):
        raise AnsibleFilterError("report_chart: the input must be a report model (dict)")
    try:
        return report.chart(model, width=int(width))
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("report_chart: malformed report model: %s" % exc)


class FilterModule:
    """Report model and chart layout."""

    def filters(self):
        return {"evidence_records": evidence_records, "report_model": report_model, "report_chart": report_chart}

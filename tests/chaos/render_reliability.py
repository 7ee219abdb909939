#!/usr/bin/env python
"""Render docs/reliability.md's figures from the last recorded runs (.build/chaos/figures.json).

    .venv/bin/python tests/chaos/render_reliability.py [--figures PATH] [--doc PATH] [--check]

Replaces what lies between ``<!-- BEGIN chaos-figures -->`` and ``<!-- END chaos-figures -->``
in the doc (the prose around it is kept), listing every item of tests/chaos/catalogue.py:
its figures, outcome and when and by which suite's run (chaos, integration) they were
taken, or that it has no test yet. ``--check``
exits 1 when the doc is not what the figures file renders (nothing written).
``make chaos`` runs this after the suite, whether the suite passed or not.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import catalogue  # noqa: E402
import figures as figures_mod  # noqa: E402

DOC = os.path.join(figures_mod.REPO, "docs", "reliability.md")
BEGIN, END = "<!-- BEGIN chaos-figures -->", "<!-- END chaos-figures -->"


def _mib(value):
    if value is None:
        return "n/a"
    if value < 1048576:
        return "%.0f KiB" % (value / 1024.0)
    return "%.1f MiB" % (value / 1048576.0)


def _outcome(entry):
    """'passed', or per-test counts when an item has several tests ('3 passed, 1 xfailed (known gap)')."""
    outcomes = list((entry.get("outcomes") or {}).values())
    if len(outcomes) <= 1:
        return entry["outcome"]
    counts = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    order = ["failed", "error", "passed", "xfailed", "skipped"]
    return ", ".join("%d %s%s" % (counts[o], o, " (known gap)" if o == "xfailed" else "")
                     for o in sorted(counts, key=lambda o: order.index(o) if o in order else 9))


def _kib(value):
    return "n/a" if value is None else ("%+d KiB" % value)


def headline(key, f):
    """The item's figure in one line (rows written/lost, seconds of outage, cases rejected, ...)."""
    if not f:
        return "no figures recorded"
    if key in ("1a", "1b"):
        return ("{rows_written} rows written ({rows_written_during_cut} during the cut), **{rows_lost} lost**, "
                "checksums equal: {checksums_equal}; link down {link_down_seconds} s, replication outage "
                "{replication_outage_seconds} s (cut to caught up), streaming {streaming_after_link_up_seconds} s "
                "after link-up; {write_errors_at_primary} writes refused; manual steps: {manual_steps}").format_map(
                    _defaults(f))
    if key == "2":
        return ("{writers} writers, {rows_acked} rows acked, primary SIGKILLed ({processes_killed} processes) with "
                "{acked_rows_not_replicated} acked rows not replicated; the takeover reported an RPO of "
                "{rpo_lost_rows} rows (exact: {rpo_exact}; {in_doubt_rows} in doubt); old primary restarted fenced "
                "(in recovery: {restarted_in_recovery}, write refused: {write_refused_at_old_primary}); after "
                "failback {quarantined_rows} rows quarantined (the RPO), {takeover_rows_at_primary} of "
                "{takeover_rows_written} takeover rows at the primary, **{rows_lost_after_failback} acked rows "
                "unaccounted for**; writable primaries at once: at most {writable_primaries_max}").format_map(
                    _defaults(f))
    if key == "3":
        return ("killed during {killed_at} (twice): emergency rerun resumed the run {emergency_rerun_resumed_same_run}, "
                "**{emergency_duplicate_registrations} duplicate registrations**; planned: {vms_registered_at_kill} VMs "
                "registered at the kill, {vms_registered_once_tasks_in_flight_finished} once the vCenter tasks in "
                "flight finished; rollback from that state undid {rollback_undone} (stopped at {rollback_stopped_at}), rerun resumed the run "
                "{rerun_resumed_same_run}, **{duplicate_registrations} duplicate registrations** ({vms} VMs); rows at "
                "the new primary {rows_at_new_primary} of {rows_written}").format_map(
                    _defaults(f, rollback_undone=", ".join(f.get("rollback_undone") or []) or "n/a"))
    if key == "5":
        return ("passing drill: {drill_vms_verified} of {drill_vms} VMs verified on the drill network, "
                "**{production_differences} production differences** in {production_things_compared} compared, "
                "{data_wal_records} data-changing WAL records, {artifacts_left} artifacts left; drill failing at "
                "{failed_drill_vm}: **{failed_drill_production_differences} differences**, "
                "{failed_drill_data_wal_records} data-changing WAL records, {failed_drill_artifacts_left} artifacts "
                "left, cleanup {failed_drill_cleanup}").format_map(_defaults(f))
    if key == "4":
        return ("cap {cap} reached with {rows_written_while_down} rows written while the recovery site was down; "
                "detected (wal_status {wal_status_detected}, alerts {alerts}); re-seeded by protect in "
                "{reseed_seconds} s and recorded ({reseed_records} reseed record); **{rows_lost} rows lost** "
                "after re-seed").format_map(_defaults(
                    f, cap=_mib(f.get("cap_bytes")), alerts=", ".join(f.get("alerts_raised") or []) or "none"))
    if key == "6":
        return ("**{rejected_naming_the_field} of {cases} cases rejected** naming the field ({plan_cases} plans, "
                "of them {live_plan_cases} live, {inventory_cases} inventories); sites unchanged: "
                "{sites_unchanged}; WAL records that change data: {wal_records_that_change_data}").format_map(
                    _defaults(f))
    if key == "7":
        return ("**{secret_hits} secret hits** in {files_scanned} files + {output_bytes} bytes of -vvv output "
                "({secret_values} secret values); evidence files not 0600: {loose_files}, dirs not 0700: "
                "{loose_dirs}; validate_certs default true in {validate_certs_true_default} module specs; "
                "replication over TLS when required: {tls_required_streams_over_tls}; whole lifecycle -vvv: "
                "{lifecycle_secret_hits} secret hits").format_map(_defaults(f))
    if key == "8":
        growth = f.get("memory_growth_kib") or {}
        return ("{soak_seconds} s soak, {inspections} inspections, {rows_written} rows written, **{rows_lost} "
                "lost**; memory growth: {growth}; max retained WAL {retained} vs cap {cap}").format_map(_defaults(
                    f, growth=", ".join("%s %s" % (k, _kib(v)) for k, v in sorted(growth.items())) or "n/a",
                    retained=_mib(f.get("max_retained_wal_bytes")), cap=_mib(f.get("cap_bytes"))))
    return "; ".join("%s %s" % (k, v) for k, v in sorted(f.items()) if not isinstance(v, (dict, list)))


class _Missing(dict):
    def __missing__(self, key):
        return "n/a"


def _defaults(f, **extra):
    """The figures as format_map arguments: a figure not recorded (a test that did not get that far) reads n/a."""
    return _Missing(f, **extra)


def _value(v):
    if isinstance(v, dict):
        return ", ".join("%s: %s" % (k, _value(x)) for k, x in sorted(v.items()))
    if isinstance(v, list):
        return ", ".join(_value(x) for x in v)
    return str(v).replace("|", "\\|").replace("\n", " ")


def _run_line(suite, run):
    bounds = ""
    if suite == "chaos":
        bounds = "; soak bound CHAOS_SOAK_SECONDS=%s, link cuts %s s" % (
            run.get("soak_seconds"), run.get("link_down_seconds"))
    return ("- %s: **%s** to %s on `%s` (%s CPUs, kernel %s, Python %s, %s)%s; command: `%s`%s." % (
        suite, run.get("started_at"), run.get("finished_at") or "(unfinished)", run.get("host"), run.get("cpus"),
        run.get("kernel"), run.get("python"), run.get("postgresql"), " in CI" if run.get("ci") else "",
        run.get("command"), bounds))


def render(data):
    runs = data.get("runs") or {}
    items = data.get("items") or {}
    lines = [BEGIN, "", "_Generated by `tests/chaos/render_reliability.py` from `.build/chaos/figures.json`; "
             "do not edit between the markers._", ""]
    if runs:
        lines += ["Last runs, per suite that records figures:", ""]
        lines += [_run_line(suite, runs[suite]) for suite in sorted(runs)] + [""]
    else:
        lines += ["No run recorded yet (`make chaos`, `make integration`).", ""]
    lines += ["| item | test | outcome | figure (last run) | recorded |", "| --- | --- | --- | --- | --- |"]
    for key, (title, test, what) in catalogue.ITEMS.items():
        entry = items.get(key)
        if test is None:
            lines.append("| %s %s | — | **not written yet** | %s | — |" % (key, title, what))
        elif entry is None:
            lines.append("| %s %s | `%s` | not run | %s | — |" % (key, title, test, what))
        else:
            suite = entry.get("suite") or "chaos"
            run = runs.get(suite) or {}
            stale = "" if entry.get("run_started_at") == run.get("started_at") else ", earlier run"
            lines.append("| %s %s | `%s` | %s | %s | %s (%s%s) |" % (
                key, title, test, _outcome(entry), headline(key, entry.get("figures")).replace("|", "\\|"),
                entry.get("recorded_at"), suite, stale))
    lines.append("")
    for key, (title, test, _what) in catalogue.ITEMS.items():
        entry = items.get(key)
        if not entry:
            continue
        lines += ["### %s %s: every figure" % (key, title), "",
                  "`%s`: %s in %s s, recorded %s."
                  % (entry["test"], _outcome(entry), entry["duration_seconds"], entry["recorded_at"]), "",
                  "| figure | value |", "| --- | --- |"]
        lines += ["| %s | %s |" % (k, _value(v)) for k, v in sorted((entry.get("figures") or {}).items())]
        for note in entry.get("notes") or []:
            lines += ["", "Note: " + note.replace("\n", " ")]
        lines.append("")
    lines.append(END)
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", default=figures_mod.DEFAULT_PATH)
    parser.add_argument("--doc", default=DOC)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    section = render(figures_mod.load(args.figures))
    with open(args.doc, encoding="utf-8") as handle:
        doc = handle.read()
    if BEGIN in doc and END in doc:
        new = doc[:doc.index(BEGIN)] + section.rstrip("\n") + doc[doc.index(END) + len(END):]
    else:
        new = doc.rstrip("\n") + "\n\n" + section
    if args.check:
        return 0 if new == doc else 1
    if new != doc:
        with open(args.doc, "w", encoding="utf-8") as handle:
            handle.write(new)
    print("render_reliability: %s <- %s" % (os.path.relpath(args.doc), os.path.relpath(args.figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

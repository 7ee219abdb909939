"""Item 6: malformed plans and inventories, each rejected by the real preflight with a
message naming the field; neither site changed.

One ansible-playbook run against the chaos lab (read-only) checks everything:

- play 1, localhost: every plan case (bad_input_cases.PLAN_CASES + LIVE_CASES: the lab
  plan with a few edits) through ``continuity.recovery.recovery_plan`` (live checks on),
  one loop item per case, ``failed_when: false`` so every result is kept;
- plays 2 and 3: a generated inventory with one host per inventory case (its
  host_vars are the malformed input); the baseline role, or the protect role in check
  mode, is included for each host inside block/rescue and must fail before doing
  anything; the rescue keeps the message.

pytest then asserts that every case was rejected with a problem naming its field
(a line ``<field>: ...`` for plan cases, the field's name in the message for
inventory cases), that no message shows a secret, and that neither site changed:
fingerprints of both vCenters (every VM, host, datastore, network) and of the lab
database (rows of every table, settings, slots, roles, recovery state) are identical
before and after the batch, and the WAL written meanwhile (read with pg_walinspect)
holds only what a server writes by itself (BACKGROUND_WAL), no transaction.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

import bad_input_cases as cases
import chaoslib as cl
from fingerprint import lab_fingerprint

SECRETS = ("lab-vcenter-secret", "lab-db-secret", "lab-repl-secret", "s3cr3t-")


# WAL a server writes by itself while no client changes anything: snapshots of running transactions
# for standbys, checkpoints, hint-bit page images after reads, autovacuum's pruning/vacuuming/visibility
# map and in-place statistics. No transaction commits here: any client change would add a
# Transaction record (and Heap/Btree inserts), which is not in this list.
BACKGROUND_WAL = {("Standby", "RUNNING_XACTS"), ("Standby", "INVALIDATIONS"), ("XLOG", "CHECKPOINT_ONLINE"),
                  ("XLOG", "FPI_FOR_HINT"), ("Heap2", "PRUNE"), ("Heap2", "VACUUM"), ("Heap2", "VISIBLE"),
                  ("Heap2", "FREEZE_PAGE"), ("Btree", "VACUUM"), ("Heap", "INPLACE")}


def _quiesce(pg_connect):
    """Before the batch: pg_walinspect (to read the WAL written during it), and nothing left for autovacuum."""
    with pg_connect(autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")


def _database_state(pg_connect):
    with pg_connect(autocommit=True) as conn:
        return {
            "settings": conn.execute("SELECT name, setting FROM pg_settings ORDER BY name").fetchall(),
            "slots": conn.execute("SELECT slot_name, restart_lsn::text FROM pg_replication_slots"
                                  " ORDER BY 1").fetchall(),
            "roles": conn.execute("SELECT rolname, rolsuper, rolreplication, rolcanlogin FROM pg_roles"
                                  " ORDER BY 1").fetchall(),
        }


def _wal_between(pg_connect, start, end):
    with pg_connect(autocommit=True) as conn:
        return conn.execute("SELECT resource_manager, record_type, count(*) FROM pg_get_wal_records_info(%s, %s)"
                            " GROUP BY 1, 2 ORDER BY 1, 2", (start, end)).fetchall()


def _lsn(pg_connect):
    with pg_connect(autocommit=True) as conn:
        return conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]


def _fingerprint(lab, pg_connect):
    """Both vCenters and the database's rows (tests/integration/fingerprint.py), settings, slots, roles."""
    return {"sites": lab_fingerprint(lab), "database": _database_state(pg_connect)}


def _inventory(tmp_path, plan):
    inv = tmp_path / "inventory"
    (inv / "host_vars").mkdir(parents=True)
    (inv / "group_vars").mkdir()
    local = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    groups = {"baseline_cases": {}, "protect_cases": {}}
    for case_id, _category, role, text, _field in cases.INVENTORY_CASES:
        groups[role + "_cases"][case_id] = dict(local)
        (inv / "host_vars" / (case_id + ".yml")).write_text("---\n" + text, encoding="utf-8")
    hosts = {"all": {"hosts": {"localhost": dict(local)},
                     "children": {name: {"hosts": members} for name, members in groups.items()}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts), encoding="utf-8")
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump({
        "chaos_lab_plan": plan, "recovery_evidence_root": str(tmp_path / "evidence"),
        "protect_pairs": ["paydb"]}), encoding="utf-8")
    return str(inv)


def _playbook(tmp_path):
    rescue = [{"name": "Keep the rejection", "ansible.builtin.set_fact": {"chaos_outcome": {
        "rejected": True, "msg": "{{ ansible_failed_result.msg | default('') }}"}}}]
    accepted = {"name": "Keep the acceptance", "ansible.builtin.set_fact": {"chaos_outcome": {"rejected": False}}}
    plays = [
        {"name": "plan cases", "hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "Preflight each plan", "continuity.recovery.recovery_plan": {"plan": "{{ item.plan }}"},
             "loop": "{{ chaos_plan_cases }}", "loop_control": {"label": "{{ item.id }}"},
             "register": "chaos_preflight", "failed_when": False}]},
        {"name": "inventory cases: baseline", "hosts": "baseline_cases", "gather_facts": False, "tasks": [
            {"name": "Baseline with this inventory", "block": [
                {"name": "Include baseline", "ansible.builtin.include_role": {"name": "continuity.recovery.baseline"}},
                accepted], "rescue": rescue}]},
        {"name": "inventory cases: protect (check mode)", "hosts": "protect_cases", "gather_facts": False,
         "tasks": [{"name": "Protect with this inventory", "block": [
             {"name": "Include protect", "ansible.builtin.include_role": {"name": "continuity.recovery.protect"}},
             accepted], "check_mode": True, "rescue": rescue}]},
    ]
    path = tmp_path / "bad-input.yml"
    path.write_text(json.dumps(plays, indent=1), encoding="utf-8")
    return str(path)


def _differences(before, after, path=""):
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after), key=str):
            out += _differences(before.get(key), after.get(key), "%s/%s" % (path, key))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [d for i, (b, a) in enumerate(zip(before, after)) for d in _differences(b, a, "%s[%d]" % (path, i))]
    return [] if before == after else ["%s: %s -> %s" % (path, str(before)[:120], str(after)[:120])]


def _named(problems, field):
    return [p for p in problems if p.startswith(field + ":")]


@pytest.mark.chaos_item("6")
def test_bad_input_is_rejected_naming_the_field_and_changes_nothing(lab, pg_connect, figures, tmp_path):
    plan = cl.lab_plan(lab)
    plan_cases = [{"id": cid, "category": cat, "field": field, "plan": cases.edited(plan, edits)}
                  for cid, cat, edits, field in cases.PLAN_CASES + cases.LIVE_CASES]
    ids = [c["id"] for c in plan_cases] + [c[0] for c in cases.INVENTORY_CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 40
    vars_file = tmp_path / "cases.json"
    vars_file.write_text(json.dumps({"chaos_plan_cases": plan_cases}), encoding="utf-8")

    _quiesce(pg_connect)
    lsn_before = _lsn(pg_connect)
    before = _fingerprint(lab, pg_connect)
    run = cl.playbook(lab, _playbook(tmp_path), inventory=_inventory(tmp_path, plan),
                      args=["-e", "@" + str(vars_file)], timeout=1200)
    after = _fingerprint(lab, pg_connect)
    lsn_after = _lsn(pg_connect)
    wal = _wal_between(pg_connect, lsn_before, lsn_after)
    assert run.rc == 0, run.stdout[-4000:]

    rejected, failures, by_category = 0, [], {}
    results = cl.result(run, "Preflight each plan")["results"]
    assert [r["item"]["id"] for r in results] == [c["id"] for c in plan_cases]
    for res in results:
        case = res["item"]
        problems = res.get("problems", [])
        shown = json.dumps({"msg": res.get("msg"), "problems": problems, "plan": res.get("plan")})
        # failed_when: false clears ``failed``: a rejection is a non-empty problem list (and its message)
        refused = bool(problems) and res.get("msg", "").startswith("recovery plan has")
        if not refused or not _named(problems, case["field"]):
            failures.append("%s: expected a problem at %s, got %s" % (
                case["id"], case["field"], res.get("msg", "")[:300]))
        elif any(s in shown for s in SECRETS):
            failures.append("%s: a secret is shown in the result" % case["id"])
        else:
            rejected += 1
            by_category[case["category"]] = by_category.get(case["category"], 0) + 1
    examples = {}
    for case_id, category, role, _text, field in cases.INVENTORY_CASES:
        found = run.task_results("Keep the rejection", host=case_id) or run.task_results(
            "Keep the acceptance", host=case_id)
        outcome = found[-1]["ansible_facts"]["chaos_outcome"] if found else {"rejected": None}
        msg = outcome.get("msg") or ""
        if not outcome["rejected"] or field not in msg:
            failures.append("%s (%s): expected a rejection naming %s, got %s" % (case_id, role, field, outcome))
        elif any(s in msg for s in SECRETS):
            failures.append("%s: a secret is shown in the message" % case_id)
        else:
            rejected += 1
            by_category[category] = by_category.get(category, 0) + 1
            examples.setdefault(category + " (inventory)", msg.strip().splitlines()[-1][:200])
    for res in results:
        examples.setdefault(res["item"]["category"], _named(res.get("problems", []), res["item"]["field"])[:1])

    changes_in_wal = [list(w) for w in wal if (w[0], w[1]) not in BACKGROUND_WAL]
    unchanged = before == after and not changes_in_wal
    figures.set(cases=len(ids), plan_cases=len(plan_cases), live_plan_cases=len(cases.LIVE_CASES),
                inventory_cases=len(cases.INVENTORY_CASES), rejected_naming_the_field=rejected,
                not_rejected_or_field_not_named=len(failures), by_category=by_category,
                sites_unchanged=unchanged, vms_fingerprinted=sum(1 for k in before["sites"]["primary"]
                                                                 if k.startswith("vm:")),
                wal_lsn_before=lsn_before, wal_lsn_after=lsn_after,
                wal_records_during_batch={"%s/%s" % (w[0], w[1]): w[2] for w in wal},
                wal_records_that_change_data=len(changes_in_wal))
    figures.note("example messages: " + json.dumps(examples, ensure_ascii=False)[:3000])
    assert not failures, "\n".join(failures)
    assert not changes_in_wal, changes_in_wal
    assert before == after, "\n".join(_differences(before, after)[:40])
    assert os.path.isdir(tmp_path / "inventory")

"""Report model (module_utils/report.py) and its filters: sections, degradation, objectives, chart."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.continuity.recovery.plugins.filter.report import FilterModule
from ansible_collections.continuity.recovery.plugins.module_utils import report

OBJECTIVES = {"rpo_seconds": 60, "rto_seconds": 900, "max_buffer_fill_pct": 80}


def rec(kind, name, status, role=None, subject=None, data=None, ts="2026-11-23T19:00:10.000Z"):
    return {"schema": "continuity.recovery/evidence/v1", "ts": ts, "run_id": "R1", "plan": "payments", "role": role,
            "kind": kind, "name": name, "status": status, "subject": subject, "data": data or {}}


def timing(name, role, start, end, status="ok", tier=None):
    data = {"start": "2026-11-23T19:00:%06.3fZ" % start, "end": "2026-11-23T19:00:%06.3fZ" % end,
            "duration_s": round(end - start, 3), "role": role, "play": "Recovery lifecycle"}
    if tier:
        data["tier"] = tier
    return rec("timing", name, status, role=role, subject="localhost", data=data)


BASELINE = rec("snapshot", "baseline", "ok", role="baseline",
               data={"abnormalities": 0, "vms": 12, "hosts": 5, "datastores": 2, "databases": 2, "healthy": True,
                     "snapshot": "baseline-R1.json", "vcenter_calls": 32})
PROTECT = [
    rec("change", "protection", "changed", role="protect", subject="pair:paydb",
        data={"pair": "paydb", "engine": "postgresql", "changed": True, "actions": ["create slot dr_paydb"],
              "link": {"state": "connected", "since": "2026-11-23T19:00:01Z"}, "lag": {"bytes": 0, "seconds": 0.0},
              "canary": {"read_at_target": True, "seconds": 0.06}, "reseeded": False,
              "buffer": {"retained_bytes": 10, "capacity_bytes": 100, "fill_pct": 10.0, "wal_status": "reserved",
                         "rpo_exposure": {"seconds": 0.5, "bytes": 10}, "alerts": []}}),
    rec("check", "canary", "ok", role="protect", subject="pair:paydb", data={"read_at_target": True, "seconds": 0.06}),
    rec("check", "buffer", "abnormal", role="protect", subject="pair:vmstore",
        data={"retained_bytes": 90, "capacity_bytes": 100, "fill_pct": 90.0, "wal_status": None,
              "rpo_exposure": {"seconds": 120, "bytes": 90},
              "alerts": [{"alert": "buffer_fill", "severity": "warning", "detail": "90% full"}]}),
]


def test_baseline_only_run_degrades_gracefully():
    model = report.build([BASELINE], objectives=OBJECTIVES)
    assert model["schema"] == report.SCHEMA
    assert model["run"]["run_id"] == "R1" and model["run"]["plan"] == "payments" and model["run"]["records"] == 1
    assert model["checks"]["passed"] == 1 and model["checks"]["failed"] == 0
    assert model["checks"]["entries"][0]["name"] == "baseline_gate"
    assert "12 VMs" in model["checks"]["entries"][0]["detail"]
    assert model["timeline"]["lanes"] == [] and model["timeline"]["duration_s"] is None
    assert model["replication"] == []
    assert model["sections"]["takeover"] == {"ran": False, "status": "not run", "message": "no takeover in this run",
                                             "summary": {}}
    assert model["rpo"]["achieved_seconds"] is None and model["rpo"]["met"] is None
    assert model["rto"]["objective_seconds"] == 900 and model["rto"]["achieved_seconds"] is None
    roles = {r["role"]: r for r in model["roles"]}
    assert roles["baseline"]["status"] == "ok" and roles["takeover"]["status"] == "not run"
    assert [r["role"] for r in model["roles"]][:1] == ["baseline"]
    assert model["verdict"] == {"ok": True, "problems": []}


def test_empty_evidence_is_a_report_too():
    model = report.build([])
    assert model["run"]["records"] == 0 and model["checks"]["total"] == 0
    assert all(not r["ran"] for r in model["roles"])
    assert report.chart(model)["empty"] is True


def test_protect_records_give_sync_link_buffer_and_exposure():
    model = report.build([BASELINE] + PROTECT, objectives=OBJECTIVES)
    pairs = {p["pair"]: p for p in model["replication"]}
    paydb, vmstore = pairs["paydb"], pairs["vmstore"]
    assert paydb["engine"] == "postgresql" and paydb["sync"] == "in sync" and paydb["link"] == "connected"
    assert paydb["canary_seconds"] == 0.06 and paydb["lag_bytes"] == 0
    assert paydb["buffer"]["fill_pct"] == 10.0 and paydb["buffer"]["within_objective"] is True
    assert paydb["rpo_exposure_within_objective"] is True and paydb["actions"] == ["create slot dr_paydb"]
    assert vmstore["buffer"]["within_objective"] is False and vmstore["status"] == "abnormal"
    assert vmstore["buffer"]["alerts"] == [{"alert": "buffer_fill", "severity": "warning", "detail": "90% full"}]
    assert model["rpo"]["exposure_seconds"] == 120
    assert model["checks"]["passed"] == 2 and model["checks"]["failed"] == 1
    buffer_check = [c for c in model["checks"]["entries"] if c["name"] == "buffer"][0]
    assert "fill 90.0 %" in buffer_check["detail"] and "buffer_fill" in buffer_check["detail"]
    assert not model["verdict"]["ok"]
    assert "buffer of vmstore above objective" in model["verdict"]["problems"]
    roles = {r["role"]: r for r in model["roles"]}
    assert roles["protect"]["status"] == "abnormal" and roles["protect"]["changes"] == 1


def test_timeline_lanes_per_role_and_tier_and_rto_from_the_takeover_timeline():
    records = [
        timing("Fix one run identity", None, 0.0, 0.1),
        timing("Run the preflight", "baseline", 0.1, 4.0),
        timing("register", "takeover", 5.0, 6.0, status="changed", tier="data"),
        timing("power_on", "takeover", 6.0, 9.5, status="changed", tier="data"),
        timing("power_on", "takeover", 10.0, 12.0, status="failed", tier="app"),
    ]
    model = report.build(records, objectives=OBJECTIVES)
    timeline = model["timeline"]
    assert timeline["start"] == "2026-11-23T19:00:00.000Z" and timeline["duration_s"] == 12.0
    assert [lane["label"] for lane in timeline["lanes"]] == ["playbook", "baseline", "takeover / tier data",
                                                             "takeover / tier app"]
    data = timeline["tiers"][0]
    assert (data["tier"], data["start_offset_s"], data["end_offset_s"], data["steps"], data["status"]) == (
        "data", 5.0, 9.5, 2, "changed")
    assert timeline["tiers"][1]["status"] == "failed"
    assert timeline["slowest"][0]["name"] == "Run the preflight"
    # the takeover failed (tier app): its wall time is no RTO
    assert model["rto"] == {"objective_seconds": 900, "achieved_seconds": None, "met": None, "source": None,
                            "detail": "not measured: the takeover did not succeed (its wall time on the timeline "
                                      "is not an RTO)"}
    roles = {r["role"]: r for r in model["roles"]}
    assert roles["takeover"]["ran"] and roles["takeover"]["status"] == "failed"
    assert roles["takeover"]["tasks"] == {"ok": 0, "changed": 2, "failed": 1, "skipped": 0}
    assert model["sections"]["takeover"]["ran"] is True
    assert "role takeover failed" in model["verdict"]["problems"]


def test_timing_in_seconds_from_an_origin_host_cutover_style():
    step = rec("timing", "register", "changed", role="takeover", subject="tier:data",
               data={"tier": "data", "start": 0.41, "end": 0.52, "origin": "2026-11-23T19:00:00Z"})
    model = report.build([step])
    [only] = model["timeline"]["steps"]
    assert only["start"] == "2026-11-23T19:00:00.410Z" and only["duration_s"] == 0.11
    no_origin = rec("timing", "x", "ok", role="takeover", data={"start": 1, "end": 2})
    assert report.build([no_origin])["timeline"]["steps"] == []


def test_rpo_and_rto_records_win_and_are_compared_with_objectives():
    summary = rec("summary", "takeover", "changed", role="takeover",
                  data={"mode": "emergency", "rpo": {"achieved_seconds": 75.5, "lost_rows": 12},
                        "rto": {"achieved_seconds": 300}, "tiers": ["data"], "password": "x"})
    model = report.build([summary], objectives=OBJECTIVES)
    assert model["rpo"]["achieved_seconds"] == 75.5 and model["rpo"]["met"] is False
    assert model["rpo"]["lost_rows"] == 12 and model["rpo"]["mode"] == "emergency"
    assert model["rpo"]["source"] == "takeover/takeover"
    assert model["rto"]["achieved_seconds"] == 300 and model["rto"]["met"] is True
    assert "RPO objective missed" in model["verdict"]["problems"]
    assert model["sections"]["takeover"]["summary"] == {"mode": "emergency", "password": "********"}  # scalars, redacted


def test_query_selects_records_and_report_records_are_ignored():
    earlier = rec("report", "report", "failed", role="report")
    model = report.build([BASELINE, earlier] + PROTECT, query="[?role=='baseline']")
    assert model["run"]["records"] == 1 and model["replication"] == []
    assert "report" not in [r["role"] for r in model["roles"]]
    with pytest.raises(report.ReportError, match="invalid JMESPath"):
        report.build([BASELINE], query="[?role==")
    with pytest.raises(report.ReportError, match="must select a list"):
        report.build([BASELINE], query="length(@)")


def test_records_must_be_records():
    with pytest.raises(report.ReportError):
        report.build({"kind": "check"})
    with pytest.raises(report.ReportError, match=r"records\[1\]"):
        report.build([BASELINE, {"foo": 1}])


def test_chart_geometry():
    records = [timing("a", "baseline", 0.0, 4.0), timing("b", "baseline", 4.0, 4.001),
               timing("c", "protect", 5.0, 10.0, status="failed")]
    model = report.build(records)
    geometry = report.chart(model, width=1000, label_width=200)
    assert not geometry["empty"] and len(geometry["rows"]) == 2 and len(geometry["bars"]) == 3
    plot = 1000 - 200 - 20
    first, tiny, failed = geometry["bars"]
    assert first["x"] == 200 and first["w"] == round(4.0 * plot / 10.0, 1)
    assert tiny["w"] == 2.0  # minimum visible width
    assert failed["x"] + failed["w"] == pytest.approx(200 + plot, abs=0.2) and failed["status"] == "failed"
    assert failed["css"] == "r-protect" and first["y"] < failed["y"]
    assert geometry["ticks"][0] == {"x": 200.0, "label": "0s"} and geometry["ticks"][-1]["label"] == "10s"
    assert geometry["rows"][0]["duration"] == "4.0s"


def test_filters():
    filters = FilterModule().filters()
    model = filters["report_model"]([BASELINE], OBJECTIVES, None, None, "2026-11-23T20:00:00Z")
    assert model["generated_at"] == "2026-11-23T20:00:00Z" and model["objectives"]["rpo_seconds"] == 60
    assert filters["report_chart"](model, 800)["width"] == 800
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError, match="report_model"):
        filters["report_model"]([BASELINE], query="[?")
    with pytest.raises(AnsibleFilterError):
        filters["report_chart"]("nope")


def test_rpo_takes_lost_rows_from_replications_breakdown_and_says_whether_exact():
    records = [rec("summary", "takeover", "changed", role="takeover",
                   data={"rpo": {"achieved_seconds": 3.2, "mode": "emergency", "exact": True, "lost_transactions": 7,
                                 "lost_rows": {"inserted": 5, "updated": 2, "deleted": 0, "total": 7}}})]
    rpo = report.build(records, objectives={"rpo_seconds": 60})["rpo"]
    assert (rpo["lost_rows"], rpo["lost_transactions"], rpo["exact"], rpo["met"]) == (7, 7, True, True)


def test_rto_falls_back_to_the_wall_time_of_a_takeover_that_succeeded():
    records = [timing("register", "takeover", 5.0, 6.0, status="changed", tier="data"),
               timing("power_on", "takeover", 6.0, 9.5, status="changed", tier="data"),
               timing("probe", "takeover", 9.5, 10.0, status="failed"),
               rec("change", "tier", "changed", role="takeover", subject="tier:data", data={"check_mode": False})]
    records[2]["data"]["ignore_errors"] = True  # an ignored failure is not the takeover failing
    model = report.build(records, objectives=OBJECTIVES)
    assert model["rto"] == {"objective_seconds": 900, "achieved_seconds": 5.0, "met": True,
                            "source": "timeline of the takeover role", "detail": None}


@pytest.mark.parametrize("extra,why", [
    ([timing("Refuse outside the change window", "takeover", 0.0, 0.4, status="failed"),
      rec("check", "change_window", "failed", role="takeover", data={"detail": "outside"})],
     "the takeover did not succeed"),
    ([timing("power_on", "takeover", 0.0, 0.4, status="changed"),
      rec("change", "tier", "ok", role="takeover", subject="tier:data", data={"check_mode": True})],
     "the takeover ran in check mode"),
])
def test_no_rto_from_the_wall_time_of_a_failed_or_check_mode_takeover(extra, why):
    rto = report.build(extra, objectives=OBJECTIVES)["rto"]
    assert rto["achieved_seconds"] is None and rto["met"] is None and rto["source"] is None
    assert why in rto["detail"]


def test_the_takeover_summary_is_the_authority_on_rpo_and_rto():
    records = [
        rec("change", "promote", "changed", role="takeover", subject="pair:paydb", ts="2026-11-28T22:00:01.000Z",
            data={"rpo": {"achieved_seconds": None, "exact": False, "source": "not measured"}}),
        rec("change", "promote", "changed", role="takeover", subject="pair:vmstore", ts="2026-11-28T22:00:02.000Z",
            data={"rpo": {"achieved_seconds": 0.0, "exact": True}}),
        rec("summary", "takeover", "ok", role="takeover", ts="2026-11-28T22:00:09.000Z",
            data={"rpo": {"achieved_seconds": None, "measured_worst_seconds": 0.0, "unmeasured_pairs": ["paydb"]},
                  "rto": {"achieved_seconds": 8.0}}),
    ]
    model = report.build(records, objectives=OBJECTIVES)
    rpo = model["rpo"]
    assert rpo["achieved_seconds"] is None and rpo["met"] is None and rpo["source"] == "takeover/takeover"
    assert rpo["unmeasured_pairs"] == ["paydb"] and rpo["measured_worst_seconds"] == 0.0
    assert rpo["detail"] == "not measured for paydb; the measured pairs lost at most 0 s"
    assert model["rto"]["achieved_seconds"] == 8.0 and model["rto"]["met"] is True
    # a takeover with nothing to do: its summary says so, and the timeline is no RTO either
    noop = rec("summary", "takeover", "ok", role="takeover",
               data={"note": "nothing changed: the plan was already taken over", "complete": True,
                     "rpo": {"achieved_seconds": None, "unmeasured_pairs": []},
                     "rto": {"achieved_seconds": None, "objective_seconds": 600}})
    model = report.build([timing("power_on", "takeover", 0.0, 3.0), noop], objectives=OBJECTIVES)
    assert model["rto"] == {"objective_seconds": 600, "achieved_seconds": None, "met": None,
                            "source": "takeover/takeover", "detail": "nothing changed: the plan was already taken over"}
    assert model["rpo"]["met"] is None and model["rpo"]["detail"] == "nothing changed: the plan was already taken over"


def test_without_a_summary_rpo_is_the_worst_pair_and_unknown_if_one_was_not_measured():
    def promote(pair, seconds, ts):
        return rec("change", "promote", "changed", role="takeover", subject="pair:" + pair, ts=ts,
                   data={"rpo": {"achieved_seconds": seconds, "lost_bytes": 10 if seconds else 0}})
    measured = [promote("paydb", 2.5, "2026-11-28T22:00:01.000Z"), promote("vmstore", 0.5, "2026-11-28T22:00:02.000Z")]
    rpo = report.build(measured, objectives=OBJECTIVES)["rpo"]
    assert (rpo["achieved_seconds"], rpo["met"], rpo["lost_bytes"], rpo["detail"]) == (2.5, True, 10, None)
    rpo = report.build(measured + [promote("archive", None, "2026-11-28T22:00:03.000Z")], objectives=OBJECTIVES)["rpo"]
    assert rpo["achieved_seconds"] is None and rpo["met"] is None
    assert rpo["unmeasured_pairs"] == ["archive"] and rpo["measured_worst_seconds"] == 2.5
    # a pair measured again (a resumed run): its newest record counts
    rpo = report.build(measured + [promote("paydb", 90.0, "2026-11-28T22:00:05.000Z")], objectives=OBJECTIVES)["rpo"]
    assert rpo["achieved_seconds"] == 90.0 and rpo["met"] is False


@pytest.mark.parametrize("record", [
    rec("check", "n", "ok", data="free text"),
    rec("check", "n", "ok", data=[1, 2]),
    rec("check", "n", "ok", data={"problems": {"a": 1}}),
    rec("check", "buffer", "ok", subject="pair:x", data=["x"]),
    rec("check", "buffer", "abnormal", subject="pair:x", data={"retained_bytes": 1, "alerts": 5}),
    rec("summary", "takeover", "ok", role="takeover", data="done"),
    rec("snapshot", "baseline", "ok", role="baseline", data=["x"]),
    rec("timing", "step", "ok", data={"start": "2026-11-28T22:00:00Z", "end": "2026-11-28T22:00:01Z", "tier": 5}),
])
def test_legal_records_of_any_data_shape_are_modelled(record):
    model = FilterModule().filters()["report_model"]([record], OBJECTIVES)
    assert model["run"]["records"] == 1
    report.chart(model)


def test_a_record_the_model_cannot_read_is_named(monkeypatch):
    from ansible.errors import AnsibleFilterError
    original = report._checks

    def fragile(records):  # stands for any bug the model may still have
        if any(r.get("name") == "canary" for r in records):
            raise KeyError("seconds")
        return original(records)

    monkeypatch.setattr(report, "_checks", fragile)
    records = [BASELINE, rec("check", "canary", "ok", subject="pair:x", data={"read_at_target": True})]
    with pytest.raises(AnsibleFilterError, match=r"report_model: cannot model records\[1\] \(kind 'check', "
                                                 r"name 'canary'\): KeyError"):
        FilterModule().filters()["report_model"](records, OBJECTIVES)
    with pytest.raises(AnsibleFilterError, match="objectives must be a dict"):
        FilterModule().filters()["report_model"]([BASELINE], "60")


def test_evidence_records_skips_a_torn_last_line_and_names_a_corrupt_one():
    read = FilterModule().filters()["evidence_records"]
    whole = '{"kind": "check", "name": "a"}\n{"kind": "check", "name": "b"}'   # the file lookup strips the newline
    assert [r["name"] for r in read(whole)] == ["a", "b"]
    assert [r["name"] for r in read(whole + '\n{"kind": "che')] == ["a", "b"]              # a crash's torn line
    assert [r["name"] for r in read('{"kind": "che #torn\n' + whole)] == ["a", "b"]       # ended by an append
    with pytest.raises(AnsibleFilterError, match="records.jsonl line 2"):
        read('{"kind": "check", "name": "a"}\n{"kind": \n{"kind": "check", "name": "b"}')
    with pytest.raises(AnsibleFilterError, match="text of records.jsonl"):
        read([{"kind": "check"}])

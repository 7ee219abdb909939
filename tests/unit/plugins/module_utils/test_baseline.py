"""Composition of a baseline record from module results."""

from __future__ import annotations

from ansible_collections.continuity.recovery.plugins.module_utils import baseline

PLAN = {"name": "payments"}


def _site(abn=(), vms=1, calls=7):
    return {"changed": False, "invocation": {"module_args": {"password": "x"}},
            "vms": [{"name": "vm%d" % i} for i in range(vms)], "hosts": [{"name": "h1"}],
            "datastores": [{"name": "ds"}], "abnormalities": list(abn), "vcenter_calls": calls}


def test_healthy_baseline():
    out = baseline.compose(PLAN, _site(vms=3), _site(vms=0), {"unprotected": [], "vcenter_calls": 2},
                           [{"pair": "paydb", "side": "primary",
                             "result": {"reachable": True, "role": "primary", "abnormalities": []}}],
                           "2026-11-23T19:00:00Z", run_id="r1")
    assert out["abnormalities"] == []
    assert out["summary"] == {"vms": 3, "hosts": 2, "datastores": 2, "databases": 1, "unprotected_disks": 0,
                              "abnormalities": 0, "healthy": True, "vcenter_calls": 16}
    record = out["record"]
    assert record["schema"] == baseline.SCHEMA and record["run_id"] == "r1"
    assert "invocation" not in record["sites"]["primary"]  # plumbing (with module args) never recorded


def test_every_kind_of_abnormality_is_collected_with_its_site():
    primary = _site(abn=[{"object": "h1", "check": "host_connected", "detail": "disconnected"}])
    storage = {"unprotected": [{"vm": "db01", "disk": "Hard disk 2", "datastore": "Scratch"}]}
    dbs = [
        {"pair": "paydb", "side": "primary", "result": {"reachable": False, "error": "refused"}},
        {"pair": "paydb", "side": "standby", "result": {"reachable": False, "error": "refused"}},
        {"pair": "ledger", "side": "primary",
         "result": {"reachable": True, "role": "standby", "abnormalities": []}},
    ]
    out = baseline.compose(PLAN, primary, None, storage, dbs, "t")
    assert [(a["site"], a["object"], a["check"]) for a in out["abnormalities"]] == [
        ("primary", "h1", "host_connected"),
        ("primary", "db01/Hard disk 2", "unprotected_disk"),
        ("primary", "paydb.primary", "database_reachable"),
        ("primary", "ledger.primary", "database_role"),
    ]
    assert out["summary"]["healthy"] is False
    assert "recovery" not in out["record"]["sites"]

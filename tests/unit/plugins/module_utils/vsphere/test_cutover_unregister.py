"""host_cutover unregister_source: which recovery-site registrations a failback removes (pure planning)."""

from __future__ import annotations

from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import cutover as cplan

STATES = {
    "db01": {"power": "poweredOff", "marker": {"role": "takeover"}},
    "db02": {"power": "poweredOff", "marker": {"role": "failback"}},
    "app01": {"power": "poweredOn", "marker": {"role": "takeover"}},
    "app02": {"power": "poweredOff", "marker": {}},
    "app03": {"power": "poweredOff", "marker": {"role": "drill-source"}},
}


def test_only_marked_powered_off_registrations():
    plan = cplan.unregister_plan(["db01", "db02", "app01", "app02", "app03", "web01"], STATES)
    assert plan["unregister"] == ["db01", "db02"]
    assert set(plan["skipped"]) == {"app01", "app02", "app03"}  # web01 is not there: nothing to do
    assert "poweredOn" in plan["skipped"]["app01"] and "no marker" in plan["skipped"]["app02"]


def test_check_mode_counts_the_running_ones_the_failback_shuts_down():
    plan = cplan.unregister_plan(["db01", "app01", "app02"], STATES, check_mode=True)
    assert plan["unregister"] == ["db01", "app01"] and list(plan["skipped"]) == ["app02"]


def test_nothing_registered_nothing_to_do():
    assert cplan.unregister_plan(["db01"], {}) == {"unregister": [], "skipped": {}}

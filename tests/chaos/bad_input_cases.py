"""The malformed plans and inventories of item 6 (test_bad_input.py).

``PLAN_CASES``: (id, category, edits of the shared lab plan, field) - each edit is
``(path, value)`` in plan notation (``DELETE`` removes, an index one past the end
appends, a callable value is given the plan: tests/helpers/plan_edits.py); ``field``
is the path the rejection must name (a problem line starting ``<field>:``). ``live``
cases are structurally valid and only wrong against the live sites (they go through
site_info / database_info, read-only).

``INVENTORY_CASES``: (id, category, role, host_vars YAML text, field) - one host of
a generated inventory each; the role (baseline, or protect in check mode) is
included for that host and must be rejected before doing anything, naming ``field``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "helpers"))
import plan_edits  # noqa: E402  pylint: disable=wrong-import-position

DELETE = plan_edits.DELETE
edited = plan_edits.edited  # test_bad_input.py: cases.edited(lab plan, edits)

DMZ = {"name": "dmz", "primary": "Prod-Net", "recovery": "DR-Prod", "drill": "DR-Bubble",
       "primary_subnet": "10.11.0.0/24", "recovery_subnet": "10.21.0.0/24", "recovery_gateway": "10.21.0.1"}


def _vm(name, ip=None, network=None):
    return {"name": name, "recovery_ip": ip, "network": network}


PLAN_CASES = [
    # wrong types
    ("rpo_is_a_string", "wrong type", [("objectives.rpo_seconds", "60")], "objectives.rpo_seconds"),
    ("port_is_a_string", "wrong type", [("sites.primary.vcenter.port", "443")], "sites.primary.vcenter.port"),
    ("validate_certs_yes", "wrong type", [("sites.recovery.vcenter.validate_certs", "yes")],
     "sites.recovery.vcenter.validate_certs"),
    ("networks_is_a_mapping", "wrong type", [("networks", {"name": "prod"})], "networks"),
    ("vms_is_a_string", "wrong type", [("tiers[0].vms", "db01")], "tiers[0].vms"),
    ("synchronous_is_a_string", "wrong type", [("replication[1].synchronous", "false")],
     "replication[1].synchronous"),
    ("fill_pct_is_a_float", "wrong type", [("objectives.max_buffer_fill_pct", 1.5)],
     "objectives.max_buffer_fill_pct"),
    ("snapshots_is_a_bool", "wrong type", [("replication[0].snapshots", True)], "replication[0].snapshots"),
    ("plan_is_a_list", "wrong type", [("", ["payments"])], "recovery_plan"),
    # missing keys
    ("no_name", "missing key", [("name", DELETE)], "name"),
    ("no_datacenter", "missing key", [("sites.primary.datacenter", DELETE)], "sites.primary.datacenter"),
    ("no_recovery_subnet", "missing key", [("networks[0].recovery_subnet", DELETE)],
     "networks[0].recovery_subnet"),
    ("no_slot", "missing key", [("replication[1].slot", DELETE)], "replication[1].slot"),
    ("no_mount", "missing key", [("datastores[0].mount", DELETE)], "datastores[0].mount"),
    ("no_tiers", "missing key", [("tiers", DELETE)], "tiers"),
    ("no_standby_host", "missing key", [("replication[1].standby.host", DELETE)], "replication[1].standby.host"),
    # unknown keys
    ("typo_rpo_second", "unknown key", [("objectives.rpo_second", 60)], "objectives"),
    ("third_site", "unknown key", [("sites.tertiary", {})], "sites"),
    # unknown references (structure)
    ("datastore_names_no_pair", "unknown reference", [("datastores[0].replication", "vmstor")],
     "datastores[0].replication"),
    ("tier_names_no_database", "unknown reference", [("tiers[0].databases", ["paydbx"])],
     "tiers[0].databases[0]"),
    ("depends_on_no_tier", "unknown reference", [("tiers[1].depends_on", ["nope"])], "tiers[1].depends_on[0]"),
    ("vm_names_no_network", "unknown reference", [("tiers[0].vms[0]", _vm("db01", "10.20.1.10", "prd"))],
     "tiers[0].vms[0].network"),
    ("datastore_names_a_database_pair", "unknown reference", [("datastores[0].replication", "paydb")],
     "datastores[0].replication"),
    # overlapping subnets
    ("primary_subnets_overlap", "overlapping subnets", [("networks[1]", dict(DMZ, primary_subnet="10.10.4.0/24"))],
     "networks[1].primary_subnet"),
    ("recovery_subnets_overlap", "overlapping subnets",
     [("networks[1]", dict(DMZ, recovery_subnet="10.20.8.0/24", recovery_gateway="10.20.8.1"))],
     "networks[1].recovery_subnet"),
    ("subnet_with_host_bits", "overlapping subnets", [("networks[0].primary_subnet", "10.10.0.5/20")],
     "networks[0].primary_subnet"),
    ("gateway_outside_subnet", "overlapping subnets", [("networks[0].recovery_gateway", "10.30.0.1")],
     "networks[0].recovery_gateway"),
    # address collisions
    ("two_vms_one_address", "address collision",
     [("tiers[0].vms[0]", _vm("db01", "10.20.1.10")), ("tiers[0].vms[1]", _vm("db02", "10.20.1.10"))],
     "tiers[0].vms[1].recovery_ip"),
    ("vm_on_the_gateway", "address collision", [("tiers[1].vms[0]", _vm("app01", "10.20.0.1"))],
     "tiers[1].vms[0].recovery_ip"),
    ("vm_on_the_dns_server", "address collision", [("tiers[1].vms[1]", _vm("app02", "10.20.0.53"))],
     "tiers[1].vms[1].recovery_ip"),
    ("vm_outside_recovery_subnet", "address collision", [("tiers[2].vms[0]", _vm("web01", "10.99.0.7", "prod"))],
     "tiers[2].vms[0].recovery_ip"),
    ("vm_on_the_network_address", "address collision", [("tiers[2].vms[1]", _vm("web02", "10.20.0.0"))],
     "tiers[2].vms[1].recovery_ip"),
    ("two_pairs_one_slot", "address collision",
     [("replication[2]", lambda plan: dict(plan["replication"][1], name="paydb2",
                                           standby=dict(plan["replication"][1]["standby"], port=1)))],
     "replication[2].slot"),
    # cycles
    ("tier_cycle", "cycle", [("tiers[0].depends_on", ["web"])], "tiers[0].depends_on[0]"),
    ("tier_depends_on_itself", "cycle", [("tiers[1].depends_on", ["app"])], "tiers[1].depends_on[0]"),
    # duplicate names
    ("vm_in_two_tiers", "duplicate name", [("tiers[1].vms[0]", "db01")], "tiers[1].vms[0]"),
    ("duplicate_tier", "duplicate name", [("tiers[2].name", "app")], "tiers[2].name"),
    ("duplicate_network", "duplicate name", [("networks[1]", dict(DMZ, name="prod", primary="Other-Net",
                                                                  recovery="DR-Other"))], "networks[1].name"),
    ("duplicate_pair", "duplicate name", [("replication[1].name", "vmstore")], "replication[1].name"),
    # unsafe paths
    ("dotdot_source", "unsafe path", [("replication[0].source.path", "/srv/../etc")], "replication[0].source.path"),
    ("root_target", "unsafe path", [("replication[0].target.path", "/")], "replication[0].target.path"),
    ("relative_remote_path", "unsafe path", [("datastores[0].mount.remote_path", "exports/replica")],
     "datastores[0].mount.remote_path"),
    ("newline_in_path", "unsafe path", [("replication[0].source.path", "/srv/a\nb")], "replication[0].source.path"),
    ("target_inside_source", "unsafe path",
     [("replication[0].target.path", lambda plan: plan["replication"][0]["source"]["path"] + "/replica")],
     "replication[0].target.path"),
    # huge values
    ("huge_rto", "huge value", [("objectives.rto_seconds", 10 ** 30)], "objectives.rto_seconds"),
    ("huge_name", "huge value", [("name", "a" * 200000)], "name"),
    ("huge_port", "huge value", [("sites.primary.vcenter.port", 70000)], "sites.primary.vcenter.port"),
    ("huge_max_buffer", "huge value", [("replication[1].max_buffer", "9" * 400 + "TB")], "replication[1].max_buffer"),
    ("huge_password", "huge value", [("sites.primary.vcenter.password", "s3cr3t-" * 300)],
     "sites.primary.vcenter.password"),
    ("too_many_tiers", "huge value",
     [("tiers", [{"name": "t%02d" % i, "vms": ["db01"] if i == 0 else []} for i in range(65)])], "tiers"),
    # unicode
    ("unicode_plan_name", "unicode", [("name", "paymënts")], "name"),
    ("bidi_override_in_vm_name", "unicode", [("tiers[0].vms[0]", "db\u202e01")], "tiers[0].vms[0]"),
    ("zero_width_network_name", "unicode", [("networks[0].name", "prod\u200b")], "networks[0].name"),
    ("control_char_in_portgroup", "unicode", [("networks[0].primary", "Prod\x07Net")], "networks[0].primary"),
    ("fullwidth_digits_port", "unicode", [("sites.recovery.vcenter.port", "\uff14\uff14\uff13")],
     "sites.recovery.vcenter.port"),
    # change window
    ("window_ends_before_it_starts", "wrong value",
     [("change_window", {"start": "2026-11-28T22:00:00Z", "end": "2026-11-28T21:00:00Z"})], "change_window.end"),
    ("window_without_time_zone", "wrong value",
     [("change_window", {"start": "2026-11-28T22:00:00", "end": "2026-11-29T01:00:00Z"})], "change_window.start"),
]

# structurally valid, wrong against the live sites (read-only checks through site_info/database_info)
LIVE_CASES = [
    ("vm_not_at_primary", "unknown reference (live)", [("tiers[0].vms[2]", "db99")], "tiers[0].vms[2]"),
    ("unicode_vm_not_at_primary", "unicode (live)", [("tiers[2].vms[4]", "应用服务器")], "tiers[2].vms[4]"),
    ("drill_portgroup_missing", "unknown reference (live)", [("networks[0].drill", "DR-Nope")], "networks[0].drill"),
    ("primary_portgroup_missing", "unknown reference (live)", [("networks[0].primary", "Prod-Nope")],
     "networks[0].primary"),
    ("datastore_missing", "unknown reference (live)", [("datastores[0].primary", "Nope-DS")],
     "datastores[0].primary"),
    ("cluster_missing", "unknown reference (live)", [("sites.recovery.cluster", "NoCluster")],
     "sites.recovery.cluster"),
    ("datacenter_missing", "unknown reference (live)", [("sites.primary.datacenter", "DCX")],
     "sites.primary.datacenter"),
    ("database_unreachable", "unknown reference (live)", [("replication[1].primary.port", 1)],
     "replication[1].primary"),
    ("vcenter_unreachable", "unknown reference (live)", [("sites.recovery.vcenter.port", 1)],
     "sites.recovery.vcenter.hostname"),
]

_LAB_PLAN_REF = '"{{ chaos_lab_plan }}"'

INVENTORY_CASES = [
    ("inv_no_plan", "missing key", "baseline", "chaos_note: no recovery_plan at all\n", "recovery_plan"),
    ("inv_plan_is_a_string", "wrong type", "baseline", "recovery_plan: payments\n", "recovery_plan"),
    ("inv_plan_is_a_list", "wrong type", "baseline", "recovery_plan: [payments]\n", "recovery_plan"),
    ("inv_allow_degraded_perhaps", "wrong type", "baseline",
     "recovery_plan: " + _LAB_PLAN_REF + "\nbaseline_allow_degraded: perhaps\n", "baseline_allow_degraded"),
    ("inv_threshold_not_int", "wrong type", "baseline",
     "recovery_plan: " + _LAB_PLAN_REF + "\nbaseline_free_space_threshold_pct: ten\n",
     "baseline_free_space_threshold_pct"),
    ("inv_undefined_vault_var", "unknown reference", "baseline",
     "recovery_plan: \"{{ chaos_lab_plan | combine({'sites': {'primary': {'vcenter': "
     "{'password': vault_primary_vcenter_password}}}}, recursive=true) }}\"\n",
     "vault_primary_vcenter_password"),
    ("inv_port_templated_huge", "huge value", "baseline",
     "recovery_plan: \"{{ chaos_lab_plan | combine({'sites': {'recovery': {'vcenter': {'port': 99999}}}}, "
     "recursive=true) }}\"\n", "sites.recovery.vcenter.port"),
    ("inv_unicode_yaml_name", "unicode", "baseline",
     "recovery_plan: \"{{ chaos_lab_plan | combine({'name': 'zahlungsverkehr-\u00fc'}) }}\"\n", "name"),
    ("inv_protect_timeout_words", "wrong type", "protect",
     "recovery_plan: " + _LAB_PLAN_REF + "\nprotect_timeout: ten minutes\n", "protect_timeout"),
    ("inv_protect_settings_a_list", "wrong type", "protect",
     "recovery_plan: " + _LAB_PLAN_REF + "\nprotect_pair_settings: [paydb]\n", "protect_pair_settings"),
    ("inv_protect_canary_maybe", "wrong type", "protect",
     "recovery_plan: " + _LAB_PLAN_REF + "\nprotect_canary: maybe\n", "protect_canary"),
    ("inv_protect_unknown_endpoint_key", "unknown key", "protect",
     "recovery_plan: " + _LAB_PLAN_REF + "\nprotect_pairs: [paydb]\nprotect_pair_settings:\n  paydb:\n"
     "    standby:\n      data_dirr: /tmp/nowhere\n", "data_dirr"),
    ("inv_protect_bad_ssl_mode", "wrong value", "protect",
     "recovery_plan: " + _LAB_PLAN_REF + "\nprotect_pairs: [paydb]\nprotect_pair_settings:\n  paydb:\n"
     "    replication_ssl_mode: sometimes\n", "replication_ssl_mode"),
    ("inv_protect_plan_unsafe_path", "unsafe path", "protect",
     "recovery_plan: \"{{ chaos_lab_plan | combine({'replication': [chaos_lab_plan.replication[0] | combine("
     "{'target': {'path': '/srv/../../etc'}}), chaos_lab_plan.replication[1]]}) }}\"\n",
     "replication[0].target.path"),
]

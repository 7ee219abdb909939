# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plan.validate and plan.mask_secrets.

Every broken plan is the lab plan (plans/lab.yml) with a few edits, and each
case pins the EXACT list of problems, so the messages are part of the contract.
"""

from __future__ import annotations

import copy
import datetime
import random
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ansible_collections.continuity.recovery.plugins.module_utils import plan as plan_mod
from ansible_collections.continuity.recovery.plugins.module_utils.plan import Problem, mask_secrets, validate

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "helpers"))
import plan_edits  # noqa: E402  pylint: disable=wrong-import-position

LAB = Path(__file__).parent / "plans" / "lab.yml"
DELETE = plan_edits.DELETE
NAME_RULE = "must match ^[a-z0-9][a-z0-9_.-]{0,62}$"
EARLIER = "depends_on must name earlier tiers"
ISOLATED = "drills need an isolated portgroup"
SIZE_RULE = "must be a size such as 512MB, 1GB or '1 TB' (units B, kB, MB, GB, TB)"
ISO_RULE = "must be an ISO 8601 date-time with a time zone (e.g. 2026-11-28T22:00:00Z)"
TOP_MISSING = [f"{key}: is required" for key in ("name", "objectives", "sites", "networks", "datastores", "tiers")]


def lab() -> dict:
    """A fresh copy of the clean lab plan."""
    return yaml.safe_load(LAB.read_text(encoding="utf-8"))


def edited(*changes: tuple[str, Any]) -> dict:
    """The lab plan with ``(path, value)`` edits (plan notation, DELETE removes: tests/helpers/plan_edits.py)."""
    return plan_edits.edited(lab(), changes)


def problems(plan: Any) -> list[str]:
    """validate()'s problems as strings; a broken plan never normalises."""
    normalised, found = validate(plan)
    assert normalised is None
    return [str(problem) for problem in found]


# (id, edits, exact problems)
BROKEN = [
    ("five_errors_all_reported", [
        ("name", "Payments"), ("objectives.rpo_seconds", 0), ("networks[0].recovery_gateway", "10.30.0.1"),
        ("tiers[1].vms[0]", "db01"), ("tiers[2].depends_on", ["nope"]),
    ], [
        f"name: {NAME_RULE}, got 'Payments'",
        "objectives.rpo_seconds: must be positive, got 0",
        "networks[0].recovery_gateway: gateway 10.30.0.1 is outside recovery_subnet 10.20.0.0/20",
        "tiers[1].vms[0]: VM 'db01' is already in tiers[0] (data)",
        "tiers[2].depends_on[0]: tier 'nope' is not defined (tiers: data, app, web)",
    ]),
    ("wrong_types", [
        ("objectives.rpo_seconds", "60"), ("sites.primary.vcenter.port", "443"),
        ("sites.recovery.vcenter.validate_certs", "yes"), ("datastores", {"primary": "x"}),
        ("replication[0].source", ["/srv"]), ("tiers[0].vms[0]", 1234),
    ], [
        "objectives.rpo_seconds: must be an integer number of seconds, got string '60'",
        "sites.primary.vcenter.port: must be an integer, got string '443'",
        "sites.recovery.vcenter.validate_certs: must be a boolean (true or false), got string 'yes'",
        "datastores: must be a list, got a mapping",
        "replication[0].source: must be a mapping, got a list",
        "tiers[0].vms[0]: must be a VM name or a mapping with name, recovery_ip and network, got integer 1234",
    ]),
    ("bool_is_not_an_int_nor_an_int_a_bool", [
        ("objectives.rto_seconds", True), ("sites.primary.vcenter.port", True),
        ("replication[0].snapshots", False), ("replication[1].synchronous", 0),
    ], [
        "objectives.rto_seconds: must be an integer number of seconds, got boolean true",
        "sites.primary.vcenter.port: must be an integer, got boolean true",
        "replication[0].snapshots: must be an integer, got boolean false",
        "replication[1].synchronous: must be a boolean (true or false), got integer 0",
    ]),
    ("missing_keys", [
        ("sites.recovery.vcenter.hostname", DELETE), ("networks[0].recovery_gateway", DELETE),
        ("datastores[0].mount.remote_path", DELETE), ("replication[1].slot", DELETE),
        ("tiers[0].vms[1].name", None),
    ], [
        "sites.recovery.vcenter.hostname: is required",
        "networks[0].recovery_gateway: is required",
        "datastores[0].mount.remote_path: is required",
        "replication[1].slot: is required",
        "tiers[0].vms[1].name: is required",
    ]),
    ("unknown_keys_each_reported_with_a_suggestion", [
        ("objectives.rpo_second", 60), ("objectives.rpo_seconds", DELETE),
        ("sites.primary.vcenter.pasword", "hunter2"), ("tiers[0].vm", ["x"]), ("tier", []),
        ("networks[1].gatway", "1.2.3.4"), ("sites.tertiary", {}),
    ], [
        "recovery_plan: unknown key 'tier' (did you mean 'tiers'?)",
        "objectives: unknown key 'rpo_second' (did you mean 'rpo_seconds'?)",
        "objectives.rpo_seconds: is required",
        "sites: unknown key 'tertiary' (allowed: primary, recovery)",
        "sites.primary.vcenter: unknown key 'pasword' (did you mean 'password'?)",
        "networks[1]: unknown key 'gatway' (allowed: name, primary, recovery, drill, primary_subnet, "
        "recovery_subnet, recovery_gateway, dns_servers, primary_gateway, primary_dns_servers)",
        "tiers[0]: unknown key 'vm' (did you mean 'vms'?)",
    ]),
    ("unknown_references", [
        ("datastores[0].replication", "vmstor"), ("tiers[0].databases", ["paydbx"]),
        ("tiers[0].vms[1].network", "prd"),
    ], [
        "datastores[0].replication: replication pair 'vmstor' is not defined (pairs: vmstore, paydb)",
        "tiers[0].databases[0]: replication pair 'paydbx' is not defined (pairs: vmstore, paydb)",
        "tiers[0].vms[1].network: network 'prd' is not defined (networks: prod, dmz)",
    ]),
    ("references_to_pairs_of_the_wrong_engine", [
        ("datastores[0].replication", "paydb"), ("tiers[0].databases", ["vmstore"]),
    ], [
        "datastores[0].replication: replication pair 'paydb' has engine postgresql; "
        "a datastore must name an rsync pair",
        "tiers[0].databases[0]: replication pair 'vmstore' has engine rsync; "
        "tier databases must name a postgresql pair",
    ]),
    ("references_without_a_replication_section", [("replication", DELETE)], [
        "datastores[0].replication: replication pair 'vmstore' is not defined (pairs: none)",
        "tiers[0].databases[0]: replication pair 'paydb' is not defined (pairs: none)",
    ]),
    ("overlapping_subnets", [
        ("networks[1].primary_subnet", "10.10.4.0/24"), ("networks[1].recovery_subnet", "10.20.15.0/24"),
        ("networks[1].recovery_gateway", "10.20.15.1"),
    ], [
        "networks[1].primary_subnet: 10.10.4.0/24 overlaps primary_subnet 10.10.0.0/20 of networks[0] (prod)",
        "networks[1].recovery_subnet: 10.20.15.0/24 overlaps recovery_subnet 10.20.0.0/20 of networks[0] (prod)",
    ]),
    ("host_bits_set_names_the_network", [
        ("networks[0].primary_subnet", "10.10.0.5/20"), ("networks[1].recovery_subnet", "192.168.20.1/24"),
    ], [
        "networks[0].primary_subnet: 10.10.0.5/20 has host bits set: the network address is 10.10.0.0/20",
        "networks[1].recovery_subnet: 192.168.20.1/24 has host bits set: the network address is 192.168.20.0/24",
    ]),
    ("invalid_cidr", [
        ("networks[0].primary_subnet", "10.10.0.0"), ("networks[0].recovery_subnet", "10.20.0.0/33"),
        ("networks[1].primary_subnet", "192.168.10.300/24"), ("networks[1].recovery_subnet", 42),
    ], [
        "networks[0].primary_subnet: '10.10.0.0' is not in CIDR notation (address/prefix, e.g. 10.10.0.0/20)",
        "networks[0].recovery_subnet: '10.20.0.0/33' is not a valid recovery subnet: prefix length must be "
        "0..32, got '33'",
        "networks[1].primary_subnet: '192.168.10.300/24' is not a valid primary subnet: bad address "
        "'192.168.10.300'",
        "networks[1].recovery_subnet: recovery subnet must be a string in CIDR notation, got integer",
    ]),
    ("gateway_outside_or_reserved", [
        ("networks[0].recovery_gateway", "10.30.0.1"), ("networks[1].recovery_gateway", "192.168.20.255"),
    ], [
        "networks[0].recovery_gateway: gateway 10.30.0.1 is outside recovery_subnet 10.20.0.0/20",
        "networks[1].recovery_gateway: gateway 192.168.20.255 is the broadcast address of recovery_subnet "
        "192.168.20.0/24",
    ]),
    ("gateway_network_address_or_not_an_ip", [
        ("networks[0].recovery_gateway", "10.20.0.0"), ("networks[1].recovery_gateway", "gw.example.com"),
    ], [
        "networks[0].recovery_gateway: gateway 10.20.0.0 is the network address of recovery_subnet 10.20.0.0/20",
        "networks[1].recovery_gateway: 'gw.example.com' is not a valid gateway address",
    ]),
    ("primary_gateway_outside_reserved_or_not_an_ip", [
        ("networks[0].primary_gateway", "10.20.0.1"), ("networks[1].primary_gateway", "192.168.10.255"),
    ], [
        "networks[0].primary_gateway: gateway 10.20.0.1 is outside primary_subnet 10.10.0.0/20",
        "networks[1].primary_gateway: gateway 192.168.10.255 is the broadcast address of primary_subnet "
        "192.168.10.0/24",
    ]),
    ("primary_gateway_network_address_and_primary_dns_servers", [
        ("networks[0].primary_gateway", "10.10.0.0"), ("networks[1].primary_gateway", "gw.example.com"),
        ("networks[0].primary_dns_servers", ["10.10.0.53", "dns.example.com", "10.10.0.53"]),
        ("networks[1].primary_dns_servers", "10.10.0.53"),
    ], [
        "networks[0].primary_dns_servers[1]: 'dns.example.com' is not a valid DNS server address",
        "networks[0].primary_dns_servers[2]: DNS server 10.10.0.53 is already listed at "
        "networks[0].primary_dns_servers[0]",
        "networks[0].primary_gateway: gateway 10.10.0.0 is the network address of primary_subnet 10.10.0.0/20",
        "networks[1].primary_gateway: 'gw.example.com' is not a valid gateway address",
        "networks[1].primary_dns_servers: must be a list, got string '10.10.0.53'",
    ]),
    ("dns_servers_invalid_duplicate_too_many", [
        ("networks[0].dns_servers", ["10.20.0.53", "dns.example.com", "10.20.0.53"]),
        ("networks[1].dns_servers", [f"192.168.20.{i}" for i in range(50, 59)]),
    ], [
        "networks[0].dns_servers[1]: 'dns.example.com' is not a valid DNS server address",
        "networks[0].dns_servers[2]: DNS server 10.20.0.53 is already listed at networks[0].dns_servers[0]",
        "networks[1].dns_servers: must list at most 8 entries, got 9",
    ]),
    ("recovery_ip_collisions_and_reserved_addresses", [
        ("tiers[1].vms[0]", {"name": "app01", "recovery_ip": "10.20.1.10"}),
        ("tiers[1].vms[1]", {"name": "app02", "recovery_ip": "10.20.0.1", "network": "prod"}),
        ("tiers[2].vms[0]", {"name": "web01", "recovery_ip": "10.20.0.53"}),
        ("tiers[2].vms[1]", {"name": "web02", "recovery_ip": "10.20.0.0", "network": "prod"}),
        ("tiers[2].vms[2]", {"name": "web03", "recovery_ip": "192.168.20.7", "network": "prod"}),
        ("tiers[2].vms[3]", {"name": "web04", "recovery_ip": "10.99.0.7"}),
        ("tiers[2].vms[4]", {"name": "web05", "recovery_ip": "192.168.20.255"}),
    ], [
        "tiers[1].vms[0].recovery_ip: recovery_ip 10.20.1.10 is already used by VM 'db02' (tiers[0].vms[1])",
        "tiers[1].vms[1].recovery_ip: recovery_ip 10.20.0.1 is the recovery_gateway of networks[0] (prod)",
        "tiers[2].vms[0].recovery_ip: recovery_ip 10.20.0.53 is a DNS server of networks[0] (prod)",
        "tiers[2].vms[1].recovery_ip: recovery_ip 10.20.0.0 is the network address of recovery_subnet "
        "10.20.0.0/20 of networks[0] (prod)",
        "tiers[2].vms[2].recovery_ip: recovery_ip 192.168.20.7 is outside recovery_subnet 10.20.0.0/20 of "
        "networks[0] (prod)",
        "tiers[2].vms[3].recovery_ip: recovery_ip 10.99.0.7 is not inside any recovery_subnet of networks",
        "tiers[2].vms[4].recovery_ip: recovery_ip 192.168.20.255 is the broadcast address of recovery_subnet "
        "192.168.20.0/24 of networks[1] (dmz)",
    ]),
    ("recovery_ip_is_the_dns_server_another_network_names", [
        ("networks[1].dns_servers", ["10.20.0.53", "10.20.0.54"]),
        ("tiers[2].vms[0]", {"name": "web01", "recovery_ip": "10.20.0.54"}),
    ], [
        "tiers[2].vms[0].recovery_ip: recovery_ip 10.20.0.54 is a DNS server of networks[1] (dmz)",
    ]),
    ("cycle_through_default_dependencies", [("tiers[0].depends_on", ["web"])], [
        f"tiers[0].depends_on[0]: dependency cycle data -> web -> app -> data; {EARLIER}",
    ]),
    ("cycle_named_once_other_forward_edges_reported", [
        ("tiers[0].depends_on", ["app"]), ("tiers[1].depends_on", ["web"]), ("tiers[2].depends_on", ["data"]),
    ], [
        f"tiers[0].depends_on[0]: dependency cycle data -> app -> web -> data; {EARLIER}",
        f"tiers[1].depends_on[0]: tier 'web' is not an earlier tier (it is tiers[2]); {EARLIER}",
    ]),
    ("self_dependency", [("tiers[1].depends_on", ["app"])], [
        "tiers[1].depends_on[0]: tier 'app' cannot depend on itself (dependency cycle app -> app)",
    ]),
    ("forward_dependency_without_cycle", [("tiers[1].depends_on", ["web"]), ("tiers[2].depends_on", ["data"])], [
        f"tiers[1].depends_on[0]: tier 'web' is not an earlier tier (it is tiers[2]); {EARLIER}",
    ]),
    ("duplicate_names", [
        ("networks[1].name", "prod"), ("networks[1].primary", "Prod-Net"), ("tiers[2].name", "app"),
        ("replication[1].name", "vmstore"),
        ("datastores[1]", {"primary": "Prod-DS-01", "recovery": "Replica-DS-01", "replication": "vmstore",
                           "mount": {"type": "nfs", "remote_host": "array-dr", "remote_path": "/exports/b"}}),
    ], [
        "networks[1].name: network 'prod' is already defined at networks[0]",
        "networks[1].primary: portgroup 'Prod-Net' is already mapped by networks[0] (prod)",
        "datastores[1].primary: datastore 'Prod-DS-01' is already mapped by datastores[0]",
        "datastores[1].recovery: replica datastore 'Replica-DS-01' is already the replica of "
        "datastores[0] (Prod-DS-01)",
        "replication[1].name: replication pair 'vmstore' is already defined at replication[0]",
        "tiers[2].name: tier 'app' is already defined at tiers[1]",
        "datastores[1].replication: replication pair 'vmstore' already replicates datastores[0] (Prod-DS-01)",
        "tiers[0].databases[0]: replication pair 'paydb' is not defined (pairs: vmstore)",
    ]),
    ("vm_in_two_tiers_or_twice_in_one", [("tiers[2].vms", ["web01", "app01", "web01"]), ("tiers[1].vms[1]", "db02")], [
        "tiers[1].vms[1]: VM 'db02' is already in tiers[0] (data)",
        "tiers[2].vms[1]: VM 'app01' is already in tiers[1] (app)",
        "tiers[2].vms[2]: VM 'web01' is already in tiers[2] (web)",
    ]),
    ("duplicates_in_name_lists", [
        ("tiers[2].depends_on", ["data", "app", "data"]), ("tiers[0].databases", ["paydb", "paydb"]),
        ("tiers[1].databases", ["paydb"]),
    ], [
        "tiers[0].databases[1]: 'paydb' is already listed at tiers[0].databases[0]",
        "tiers[2].depends_on[2]: 'data' is already listed at tiers[2].depends_on[0]",
        "tiers[1].databases[0]: replication pair 'paydb' is already promoted in tiers[0] (data)",
    ]),
    ("unsafe_paths", [
        ("replication[0].source.path", "/srv/../etc"), ("replication[0].target.path", "srv/replica"),
        ("datastores[0].mount.remote_path", "/exports/x\n"), ("datastores[0].mount.local_path", "/var//lib/"),
        ("replication[1].archive", {"path": "/"}),
    ], [
        "datastores[0].mount.remote_path: is unsafe: contains a NUL or newline character: '/exports/x\\n'",
        "datastores[0].mount.local_path: must be a normalised path: write '/var/lib', not '/var//lib/'",
        "replication[0].source.path: is unsafe: must not contain '..' components, got '/srv/../etc'",
        "replication[0].target.path: must be an absolute path, got 'srv/replica'",
        "replication[1].archive.path: must not be the root directory '/'",
    ]),
    ("unsafe_nul_path_and_replicating_into_itself", [
        ("replication[0].target.path", "/srv/datastores/Prod-DS-01/replica"),
        ("replication[1].archive", {"path": "/srv/wal\x00", "host": "archive.example.com"}),
    ], [
        "replication[0].target.path: '/srv/datastores/Prod-DS-01/replica' overlaps source path "
        "'/srv/datastores/Prod-DS-01' on the same host; a pair must not replicate into itself",
        "replication[1].archive.path: is unsafe: contains a NUL or newline character: '/srv/wal\\x00'",
    ]),
    ("huge_values", [
        ("objectives.rto_seconds", 10 ** 9), ("replication[0].snapshots", 5000),
        ("replication[1].max_buffer", "2000TB"), ("replication[1].primary.port", 70000),
        ("tiers[2].vms[0]", "w" * 100), ("sites.primary.vcenter.username", "u" * 300),
    ], [
        "objectives.rto_seconds: must be at most 2592000 (30 days), got 1000000000",
        "sites.primary.vcenter.username: must be at most 255 characters, got 300",
        "replication[0].snapshots: must be between 0 and 1000, got 5000",
        "replication[1].primary.port: must be between 1 and 65535, got 70000",
        "replication[1].max_buffer: must be at most 1024 TB, got '2000TB'",
        "tiers[2].vms[0]: must be at most 80 characters, got 100",
    ]),
    ("unicode_names_control_characters_and_whitespace", [
        ("name", "paiements-é"), ("tiers[0].vms[0]", "db\u202e10"), ("networks[0].recovery", "DR\tProd"),
        ("tiers[1].vms[0]", " app01"),
    ], [
        f"name: {NAME_RULE}, got 'paiements-é'",
        "networks[0].recovery: must not contain control characters, found U+0009 in 'DR\\tProd'",
        "tiers[0].vms[0]: must not contain control characters, found U+202E in 'db\\u202e10'",
        "tiers[1].vms[0]: must not start or end with whitespace, got ' app01'",
    ]),
    ("empty_strings", [("sites.primary.datacenter", ""), ("tiers[0].vms[0]", ""), ("networks[0].name", "")], [
        "sites.primary.datacenter: must not be empty",
        "networks[0].name: must not be empty",
        "tiers[0].vms[0]: must not be empty",
    ]),
    ("change_window_malformed", [
        ("change_window.start", "tomorrow"), ("change_window.end", "2026-11-29T02:00:00"),
    ], [
        f"change_window.start: {ISO_RULE}, got 'tomorrow'",
        "change_window.end: has no time zone: '2026-11-29T02:00:00'; append Z (UTC) or an offset such as +01:00",
    ]),
    ("change_window_reversed", [("change_window.end", "2026-11-28T21:00:00Z")], [
        "change_window.end: must be after start (2026-11-28T22:00:00Z), got 2026-11-28T21:00:00Z",
    ]),
    ("change_window_empty", [("change_window.end", "2026-11-28T23:00:00+01:00")], [
        "change_window.end: must be after start (2026-11-28T22:00:00Z), got 2026-11-28T22:00:00Z",
    ]),
    ("change_window_too_long", [("change_window.end", "2026-12-05T22:00:01Z")], [
        "change_window.end: is 7 days, 0:00:01 after start; a change window lasts at most 7 days",
    ]),
    ("change_window_yaml_timestamps_without_zone_and_missing_end", [
        ("change_window", {"start": datetime.datetime(2026, 11, 28, 22, 0)}),
    ], [
        "change_window.end: is required",
        "change_window.start: has no time zone: '2026-11-28 22:00:00'; append Z (UTC) or an offset such as +01:00",
    ]),
    ("change_window_date_only", [("change_window.end", datetime.date(2026, 11, 29))], [
        f"change_window.end: {ISO_RULE}, got date 2026-11-29",
    ]),
    ("buffer_sizes_and_fill", [
        ("replication[1].max_buffer", "1 GBB"), ("replication[0].max_buffer", 1.5),
        ("objectives.max_buffer_fill_pct", 101),
    ], [
        "objectives.max_buffer_fill_pct: must be between 1 and 100, got 101",
        f"replication[0].max_buffer: {SIZE_RULE}, got float 1.5",
        f"replication[1].max_buffer: {SIZE_RULE}, got '1 GBB'",
    ]),
    ("objectives_not_positive", [("objectives.rpo_seconds", -5), ("objectives.max_buffer_fill_pct", 0)], [
        "objectives.rpo_seconds: must be positive, got -5",
        "objectives.max_buffer_fill_pct: must be between 1 and 100, got 0",
    ]),
    ("postgresql_pair_endpoints_and_slots", [
        ("replication[1].standby.port", 5432), ("replication[1].slot", "DR-Slot"),
        ("replication[2]", {"name": "ledger", "engine": "postgresql", "slot": "dr_paydb",
                            "primary": {"host": "127.0.0.1"}, "standby": {"host": "/var/run/../pg"}}),
        ("replication[3]", {"name": "ledger2", "engine": "postgresql", "slot": "dr_paydb",
                            "primary": {"host": "127.0.0.1"}, "standby": {"host": "/var/run/postgresql"}}),
    ], [
        "replication[1].slot: must match ^[a-z0-9_]{1,63}$, got 'DR-Slot'",
        "replication[1].standby: is the same endpoint as primary (127.0.0.1:5432)",
        "replication[2].standby.host: is unsafe: must not contain '..' components, got '/var/run/../pg'",
        "replication[3].slot: slot 'dr_paydb' is already used by replication[2] (ledger) on the same primary "
        "127.0.0.1:5432",
    ]),
    ("replication_engines", [
        ("replication[0].engine", "zfs"), ("replication[1].engine", None), ("replication[1].bogus", 1),
    ], [
        "replication[0].engine: must be one of rsync, postgresql; got string 'zfs'",
        "replication[1]: unknown key 'bogus' (allowed: name, engine, source, target, snapshots, max_buffer, "
        "primary, standby, slot, synchronous, archive)",
        "replication[1].engine: is required",
    ]),
    ("keys_of_the_other_engine_are_unknown", [("replication[0].slot", "x"), ("replication[1].snapshots", 3)], [
        "replication[0]: unknown key 'slot' (allowed: name, engine, source, target, snapshots, max_buffer)",
        "replication[1]: unknown key 'snapshots' (allowed: name, engine, primary, standby, slot, synchronous, "
        "max_buffer, archive)",
    ]),
    ("mount_and_host_names", [
        ("datastores[0].mount.type", "vmfs"), ("datastores[0].mount.remote_host", "array dr"),
        ("sites.primary.vcenter.hostname", "vc prod"), ("sites.recovery.vcenter.hostname", "https://vc/"),
    ], [
        "sites.primary.vcenter.hostname: must be a host name or IP address, got 'vc prod'",
        "sites.recovery.vcenter.hostname: must be a host name or IP address, got 'https://vc/'",
        "datastores[0].mount.type: must be one of nfs; got string 'vmfs'",
        "datastores[0].mount.remote_host: must be a host name or IP address, got 'array dr'",
    ]),
    ("tiers_empty_list", [("tiers", [])], ["tiers: must list at least 1 entry"]),
    ("tier_with_nothing_to_recover", [("tiers[2].vms", [])], ["tiers[2]: lists neither vms nor databases"]),
    ("vm_entries_malformed", [
        ("tiers[0].vms[1]", {"name": "db02", "ip": "10.20.1.10"}), ("tiers[1].vms[0]", ["app01"]),
        ("tiers[1].vms[1]", {"name": "app02", "recovery_ip": "10.20.1"}),
    ], [
        "tiers[0].vms[1]: unknown key 'ip' (allowed: name, recovery_ip, network)",
        "tiers[1].vms[0]: must be a VM name or a mapping with name, recovery_ip and network, got a list",
        "tiers[1].vms[1].recovery_ip: '10.20.1' is not a valid IP address",
    ]),
    ("drill_portgroup_not_isolated", [("networks[0].drill", "DR-Prod"), ("networks[1].drill", "DR-Prod")], [
        f"networks[0].drill: drill portgroup 'DR-Prod' is also the recovery portgroup; {ISOLATED}",
        f"networks[1].drill: drill portgroup 'DR-Prod' is the recovery portgroup of networks[0] (prod); {ISOLATED}",
    ]),
    ("prefix_lengths_differ_without_explicit_vms", [
        ("networks[1].recovery_subnet", "192.168.16.0/22"), ("networks[1].recovery_gateway", "192.168.16.1"),
    ], [
        "networks[1].recovery_subnet: prefix length /22 differs from primary_subnet 192.168.10.0/24; this needs "
        "an explicit recovery_ip on every VM of network 'dmz', and no VM has one",
    ]),
    ("prefix_lengths_differ_vm_without_recovery_ip", [
        ("networks[1].recovery_subnet", "192.168.16.0/22"), ("networks[1].recovery_gateway", "192.168.16.1"),
        ("tiers[2].vms[0]", {"name": "web01", "network": "dmz"}),
        ("tiers[2].vms[1]", {"name": "web02", "network": "dmz", "recovery_ip": "192.168.17.5"}),
    ], [
        "tiers[2].vms[0]: VM 'web01' needs an explicit recovery_ip: networks[1] (dmz) re-addresses /24 to /22",
    ]),
    ("ip_versions_mixed", [
        ("networks[1].recovery_subnet", "2001:db8::/120"), ("networks[1].recovery_gateway", "2001:db8::1"),
    ], [
        "networks[1].recovery_subnet: 2001:db8::/120 is IPv6 but primary_subnet 192.168.10.0/24 is IPv4",
    ]),
    ("secrets_are_never_echoed", [
        ("sites.primary.vcenter.password", 123456), ("sites.recovery.vcenter.password", ""),
        ("replication[1].primary.password", "s3cr\x00t"), ("replication[1].standby.passwd", "hunter2"),
    ], [
        "sites.primary.vcenter.password: must be a string, got an integer",
        "sites.recovery.vcenter.password: must not be empty",
        "replication[1].primary.password: must not contain a NUL character",
        "replication[1].standby: unknown key 'passwd' (did you mean 'password'?)",
    ]),
    ("invalid_names_do_not_cascade_into_references", [
        ("tiers[0].name", "Data"), ("tiers[2].depends_on", ["data"]), ("replication[1].name", "PayDB"),
    ], [
        f"replication[1].name: {NAME_RULE}, got 'PayDB'",
        f"tiers[0].name: {NAME_RULE}, got 'Data'",
    ]),
    ("sections_of_the_wrong_shape", [
        ("objectives", [60, 900]), ("sites.primary", "DC0"), ("networks", []), ("replication", "vmstore"),
    ], [
        "objectives: must be a mapping, got a list",
        "sites.primary: must be a mapping, got string 'DC0'",
        "networks: must list at least 1 entry",
        "replication: must be a list, got string 'vmstore'",
    ]),
]


@pytest.mark.parametrize("changes, expected", [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_broken_plan_reports_exactly(changes: list, expected: list[str]) -> None:
    assert problems(edited(*changes)) == expected


def test_there_are_at_least_thirty_distinct_broken_plans() -> None:
    assert len({case[0] for case in BROKEN}) == len(BROKEN) >= 30


@pytest.mark.parametrize("value, expected", [
    (None, ["recovery_plan: must be a mapping, got null"]),
    ([], ["recovery_plan: must be a mapping, got a list"]),
    ("payments", ["recovery_plan: must be a mapping, got string 'payments'"]),
    ({}, TOP_MISSING),
    ({"recovery_plan": {}},
     ["recovery_plan: unknown key 'recovery_plan' (pass the plan itself, not a mapping that contains it)"]
     + TOP_MISSING),
])
def test_plan_that_is_not_a_plan(value: Any, expected: list[str]) -> None:
    assert problems(value) == expected


def test_problem_is_frozen_and_prints_path_colon_message() -> None:
    problem = Problem("tiers[1].vms[0]", "VM 'app01' is already in tiers[0] (data)")
    assert str(problem) == "tiers[1].vms[0]: VM 'app01' is already in tiers[0] (data)"
    assert problem == Problem("tiers[1].vms[0]", "VM 'app01' is already in tiers[0] (data)")
    with pytest.raises(AttributeError):
        problem.path = "x"  # type: ignore[misc]


def test_long_values_are_shortened_in_messages() -> None:
    found = problems(edited(("sites.primary.cluster", 7 * 10 ** 80)))
    assert found == ["sites.primary.cluster: must be a string, got integer " + "7" + "0" * 59 + "..."]


# ------------------------------------------------------------- clean plans

EXPECTED_LAB = {
    "name": "payments",
    "objectives": {"rpo_seconds": 60, "rto_seconds": 900, "max_buffer_fill_pct": 80},
    "change_window": {"start": "2026-11-28T22:00:00Z", "end": "2026-11-29T02:00:00Z"},
    "sites": {
        "primary": {"vcenter": {"hostname": "127.0.0.1", "port": 8989, "username": "administrator@vsphere.local",
                                "password": "primary-secret", "validate_certs": False},
                    "datacenter": "DC0", "cluster": "DC0_C0", "vm_folder": None, "resource_pool": None},
        "recovery": {"vcenter": {"hostname": "vc-dr.example.com", "port": 443,
                                 "username": "administrator@vsphere.local", "password": "recovery-secret",
                                 "validate_certs": True},
                     "datacenter": "DC0", "cluster": "DC0_C0", "vm_folder": "DR", "resource_pool": None},
    },
    "networks": [
        {"name": "prod", "primary": "Prod-Net", "recovery": "DR-Prod", "drill": "DR-Bubble",
         "primary_subnet": "10.10.0.0/20", "recovery_subnet": "10.20.0.0/20", "recovery_gateway": "10.20.0.1",
         "dns_servers": ["10.20.0.53"], "primary_gateway": "10.10.0.1", "primary_dns_servers": ["10.10.0.53"]},
        {"name": "dmz", "primary": "DMZ-Net", "recovery": "DR-DMZ", "drill": "DR-Bubble-DMZ",
         "primary_subnet": "192.168.10.0/24", "recovery_subnet": "192.168.20.0/24",
         "recovery_gateway": "192.168.20.254", "dns_servers": [], "primary_gateway": None,
         "primary_dns_servers": []},
    ],
    "datastores": [
        {"primary": "Prod-DS-01", "recovery": "Replica-DS-01", "replication": "vmstore",
         "mount": {"type": "nfs", "remote_host": "array-dr", "remote_path": "/exports/replica-ds-01",
                   "local_path": "/var/lib/continuity-recovery-lab/recovery/datastores/Replica-DS-01"}},
    ],
    "replication": [
        {"name": "vmstore", "engine": "rsync", "source": {"path": "/srv/datastores/Prod-DS-01", "host": None},
         "target": {"path": "/srv/replica/Replica-DS-01", "host": None}, "snapshots": 24,
         "max_buffer": None, "max_buffer_bytes": None},
        {"name": "paydb", "engine": "postgresql",
         "primary": {"host": "127.0.0.1", "port": 5432, "user": "dr_admin", "password": "pg-secret",
                     "database": "payments"},
         "standby": {"host": "127.0.0.1", "port": 5433, "user": "dr_admin", "password": "pg-secret",
                     "database": "payments"},
         "slot": "dr_paydb", "synchronous": False, "max_buffer": "1GB", "max_buffer_bytes": 1024 ** 3,
         "archive": None},
    ],
    "tiers": [
        {"name": "data", "vms": [{"name": "db01", "recovery_ip": None, "network": None},
                                 {"name": "db02", "recovery_ip": "10.20.1.10", "network": "prod"}],
         "databases": ["paydb"], "depends_on": []},
        {"name": "app", "vms": [{"name": "app01", "recovery_ip": None, "network": None},
                                {"name": "app02", "recovery_ip": None, "network": None}],
         "databases": [], "depends_on": ["data"]},
        {"name": "web", "vms": [{"name": "web01", "recovery_ip": None, "network": None}],
         "databases": [], "depends_on": ["app"]},
    ],
    "tier_order": ["data", "app", "web"],
    "vm_index": {"db01": "data", "db02": "data", "app01": "app", "app02": "app", "web01": "web"},
}


def test_lab_plan_validates_clean_and_normalises_exactly() -> None:
    normalised, found = validate(lab())
    assert found == []
    assert normalised == EXPECTED_LAB


def test_validate_does_not_modify_its_input() -> None:
    plan = lab()
    before = copy.deepcopy(plan)
    validate(plan)
    assert plan == before


def test_defaults_fill_a_minimal_plan() -> None:
    plan = edited(("change_window", DELETE), ("sites.primary.vcenter", {"hostname": "vc1"}),
                  ("replication[0]", {"name": "vmstore", "engine": "rsync", "source": {"path": "/a"},
                                      "target": {"path": "/b", "host": "dr"}}),
                  ("replication[1]", {"name": "paydb", "engine": "postgresql", "slot": "s",
                                      "primary": {"host": "db1"}, "standby": {"host": "db2"}}),
                  ("tiers[1].depends_on", DELETE))
    normalised, found = validate(plan)
    assert found == []
    assert normalised["change_window"] is None
    assert normalised["sites"]["primary"]["vcenter"] == {"hostname": "vc1", "port": 443, "username": None,
                                                         "password": None, "validate_certs": True}
    assert normalised["replication"][0]["snapshots"] == 0
    assert normalised["replication"][0]["target"] == {"path": "/b", "host": "dr"}
    assert normalised["replication"][1]["primary"] == {"host": "db1", "port": 5432, "user": None,
                                                       "password": None, "database": None}
    assert normalised["replication"][1]["synchronous"] is False
    assert [t["depends_on"] for t in normalised["tiers"]] == [[], ["data"], ["app"]]


def test_validate_certs_false_is_kept() -> None:
    normalised, _problems = validate(lab())
    assert normalised["sites"]["primary"]["vcenter"]["validate_certs"] is False


@pytest.mark.parametrize("text, size", [
    ("1GB", 1024 ** 3), ("512MB", 512 * 1024 ** 2), ("1 TB", 1024 ** 4), ("64kB", 65536), ("2gib", 2 * 1024 ** 3),
    ("0.5GB", 512 * 1024 ** 2), (4096, 4096), ("100B", 100),
])
def test_max_buffer_sizes(text: Any, size: int) -> None:
    normalised, found = validate(edited(("replication[1].max_buffer", text)))
    assert found == []
    assert normalised["replication"][1]["max_buffer_bytes"] == size


def test_change_window_with_offsets_and_yaml_timestamps_normalises_to_utc() -> None:
    utc = datetime.timezone.utc
    plan = edited(("change_window", {"start": "2026-11-28T23:00:00+01:00",
                                     "end": datetime.datetime(2026, 12, 5, 22, 0, tzinfo=utc)}))
    normalised, found = validate(plan)
    assert found == []
    assert normalised["change_window"] == {"start": "2026-11-28T22:00:00Z", "end": "2026-12-05T22:00:00Z"}


def test_unicode_names_are_allowed_where_vsphere_allows_them() -> None:
    plan = edited(("tiers[0].vms[0]", "Datenbank-Ü01"), ("tiers[1].vms[0]", "应用服务器"),
                  ("networks[0].primary", "Prod Net (VLAN 10)"), ("datastores[0].primary", "Prod/DS 01"),
                  ("sites.recovery.cluster", "Clúster-DR"))
    normalised, found = validate(plan)
    assert found == []
    assert normalised["vm_index"]["应用服务器"] == "app"


def test_explicit_recovery_ip_without_network_gets_its_network() -> None:
    normalised, found = validate(edited(("tiers[2].vms[0]", {"name": "web01", "recovery_ip": "192.168.20.30"})))
    assert found == []
    assert normalised["tiers"][2]["vms"][0] == {"name": "web01", "recovery_ip": "192.168.20.30", "network": "dmz"}


def test_different_prefix_lengths_allowed_with_explicit_recovery_ips() -> None:
    plan = edited(("networks[1].recovery_subnet", "192.168.16.0/22"), ("networks[1].recovery_gateway", "192.168.16.1"),
                  ("tiers[2].vms[0]", {"name": "web01", "recovery_ip": "192.168.17.5", "network": "dmz"}))
    assert validate(plan)[1] == []


def test_ipv6_networks_validate() -> None:
    plan = edited(("networks[1].primary_subnet", "2001:DB8:10::/64"),
                  ("networks[1].recovery_subnet", "2001:db8:20::/64"),
                  ("networks[1].recovery_gateway", "2001:db8:20::1"), ("networks[1].dns_servers", ["2001:db8:20::53"]),
                  ("tiers[2].vms[0]", {"name": "web01", "recovery_ip": "2001:db8:20::80"}))
    normalised, found = validate(plan)
    assert found == []
    assert normalised["networks"][1]["primary_subnet"] == "2001:db8:10::/64"
    assert normalised["tiers"][2]["vms"][0]["network"] == "dmz"


def test_point_to_point_subnets_have_no_reserved_addresses() -> None:
    plan = edited(("networks[1].primary_subnet", "192.168.10.0/31"), ("networks[1].recovery_subnet", "192.168.20.0/31"),
                  ("networks[1].recovery_gateway", "192.168.20.0"),
                  ("tiers[2].vms[0]", {"name": "web01", "recovery_ip": "192.168.20.1"}))
    assert validate(plan)[1] == []


def test_postgresql_socket_directory_as_host() -> None:
    plan = edited(("replication[1].primary.host", "/var/run/postgresql"))
    normalised, found = validate(plan)
    assert found == []
    assert normalised["replication"][1]["primary"]["host"] == "/var/run/postgresql"


def test_a_database_only_tier_is_fine() -> None:
    plan = edited(("tiers[0].vms", DELETE), ("tiers[1].vms", ["app01", "app02", "db01", "db02"]))
    normalised, found = validate(plan)
    assert found == []
    assert normalised["tiers"][0]["vms"] == []


# ------------------------------------------------------------ robustness

JUNK = [None, True, 0, -1, 10 ** 30, 1.5, "", "x", "../..", "a\x00b", [], [1], {}, {"a": 1}, ["x"], "\u202e",
        "Z" * 5000, ("t",), {1: 2}, [[]], [{}], "9" * 400 + "TB", datetime.date(2026, 1, 1)]


def _leaf_paths(node: Any, path: tuple = ()) -> list[tuple]:
    """Every path into a plan (mapping keys and list indexes)."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _leaf_paths(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _leaf_paths(value, path + (index,))
    return found


def test_validate_never_raises_on_junk_anywhere() -> None:
    base = lab()
    for path in _leaf_paths(base)[1:]:
        for junk in JUNK:
            plan = copy.deepcopy(base)
            node = plan
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = junk
            normalised, found = validate(plan)
            assert (normalised is None) == bool(found)
            assert all(isinstance(problem.message, str) and problem.path for problem in found)


def test_validate_never_raises_on_random_deletions() -> None:
    rng = random.Random(20261128)
    base = lab()
    paths = _leaf_paths(base)[1:]
    for _attempt in range(300):
        plan = copy.deepcopy(base)
        for path in rng.sample(paths, 4):
            node = plan
            try:
                for part in path[:-1]:
                    node = node[part]
                del node[path[-1]]
            except (KeyError, IndexError, TypeError):
                continue
        normalised, found = validate(plan)
        assert (normalised is None) == bool(found)


def test_no_problem_ever_shows_a_password() -> None:
    secret = "Sup3r-S3cret"
    for key in ("password", "pasword", "passwd"):
        for value in (secret, [secret], {"x": secret}, secret + "\x00"):
            plan = edited((f"sites.primary.vcenter.{key}", value), (f"replication[1].primary.{key}", value))
            assert all(secret not in str(problem) for problem in validate(plan)[1])


# ------------------------------------------------------------ mask_secrets

def test_mask_secrets_masks_every_password_and_copies() -> None:
    normalised, _problems = validate(lab())
    masked = mask_secrets(normalised)
    assert masked["sites"]["primary"]["vcenter"]["password"] == "********"
    assert masked["sites"]["recovery"]["vcenter"]["password"] == "********"
    assert masked["replication"][1]["primary"]["password"] == "********"
    assert masked["replication"][1]["standby"]["password"] == "********"
    assert normalised["sites"]["primary"]["vcenter"]["password"] == "primary-secret"
    assert "secret" not in repr(masked)
    masked["tiers"][0]["vms"].append("x")
    assert len(normalised["tiers"][0]["vms"]) == 2


def test_mask_secrets_keeps_null_and_other_keys() -> None:
    data = {"password": None, "passwords": ["a"], "nested": [{"password": 0}, ({"password": "p", "user": "u"},)],
            "x": {"y": {"password": {"deep": "structure"}}}}
    assert mask_secrets(data) == {"password": None, "passwords": ["a"],
                                  "nested": [{"password": "********"}, [{"password": "********", "user": "u"}]],
                                  "x": {"y": {"password": "********"}}}


def test_mask_secrets_on_scalars_and_custom_keys() -> None:
    assert mask_secrets("password") == "password"
    assert mask_secrets({"token": "t", "password": "p"}, frozenset({"token"})) == {"token": "********",
                                                                                   "password": "p"}
    assert plan_mod.MASK == "********"

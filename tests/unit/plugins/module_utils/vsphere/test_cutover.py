"""Host cutover planning without a server: selection, work items, NIC/disk plans, steps, customization."""

from __future__ import annotations

import copy

import pytest
from pyVmomi import vim

from ansible_collections.continuity.recovery.plugins.module_utils import baseline
from ansible_collections.continuity.recovery.plugins.module_utils import plan as plan_model
from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import cutover, customization, nics, presentation

NET = {"name": "prod", "primary": "Prod-Net", "recovery": "DR-Prod", "drill": "DR-Bubble",
       "primary_subnet": "10.10.0.0/20", "recovery_subnet": "10.20.0.0/20", "recovery_gateway": "10.20.0.1",
       "dns_servers": ["10.20.0.53"], "primary_gateway": "10.10.0.1", "primary_dns_servers": ["10.10.0.53"]}
STORE = {"primary": "Prod-DS-01", "recovery": "Replica-DS-01", "replication": "vmstore",
         "mount": {"type": "nfs", "remote_host": "array-dr", "remote_path": "/exports/replica-ds-01"}}


def vcenter(port):
    return {"hostname": "127.0.0.1", "port": port, "username": "u", "password": "p", "validate_certs": False}


def make_plan():
    return {
        "name": "payments", "objectives": {"rpo_seconds": 60, "rto_seconds": 900},
        "sites": {"primary": {"vcenter": vcenter(18443), "datacenter": "DC0", "cluster": "DC0_C0"},
                  "recovery": {"vcenter": vcenter(28443), "datacenter": "DC0", "cluster": "DC0_C0"}},
        "networks": [dict(NET)], "datastores": [dict(STORE)],
        "replication": [{"name": "vmstore", "engine": "rsync", "source": {"path": "/srv/a"},
                         "target": {"path": "/srv/b"}}],
        "tiers": [{"name": "data", "vms": ["db01"]}, {"name": "app", "vms": ["app01", "app02"]},
                  {"name": "web", "vms": [{"name": "web01", "recovery_ip": "10.20.9.9"}]}],
    }


def record(name, ip, portgroup="Prod-Net", mac="00:0c:29:00:00:01", power="poweredOn", datastore="Prod-DS-01"):
    return {"name": name, "power_state": power, "tools_running_status": "guestToolsRunning",
            "nics": [{"label": "Network adapter 1", "key": 4000, "type": "VirtualVmxnet3", "mac": mac,
                      "portgroup": portgroup, "ip_addresses": [ip] if ip else []}],
            "disks": [{"file": "[%s] %s/%s.vmdk" % (datastore, name, name), "datastore": datastore,
                       "capacity_kb": 1024, "thin": True}],
            "datastores": [datastore], "vm_path_name": "[%s] %s/%s.vmx" % (datastore, name, name)}


RECORDS = {"db01": record("db01", "10.10.1.10"), "app01": record("app01", "10.10.1.11"),
           "app02": record("app02", "10.10.1.12"), "web01": record("web01", "10.10.1.13")}


# -- selection ------------------------------------------------------------------------------

def test_selection_defaults_to_every_plan_tier_in_order():
    sel, problems = cutover.selection(make_plan())
    assert problems == []
    assert [t["name"] for t in sel["tiers"]] == ["data", "app", "web"]
    assert sel["tiers"][1]["vms"][1]["path"] == "plan.tiers[1].vms[1]"
    assert sel["networks"][0]["path"] == "plan.networks[0]"


def test_selection_accepts_a_normalised_plan():
    normalised, problems = plan_model.validate(make_plan())
    assert problems == []
    sel, problems = cutover.selection(normalised, tiers=["web", "data"])
    assert problems == []
    assert [t["name"] for t in sel["tiers"]] == ["web", "data"]


def test_selection_names_bad_fields():
    plan = make_plan()
    sel, problems = cutover.selection(plan, tiers=["data", "nope", {"name": "x", "vms": [{"name": "z", "bad": 1}]}],
                                      vms=["db01", "ghost"])
    assert any(p.startswith("tiers[1]: tier 'nope' is not in the plan") for p in problems)
    assert any(p.startswith("tiers[2].vms[0]: unknown key 'bad'") for p in problems)
    assert any(p.startswith("vms[1]: VM 'ghost' is in none of the selected tiers") for p in problems)


def test_selection_explicit_recovery_ip_outside_subnet():
    tiers = [{"name": "t", "vms": [{"name": "a", "recovery_ip": "10.99.0.5", "network": "prod"}]}]
    sel, problems = cutover.selection(None, tiers=tiers, networks=[NET], storage_map=[STORE])
    assert problems == ["tiers[0].vms[0].recovery_ip: 10.99.0.5 is outside recovery_subnet 10.20.0.0/20 of "
                        "network 'prod'"]


def test_selection_explicit_network_map_problems_name_the_field():
    bad = dict(NET, recovery_gateway="10.30.0.1")
    _unused, problems = cutover.selection(None, tiers=[{"name": "t", "vms": ["a"]}],
                                          networks=[bad, {"name": "x"}], storage_map=[STORE])
    assert "networks[0].recovery_gateway: gateway 10.30.0.1 is outside recovery_subnet 10.20.0.0/20" in problems
    assert "networks[1].primary: is required" in problems


def test_plan_problems_are_prefixed_with_plan():
    plan = make_plan()
    plan["objectives"]["rpo_seconds"] = 0
    _unused, problems = cutover.selection(plan)
    assert any(p.startswith("plan.objectives.rpo_seconds") for p in problems)


def test_strip_derived_drops_normalisation_keys():
    normalised, _unused = plan_model.validate(make_plan())
    raw = cutover.strip_derived(normalised)
    assert "vm_index" not in raw and "tier_order" not in raw
    assert all("max_buffer_bytes" not in p for p in raw["replication"])
    assert "vm_index" in normalised  # not mutated


# -- work items ------------------------------------------------------------------------------

def test_work_items_readdress_and_translate_paths():
    sel, _unused = cutover.selection(make_plan())
    items, problems = cutover.work_items(sel, RECORDS, "takeover")
    assert problems == []
    assert [i["name"] for i in items] == ["db01", "app01", "app02", "web01"]
    db = items[0]
    assert db["nics"] == [{"portgroup": "DR-Prod", "mac": "00:0c:29:00:00:01", "type": "VirtualVmxnet3",
                           "network": "prod", "network_path": "plan.networks[0]", "key": "recovery"}]
    assert db["addresses"][0]["ip"] == "10.20.1.10"
    assert db["addresses"][0]["gateway"] == "10.20.0.1"
    assert db["register_path"] == "[Replica-DS-01] db01/db01.vmx"
    assert db["disks"] == [{"file": "[Replica-DS-01] db01/db01.vmdk", "capacity_kb": 1024, "thin": True}]
    assert items[3]["addresses"][0]["ip"] == "10.20.9.9"  # explicit recovery_ip wins


def test_work_items_drill_goes_to_the_bubble():
    sel, _unused = cutover.selection(make_plan(), tiers=["data"])
    items, _unused = cutover.work_items(sel, RECORDS, "drill")
    assert items[0]["nics"][0]["portgroup"] == "DR-Bubble"


def test_work_items_failback_keeps_primary_ip_and_path():
    sel, _unused = cutover.selection(make_plan(), tiers=["data"])
    items, problems = cutover.work_items(sel, RECORDS, "failback")
    assert problems == []
    assert items[0]["nics"][0]["portgroup"] == "Prod-Net"
    assert items[0]["addresses"][0]["ip"] == "10.10.1.10"
    assert items[0]["register_path"] == "[Prod-DS-01] db01/db01.vmx"


def test_failback_restores_the_primary_gateway_and_dns():
    sel, _unused = cutover.selection(make_plan(), tiers=["data"])
    items, problems = cutover.work_items(sel, RECORDS, "failback")
    assert problems == []
    assert items[0]["addresses"] == [{"ip": "10.10.1.10", "prefix_length": 20, "netmask": "255.255.240.0",
                                      "gateway": "10.10.0.1", "dns_servers": ["10.10.0.53"]}]
    spec = customization.build_spec(customization.customization("db01", items[0]["addresses"]))
    fixed = spec.nicSettingMap[0].adapter
    assert fixed.ip.ipAddress == "10.10.1.10" and fixed.gateway == ["10.10.0.1"]
    assert fixed.dnsServerList == ["10.10.0.53"] and spec.globalIPSettings.dnsServerList == ["10.10.0.53"]


def test_failback_without_a_known_primary_ip_fails_before_change():
    """A primary VM off since the planned takeover reports no IP: never customize it to DHCP."""
    sel, _unused = cutover.selection(make_plan(), tiers=["data"])
    live = {"db01": record("db01", None, power="poweredOff")}
    items, problems = cutover.work_items(sel, live, "failback")
    assert problems == [
        "plan.tiers[0].vms[0]: VM 'db01' NIC 00:0c:29:00:00:01 on plan.networks[0] (portgroup 'Prod-Net') has no "
        "known IP in primary_subnet 10.10.0.0/20 (the guest is off or its tools do not report one): failback would "
        "bring the production VM back on DHCP; pass baseline (the baseline role's record) so its address is "
        "restored"]
    # an IP outside the primary subnet is no address to restore either
    _unused, problems = cutover.work_items(sel, {"db01": record("db01", "10.20.1.10")}, "failback")
    assert len(problems) == 1 and "has no known IP in primary_subnet" in problems[0]
    # shutdown_only re-addresses nothing: no problem
    assert cutover.work_items(sel, live, "failback", shutdown_only=True)[1] == []
    # the baseline record (merged as host_cutover does for failback) has the address
    records = dict(live)
    records.update(baseline.vm_records({"vms": [record("db01", "10.10.1.10")]}))
    items, problems = cutover.work_items(sel, records, "failback")
    assert problems == [] and items[0]["addresses"][0]["ip"] == "10.10.1.10"


def test_failback_needs_the_primary_gateway_of_every_network_used():
    plan = make_plan()
    del plan["networks"][0]["primary_gateway"]
    sel, problems = cutover.selection(plan)
    assert problems == []
    _unused, problems = cutover.work_items(sel, RECORDS, "failback")
    assert problems == [  # once for the network, not once per VM
        "plan.networks[0].primary_gateway: is required for failback: the guest returns with its recovery-site "
        "address and must get its primary gateway back (give primary_gateway, inside primary_subnet 10.10.0.0/20)"]
    assert cutover.work_items(sel, RECORDS, "failback", shutdown_only=True)[1] == []
    # takeover and drill do not use it
    for action in ("takeover", "drill"):
        items, problems = cutover.work_items(sel, RECORDS, action)
        assert problems == [] and items[0]["addresses"][0]["gateway"] == "10.20.0.1"
        assert items[0]["addresses"][0]["dns_servers"] == ["10.20.0.53"]
    tiers = [{"name": "t", "vms": ["db01"]}]
    sel, problems = cutover.selection(None, tiers=tiers, networks=[dict(NET, primary_gateway=None)],
                                      storage_map=[STORE])
    assert problems == []
    assert cutover.work_items(sel, RECORDS, "failback")[1] == [
        "networks[0].primary_gateway: is required for failback: the guest returns with its recovery-site "
        "address and must get its primary gateway back (give primary_gateway, inside primary_subnet 10.10.0.0/20)"]


def test_selection_explicit_network_primary_gateway_and_dns_checked():
    tiers = [{"name": "t", "vms": ["db01"]}]
    for net, problem in [
            (dict(NET, primary_gateway="10.20.0.1"),
             "networks[0].primary_gateway: gateway 10.20.0.1 is outside primary_subnet 10.10.0.0/20"),
            (dict(NET, primary_gateway="gw"), "networks[0].primary_gateway: 'gw' is not a valid IP address"),
            (dict(NET, primary_dns_servers="10.10.0.53"),
             "networks[0].primary_dns_servers: must be a list of IP addresses"),
            (dict(NET, primary_dns_servers=["dns"]),
             "networks[0].primary_dns_servers[0]: 'dns' is not a valid DNS server address")]:
        _unused, problems = cutover.selection(None, tiers=tiers, networks=[net], storage_map=[STORE])
        assert problems == [problem]


def test_work_items_bad_input_named():
    records = copy.deepcopy(RECORDS)
    del records["app02"]
    records["db01"] = record("db01", "10.99.1.10")
    records["app01"] = record("app01", "10.10.1.11", datastore="LocalDS_0")
    records["web01"]["nics"][0]["portgroup"] = "Backup-Net"
    sel, _unused = cutover.selection(make_plan())
    _unused, problems = cutover.work_items(sel, records, "takeover")
    text = "\n".join(problems)
    assert "plan.tiers[1].vms[1]: VM 'app02' not found at site primary" in text
    assert "plan.tiers[0].vms[0]: primary IP 10.99.1.10 of VM 'db01' is not inside primary_subnet" in text
    assert "plan.tiers[1].vms[0]: VM 'app01' has files on datastore 'LocalDS_0'" in text
    assert "plan.tiers[2].vms[0]: VM 'web01' is on portgroup 'Backup-Net'" in text


def test_work_items_collision_with_gateway():
    sel, problems = cutover.selection(None, tiers=[{"name": "t", "vms": [{"name": "db01", "recovery_ip": "10.20.0.1"}]}],
                                      networks=[NET], storage_map=[STORE])
    assert problems == []
    items, problems = cutover.work_items(sel, RECORDS, "takeover")
    assert any("recovered IP 10.20.0.1 of VM 'db01' is the recovery_gateway" in p for p in problems)


def test_target_problems_portgroup_and_unmounted_replica():
    sel, _unused = cutover.selection(make_plan())
    items, _unused = cutover.work_items(sel, RECORDS, "takeover")
    problems = cutover.target_problems(items, sel, {"DR-Bubble": {}}, {"Replica-DS-01": {"mounted": False}},
                                       "takeover", "recovery")
    assert problems == [
        "plan.networks[0].recovery: portgroup 'DR-Prod' not found at site recovery",
        "plan.datastores[0].recovery: datastore 'Replica-DS-01' is not mounted at site recovery: VMs 'db01', "
        "'app01', 'app02', 'web01' have files on it (present the replica with continuity.recovery.storage_mapping)"]
    assert cutover.target_problems(items, sel, {"DR-Prod": {}}, {"Replica-DS-01": {"mounted": True}},
                                   "takeover", "recovery") == []


def two_datastore_plan():
    plan = make_plan()
    plan["datastores"].append(dict(STORE, replication="vmstore2", primary="Prod-DS-02", recovery="Replica-DS-02",
                                   mount={"type": "nfs", "remote_host": "array-dr",
                                          "remote_path": "/exports/replica-ds-02"}))
    plan["replication"].append({"name": "vmstore2", "engine": "rsync", "source": {"path": "/srv/c"},
                                "target": {"path": "/srv/d"}})
    records = copy.deepcopy(RECORDS)
    records["db01"]["disks"].append({"file": "[Prod-DS-02] db01/db01_1.vmdk", "datastore": "Prod-DS-02",
                                     "capacity_kb": 1024, "thin": True})
    records["db01"]["datastores"].append("Prod-DS-02")
    return plan, records


def test_target_problems_every_datastore_of_a_vm_not_only_its_configuration():
    plan, records = two_datastore_plan()
    sel, problems = cutover.selection(plan)
    assert problems == []
    items, problems = cutover.work_items(sel, records, "takeover")
    assert problems == []
    pgs = {"DR-Prod": {}, "DR-Bubble": {}}
    # db01's second disk lives on Replica-DS-02, which is not presented: found before any change
    for action in ("takeover", "drill"):
        assert cutover.target_problems(items, sel, pgs, {"Replica-DS-01": {"mounted": True}}, action,
                                       "recovery") == [
            "plan.datastores[1].recovery: datastore 'Replica-DS-02' is not mounted at site recovery: VM 'db01' has "
            "files on it (present the replica with continuity.recovery.storage_mapping)"]
    both = {"Replica-DS-01": {"mounted": True}, "Replica-DS-02": {"mounted": True}}
    assert cutover.target_problems(items, sel, pgs, both, "takeover", "recovery") == []
    # failback: the primary datastores themselves
    items, _unused = cutover.work_items(sel, records, "failback")
    primary = {"Prod-DS-01": {"mounted": True}, "Prod-DS-02": {"mounted": False}}
    assert cutover.target_problems(items, sel, {"Prod-Net": {}}, primary, "failback", "primary") == [
        "plan.datastores[1].primary: datastore 'Prod-DS-02' is not mounted at site primary: VM 'db01' has files "
        "on it"]


def test_target_problems_drill_datastore_must_be_mounted():
    sel, _unused = cutover.selection(make_plan(), tiers=["data"])
    items, _unused = cutover.work_items(sel, RECORDS, "drill")
    pgs = {"DR-Bubble": {}}
    mounted = {"Replica-DS-01": {"mounted": True}}
    assert cutover.target_problems(items, sel, pgs, mounted, "drill", "recovery", "Scratch-DS") == [
        "drill_datastore: datastore 'Scratch-DS' is not found at site recovery (the drill clones of VM 'db01' put "
        "their child disks there)"]
    assert cutover.target_problems(items, sel, pgs, dict(mounted, **{"Scratch-DS": {"mounted": False}}), "drill",
                                   "recovery", "Scratch-DS")[0].startswith(
        "drill_datastore: datastore 'Scratch-DS' is not mounted at site recovery")
    assert cutover.target_problems(items, sel, pgs, dict(mounted, **{"Scratch-DS": {"mounted": True}}), "drill",
                                   "recovery", "Scratch-DS") == []
    # only a drill clones onto it
    items, _unused = cutover.work_items(sel, RECORDS, "takeover")
    assert cutover.target_problems(items, sel, {"DR-Prod": {}}, mounted, "takeover", "recovery", "Scratch-DS") == []


def test_drill_adopts_an_unmarked_vm_only_when_it_is_the_replica():
    item = item_for(action="drill")
    replica = {"power": "poweredOff", "marker": {}, "vm_path_name": "[Replica-DS-01] db01/db01.vmx"}
    assert cutover.adoption_problem(item, None) is None
    assert cutover.adoption_problem(item, replica) is None
    assert cutover.adoption_problem(item, dict(replica, vm_path_name="[Replica-DS-01]  db01/db01.vmx")) is None
    assert cutover.adoption_problem(item, dict(replica, power="poweredOn")) == (
        "plan.tiers[0].vms[0]: VM 'db01' at the recovery site is not the replica: it is poweredOn (a replica "
        "registration is powered off); rename or remove it, or register the replica there yourself")
    assert cutover.adoption_problem(item, dict(replica, vm_path_name="[LocalDS_0] db01/db01.vmx")) == (
        "plan.tiers[0].vms[0]: VM 'db01' at the recovery site is not the replica: it is registered from "
        "[LocalDS_0] db01/db01.vmx, not from the replica [Replica-DS-01] db01/db01.vmx; rename or remove it, or "
        "register the replica there yourself")
    both = cutover.adoption_problem(item, dict(replica, power="suspended", vm_path_name="[Replica-DS-01] x/x.vmx"))
    assert "it is suspended" in both and "registered from [Replica-DS-01] x/x.vmx" in both
    # a registration this collection made (marker) is judged by the executor's own rules
    assert cutover.adoption_problem(item, dict(replica, power="poweredOn", marker={"role": "drill-source"})) is None


# -- steps (idempotence) ------------------------------------------------------------------------

def item_for(name="db01", action="takeover"):
    sel, _unused = cutover.selection(make_plan())
    items, _unused = cutover.work_items(sel, RECORDS, action)
    return next(i for i in items if i["name"] == name)


DB01_SOURCE_NICS = [{"mac": "00:0c:29:00:00:01", "ip_addresses": ["10.10.1.10"]}]


def state(power="poweredOn", ips=("10.20.1.10",), portgroup="DR-Prod", role="takeover", disks=True,
          source_nics="db01"):
    """The recovery-site state of db01; ``source_nics`` the recorded addresses (default db01's own)."""
    if source_nics == "db01":
        source_nics = copy.deepcopy(DB01_SOURCE_NICS)
    mark = {"role": role, "source": "db01", "source_nics": source_nics} if role else {}
    return {"power": power, "ips": list(ips), "marker": {k: v for k, v in mark.items() if v is not None},
            "nics": [{"key": 4000, "mac": "00:0c:29:00:00:01", "portgroup": portgroup, "type": "VirtualVmxnet3"}],
            "disks": [{"file": "[Replica-DS-01] db01/db01.vmdk"}] if disks else []}


def test_steps_for_a_vm_not_yet_registered_planned():
    assert cutover.steps(item_for(), None, "takeover", "planned", True) == [
        "shutdown_source", "register", "reconfigure", "customize", "power_on", "wait_ip"]
    assert cutover.steps(item_for(), None, "takeover", "emergency", True)[0] == "register"
    assert cutover.steps(item_for(), None, "takeover", "planned", False)[0] == "register"


def test_steps_nothing_for_a_vm_already_recovered():
    item = dict(item_for(), source_power="poweredOff")
    assert cutover.steps(item, state(), "takeover", "planned", True) == []


def test_steps_refresh_a_registration_that_records_other_source_addresses():
    item = dict(item_for(), source_power="poweredOff")
    assert item["source_nics"] == DB01_SOURCE_NICS
    for recorded in (None, [{"mac": "00:0c:29:00:00:01", "ip_addresses": ["10.10.1.77"]}]):
        target = state(source_nics=recorded)  # an earlier version's registration, or an earlier takeover's
        assert cutover.steps(item, target, "takeover", "planned", True) == ["reconfigure"]
        assert cutover.marker_changes(item, target) == ["record the source addresses 10.10.1.10 in the marker"]
    # a fresh registration carries no marker: reconfigured (and marked) anyway, nothing extra to say
    assert cutover.marker_changes(item, state(role=None)) == []
    # failback items record nothing
    assert item_for(action="failback")["source_nics"] is None
    assert cutover.marker_changes(item_for(action="failback"), state(source_nics=None)) == []


def test_steps_resume_after_register():
    item = dict(item_for(), source_power="poweredOff")
    found = cutover.steps(item, state(power="poweredOff", ips=(), portgroup=None, role=None, disks=False),
                          "takeover", "planned", True)
    assert found == ["reconfigure", "customize", "power_on", "wait_ip"]


def test_steps_waits_for_a_running_vm_without_ip_and_refuses_a_wrong_one():
    item = dict(item_for(), source_power="poweredOff")
    assert cutover.steps(item, state(ips=()), "takeover", "planned", True) == ["wait_ip"]
    with pytest.raises(InvalidInput, match="refusing to re-address"):
        cutover.steps(item, state(ips=("10.20.5.5",)), "takeover", "planned", True)
    with pytest.raises(InvalidInput, match="power it off"):
        cutover.steps(item, state(portgroup="Other"), "takeover", "planned", True)


def test_steps_shutdown_only_is_the_source_shutdown_alone():
    running = dict(item_for(), source_power="poweredOn")
    assert cutover.steps(running, None, "takeover", "planned", True, shutdown_only=True) == ["shutdown_source"]
    # the target is not looked at: a VM running there with another IP is no reason to refuse the shutdown
    assert cutover.steps(running, state(ips=("10.20.5.5",)), "takeover", "planned", True,
                         shutdown_only=True) == ["shutdown_source"]
    stopped = dict(item_for(), source_power="poweredOff")
    assert cutover.steps(stopped, None, "takeover", "planned", True, shutdown_only=True) == []
    assert cutover.steps(running, None, "takeover", "planned", False, shutdown_only=True) == []
    assert cutover.steps(dict(item_for(action="failback"), source_power="poweredOn"), None, "failback",
                         "planned", True, shutdown_only=True) == ["shutdown_source"]


def test_target_problems_for_a_shutdown_skip_the_replica_datastores():
    sel, _unused = cutover.selection(make_plan())
    items, _unused = cutover.work_items(sel, RECORDS, "takeover")
    assert cutover.target_problems(items, sel, {"DR-Prod": {}}, {}, "shutdown", "recovery") == []
    assert cutover.target_problems(items, sel, {}, {}, "shutdown", "recovery")[0].endswith(
        "portgroup 'DR-Prod' not found at site recovery")


def test_merge_records_keeps_baseline_ips_of_a_guest_shut_down():
    before = {"db01": record("db01", "10.10.1.10"), "db02": record("db02", "10.10.1.11")}
    off = dict(record("db01", "10.10.1.10"), power_state="poweredOff")
    off["nics"] = [dict(n, ip_addresses=[]) for n in off["nics"]]
    moved = record("db02", "10.10.1.99")
    merged = cutover.merge_records(before, {"db01": off, "db02": moved})
    assert merged["db01"]["power_state"] == "poweredOff"
    assert merged["db01"]["nics"][0]["ip_addresses"] == ["10.10.1.10"]
    assert merged["db02"]["nics"][0]["ip_addresses"] == ["10.10.1.99"]  # a live IP wins
    assert cutover.merge_records({}, {"db01": off})["db01"]["nics"][0]["ip_addresses"] == []


def test_source_nics_round_trip_through_the_marker():
    nics = cutover.source_nics(RECORDS["db01"])
    assert nics == DB01_SOURCE_NICS
    assert cutover.source_nics(dict(RECORDS["db01"], nics=[dict(RECORDS["db01"]["nics"][0], ip_addresses=[])])) \
        is None  # nothing worth recording: an older, better record is not overwritten
    value = cutover.encode_source_nics(nics)
    assert cutover.marker([{"key": cutover.MARKER_SOURCE_NICS, "value": value}]) == {"source_nics": nics}
    for bad in ("not json", '{"mac": "x"}', '[{"mac": 1, "ip_addresses": []}]', '[{"ip_addresses": [5]}]', None):
        assert cutover.marker([{"key": cutover.MARKER_SOURCE_NICS, "value": bad}]) == {}, bad


def off_records():
    out = {}
    for name, rec in RECORDS.items():
        out[name] = dict(rec, power_state="poweredOff", nics=[dict(n, ip_addresses=[]) for n in rec["nics"]])
    return out


def registration(source, nics, role="takeover"):
    return {"power": "poweredOn", "marker": {"role": role, "source": source, "source_nics": nics}}


def test_fill_from_registrations_takes_only_this_collections_takeover_records():
    records = off_records()
    assert cutover.lacking_ips(records, ["db01", "app01", "ghost"]) == ["db01", "app01"]
    assert cutover.lacking_ips(RECORDS, list(RECORDS)) == []
    other_mac = [{"mac": "00:0c:29:99:99:99", "ip_addresses": ["10.10.1.11"]}]  # by position when no MAC matches
    states = {"db01": registration("db01", DB01_SOURCE_NICS), "app01": registration("app01", other_mac),
              "app02": registration("web01", [{"mac": None, "ip_addresses": ["10.10.1.99"]}]),  # another VM's
              "web01": registration("web01", [{"mac": None, "ip_addresses": ["10.10.1.98"]}], role="drill-clone"),
              "ghost": registration("ghost", DB01_SOURCE_NICS)}
    filled = cutover.fill_from_registrations(records, states)
    assert filled["db01"]["nics"][0]["ip_addresses"] == ["10.10.1.10"]
    assert filled["app01"]["nics"][0]["ip_addresses"] == ["10.10.1.11"]
    assert filled["app02"]["nics"][0]["ip_addresses"] == [] and filled["web01"]["nics"][0]["ip_addresses"] == []
    assert "ghost" not in filled and filled["db01"]["power_state"] == "poweredOff"
    assert records["db01"]["nics"][0]["ip_addresses"] == []  # not mutated
    # a live IP is never replaced by a recorded one
    live = dict(RECORDS)
    assert cutover.fill_from_registrations(live, {"db01": registration("db01", [
        {"mac": "00:0c:29:00:00:01", "ip_addresses": ["10.10.1.77"]}])})["db01"] == RECORDS["db01"]


def test_work_items_of_sources_shut_down_say_what_to_pass():
    sel, _unused = cutover.selection(make_plan())
    records = dict(RECORDS, db01=off_records()["db01"])
    items, problems = cutover.work_items(sel, records, "takeover")
    assert len(problems) == 1 and problems[0].startswith("plan.tiers[0].vms[0]: VM 'db01' reports no IPv4 address")
    assert problems[0].endswith("is powered off at site primary and no takeover registration of this collection at "
                                "the recovery site records its addresses: pass baseline (the baseline role's record)")
    # a running guest without an IP gets plan_sites' words alone (its tools may be starting)
    running = dict(off_records()["db01"], power_state="poweredOn")
    _unused, problems = cutover.work_items(sel, dict(RECORDS, db01=running), "takeover")
    assert problems[0].endswith("give it an explicit recovery_ip")
    filled = cutover.fill_from_registrations(records, {"db01": registration("db01", DB01_SOURCE_NICS)})
    items, problems = cutover.work_items(sel, filled, "takeover")
    assert problems == [] and items[0]["addresses"][0]["ip"] == "10.20.1.10"
    assert items[0]["source_nics"] == DB01_SOURCE_NICS


def test_marker_and_snapshot_tree():
    assert cutover.marker([{"key": cutover.MARKER_ROLE, "value": "drill-clone"},
                           {"key": cutover.MARKER_SOURCE, "value": "db01"}, {"key": "x", "value": "y"}]) == \
        {"role": "drill-clone", "source": "db01"}
    tree = {"rootSnapshotList": [{"name": "a", "snapshot": "snapshot-1", "childSnapshotList": [
        {"name": cutover.DRILL_SNAPSHOT, "snapshot": "snapshot-2"}]}]}
    assert [s["moid"] for s in cutover.snapshot_list(tree)] == ["snapshot-1", "snapshot-2"]


# -- NICs and disks -------------------------------------------------------------------------------

def test_nic_plan_matches_by_mac_then_position():
    current = [{"key": 1, "mac": "aa", "portgroup": "Prod-Net"}, {"key": 2, "mac": "bb", "portgroup": "DR-Prod"},
               {"key": 3, "mac": "cc", "portgroup": "X"}]
    desired = [{"portgroup": "DR-Prod", "mac": "bb"}, {"portgroup": "DR-Prod", "mac": "zz"}]
    plan = nics.nic_plan(current, desired)
    assert [n["key"] for n in plan["keep"]] == [2]
    assert [(n["key"], w["mac"]) for n, w in plan["edit"]] == [(1, "zz")]
    assert [n["key"] for n in plan["remove"]] == [3]
    assert plan["add"] == [] and plan["changed"]


def test_nic_plan_adds_to_a_vm_without_devices_and_keeps_a_good_one():
    desired = [{"portgroup": "DR-Prod", "mac": "aa"}]
    assert nics.nic_plan([], desired)["add"] == desired
    assert not nics.nic_plan([{"key": 1, "mac": "AA", "portgroup": "DR-Prod"}], desired)["changed"]


def test_disk_plan_and_device_changes():
    disks = nics.disk_plan([{"file": "[R] a/a.vmdk"}], [{"file": "[R] a/a.vmdk"}, {"file": "[R] a/a_1.vmdk",
                                                                                   "capacity_kb": 10}])
    assert disks == [{"file": "[R] a/a_1.vmdk", "capacity_kb": 10}]
    pgs = {"DR-Prod": {"name": "DR-Prod", "type": "distributed", "key": "dvportgroup-1", "switch_uuid": "u-1"},
           "Std": {"name": "Std", "type": "standard", "obj": None}}
    plan = nics.nic_plan([{"key": 7, "mac": "aa", "portgroup": "X", "type": "VirtualE1000", "label": "NIC 1"}],
                         [{"portgroup": "DR-Prod", "mac": "aa"}, {"portgroup": "Std"}])
    specs = nics.device_changes(plan, pgs, disks)
    ops = [(s.operation, type(s.device).__name__) for s in specs]
    assert ops == [("edit", "vim.vm.device.VirtualE1000"), ("add", "vim.vm.device.VirtualVmxnet3"),
                   ("add", "vim.vm.device.ParaVirtualSCSIController"), ("add", "vim.vm.device.VirtualDisk")]
    assert specs[0].device.backing.port.portgroupKey == "dvportgroup-1"
    assert specs[1].device.backing.deviceName == "Std"
    assert specs[3].device.controllerKey == specs[2].device.key and specs[3].device.backing.fileName == "[R] a/a_1.vmdk"
    assert nics.describe(plan, disks) == ["edit NIC NIC 1 (aa): X -> DR-Prod", "add NIC on Std",
                                          "attach disk [R] a/a_1.vmdk"]


def test_disks_go_on_an_existing_controller_skipping_used_units():
    specs = nics.device_changes({"edit": [], "add": [], "remove": []}, {}, [{"file": "[R] a.vmdk"}],
                                controller={"key": 1000, "units": [0, 1]})
    assert len(specs) == 1 and specs[0].device.controllerKey == 1000 and specs[0].device.unitNumber == 2


# -- customization -------------------------------------------------------------------------------

def test_customization_spec_one_mapping_per_nic():
    data = customization.customization("DB_01.prod", [
        {"ip": "10.20.1.10", "prefix_length": 20, "netmask": "255.255.240.0", "gateway": "10.20.0.1",
         "dns_servers": ["10.20.0.53"]}, None,
        {"ip": "2001:db8::5", "prefix_length": 64, "netmask": None, "gateway": "2001:db8::1", "dns_servers": []}])
    assert data["hostname"] == "db-01-prod"
    assert data["dns_servers"] == ["10.20.0.53"]
    spec = customization.build_spec(data)
    assert isinstance(spec, vim.vm.customization.Specification)
    assert len(spec.nicSettingMap) == 3
    fixed = spec.nicSettingMap[0].adapter
    assert fixed.ip.ipAddress == "10.20.1.10" and fixed.subnetMask == "255.255.240.0" and fixed.gateway == ["10.20.0.1"]
    assert isinstance(spec.nicSettingMap[1].adapter.ip, vim.vm.customization.DhcpIpGenerator)
    assert spec.nicSettingMap[2].adapter.ipV6Spec.ip[0].subnetMask == 64
    assert spec.identity.hostName.name == "db-01-prod"


def test_hostname_never_empty():
    assert customization.hostname("###") == "recovered"
    assert len(customization.hostname("a" * 100)) == 63


# -- storage presentation ----------------------------------------------------------------------------

HOSTS = [{"_moid": "host-1", "name": "H0", "datastore": ["ds-9"]}, {"_moid": "host-2", "name": "H1", "datastore": []}]


def entry(**mount):
    return {"primary": "P", "recovery": "Replica-DS-01", "path": "storage_map[0]",
            "mount": dict({"type": "nfs", "remote_host": "array-dr", "remote_path": "/exports/r"}, **mount)}


def test_present_plan_mounts_where_missing():
    ds = [{"_moid": "ds-9", "name": "Replica-DS-01", "host": [],
           "info": {"_type": "NasDatastoreInfo", "nas": {"remoteHost": "array-dr", "remotePath": "/exports/r"}}}]
    plan, problems = presentation.present_plan([entry()], HOSTS, ds)
    assert problems == [] and plan[0]["hosts_to_mount"] == ["H1"] and plan[0]["mounted_on"] == ["H0"]
    plan, _unused = presentation.present_plan([entry()], HOSTS, [])
    assert plan[0]["hosts_to_mount"] == ["H0", "H1"]


def test_present_plan_refuses_another_export_and_bad_specs():
    ds = [{"_moid": "ds-9", "name": "Replica-DS-01", "host": [],
           "info": {"_type": "NasDatastoreInfo", "nas": {"remoteHost": "other", "remotePath": "/x"}}}]
    _unused, problems = presentation.present_plan([entry()], HOSTS, ds)
    assert problems == ["storage_map[0].recovery: datastore 'Replica-DS-01' exists backed by other:/x, "
                        "not by array-dr:/exports/r"]
    _unused, problems = presentation.present_plan([entry(type="iscsi")], HOSTS, [])
    assert problems == ["storage_map[0].mount.type: must be nfs, nfs41 or vmfs, got 'iscsi'"]
    _unused, problems = presentation.present_plan([entry(type="vmfs")], HOSTS, [])
    assert problems == ["storage_map[0].mount.volume_label: is required for type vmfs"]


def test_absent_plan_refuses_while_vms_are_registered():
    ds = [{"_moid": "ds-9", "name": "Replica-DS-01", "host": [], "vm": ["vm-1"], "obj": None}]
    _unused, problems = presentation.absent_plan([entry()], HOSTS, ds, {"vm-1": "db01"})
    assert problems == ["storage_map[0].recovery: datastore 'Replica-DS-01' still holds registered VMs (db01); "
                        "unregister them first"]
    ds[0]["vm"] = []
    plan, problems = presentation.absent_plan([entry()], HOSTS, ds, {})
    assert problems == [] and plan[0]["hosts_to_unmount"] == ["H0"]


class NoVmfs:
    def QueryUnresolvedVmfsVolume(self):
        raise vim.fault.NotSupported(msg="not in this simulator")


class WithVmfs:
    def QueryUnresolvedVmfsVolume(self):
        return []


def test_vmfs_capability_check():
    capable, why = presentation.vmfs_capable(NoVmfs())
    assert not capable and "NotSupported" in why
    assert presentation.vmfs_capable(WithVmfs()) == (True, None)


def test_vmfs_plan_decisions():
    vmfs = entry(type="vmfs", volume_label="prod-ds-01", resolution="resignature")
    volume = {"vmfsLabel": "prod-ds-01", "vmfsUuid": "u-1", "resolveStatus": {"resolvable": True},
              "extent": [{"devicePath": "/vmfs/devices/disks/naa.1:1"}]}
    assert presentation.vmfs_plan(vmfs, [volume], [])["action"] == "resignature"
    assert presentation.vmfs_plan(vmfs, [volume], [])["extent_paths"] == ["/vmfs/devices/disks/naa.1:1"]
    assert presentation.vmfs_plan(vmfs, [volume], ["Replica-DS-01"])["action"] == "none"
    assert presentation.vmfs_plan(vmfs, [], [])["action"] == "missing"
    assert presentation.vmfs_plan(vmfs, [volume, volume], [])["action"] == "ambiguous"
    blocked = dict(volume, resolveStatus={"resolvable": False})
    assert presentation.vmfs_plan(vmfs, [blocked], [])["action"] == "blocked"
    force = entry(type="vmfs", volume_label="prod-ds-01", resolution="force_mount")
    assert presentation.vmfs_plan(force, [volume], [])["action"] == "force_mount"
    assert presentation.vmfs_plan(force, [dict(volume, resolveStatus={"multipleCopies": True})], [])["action"] == \
        "blocked"


# -- re-addressing onto reserved addresses (plan_sites' rules) -------------------------------------

def test_work_items_a_vm_remapped_onto_a_dns_server_is_a_problem():
    sel, _unused = cutover.selection(make_plan())
    records = dict(RECORDS, db01=record("db01", "10.10.0.53"))  # host offset of the recovery DNS server
    _unused, problems = cutover.work_items(sel, records, "takeover")
    assert problems == ["plan.tiers[0].vms[0]: recovered IP 10.20.0.53 of VM 'db01' is a DNS server of "
                        "plan.networks[0] (prod)"]
    tiers = [{"name": "t", "vms": [{"name": "db01", "recovery_ip": "10.20.0.54"}]}]
    sel, problems = cutover.selection(None, tiers=tiers, networks=[dict(NET, dns_servers=["10.20.0.54"])],
                                      storage_map=[STORE])
    assert problems == []
    assert cutover.work_items(sel, RECORDS, "drill")[1] == [
        "tiers[0].vms[0]: recovered IP 10.20.0.54 of VM 'db01' is a DNS server of networks[0] (prod)"]


def test_selection_explicit_recovery_ip_on_the_network_or_broadcast_address():
    tiers = [{"name": "t", "vms": [{"name": "web01", "recovery_ip": "10.20.15.255"},
                                   {"name": "app01", "recovery_ip": "10.20.0.0", "network": "prod"}]}]
    _unused, problems = cutover.selection(None, tiers=tiers, networks=[NET], storage_map=[STORE])
    assert problems == [
        "tiers[0].vms[0].recovery_ip: 10.20.15.255 is the broadcast address of recovery_subnet 10.20.0.0/20 of "
        "network 'prod'",
        "tiers[0].vms[1].recovery_ip: 10.20.0.0 is the network address of recovery_subnet 10.20.0.0/20 of "
        "network 'prod'"]
    # and work_items (plan_sites / ipmap) refuses it too, should a selection ever let it through
    tiers = [{"name": "t", "vms": [{"name": "web01", "recovery_ip": "10.20.9.9"}]}]
    sel, _unused = cutover.selection(None, tiers=tiers, networks=[NET], storage_map=[STORE])
    sel["tiers"][0]["vms"][0]["recovery_ip"] = "10.20.15.255"
    items, problems = cutover.work_items(sel, RECORDS, "takeover")
    assert problems == ["tiers[0].vms[0]: recovery_ip 10.20.15.255 of VM 'web01' is the broadcast address of "
                        "recovery subnet 10.20.0.0/20, not a host address"]
    assert items[0]["addresses"] == [None]


def test_selection_explicit_network_dns_servers_checked():
    tiers = [{"name": "t", "vms": ["db01"]}]
    for net, problem in [(dict(NET, dns_servers="10.20.0.53"),
                          "networks[0].dns_servers: must be a list of IP addresses"),
                         (dict(NET, dns_servers=["dns"]),
                          "networks[0].dns_servers[0]: 'dns' is not a valid DNS server address")]:
        assert cutover.selection(None, tiers=tiers, networks=[net], storage_map=[STORE])[1] == [problem]


def test_work_items_collisions_with_vms_of_the_other_plan_tiers():
    """The takeover role runs one tier at a time: a VM must not take the address of a VM of another tier."""
    sel, _unused = cutover.selection(make_plan(), tiers=["app"])
    records = dict(RECORDS, app01=record("app01", "10.10.9.9"))  # lands on web01's explicit recovery_ip
    _unused, problems = cutover.work_items(sel, records, "takeover")
    assert problems == ["plan.tiers[1].vms[0]: recovered IP 10.20.9.9 of VM 'app01' is also the recovered IP of VM "
                        "'web01' (plan.tiers[2].vms[0])"]
    # the address of a VM of another tier computed from its record (baseline): web01 onto db01's address
    plan = make_plan()
    plan["tiers"][2]["vms"][0]["recovery_ip"] = "10.20.1.10"
    sel, problems = cutover.selection(plan, tiers=["web"])
    assert problems == []
    _unused, problems = cutover.work_items(sel, RECORDS, "takeover")
    assert problems == ["plan.tiers[2].vms[0]: recovered IP 10.20.1.10 of VM 'web01' is also the recovered IP of VM "
                        "'db01' (plan.tiers[0].vms[0])"]
    # a VM left out by `vms` counts too; a VM of another tier with no record and no recovery_ip is skipped
    sel, _unused = cutover.selection(plan, tiers=["web"])
    assert cutover.work_items(sel, {"web01": RECORDS["web01"]}, "takeover")[1] == []
    sel, _unused = cutover.selection(make_plan(), tiers=["app"], vms=["app02"])
    records = dict(RECORDS, app02=record("app02", "10.10.1.11"))  # app01's address
    assert cutover.work_items(sel, records, "takeover")[1] == [
        "plan.tiers[1].vms[1]: recovered IP 10.20.1.11 of VM 'app02' is also the recovered IP of VM 'app01' "
        "(plan.tiers[1].vms[0])"]
    # clashes between VMs not selected are theirs to report; a failback re-addresses nothing
    records = dict(RECORDS, db01=record("db01", "10.10.0.1"))
    sel, _unused = cutover.selection(make_plan(), tiers=["web"])
    assert cutover.work_items(sel, records, "takeover")[1] == []
    sel, _unused = cutover.selection(make_plan(), tiers=["app"])
    assert cutover.work_items(sel, dict(RECORDS, app01=record("app01", "10.10.9.9")), "failback")[1] == []


def test_work_items_skip_other_tiers_vms_whose_network_the_map_lacks():
    """A VM of another tier naming a network the `networks` option leaves out has no address here (it raised)."""
    plan = make_plan()
    plan["tiers"][2]["vms"][0] = {"name": "web01", "recovery_ip": "10.20.9.9", "network": "prod"}
    sel, problems = cutover.selection(plan, tiers=["app"], networks=[dict(NET, name="other")])
    assert problems == []
    items, problems = cutover.work_items(sel, RECORDS, "takeover")
    assert problems == [] and [i["name"] for i in items] == ["app01", "app02"]

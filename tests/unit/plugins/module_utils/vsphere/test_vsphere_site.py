"""site.py over hand-built inventory rows: records, NIC resolution, scope and abnormalities."""

from __future__ import annotations

from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import site

HOSTS = [
    {"_moid": "host-1", "name": "esx1", "parent": "cl-1", "datastore": ["ds-1", "ds-2"],
     "overallStatus": "green", "runtime.connectionState": "connected", "runtime.powerState": "poweredOn",
     "runtime.inMaintenanceMode": False},
    {"_moid": "host-2", "name": "esx2", "parent": "cl-1", "datastore": ["ds-1"], "overallStatus": "red",
     "runtime.connectionState": "notResponding", "runtime.powerState": "unknown",
     "runtime.inMaintenanceMode": True},
    {"_moid": "host-9", "name": "esx9", "parent": "cl-2", "datastore": ["ds-9"], "overallStatus": "green",
     "runtime.connectionState": "connected", "runtime.powerState": "poweredOn",
     "runtime.inMaintenanceMode": False},
]
CLUSTERS = [
    {"_moid": "cl-1", "name": "DC0_C0", "host": ["host-1", "host-2"], "overallStatus": "yellow",
     "configurationEx": {"_type": "ClusterConfigInfoEx", "dasConfig": {"enabled": True},
                         "drsConfig": {"enabled": False}}},
    {"_moid": "cl-2", "name": "Other", "host": ["host-9"], "overallStatus": "green",
     "configurationEx": {"_type": "ClusterConfigInfoEx", "dasConfig": {}, "drsConfig": {"enabled": True}}},
]
GB = 1024 ** 3
DATASTORES = [
    {"_moid": "ds-1", "name": "Prod-DS-01", "host": [], "summary.type": "NFS", "summary.accessible": True,
     "summary.capacity": 100 * GB, "summary.freeSpace": 40 * GB, "summary.url": "ds:///1/",
     "summary.maintenanceMode": "normal"},
    {"_moid": "ds-2", "name": "Tight-DS", "host": [{"key": "host-1"}], "summary.type": "VMFS",
     "summary.accessible": True, "summary.capacity": 100 * GB, "summary.freeSpace": 5 * GB,
     "summary.url": "ds:///2/"},
    {"_moid": "ds-9", "name": "Elsewhere", "host": [], "summary.type": "NFS", "summary.accessible": False,
     "summary.capacity": 0, "summary.freeSpace": 0, "summary.url": "ds:///9/"},
]
NETWORKS = [
    {"_moid": "network-7", "_type": "Network", "name": "VM Network"},
    {"_moid": "dvportgroup-30", "_type": "DistributedVirtualPortgroup", "name": "DSwitch-Uplinks",
     "key": "dvportgroup-30", "config.distributedVirtualSwitch": "dvs-1"},
    {"_moid": "dvportgroup-33", "_type": "DistributedVirtualPortgroup", "name": "Prod-Net",
     "key": "dvportgroup-33", "config.distributedVirtualSwitch": "dvs-1"},
]
SWITCHES = [{"_moid": "dvs-1", "name": "DSwitch-Prod", "uuid": "50 1a", "config.uplinkPortgroup": ["dvportgroup-30"]}]


def dvs_nic(key, mac, pg_key="dvportgroup-33", connected=True):
    return {"_type": "VirtualVmxnet3", "key": key, "macAddress": mac, "addressType": "generated",
            "deviceInfo": {"label": "Network adapter %d" % (key - 3999)},
            "backing": {"_type": site.DVS_BACKING, "port": {"switchUuid": "50 1a", "portgroupKey": pg_key}},
            "connectable": {"connected": connected, "startConnected": True}}


def std_nic(key, mac, name="VM Network"):
    return {"_type": "VirtualE1000", "key": key, "macAddress": mac,
            "deviceInfo": {"label": "Network adapter %d" % (key - 3999)},
            "backing": {"_type": site.NETWORK_BACKING, "deviceName": name, "network": "network-7"},
            "connectable": {"connected": False, "startConnected": False}}


def vm(name, host="host-1", power="poweredOn", tools="guestToolsRunning", heartbeat="green", devices=None,
       guest_net=None):
    return {"_moid": "vm-" + name, "name": name, "runtime.powerState": power, "runtime.host": host,
            "guest.toolsRunningStatus": tools, "guestHeartbeatStatus": heartbeat,
            "guest.ipAddress": "10.10.1.10", "guest.net": guest_net or [],
            "config.hardware.device": devices or [], "config.files.vmPathName": "[Prod-DS-01] %s/%s.vmx" % (name, name),
            "config.uuid": "uuid-" + name, "config.instanceUuid": "iuuid-" + name, "config.template": False,
            "datastore": ["ds-1"]}


def record(vms, **kwargs):
    return site.site_record(HOSTS, CLUSTERS, DATASTORES, NETWORKS, SWITCHES, vms, **kwargs)


def test_host_cluster_datastore_records():
    out = record([])
    hosts = {h["name"]: h for h in out["hosts"]}
    assert hosts["esx2"] == {"name": "esx2", "moid": "host-2", "cluster": "DC0_C0",
                             "connection_state": "notResponding", "power_state": "unknown",
                             "in_maintenance": True, "overall_status": "red"}
    clusters = {c["name"]: c for c in out["clusters"]}
    assert clusters["DC0_C0"]["ha_enabled"] is True and clusters["DC0_C0"]["drs_enabled"] is False
    assert clusters["DC0_C0"]["host_count"] == 2 and clusters["DC0_C0"]["hosts"] == ["esx1", "esx2"]
    assert clusters["Other"]["ha_enabled"] is False
    ds = {d["name"]: d for d in out["datastores"]}
    assert ds["Prod-DS-01"]["free_pct"] == 40.0
    assert ds["Prod-DS-01"]["hosts"] == ["esx1", "esx2"]
    assert ds["Tight-DS"]["hosts"] == ["esx1"]
    assert ds["Elsewhere"]["free_pct"] is None


def test_portgroups_have_keys_switch_and_uplink_flag():
    pgs = {p["name"]: p for p in record([])["portgroups"]}
    assert pgs["Prod-Net"] == {"name": "Prod-Net", "moid": "dvportgroup-33", "key": "dvportgroup-33",
                               "switch": "DSwitch-Prod", "switch_uuid": "50 1a", "type": "distributed",
                               "uplink": False}
    assert pgs["DSwitch-Uplinks"]["uplink"] is True
    assert pgs["VM Network"]["type"] == "standard" and pgs["VM Network"]["switch"] is None


def test_nics_resolve_dvs_key_to_name_and_guest_ips_by_key_then_mac():
    row = vm("web01", devices=[dvs_nic(4000, "00:50:56:aa:00:01"), std_nic(4001, "00:50:56:AA:00:02")],
             guest_net=[{"deviceConfigId": 4000, "macAddress": "00:50:56:aa:00:01",
                         "ipAddress": ["10.10.1.10", "fe80::1"]},
                        # no deviceConfigId: matched by MAC, case-insensitively
                        {"macAddress": "00:50:56:aa:00:02",
                         "ipConfig": {"ipAddress": [{"ipAddress": "192.168.0.5", "prefixLength": 24}]}}])
    nics = record([row], protected=["web01"])["vms"][0]["nics"]
    assert nics[0] == {"label": "Network adapter 1", "key": 4000, "type": "VirtualVmxnet3",
                       "mac": "00:50:56:aa:00:01", "portgroup": "Prod-Net", "portgroup_key": "dvportgroup-33",
                       "switch": "DSwitch-Prod", "connected": True, "start_connected": True,
                       "ip_addresses": ["10.10.1.10", "fe80::1"]}
    assert nics[1]["portgroup"] == "VM Network" and nics[1]["portgroup_key"] is None
    assert nics[1]["connected"] is False
    assert nics[1]["ip_addresses"] == ["192.168.0.5"]


def test_vm_record_fields():
    disk = {"_type": "VirtualDisk", "key": 2000, "capacityInKB": 2048, "deviceInfo": {"label": "Hard disk 1"},
            "backing": {"_type": "VirtualDiskFlatVer2BackingInfo", "fileName": "[Tight-DS] web01/web01.vmdk",
                        "datastore": "ds-2", "thinProvisioned": False}}
    rec = record([vm("web01", devices=[disk])], protected=["web01"])["vms"][0]
    assert rec["host"] == "esx1" and rec["cluster"] == "DC0_C0"
    assert rec["uuid"] == "uuid-web01" and rec["instance_uuid"] == "iuuid-web01"
    assert rec["vm_path_name"] == "[Prod-DS-01] web01/web01.vmx"
    assert rec["datastores"] == ["Prod-DS-01", "Tight-DS"]
    assert rec["disks"][0]["datastore"] == "Tight-DS" and rec["disks"][0]["thin"] is False
    assert rec["protected"] is True and rec["template"] is False


def test_heartbeat_falls_back_to_quick_stats():
    row = vm("web01", heartbeat=None)
    row["summary.quickStats.guestHeartbeatStatus"] = "gray"
    assert record([row])["vms"][0]["heartbeat_status"] == "gray"


def test_abnormalities_each_check():
    vms = [vm("ok01"), vm("off01", power="poweredOff", tools="guestToolsNotRunning", heartbeat="gray"),
           vm("notools01", tools="guestToolsNotRunning", heartbeat="gray"),
           vm("yellow01", heartbeat="yellow"), vm("unwatched01", power="poweredOff")]
    out = record(vms, protected=["ok01", "off01", "notools01", "yellow01", "ghost01"])
    found = [(a["type"], a["object"], a["check"]) for a in out["abnormalities"]]
    assert found == [
        ("host", "esx2", "host_connected"),
        ("datastore", "Elsewhere", "datastore_accessible"),
        ("datastore", "Tight-DS", "datastore_free_space"),
        ("vm", "ghost01", "vm_exists"),
        ("vm", "notools01", "vm_tools_running"),
        ("vm", "notools01", "vm_heartbeat"),
        ("vm", "off01", "vm_powered_on"),
        ("vm", "yellow01", "vm_heartbeat"),
    ]
    assert out["healthy"] is False
    assert out["missing_vms"] == ["ghost01"]
    tight = [a for a in out["abnormalities"] if a["check"] == "datastore_free_space"][0]
    assert tight["detail"] == "5.0 % free is below the threshold of 10.0 %"


def test_threshold_is_an_option():
    checks = [a["object"] for a in record([], free_space_threshold_pct=50)["abnormalities"]
              if a["check"] == "datastore_free_space"]
    assert checks == ["Prod-DS-01", "Tight-DS"]
    assert [a for a in record([], free_space_threshold_pct=1)["abnormalities"]
            if a["check"] == "datastore_free_space"] == []


def test_unprotected_vms_get_no_health_checks():
    out = record([vm("x", power="poweredOff")])
    assert [a for a in out["abnormalities"] if a["type"] == "vm"] == []
    assert out["vms"][0]["protected"] is False


def test_cluster_scope_limits_hosts_datastores_and_unnamed_vms():
    vms = [vm("in01", host="host-1"), vm("out01", host="host-9")]
    out = record(vms, cluster="DC0_C0")
    assert [h["name"] for h in out["hosts"]] == ["esx1", "esx2"]
    assert [c["name"] for c in out["clusters"]] == ["DC0_C0"]
    assert [d["name"] for d in out["datastores"]] == ["Prod-DS-01", "Tight-DS"]
    assert [v["name"] for v in out["vms"]] == ["in01"]
    # named VMs are reported wherever they run
    named = record(vms, cluster="DC0_C0", protected=["out01"])
    assert [v["name"] for v in named["vms"]] == ["in01", "out01"]
    assert [v["cluster"] for v in named["vms"]] == ["DC0_C0", "Other"]


def test_healthy_site():
    hosts = [dict(HOSTS[0])]
    out = site.site_record(hosts, CLUSTERS[:1], DATASTORES[:1], NETWORKS, SWITCHES, [vm("web01")],
                           protected=["web01"])
    assert out["abnormalities"] == [] and out["healthy"] is True

"""The drill's production fingerprint and comparison (pure)."""

from __future__ import annotations

import copy

from ansible_collections.continuity.recovery.plugins.module_utils import drill


def _site():
    return {"vms": [
        {"name": "db01", "power_state": "poweredOn", "host": "H0", "vm_path_name": "[Prod-DS-01] db01/db01.vmx",
         "uuid": "u1", "ip_address": "10.10.1.10", "tools_running_status": "guestToolsRunning",
         "nics": [{"label": "Network adapter 1", "mac": "00:50:56:00:00:01", "portgroup": "Prod-Net",
                   "connected": True, "start_connected": True, "ip_addresses": ["10.10.1.10"], "key": 4000}],
         "disks": [{"file": "[Prod-DS-01] db01/db01.vmdk", "datastore": "Prod-DS-01", "capacity": 1}]},
        {"name": "other", "power_state": "poweredOff", "nics": [], "disks": []},
    ]}


def _db(lsn="0/3000060"):
    return {"reachable": True, "role": "primary", "timeline": 1, "current_lsn": lsn,
            "database_size_bytes": 100, "settings": {"wal_level": "replica", "archive_mode": "on"},
            "slots": [{"slot_name": "dr_paydb", "slot_type": "physical", "active": True, "wal_status": "reserved",
                       "retained_bytes": 123}],
            "senders": [{"application_name": "paydb", "state": "streaming", "sync_state": "async",
                         "replay_lsn": lsn}]}


def _pairs():
    return {
        "paydb": {"engine": "postgresql", "source": {"reachable": True, "role": "primary", "timeline": 1,
                                                     "position": "0/3000060"},
                  "target": {"reachable": True, "role": "standby", "timeline": 1, "replay_paused": False},
                  "link": {"state": "connected"}, "held": False, "direction": "forward", "authoritative": "source",
                  "streaming": {"state": "streaming"}, "sync_state": "async", "lag": {"bytes": 10}},
        "vmstore": {"engine": "rsync", "source": {"reachable": True, "role": "source"},
                    "target": {"reachable": True, "role": "replica"}, "link": {"state": "connected"}, "held": False,
                    "direction": "forward", "authoritative": "source", "established": True,
                    "established_at": "2026-11-23T19:00:00Z", "snapshots": ["a"], "last_run": {"at": "t1"},
                    "lag": {"bytes": 5}, "pending_files": 1},
    }


def _fp(site=None, dbs=None, pairs=None):
    return drill.fingerprint(site or _site(), dbs or {"paydb": _db()}, pairs or _pairs(), ["db01", "ghost"])


def test_fingerprint_selects_the_fields_a_drill_could_change():
    fp = _fp()
    assert sorted(fp["vms"]) == ["db01", "ghost"] and fp["vms"]["ghost"] == {"missing": True}
    nic = fp["vms"]["db01"]["nics"][0]
    assert nic == {"mac": "00:50:56:00:00:01", "portgroup": "Prod-Net", "connected": True, "start_connected": True,
                   "ip_addresses": ["10.10.1.10"]}
    assert fp["databases"]["paydb"]["slots"] == [{"slot_name": "dr_paydb", "slot_type": "physical", "active": True,
                                                  "wal_status": "reserved"}]
    assert fp["replication"]["vmstore"]["snapshots"] == ["a"] and fp["replication"]["paydb"]["streaming"] == "streaming"
    assert fp["observed"]["lsn"] == {"paydb": "0/3000060"}


def test_identical_production_compares_unchanged_even_when_traffic_moved_on():
    dbs = {"paydb": _db("0/3000200")}
    pairs = _pairs()
    pairs["paydb"]["lag"] = {"bytes": 999}
    pairs["vmstore"]["pending_files"] = 7
    dbs["paydb"]["slots"][0]["retained_bytes"] = 999
    verdict = drill.compare(_fp(), _fp(dbs=dbs, pairs=pairs))
    assert verdict["unchanged"] is True and verdict["differences"] == []
    assert verdict["lsn"]["paydb"] == {"before": "0/3000060", "after": "0/3000200", "progressed": True,
                                       "bytes": 0x200 - 0x60}
    assert verdict["compared"] == {"vms": 2, "databases": 1, "replication": 2}


def test_every_kind_of_production_change_is_reported_by_path():
    site = _site()
    site["vms"][0]["power_state"] = "poweredOff"
    site["vms"][0]["nics"][0]["portgroup"] = "DR-Bubble"
    dbs = {"paydb": _db()}
    dbs["paydb"]["role"] = "standby"
    dbs["paydb"]["senders"] = []
    pairs = copy.deepcopy(_pairs())
    pairs["vmstore"]["held"] = True
    pairs["paydb"]["target"]["replay_paused"] = True
    verdict = drill.compare(_fp(), _fp(site=site, dbs=dbs, pairs=pairs))
    paths = {d["path"] for d in verdict["differences"]}
    assert verdict["unchanged"] is False
    assert {"vms.db01.power_state", "vms.db01.nics[0].portgroup", "databases.paydb.role",
            "replication.vmstore.held", "replication.paydb.target.replay_paused"} <= paths
    assert any(p.startswith("databases.paydb.senders") for p in paths)
    power = [d for d in verdict["differences"] if d["path"] == "vms.db01.power_state"][0]
    assert power == {"path": "vms.db01.power_state", "before": "poweredOn", "after": "poweredOff"}


def test_a_vm_that_disappears_and_an_unreachable_database_are_differences():
    site = {"vms": []}
    verdict = drill.compare(_fp(), _fp(site=site, dbs={"paydb": {"reachable": False, "error": "refused"}}))
    paths = {d["path"] for d in verdict["differences"]}
    assert "vms.db01.missing" in paths and "databases.paydb.reachable" in paths
    assert verdict["lsn"]["paydb"]["progressed"] is None


def test_compare_ignores_the_order_of_nics_and_disks():
    site = _site()
    site["vms"][0]["nics"].append({"mac": "00:50:56:00:00:00", "portgroup": "Backup", "ip_addresses": []})
    reordered = copy.deepcopy(site)
    reordered["vms"][0]["nics"].reverse()
    assert drill.compare(_fp(site=site), _fp(site=reordered))["unchanged"] is True

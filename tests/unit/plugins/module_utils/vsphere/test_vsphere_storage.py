"""storage.py over hand-built inventory rows: backings, host mounts, replicas, unprotected items."""

from __future__ import annotations

import pytest

from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import storage

STORAGE_MAP = [
    {"primary": "Prod-DS-01", "recovery": "Replica-DS-01", "replication": "vmstore",
     "mount": {"type": "nfs", "remote_host": "array-dr", "remote_path": "/exports/replica-ds-01"}},
    {"primary": "Prod-VMFS-01", "recovery": "Replica-VMFS-01", "replication": "array"},
]


def disk(label, file_name, ds_moid=None, capacity_kb=1024, thin=True, key=2000):
    backing = {"_type": "VirtualDiskFlatVer2BackingInfo", "fileName": file_name, "thinProvisioned": thin}
    if ds_moid:
        backing["datastore"] = ds_moid
    return {"_type": "VirtualDisk", "key": key, "deviceInfo": {"_type": "Description", "label": label},
            "capacityInKB": capacity_kb, "backing": backing}


def vm(name, devices, vmx_ds="Prod-DS-01"):
    return {"_moid": "vm-" + name, "name": name,
            "config.files.vmPathName": "[%s] %s/%s.vmx" % (vmx_ds, name, name),
            "config.hardware.device": [{"_type": "VirtualIDEController", "key": 200,
                                        "deviceInfo": {"label": "IDE 0"}}] + devices}


NFS = {"_moid": "ds-nfs", "name": "Prod-DS-01", "summary.type": "NFS", "summary.url": "ds:///nfs/",
       "summary.accessible": True, "host": [],
       "info": {"_type": "NasDatastoreInfo", "nas": {"_type": "HostNasVolume", "type": "NFS",
                                                     "remoteHost": "array-prod", "remotePath": "/exports/prod-ds-01"}}}
VMFS = {"_moid": "ds-vmfs", "name": "Prod-VMFS-01", "summary.type": "VMFS", "summary.url": "ds:///vmfs/",
        "summary.accessible": True,
        "host": [{"key": "host-1", "mountInfo": {"mounted": True}},
                 {"key": "host-3", "mountInfo": {"mounted": False}}],
        "info": {"_type": "VmfsDatastoreInfo", "vmfs": {
            "uuid": "5f0c-aa", "version": "6.82",
            "extent": [{"diskName": "naa.600a0b80001", "partition": 1},
                       {"diskName": "naa.600a0b80002", "partition": 1}]}}}
LOCAL = {"_moid": "ds-local", "name": "Scratch-DS", "summary.type": "OTHER", "summary.url": "/srv/scratch",
         "summary.accessible": True, "host": [{"key": "host-2"}],
         "info": {"_type": "LocalDatastoreInfo", "path": "/srv/scratch", "url": "/srv/scratch"}}
HOSTS = [{"_moid": "host-1", "name": "esx1", "datastore": ["ds-nfs", "ds-vmfs"]},
         {"_moid": "host-2", "name": "esx2", "datastore": ["ds-nfs", "ds-local"]},
         {"_moid": "host-3", "name": "esx3", "datastore": []}]
DATASTORES = [NFS, VMFS, LOCAL]


@pytest.mark.parametrize("path,expected", [
    ("[Prod-DS-01] web01/web01.vmdk", ("Prod-DS-01", "web01/web01.vmdk")),
    ("[DS with space] a/b.vmx", ("DS with space", "a/b.vmx")),
    ("[Prod-DS-01]", ("Prod-DS-01", "")),
    ("/vmfs/volumes/x/a.vmdk", (None, "/vmfs/volumes/x/a.vmdk")),
    (None, (None, None)),
])
def test_parse_datastore_path(path, expected):
    assert storage.parse_datastore_path(path) == expected


def test_replica_index_each_side():
    forward = storage.replica_index(STORAGE_MAP)
    assert forward["Prod-DS-01"] == {"datastore": "Replica-DS-01", "replication": "vmstore"}
    backward = storage.replica_index(STORAGE_MAP, "recovery")
    assert backward["Replica-DS-01"] == {"datastore": "Prod-DS-01", "replication": "vmstore"}
    assert storage.replica_index(None) == {}
    with pytest.raises(ValueError):
        storage.replica_index(STORAGE_MAP, "elsewhere")


def test_nfs_backing():
    expected = {"type": "nfs", "remote_host": "array-prod", "remote_path": "/exports/prod-ds-01"}
    assert storage.datastore_backing(NFS) == expected


def test_nfs41_backing_keeps_its_type():
    nas = {"type": "NFS41", "remoteHost": "a", "remotePath": "/p"}
    ds = dict(NFS, info={"_type": "NasDatastoreInfo", "nas": nas})
    assert storage.datastore_backing(ds)["type"] == "nfs41"


def test_vmfs_backing_lists_extents_and_luns():
    backing = storage.datastore_backing(VMFS)
    assert backing["type"] == "vmfs"
    assert backing["uuid"] == "5f0c-aa"
    assert backing["extents"] == [{"disk_name": "naa.600a0b80001", "partition": 1},
                                  {"disk_name": "naa.600a0b80002", "partition": 1}]
    assert backing["luns"] == ["naa.600a0b80001", "naa.600a0b80002"]


def test_local_and_unknown_backings():
    assert storage.datastore_backing(LOCAL) == {"type": "local", "path": "/srv/scratch"}
    assert storage.datastore_backing({"summary.type": "vsan", "info": {"_type": "VsanDatastoreInfo"}}) == {
        "type": "vsan"}


def test_hosts_are_the_union_of_both_mount_lists():
    # NAS: the datastore's own list is empty (vcsim 0.24), the hosts list it
    assert storage.datastore_hosts(NFS, HOSTS) == ["esx1", "esx2"]
    # VMFS: host-1 from both sides, host-3 listed but not mounted
    assert storage.datastore_hosts(VMFS, HOSTS) == ["esx1"]
    # only the datastore's list knows host-2 here
    assert storage.datastore_hosts(dict(LOCAL, _moid="ds-other"), HOSTS) == ["esx2"]


def test_disk_datastore_from_backing_ref_or_file_name():
    row = vm("web01", [disk("Hard disk 1", "[Prod-DS-01] web01/web01.vmdk", ds_moid="ds-nfs"),
                       disk("Hard disk 2", "[Prod-VMFS-01] web01/web01_1.vmdk", key=2001, thin=False)])
    disks = storage.vm_disks(row, {"ds-nfs": "Prod-DS-01"})
    assert [(d["label"], d["datastore"], d["thin"], d["capacity_kb"]) for d in disks] == [
        ("Hard disk 1", "Prod-DS-01", True, 1024), ("Hard disk 2", "Prod-VMFS-01", False, 1024)]


def test_capacity_in_bytes_is_converted():
    device = disk("Hard disk 1", "[Prod-DS-01] a.vmdk")
    del device["capacityInKB"]
    device["capacityInBytes"] = 4 * 1024 * 1024
    assert storage.vm_disks(vm("a", [device]), {})[0]["capacity_kb"] == 4096


def test_mapping_resolves_replicas_and_lists_unprotected_disks():
    vms = [vm("web01", [disk("Hard disk 1", "[Prod-DS-01] web01/web01.vmdk")]),
           vm("app01", [disk("Hard disk 1", "[Prod-VMFS-01] app01/app01.vmdk"),
                        disk("Hard disk 2", "[Scratch-DS] app01/app01_1.vmdk", key=2001)])]
    out = storage.storage_mapping(vms, DATASTORES, HOSTS, STORAGE_MAP)
    by_name = {v["name"]: v for v in out["vms"]}
    assert [v["name"] for v in out["vms"]] == ["app01", "web01"]
    web = by_name["web01"]
    assert web["protected"] is True
    assert web["disks"][0]["replica"] == {"datastore": "Replica-DS-01", "replication": "vmstore"}
    app = by_name["app01"]
    assert app["protected"] is False
    assert [d["protected"] for d in app["disks"]] == [True, False]
    assert app["disks"][1]["replica"] is None
    assert out["unprotected"] == [{"vm": "app01", "disk": "Hard disk 2", "file": "[Scratch-DS] app01/app01_1.vmdk",
                                   "datastore": "Scratch-DS", "reason": storage.REASON_DISK}]
    assert out["unmapped_datastores"] == ["Scratch-DS"]
    assert out["missing_mapped_datastores"] == []
    ds = {d["name"]: d for d in out["datastores"]}
    assert sorted(ds) == ["Prod-DS-01", "Prod-VMFS-01", "Scratch-DS"]
    assert ds["Prod-DS-01"]["replica"]["datastore"] == "Replica-DS-01"
    assert ds["Prod-DS-01"]["hosts"] == ["esx1", "esx2"]
    assert ds["Scratch-DS"]["replica"] is None
    assert ds["Prod-VMFS-01"]["backing"]["luns"] == ["naa.600a0b80001", "naa.600a0b80002"]


def test_config_files_on_an_unmapped_datastore_are_unprotected():
    row = vm("db01", [disk("Hard disk 1", "[Prod-DS-01] db01/db01.vmdk")], vmx_ds="Scratch-DS")
    out = storage.storage_mapping([row], DATASTORES, HOSTS, STORAGE_MAP)
    record = out["vms"][0]
    assert record["protected"] is False
    assert record["config_datastore"] == "Scratch-DS"
    assert out["unprotected"] == [{"vm": "db01", "disk": None, "file": "[Scratch-DS] db01/db01.vmx",
                                   "datastore": "Scratch-DS", "reason": storage.REASON_CONFIG}]


def test_mapped_datastores_without_vms_are_listed_and_missing_ones_reported():
    out = storage.storage_mapping([], DATASTORES, HOSTS,
                                  STORAGE_MAP + [{"primary": "Gone-DS", "recovery": "Gone-R"}])
    assert [d["name"] for d in out["datastores"]] == ["Prod-DS-01", "Prod-VMFS-01"]
    assert out["missing_mapped_datastores"] == ["Gone-DS"]
    assert out["unprotected"] == []


def test_recovery_side_resolves_back_to_primary_names():
    replica = dict(NFS, _moid="ds-r", name="Replica-DS-01")
    row = vm("web01", [disk("Hard disk 1", "[Replica-DS-01] web01/web01.vmdk")], vmx_ds="Replica-DS-01")
    out = storage.storage_mapping([row], [replica], [{"_moid": "h", "name": "dr1", "datastore": ["ds-r"]}],
                                  STORAGE_MAP, site="recovery")
    assert out["vms"][0]["disks"][0]["replica"] == {"datastore": "Prod-DS-01", "replication": "vmstore"}
    assert out["vms"][0]["protected"] is True
    assert out["missing_mapped_datastores"] == ["Replica-VMFS-01"]


def test_vm_whose_config_cannot_be_read_is_not_called_protected():
    out = storage.storage_mapping([{"_moid": "vm-9", "name": "creating", "config.hardware.device": None,
                                    "config.files.vmPathName": None}], DATASTORES, HOSTS, STORAGE_MAP)
    assert out["vms"][0]["disks"] == [] and out["vms"][0]["protected"] is False
    assert out["unprotected"] == [{"vm": "creating", "disk": None, "file": None, "datastore": None,
                                   "reason": storage.REASON_UNKNOWN}]

"""storage_mapping_info without a server: documented options equal the spec, VM selection, the glue."""

from __future__ import annotations

import json

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from pyVmomi import vim

from ansible_collections.continuity.recovery.plugins.module_utils.errors import NotFound
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import module_base
from ansible_collections.continuity.recovery.plugins.modules import storage_mapping_info as smi

CONNECTION = {"hostname": "vc.example", "username": "u", "password": "secret-pw", "validate_certs": False}
STORAGE_MAP = [{"primary": "Prod-DS-01", "recovery": "Replica-DS-01", "replication": "vmstore",
                "mount": {"type": "nfs", "remote_host": "array-dr", "remote_path": "/exports/replica-ds-01"}}]


class FakeSession:
    def __init__(self, **kwargs):
        self.calls = 0
        self.endpoint = "vc.example:443"

    def __enter__(self):
        self.calls = 2
        return self

    def __exit__(self, *exc):
        self.calls += 1

    def datacenter(self, name):
        self.calls += 3
        return "dc:" + name


def vm_row(name, *files):
    devices = [{"_type": "VirtualDisk", "key": 2000 + i, "deviceInfo": {"label": "Hard disk %d" % (i + 1)},
                "capacityInKB": 1024, "backing": {"_type": "VirtualDiskFlatVer2BackingInfo", "fileName": f,
                                                  "thinProvisioned": True}}
               for i, f in enumerate(files)]
    return {"obj": vim.VirtualMachine("vm-" + name), "_moid": "vm-" + name, "name": name,
            "config.hardware.device": devices, "config.files.vmPathName": "[Prod-DS-01] %s/%s.vmx" % (name, name)}


VMS = [vm_row("web01", "[Prod-DS-01] web01/web01.vmdk"),
       vm_row("app01", "[Prod-DS-01] app01/app01.vmdk", "[Scratch] app01/app01_1.vmdk")]
PROD_NAS = {"remoteHost": "array-prod", "remotePath": "/exports/prod-ds-01"}
DATASTORES = [{"obj": vim.Datastore("ds-1"), "_moid": "ds-1", "name": "Prod-DS-01", "summary.type": "NFS",
               "host": [], "info": {"_type": "NasDatastoreInfo", "nas": PROD_NAS}},
              {"obj": vim.Datastore("ds-2"), "_moid": "ds-2", "name": "Scratch", "summary.type": "OTHER",
               "host": [{"key": "host-1"}], "info": {"_type": "LocalDatastoreInfo", "path": "/srv/scratch"}}]
HOSTS = [{"obj": vim.HostSystem("host-1"), "_moid": "host-1", "name": "esx1", "datastore": ["ds-1"]}]


@pytest.fixture
def fake_vcenter(monkeypatch):
    seen = {}

    def retrieve_many(session, specs, root=None, **kwargs):
        session.calls += 3
        seen["vm_paths"] = specs[vim.VirtualMachine]
        return {vim.VirtualMachine: VMS, vim.Datastore: DATASTORES, vim.HostSystem: HOSTS}

    def retrieve_objects(session, objs, properties, **kwargs):
        session.calls += 1
        seen["objects"] = [o._moId for o in objs]
        return [row for row in VMS if row["obj"] in objs]

    monkeypatch.setattr(module_base, "Session", FakeSession)
    monkeypatch.setattr(smi.inventory, "retrieve_many", retrieve_many)
    monkeypatch.setattr(smi.inventory, "retrieve_objects", retrieve_objects)
    return seen


def run(args, capsys):
    with patch_module_args(dict(CONNECTION, **args)):
        with pytest.raises(SystemExit):
            smi.main()
    return json.loads(capsys.readouterr().out)


def test_documented_options_match_the_spec():
    documented = yaml.safe_load(smi.DOCUMENTATION)["options"]
    spec = smi.StorageMappingInfo.module_spec(None)
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc["type"] == option["type"], name
        assert doc.get("default") == option.get("default"), name
        assert bool(doc.get("required")) == bool(option.get("required")), name
        assert doc.get("choices") == option.get("choices"), name
    subdoc = documented["storage_map"]["suboptions"]
    for name, option in spec["storage_map"]["options"].items():
        assert subdoc[name]["type"] == option["type"], name
        assert bool(subdoc[name].get("required")) == bool(option.get("required")), name


def test_select_vms_reports_every_missing_name():
    with pytest.raises(NotFound) as err:
        smi.select_vms(VMS, ["web01", "db01", "db02"], "DC0")
    assert err.value.details["missing"] == ["db01", "db02"]
    assert str(err.value) == "VMs not found in datacenter 'DC0': db01, db02"
    assert smi.select_vms(VMS, ["app01"], "DC0") == [VMS[1]["obj"]]


def test_named_vms_resolve_replicas_and_unprotected(fake_vcenter, capsys):
    out = run({"datacenter": "DC0", "vms": ["app01"], "storage_map": STORAGE_MAP}, capsys)
    assert fake_vcenter["vm_paths"] == ("name",) and fake_vcenter["objects"] == ["vm-app01"]
    assert [v["name"] for v in out["vms"]] == ["app01"]
    assert out["vms"][0]["disks"][0]["replica"] == {"datastore": "Replica-DS-01", "replication": "vmstore"}
    assert out["unprotected"] == [{"vm": "app01", "disk": "Hard disk 2", "file": "[Scratch] app01/app01_1.vmdk",
                                   "datastore": "Scratch", "reason": "datastore has no entry in the storage map"}]
    assert out["unmapped_datastores"] == ["Scratch"]
    assert out["vcenter_calls"] == 2 + 3 + 3 + 1 + 1


def test_all_vms_when_none_named_and_query(fake_vcenter, capsys):
    out = run({"datacenter": "DC0", "storage_map": STORAGE_MAP,
               "query": "datastores[?backing.type=='nfs'].backing.remote_path"}, capsys)
    assert fake_vcenter["vm_paths"] == smi.storage.VM_PROPERTIES and "objects" not in fake_vcenter
    assert [v["name"] for v in out["vms"]] == ["app01", "web01"]
    assert out["query_result"] == ["/exports/prod-ds-01"]


def test_missing_vms_fail_with_their_names(fake_vcenter, capsys):
    out = run({"datacenter": "DC0", "vms": ["web01", "ghost"]}, capsys)
    assert out["failed"] is True and out["missing"] == ["ghost"]
    assert out["vcenter_calls"] == 2 + 3 + 3 + 1


def test_storage_map_entries_need_both_sides(fake_vcenter, capsys):
    out = run({"datacenter": "DC0", "storage_map": [{"primary": "Prod-DS-01"}]}, capsys)
    assert out["failed"] is True and "recovery" in out["msg"]

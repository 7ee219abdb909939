"""storage_mapping_info against the lab: replica resolution, backings, hosts, unprotected disks.

The lab is only read. The unprotected case is built here on objects of our own
at the primary site — a local datastore in a temporary directory and a scratch
VM whose files and disks live on it — and removed afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import tasks
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.session import Session
from ansible_collections.continuity.recovery.plugins.modules import storage_mapping_info

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
MODULE = "continuity.recovery.storage_mapping_info"
STORAGE_MAP = [{"primary": "Prod-DS-01", "recovery": "Replica-DS-01", "replication": "vmstore",
                "mount": {"type": "nfs", "remote_host": "array-dr", "remote_path": "/exports/replica-ds-01"}}]


def connection(vc: dict) -> dict:
    """Module connection options from a lab.json vcenter entry."""
    return {k: vc[k] for k in ("hostname", "port", "username", "password", "validate_certs")}


def run_module(vc: dict, **args) -> dict:
    """``ansible localhost -m continuity.recovery.storage_mapping_info -a <json>``; its result."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal", ANSIBLE_CALLBACK_RESULT_FORMAT="json",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "collections"),
               PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run(
        [os.path.join(VENV_BIN, "ansible"), "localhost", "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=" + os.path.join(VENV_BIN, "python"),
         "-m", MODULE, "-a", json.dumps(dict(connection(vc), **args))],
        capture_output=True, text=True, timeout=300, check=False, cwd=REPO, env=env)
    start = proc.stdout.find("localhost | ")
    if start < 0 or "{" not in proc.stdout[start:]:
        raise AssertionError("no result (rc %d):\n%s%s" % (proc.returncode, proc.stdout, proc.stderr))
    result = json.loads(proc.stdout[proc.stdout.index("{", start):])
    # the minimal callback shows failure in the status word ("localhost | FAILED! => {...}")
    result.setdefault("failed", proc.stdout[start:].split(" => ", 1)[0].endswith("FAILED!"))
    return result


@pytest.fixture(scope="module")
def primary(lab) -> dict:
    return lab["sites"]["primary"]["vcenter"]


@pytest.fixture(scope="module")
def scratch(lab, primary, tmp_path_factory):
    """A local datastore and a VM with two disks on it at the primary site; removed afterwards."""
    tag = "%d" % os.getpid()
    ds_name, vm_name = "Scratch-DS-" + tag, "crtest-smi-" + tag
    path = tmp_path_factory.mktemp("scratch") / ds_name
    path.mkdir()
    created = {}
    with Session(**connection(primary)) as s:
        dc = s.datacenter(lab["sites"]["primary"]["datacenter"])
        try:
            cluster = s.cluster(dc, lab["sites"]["primary"]["cluster"])
            host = sorted(cluster.host, key=lambda h: h.name)[0]
            created["ds"] = host.configManager.datastoreSystem.CreateLocalDatastore(name=ds_name, path=str(path))
            created["vm"] = tasks.wait_for_tasks(s, [dc.vmFolder.CreateVM_Task(
                config=scratch_vm_spec(vm_name, ds_name), pool=cluster.resourcePool, host=host)], 60)[0].result
            yield {"datastore": ds_name, "vm": vm_name, "host": host.name}
        finally:
            if created.get("vm") is not None:
                tasks.wait_for_tasks(s, [created["vm"].Destroy_Task()], 60)
            if created.get("ds") is not None:
                tasks.wait_for_tasks(s, [created["ds"].Destroy_Task()], 60)
            leftovers = [d.name for d in dc.datastore if d.name == ds_name]
            assert not leftovers, "scratch datastore was not removed"


def scratch_vm_spec(name: str, datastore: str):
    """A VM with its files and two thin disks on ``datastore`` (no NIC: nothing to do with networks)."""
    from pyVmomi import vim

    dev = vim.vm.device
    changes = [dev.VirtualDeviceSpec(operation="add", device=dev.ParaVirtualSCSIController(
        key=-100, busNumber=0, sharedBus="noSharing"))]
    for unit in (0, 1):
        changes.append(dev.VirtualDeviceSpec(operation="add", fileOperation="create", device=dev.VirtualDisk(
            key=-101 - unit, controllerKey=-100, unitNumber=unit, capacityInKB=2048,
            backing=dev.VirtualDisk.FlatVer2BackingInfo(fileName="[%s]" % datastore, diskMode="persistent",
                                                        thinProvisioned=unit == 0))))
    return vim.vm.ConfigSpec(name=name, guestId="otherLinux64Guest", numCPUs=1, memoryMB=64,
                             files=vim.vm.FileInfo(vmPathName="[%s]" % datastore), deviceChange=changes)


def test_lab_vms_resolve_to_the_replica(lab, primary):
    names = [vm["name"] for vm in lab["vms"]]
    out = run_module(primary, datacenter="DC0", vms=names, storage_map=STORAGE_MAP)
    assert not out.get("failed"), out.get("msg")
    assert out["changed"] is False
    assert sorted(v["name"] for v in out["vms"]) == sorted(names)
    for vm in out["vms"]:
        assert vm["protected"] is True, vm["name"]
        assert vm["config_datastore"] == "Prod-DS-01"
        assert vm["config_replica"] == {"datastore": "Replica-DS-01", "replication": "vmstore"}
        assert vm["disks"] and all(d["replica"] == {"datastore": "Replica-DS-01", "replication": "vmstore"}
                                   for d in vm["disks"])
        assert all(d["file"].startswith("[Prod-DS-01] %s/" % vm["name"]) for d in vm["disks"])
    assert out["unprotected"] == [] and out["unmapped_datastores"] == []
    prod = {d["name"]: d for d in out["datastores"]}["Prod-DS-01"]
    nas = lab["sites"]["primary"]["nas"]["Prod-DS-01"]
    assert prod["backing"] == {"type": "nfs", "remote_host": nas["remote_host"], "remote_path": nas["remote_path"]}
    # vcsim leaves the NAS datastore's own host list empty: hosts come from host.datastore
    assert prod["hosts"] == sorted(lab["sites"]["primary"]["hosts"])
    assert prod["replica"] == {"datastore": "Replica-DS-01", "replication": "vmstore"}
    assert out["vcenter_calls"] == 11


def test_disks_on_an_unmapped_datastore_are_unprotected(lab, primary, scratch):
    names = [lab["vms"][0]["name"], scratch["vm"]]
    out = run_module(primary, datacenter="DC0", vms=names, storage_map=STORAGE_MAP,
                     query="unprotected[].disk")
    assert not out.get("failed"), out.get("msg")
    vms = {v["name"]: v for v in out["vms"]}
    assert vms[lab["vms"][0]["name"]]["protected"] is True
    mine = vms[scratch["vm"]]
    assert mine["protected"] is False
    assert [(d["datastore"], d["thin"], d["capacity_kb"], d["replica"]) for d in mine["disks"]] == [
        (scratch["datastore"], True, 2048, None), (scratch["datastore"], False, 2048, None)]
    unprotected = [u for u in out["unprotected"] if u["vm"] == scratch["vm"]]
    assert [(u["disk"], u["datastore"]) for u in unprotected] == [
        (None, scratch["datastore"])] + [(d["label"], scratch["datastore"]) for d in mine["disks"]]
    assert unprotected[0]["reason"] == "VM configuration files are on a datastore with no entry in the storage map"
    assert unprotected[1]["reason"] == "datastore has no entry in the storage map"
    assert out["unmapped_datastores"] == [scratch["datastore"]]
    # JMESPath projections leave out nulls (the config-files entry has disk null)
    assert out["query_result"] == [d["label"] for d in mine["disks"]]
    local = {d["name"]: d for d in out["datastores"]}[scratch["datastore"]]
    assert local["backing"]["type"] == "local" and local["hosts"] == [scratch["host"]]
    assert local["replica"] is None

    # once the map covers the scratch datastore, the same VM is protected
    covered = STORAGE_MAP + [{"primary": scratch["datastore"], "recovery": "Replica-Scratch", "replication": "s"}]
    out = run_module(primary, datacenter="DC0", vms=[scratch["vm"]], storage_map=covered)
    assert out["vms"][0]["protected"] is True and out["unprotected"] == []


def test_missing_vms_fail_with_every_missing_name(lab, primary):
    out = run_module(primary, datacenter="DC0", vms=[lab["vms"][0]["name"], "no-such-vm-1", "no-such-vm-2"])
    assert out["failed"] is True
    assert out["missing"] == ["no-such-vm-1", "no-such-vm-2"]
    assert out["error_type"] == "NotFound"
    assert "no-such-vm-1, no-such-vm-2" in out["msg"]


def test_recovery_side_of_the_map(lab):
    recovery = lab["sites"]["recovery"]["vcenter"]
    out = run_module(recovery, datacenter="DC0", storage_map=STORAGE_MAP, site="recovery")
    assert not out.get("failed"), out.get("msg")
    # before a takeover the replica is not presented at the recovery site
    present = {d["name"] for d in out["datastores"]}
    if "Replica-DS-01" in present:
        replica = {d["name"]: d for d in out["datastores"]}["Replica-DS-01"]
        assert replica["replica"] == {"datastore": "Prod-DS-01", "replication": "vmstore"}
    else:
        assert out["missing_mapped_datastores"] == ["Replica-DS-01"]


def test_result_keys_are_the_documented_ones(lab, primary):
    documented = set(yaml.safe_load(storage_mapping_info.RETURN))
    out = run_module(primary, datacenter="DC0", vms=[lab["vms"][0]["name"]], storage_map=STORAGE_MAP,
                     query="length(vms)")
    returned = set(out) - {"changed", "invocation", "failed"}
    assert returned == documented - {"missing"}
    vm_doc = yaml.safe_load(storage_mapping_info.RETURN)["vms"]["contains"]
    assert set(out["vms"][0]) == set(vm_doc)
    assert set(out["vms"][0]["disks"][0]) == set(vm_doc["disks"]["contains"])
    ds_doc = yaml.safe_load(storage_mapping_info.RETURN)["datastores"]["contains"]
    assert set(out["datastores"][0]) == set(ds_doc)

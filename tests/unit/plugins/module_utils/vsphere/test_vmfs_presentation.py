"""storage_mapping VMFS presentation against fakes (vcsim has none of these calls).

The resignature task is awaited and its fault raised, force-mount results are checked per
volume, every host of the cluster rescans, the ``snap-*`` datastore is renamed to the
recovery name, and a rerun does only what is left.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pyVmomi import vim, vmodl

from ansible_collections.continuity.recovery.plugins.module_utils.errors import RecoveryError
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import presentation
from ansible_collections.continuity.recovery.plugins.modules import storage_mapping as sm

from vsphere_fakes import FakeSession, ScriptedCollector, change, fault, obj_update, update_set

LABEL = "prod-ds-01"
ENTRY = {"primary": "Prod-DS-01", "recovery": "Replica-DS-01", "path": "plan.datastores[0]",
         "mount": {"type": "vmfs", "volume_label": LABEL, "resolution": "resignature"}}


def volume(label=LABEL):
    return vim.host.UnresolvedVmfsVolume(
        vmfsLabel=label, vmfsUuid="5f0c-u1", resolveStatus=vim.host.UnresolvedVmfsVolume.ResolveStatus(resolvable=True),
        extent=[vim.host.UnresolvedVmfsExtent(devicePath="/vmfs/devices/disks/naa.600a:1")])


class StorageSystem:
    def __init__(self, host, log, unresolved=()):
        self.host, self.log, self.unresolved = host, log, list(unresolved)
        self.resolve_results = []

    def RescanAllHba(self):
        self.log.append((self.host, "RescanAllHba"))

    def RescanVmfs(self):
        self.log.append((self.host, "RescanVmfs"))

    def QueryUnresolvedVmfsVolume(self):
        self.log.append((self.host, "QueryUnresolvedVmfsVolume"))
        return list(self.unresolved)

    def ResolveMultipleUnresolvedVmfsVolumes(self, resolutionSpec):
        self.log.append((self.host, "ResolveMultipleUnresolvedVmfsVolumes",
                         [(s.uuidResolution, list(s.extentDevicePath)) for s in resolutionSpec]))
        return self.resolve_results


class DatastoreSystem:
    def __init__(self, host, log, task):
        self.host, self.log, self.task = host, log, task

    def ResignatureUnresolvedVmfsVolume_Task(self, resolutionSpec):
        self.log.append((self.host, "ResignatureUnresolvedVmfsVolume_Task", list(resolutionSpec.extentDevicePath)))
        return self.task


class Datastore:
    def __init__(self, moid, log, task):
        self._moId, self.log, self.task = moid, log, task

    def Rename_Task(self, newName):
        self.log.append((self._moId, "Rename_Task", newName))
        return self.task


RESIGNATURE, RENAME = vim.Task("task-resignature"), vim.Task("task-rename")


class Site:
    """Two hosts H0/H1 of the recovery cluster; H0 reports ``unresolved`` (H1 only after ``h1_sees``)."""

    def __init__(self, script, unresolved=(), datastores=(), h1_sees=False):
        self.collector = ScriptedCollector(script)
        self.session = FakeSession(self.collector)
        self.log = []
        self.snap = Datastore("datastore-snap", self.log, RENAME)
        self.hosts = []
        for index, name in enumerate(("H0", "H1")):
            sees = unresolved if index == 0 or h1_sees else ()
            self.hosts.append({"_moid": "host-%d" % index, "name": name, "datastore": [],
                               "configManager.storageSystem": StorageSystem(name, self.log, sees),
                               "configManager.datastoreSystem": DatastoreSystem(name, self.log, RESIGNATURE)})
        self.datastores = list(datastores)
        module = sm.StorageMapping.__new__(sm.StorageMapping)
        module.module = SimpleNamespace(check_mode=False)
        module.params = {}
        module._datastores, module._dc = self.datastores, None
        self.module = module

    def present(self, entry=None):
        return self.module.present(self.session, [dict(entry or ENTRY)], self.hosts, self.datastores)

    def calls(self, host=None):
        return [c[1] for c in self.log if host is None or c[0] == host]


def task_done(task, result=None):
    changes = [change("info.state", "success")] + ([change("info.result", result)] if result is not None else [])
    return update_set("v-%s" % task._moId, obj_update(task, *changes))


def test_resignature_is_awaited_renamed_and_every_host_rescans():
    site = Site([], [volume()])
    site.collector.script = [task_done(RESIGNATURE, SimpleNamespace(result=site.snap)), task_done(RENAME)]
    result = site.present()
    assert result["changed"] and result["datastores"][0]["hosts_to_mount"] == ["H0", "H1"]
    assert site.log == [
        ("H0", "QueryUnresolvedVmfsVolume"),  # the capability check
        ("H0", "RescanAllHba"), ("H0", "RescanVmfs"), ("H0", "QueryUnresolvedVmfsVolume"),
        ("H0", "ResignatureUnresolvedVmfsVolume_Task", ["/vmfs/devices/disks/naa.600a:1"]),
        ("datastore-snap", "Rename_Task", "Replica-DS-01"),
        ("H1", "RescanAllHba"), ("H1", "RescanVmfs")]
    assert len(site.collector.filters) == 2  # both tasks awaited


def test_a_failed_resignature_fails_the_module_and_renames_nothing():
    failed = update_set("1", obj_update(RESIGNATURE, change("info.state", "error"), change(
        "info.error", fault("The LUN naa.600a is offline", vim.fault.HostConfigFault))))
    site = Site([failed], [volume()])
    with pytest.raises(RecoveryError) as err:
        site.present()
    assert str(err.value) == ("resignaturing plan.datastores[0]: VMFS volume 'prod-ds-01' on host H0 failed: "
                              "The LUN naa.600a is offline")
    assert "Rename_Task" not in site.calls() and site.calls("H1") == []


def test_force_mount_checks_each_volumes_fault_and_rescans_the_other_hosts():
    entry = dict(ENTRY, mount=dict(ENTRY["mount"], resolution="force_mount"))
    site = Site([], [volume()])
    storage = site.hosts[0]["configManager.storageSystem"]
    storage.resolve_results = [vim.host.UnresolvedVmfsResolutionResult(fault=vim.fault.ResourceInUse(
        msg="The volume is already mounted with this UUID"))]
    with pytest.raises(RecoveryError) as err:
        site.present(entry)
    assert str(err.value) == ("force-mounting plan.datastores[0]: VMFS volume 'prod-ds-01' on host H0 failed: "
                              "ResourceInUse: The volume is already mounted with this UUID")
    assert site.calls("H1") == []
    site = Site([], [volume()])
    site.hosts[0]["configManager.storageSystem"].resolve_results = [vim.host.UnresolvedVmfsResolutionResult()]
    assert site.present(entry)["changed"]
    assert site.log[-3:] == [("H0", "ResolveMultipleUnresolvedVmfsVolumes",
                              [("forceMount", ["/vmfs/devices/disks/naa.600a:1"])]),
                             ("H1", "RescanAllHba"), ("H1", "RescanVmfs")]


def test_the_first_host_that_sees_the_volume_resolves_it():
    site = Site([], [volume()], h1_sees=True)
    site.hosts[0]["configManager.storageSystem"].unresolved = []  # its LUN masking hides the replica
    site.collector.script = [task_done(RESIGNATURE, SimpleNamespace(result=site.snap)), task_done(RENAME)]
    site.present()
    assert site.log[1:] == [
        ("H0", "RescanAllHba"), ("H0", "RescanVmfs"), ("H0", "QueryUnresolvedVmfsVolume"),
        ("H1", "RescanAllHba"), ("H1", "RescanVmfs"), ("H1", "QueryUnresolvedVmfsVolume"),
        ("H1", "ResignatureUnresolvedVmfsVolume_Task", ["/vmfs/devices/disks/naa.600a:1"]),
        ("datastore-snap", "Rename_Task", "Replica-DS-01"),
        ("H0", "RescanAllHba"), ("H0", "RescanVmfs")]


def test_rerun_after_an_interrupted_rename_renames_the_snap_copy_only():
    snap_row = {"_moid": "datastore-snap", "name": "snap-1a2b3c4d-prod-ds-01", "summary.type": "VMFS", "host": []}
    site = Site([task_done(RENAME)], [], datastores=[snap_row])
    snap_row["obj"] = site.snap  # mounted on no host yet: H0 resolved nothing, so both rescan
    assert site.present()["changed"]
    assert "ResignatureUnresolvedVmfsVolume_Task" not in site.calls()
    assert ("datastore-snap", "Rename_Task", "Replica-DS-01") in site.log
    assert site.calls("H1") == ["RescanAllHba", "RescanVmfs"]


def test_a_single_snap_copy_with_vms_registered_is_not_renamed():
    """An interrupted run leaves its copy empty; one in use is another copy of the volume, not ours."""
    snap_row = {"_moid": "datastore-snap", "name": "snap-1a2b3c4d-prod-ds-01", "summary.type": "VMFS", "host": [],
                "vm": ["vm-41", "vm-42"]}
    site = Site([task_done(RENAME)], [], datastores=[snap_row])  # a rename would complete (and fail the test)
    snap_row["obj"] = site.snap
    with pytest.raises(RecoveryError, match=r"^plan.datastores\[0\]: no unresolved VMFS volume labelled 'prod-ds-01', "
                                            r"and its one resignatured copy 'snap-1a2b3c4d-prod-ds-01' has 2 VMs "
                                            r"registered: .* if it is the replica, rename it to 'Replica-DS-01'$"):
        site.present()
    assert "Rename_Task" not in site.calls()
    decision = presentation.vmfs_plan(ENTRY, [], [], ["snap-1a2b3c4d-prod-ds-01"], {"snap-1a2b3c4d-prod-ds-01": 0})
    assert decision["action"] == "rename"
    assert presentation.copy_vm_counts(["snap-1a2b3c4d-prod-ds-01"], [snap_row, {"name": "other", "vm": ["x"]}]) == \
        {"snap-1a2b3c4d-prod-ds-01": 2}


def test_rerun_with_the_datastore_presented_rescans_the_hosts_missing_it_or_does_nothing():
    ds = {"_moid": "datastore-1", "name": "Replica-DS-01", "summary.type": "VMFS", "host": []}
    site = Site([], [], datastores=[ds])
    site.hosts[0]["datastore"] = ["datastore-1"]
    result = site.present()
    assert result["changed"] and result["datastores"][0]["hosts_to_mount"] == ["H1"]
    assert site.log == [("H0", "QueryUnresolvedVmfsVolume"), ("H1", "RescanAllHba"), ("H1", "RescanVmfs")]
    site = Site([], [], datastores=[ds])
    for host in site.hosts:
        host["datastore"] = ["datastore-1"]
    assert site.present()["changed"] is False and site.log == []


def test_no_volume_anywhere_or_several_snap_copies_fail_clearly():
    site = Site([], [])
    with pytest.raises(RecoveryError, match=r"^plan.datastores\[0\]: no unresolved VMFS volume labelled 'prod-ds-01'"):
        site.present()
    assert site.calls("H1") == ["RescanAllHba", "RescanVmfs", "QueryUnresolvedVmfsVolume"]  # every host tried
    copies = [{"_moid": "d-%d" % i, "name": "snap-0000000%d-prod-ds-01" % i, "summary.type": "VMFS", "host": []}
              for i in (1, 2)]
    site = Site([], [], datastores=copies)
    with pytest.raises(RecoveryError, match="2 resignatured copies of it are mounted"):
        site.present()


def test_resignatured_copies_match_the_esxi_naming_only():
    rows = [{"name": "snap-1a2b3c4d-prod-ds-01"}, {"name": "snap-1a2b3c4d-prod-ds-010"},
            {"name": "snap-xyz-prod-ds-01"}, {"name": "snap-1a2b3c4d-prod-ds-01-nfs", "summary.type": "NFS"},
            {"name": "snap-deadbeef-prod-ds-01", "summary.type": "VMFS"}]
    assert presentation.resignatured_copies(LABEL, rows) == ["snap-1a2b3c4d-prod-ds-01", "snap-deadbeef-prod-ds-01"]


def test_check_mode_and_the_capability_check_are_unchanged():
    site = Site([], [volume()])
    site.module.module.check_mode = True
    assert site.present()["changed"] and site.log == [("H0", "QueryUnresolvedVmfsVolume")]

    class NoVmfs(StorageSystem):
        def QueryUnresolvedVmfsVolume(self):
            raise vmodl.fault.MethodNotFound(msg="QueryUnresolvedVmfsVolume")
    site = Site([], [volume()])
    site.hosts[0]["configManager.storageSystem"] = NoVmfs("H0", site.log)
    with pytest.raises(RecoveryError) as err:
        site.present()
    assert "need QueryUnresolvedVmfsVolume" in err.value.details["problems"][0] and site.log == []


def test_a_resignature_task_without_result_finds_the_new_snap_copy(monkeypatch):
    site = Site([task_done(RESIGNATURE), task_done(RENAME)], [volume()])
    old = {"name": "snap-00000001-prod-ds-01", "summary.type": "VMFS", "obj": None}
    site.datastores.append(old)  # an older copy, not ours
    rows = [old, {"name": "snap-5eedf00d-prod-ds-01", "summary.type": "VMFS", "obj": site.snap}]
    monkeypatch.setattr(sm.inventory, "retrieve", lambda *_args, **_kwargs: rows)
    site.present()
    assert ("datastore-snap", "Rename_Task", "Replica-DS-01") in site.log

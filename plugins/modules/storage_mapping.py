#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: storage_mapping
short_description: Present replica datastores to the recovery cluster's hosts, or withdraw them
version_added: 0.1.0
description:
  - V(present) mounts each replica datastore of the storage map on every host of the recovery
    cluster that does not mount it yet, with the entry's mount spec (NFS - C(remote_host),
    C(remote_path)). A datastore of that name backed by another export is reported, not touched.
  - V(absent) unmounts the replica datastores from every host that mounts them (C(RemoveDatastore));
    it refuses while VMs are registered on a datastore. The vCenter simulator (vcsim 0.24) does not
    implement C(RemoveDatastore) - there the first unmount fails and nothing is unmounted.
  - VMFS replicas (C(mount.type=vmfs), C(volume_label), C(resolution) V(resignature) or
    V(force_mount)) are presented by rescanning the hosts' HBAs, finding the unresolved VMFS
    volume with that original label and resignaturing or force-mounting it on the first host of
    the cluster that reports it. The resignature task is awaited and its fault, or a force-mount's
    per-volume fault, fails the module. The resignatured C(snap-*) datastore is renamed to the
    entry's C(recovery) name (a force-mounted one keeps its label), then every other host of the
    cluster rescans (HBAs, then VMFS) and mounts it. A rerun does only what is left - it renames a
    C(snap-*) copy an interrupted run left (only one with no VM registered on it; a copy in use is
    taken for another copy of the volume and the run fails naming it), or rescans the hosts that do
    not mount it yet. The module first checks that the endpoint offers those calls and fails clearly, before any change, when it
    does not (the vCenter simulator does not).
  - Reads in a constant number of API calls; check mode reports exactly which hosts would mount
    or unmount what. Idempotent.
author:
  - continuity.recovery engineers (@continuity-recovery)
extends_documentation_fragment:
  - continuity.recovery.vsphere
options:
  state:
    description: V(present) mounts, V(absent) unmounts.
    type: str
    choices: [present, absent]
    default: present
  plan:
    description: The recovery plan; its C(datastores) and C(sites.recovery) are the defaults of O(storage_map), O(datacenter) and O(cluster).
    type: dict
  storage_map:
    description:
      - Entries C({primary, recovery, mount}); C(mount) is C({type, remote_host, remote_path, local_path})
        for NFS (C(local_path) only for the simulator) or C({type=vmfs, volume_label, resolution}).
    type: list
    elements: dict
  datastores:
    description: Only these replica datastores (names at the recovery site).
    type: list
    elements: str
  datacenter:
    description: Datacenter of the recovery cluster. Default - O(plan)'s C(sites.recovery.datacenter).
    type: str
  cluster:
    description: The recovery cluster; every host of it gets the datastores. Default - O(plan)'s C(sites.recovery.cluster).
    type: str
attributes:
  check_mode:
    support: full
    description: Reports the hosts that would mount or unmount each datastore.
"""

EXAMPLES = r"""
- name: Present the replicas of the plan
  continuity.recovery.storage_mapping:
    hostname: vc-dr.example.com
    username: administrator@vsphere.local
    password: "{{ vault_dr_password }}"
    plan: "{{ recovery_plan }}"
    state: present
  delegate_to: localhost

- name: Withdraw one replica after failback
  continuity.recovery.storage_mapping:
    datacenter: DC0
    cluster: DC0_C0
    storage_map: "{{ recovery_plan.datastores }}"
    datastores: [Replica-DS-01]
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
datastores:
  description: One entry per replica datastore.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Datastore name at the recovery site.
      type: str
    type:
      description: V(nfs), V(nfs41) or V(vmfs).
      type: str
    mounted_on:
      description: Hosts that mounted it before the run.
      type: list
      elements: str
    hosts_to_mount:
      description: Hosts that mount it now (or would, in check mode).
      type: list
      elements: str
    hosts_to_unmount:
      description: Hosts that unmount it (state absent).
      type: list
      elements: str
problems:
  description: Input problems found before any change.
  returned: failure
  type: list
  elements: str
vcenter_calls:
  description: SOAP calls made.
  returned: always
  type: int
"""

from ansible_collections.continuity.recovery.plugins.module_utils import plan as plan_model
from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput, RecoveryError
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import inventory, presentation, tasks
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.cutover import strip_derived
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.module_base import VsphereModule
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.session import fault_message, fault_text

try:
    from pyVmomi import vim, vmodl
except ImportError:  # pragma: no cover - reported by the module base
    vim = vmodl = None

VMFS_TASK_TIMEOUT = 900
"""Seconds a VMFS resignature or a datastore rename may take."""


class StorageMapping(VsphereModule):
    """storage_mapping: one batched read, a pure plan, then the mounts/unmounts."""

    def module_spec(self) -> dict:
        return dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            plan=dict(type="dict"),
            storage_map=dict(type="list", elements="dict"),
            datastores=dict(type="list", elements="str"),
            datacenter=dict(type="str"),
            cluster=dict(type="str"),
        )

    def http_timeout(self) -> float:
        return 300  # RescanAllHba answers only once the host's HBAs are rescanned (VMFS presentation)

    def run(self, session) -> dict:
        params = self.params
        problems = []
        plan = None
        if params["plan"] is not None:
            plan, found = plan_model.validate(strip_derived(params["plan"]))
            problems += ["plan.%s" % p for p in found]
        if params["storage_map"] is not None:
            entries = [dict(e, path="storage_map[%d]" % i) for i, e in enumerate(params["storage_map"])]
        else:
            entries = [dict(e, path="plan.datastores[%d]" % i) for i, e in enumerate((plan or {}).get("datastores") or [])]
        for entry in entries:
            if not entry.get("recovery"):
                problems.append("%s.recovery: is required" % entry["path"])
        if params["datastores"]:
            known = {e.get("recovery") for e in entries}
            problems += ["datastores[%d]: %r is not a replica of the storage map" % (i, n)
                         for i, n in enumerate(params["datastores"]) if n not in known]
            entries = [e for e in entries if e.get("recovery") in set(params["datastores"])]
        recovery = ((plan or {}).get("sites") or {}).get("recovery") or {}
        datacenter = params["datacenter"] or recovery.get("datacenter")
        cluster = params["cluster"] or recovery.get("cluster")
        if not datacenter:
            problems.append("datacenter: is required (option datacenter or plan.sites.recovery.datacenter)")
        if not cluster:
            problems.append("cluster: is required (option cluster or plan.sites.recovery.cluster)")
        if not entries and not problems:
            problems.append("storage_map: no replica datastore to act on")
        if problems:
            fail(problems)

        dc = session.datacenter(datacenter)
        rows = inventory.retrieve_many(session, {
            vim.HostSystem: ("name", "datastore", "parent", "configManager.datastoreSystem",
                             "configManager.storageSystem"),
            vim.ClusterComputeResource: ("name",),
            vim.Datastore: ("name", "info", "host", "summary.type", "vm"),
            vim.VirtualMachine: ("name",),
        }, root=dc)
        clusters = [c for c in rows[vim.ClusterComputeResource] if c["name"] == cluster]
        if not clusters:
            fail(["cluster: cluster %r not found in datacenter %r" % (cluster, datacenter)])
        hosts = [h for h in rows[vim.HostSystem] if h.get("parent") == clusters[0]["_moid"]]
        datastores = rows[vim.Datastore]
        self._datastores, self._dc = datastores, dc
        if params["state"] == "present":
            return self.present(session, entries, hosts, datastores)
        return self.absent(session, entries, hosts, datastores,
                           {v["_moid"]: v["name"] for v in rows[vim.VirtualMachine]})

    def present(self, session, entries, hosts, datastores) -> dict:
        plan, problems = presentation.present_plan(entries, hosts, datastores)
        vmfs = [p for p in plan if p["type"] == "vmfs" and p["hosts_to_mount"]]
        if vmfs:
            system = host_obj(session, hosts[0], "configManager.storageSystem")
            capable, why = presentation.vmfs_capable(system)
            if not capable:
                problems += ["%s.mount.type: VMFS replicas need QueryUnresolvedVmfsVolume, which vCenter %s does not "
                             "offer (%s)" % (p["path"], session.endpoint, why) for p in vmfs]
        if problems:
            fail(problems)
        changed = any(p["hosts_to_mount"] for p in plan)
        if changed and not self.module.check_mode:
            for entry in plan:
                if entry["type"] == "vmfs":
                    if entry["hosts_to_mount"]:
                        self.present_vmfs(session, entry, hosts)
                    continue
                mount = entry["mount"]
                spec = vim.host.NasVolume.Specification(
                    remoteHost=mount["remote_host"], remotePath=mount["remote_path"], accessMode="readWrite",
                    type="NFS41" if entry["type"] == "nfs41" else "NFS",
                    localPath=mount.get("local_path") or entry["name"])
                for host in hosts:
                    if host["name"] in entry["hosts_to_mount"]:
                        system = host_obj(session, host, "configManager.datastoreSystem")
                        try:
                            session.call(system.CreateNasDatastore, spec=spec)
                        except vmodl.MethodFault as exc:
                            raise RecoveryError("mounting %r on host %s failed: %s"
                                                % (entry["name"], host["name"], fault_message(exc)),
                                                datastores=public(plan)) from None
        return {"changed": changed, "datastores": public(plan)}

    def present_vmfs(self, session, entry, hosts) -> None:
        """Resolve the replica's VMFS volume on one host, name it, rescan the other hosts (real vCenters only).

        The first host of ``hosts_to_mount`` that reports the unresolved volume after a rescan resolves it:
        resignature (the task is awaited: its fault fails the run) or force-mount (every volume's fault is
        checked). The resignatured ``snap-*`` datastore is renamed to the entry's recovery name, then every
        other host that does not mount it yet rescans (HBAs, then VMFS) and mounts it. A rerun does only
        what is left: it renames a ``snap-*`` copy an interrupted run left (one with no VM registered on
        it: a copy in use is someone else's, and the run fails naming it), or only rescans.
        """
        label, name = entry["mount"]["volume_label"], entry["name"]
        existing = [d.get("name") for d in self._datastores]
        copies = presentation.resignatured_copies(label, self._datastores)
        todo = [h for h in hosts if h["name"] in entry["hosts_to_mount"]]
        resolver, decision = None, {"action": "none"}
        for host in todo if name not in existing else []:
            storage_system = host_obj(session, host, "configManager.storageSystem")
            rescan(session, host)
            try:
                unresolved = inventory.to_plain(session.call(storage_system.QueryUnresolvedVmfsVolume))
            except vmodl.MethodFault as exc:
                raise RecoveryError("%s: querying the unresolved VMFS volumes of host %s failed: %s"
                                    % (entry["path"], host["name"], fault_message(exc))) from None
            resolver, decision = host, presentation.vmfs_plan(
                dict(entry, recovery=name), unresolved or [], existing, copies,
                presentation.copy_vm_counts(copies, self._datastores))
            if decision["action"] != "missing":
                break
        what = "%s: VMFS volume %r on host %s" % (entry["path"], label, resolver and resolver["name"])
        if decision["action"] == "resignature":
            system = host_obj(session, resolver, "configManager.datastoreSystem")
            spec = vim.host.UnresolvedVmfsResignatureSpec(extentDevicePath=decision["extent_paths"])
            result = await_task(session, lambda: system.ResignatureUnresolvedVmfsVolume_Task(resolutionSpec=spec),
                                "resignaturing " + what)
            datastore = getattr(result, "result", None) or self.new_copy(session, label, copies, what)
            rename(session, datastore, name, entry["path"])
        elif decision["action"] == "force_mount":
            spec = vim.host.UnresolvedVmfsResolutionSpec(extentDevicePath=decision["extent_paths"],
                                                         uuidResolution="forceMount")
            storage_system = host_obj(session, resolver, "configManager.storageSystem")
            try:
                results = session.call(storage_system.ResolveMultipleUnresolvedVmfsVolumes, resolutionSpec=[spec])
            except vmodl.MethodFault as exc:
                raise RecoveryError("force-mounting %s failed: %s" % (what, fault_message(exc))) from None
            faults = [fault_text(r.fault) for r in results or [] if getattr(r, "fault", None) is not None]
            if faults:
                raise RecoveryError("force-mounting %s failed: %s" % (what, "; ".join(faults)))
        elif decision["action"] == "rename":
            datastore = next(d["obj"] for d in self._datastores if d.get("name") == decision["datastore"])
            rename(session, datastore, name, entry["path"])
        elif decision["action"] != "none":
            raise RecoveryError("%s: %s" % (entry["path"], decision["reason"]))
        for host in todo:
            if host is not resolver:
                rescan(session, host)

    def new_copy(self, session, label, before, what):
        """The ``snap-*`` datastore a resignature made, when its task did not report it (one read)."""
        rows = inventory.retrieve(session, vim.Datastore, ("name", "summary.type"), root=self._dc)
        new = sorted(set(presentation.resignatured_copies(label, rows)) - set(before))
        if len(new) != 1:
            raise RecoveryError("resignaturing %s: the new datastore is not known (%s); rename it to the entry's "
                                "recovery name, or rerun" % (what, ", ".join(new) or "no new snap-* datastore"))
        return next(r["obj"] for r in rows if r["name"] == new[0])

    def absent(self, session, entries, hosts, datastores, vm_names) -> dict:
        plan, problems = presentation.absent_plan(entries, hosts, datastores, vm_names)
        if problems:
            fail(problems)
        changed = any(p["hosts_to_unmount"] for p in plan)
        if changed and not self.module.check_mode:
            done = []
            for entry in plan:
                for host in hosts:
                    if host["name"] in entry["hosts_to_unmount"]:
                        system = host_obj(session, host, "configManager.datastoreSystem")
                        try:
                            session.call(system.RemoveDatastore, datastore=entry["obj"])
                        except vmodl.MethodFault as exc:
                            raise RecoveryError(
                                "unmounting %r from host %s failed (%s: %s); unmounted before: %s"
                                % (entry["name"], host["name"], type(exc).__name__, fault_message(exc),
                                   ", ".join(done) or "nothing"), unmounted=done) from None
                        done.append("%s from %s" % (entry["name"], host["name"]))
        return {"changed": changed, "datastores": [
            {"name": p["name"], "hosts_to_unmount": p["hosts_to_unmount"]} for p in plan]}


def rescan(session, host_row) -> None:
    """Rescan a host's HBAs, then its VMFS volumes (a presented LUN shows up, a resolved volume mounts)."""
    system = host_obj(session, host_row, "configManager.storageSystem")
    try:
        session.call(system.RescanAllHba)
        session.call(system.RescanVmfs)
    except vmodl.MethodFault as exc:
        raise RecoveryError("rescanning the storage of host %s failed: %s" % (host_row["name"], fault_message(exc))) \
            from None


def await_task(session, submit, what):
    """Submit a task and wait for it (``VMFS_TASK_TIMEOUT``); its result, or a RecoveryError naming ``what``."""
    try:
        outcome, = tasks.wait_for_tasks(session, [session.call(submit)], timeout=VMFS_TASK_TIMEOUT,
                                        raise_on_error=False)
    except vmodl.MethodFault as exc:
        raise RecoveryError("%s failed: %s" % (what, fault_message(exc))) from None
    except RecoveryError as exc:
        raise RecoveryError("%s failed: %s" % (what, exc), **exc.details) from None
    if not outcome.ok:
        raise RecoveryError("%s failed: %s" % (what, outcome.error or "the task failed"))
    return outcome.result


def rename(session, datastore, name, path) -> None:
    """Rename_Task of a datastore to ``name``, awaited."""
    await_task(session, lambda: datastore.Rename_Task(newName=name), "%s: renaming datastore %s to %r"
               % (path, getattr(datastore, "_moId", datastore), name))


def host_obj(session, host_row, path):
    """The managed object at ``path`` of a host row (a moid string after to_plain)."""
    value = host_row.get(path)
    if isinstance(value, str):
        kind = vim.host.StorageSystem if path.endswith("storageSystem") else vim.host.DatastoreSystem
        return kind(value, session.si._stub)  # pylint: disable=protected-access
    return value


def public(plan):
    return [{"name": p["name"], "type": p["type"], "mounted_on": p["mounted_on"],
             "hosts_to_mount": p["hosts_to_mount"]} for p in plan]


def fail(problems):
    raise InvalidInput("storage_mapping input has %d problem%s, nothing was changed:\n%s" % (
        len(problems), "" if len(problems) == 1 else "s", "\n".join("- %s" % p for p in problems)),
        problems=list(problems))


def main():
    """Run the module."""
    StorageMapping().execute()


if __name__ == "__main__":
    main()

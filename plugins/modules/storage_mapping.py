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
    volume with that original label and resignaturing or force-mounting it. The module first
    checks that the endpoint offers those calls and fails clearly, before any change, when it
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
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import inventory, presentation
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.cutover import strip_derived
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.module_base import VsphereModule
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.session import fault_message

try:
    from pyVmomi import vim, vmodl
except ImportError:  # pragma: no cover - reported by the module base
    vim = vmodl = None


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
        self._datastores = datastores
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
        """Rescan, find the unresolved volume, resignature or force-mount it (real vCenters only)."""
        host = hosts[0]
        storage_system = host_obj(session, host, "configManager.storageSystem")
        session.call(storage_system.RescanAllHba)
        session.call(storage_system.RescanVmfs)
        unresolved = inventory.to_plain(session.call(storage_system.QueryUnresolvedVmfsVolume))
        existing = [d.get("name") for d in self._datastores]
        decision = presentation.vmfs_plan(entry, unresolved or [], existing)
        if decision["action"] == "resignature":
            system = host_obj(session, host, "configManager.datastoreSystem")
            spec = vim.host.UnresolvedVmfsResignatureSpec(extentDevicePath=decision["extent_paths"])
            session.call(system.ResignatureUnresolvedVmfsVolume_Task, resolutionSpec=spec)
        elif decision["action"] == "force_mount":
            spec = vim.host.UnresolvedVmfsResolutionSpec(extentDevicePath=decision["extent_paths"],
                                                         uuidResolution="forceMount")
            session.call(storage_system.ResolveMultipleUnresolvedVmfsVolumes, resolutionSpec=[spec])
        elif decision["action"] != "none":
            raise RecoveryError("%s: %s" % (entry["path"], decision["reason"]))

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

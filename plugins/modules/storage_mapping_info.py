#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: storage_mapping_info
short_description: Where VMs' disks live, how their datastores are backed, and what replicates them
version_added: 0.1.0
description:
  - Follows each VM to its virtual disks, each disk to its datastore, each
    datastore to its backing (NFS export, or VMFS extents and LUNs) and to the
    hosts that mount it.
  - Resolves every datastore through the storage map (the recovery plan's
    C(datastores) list) to its replica and the replication pair that feeds it.
  - Lists unprotected items - disks, and VM configuration files, on datastores the
    storage map does not cover - so a plan that would leave data behind is caught
    before a disaster.
  - Reads in a constant number of API calls, whatever the number of VMs.
  - Read-only; never changes anything.
author:
  - continuity.recovery engineers (@continuity-recovery)
extends_documentation_fragment:
  - continuity.recovery.vsphere
options:
  datacenter:
    description:
      - Name of the datacenter the VMs and datastores are in.
    type: str
    required: true
  vms:
    description:
      - Names of the VMs to inspect. Empty means every VM of the datacenter.
      - The module fails, listing them in RV(missing), when any name is not found.
    type: list
    elements: str
    default: []
  storage_map:
    description:
      - The storage map, as in the recovery plan's C(datastores) list.
      - Keys other than those below (such as C(mount)) are accepted and ignored.
    type: list
    elements: dict
    default: []
    suboptions:
      primary:
        description: Datastore name at the primary site.
        type: str
        required: true
      recovery:
        description: Replica datastore name at the recovery site.
        type: str
        required: true
      replication:
        description: Name of the replication pair that keeps the replica.
        type: str
      mount:
        description: How the replica is presented to recovery hosts (not used here).
        type: dict
  site:
    description:
      - Which side of O(storage_map) names the datastores of this vCenter.
      - V(primary) resolves replicas to the C(recovery) names; V(recovery) (after a
        takeover, for failback) resolves them to the C(primary) names.
    type: str
    choices: [primary, recovery]
    default: primary
  query:
    description:
      - A JMESPath expression applied to the result; its value is returned in
        RV(query_result).
    type: str
attributes:
  check_mode:
    support: full
    description: The module never changes anything.
notes:
  - A datastore's hosts are the union of its own mount list and the hosts that list
    it, since some endpoints fill only one side.
"""

EXAMPLES = r"""
- name: Check that every disk of the plan's VMs is replicated
  continuity.recovery.storage_mapping_info:
    hostname: vc-prod.example.com
    username: administrator@vsphere.local
    password: "{{ vault_vcenter_password }}"
    datacenter: DC0
    vms: [db01, app01, app02, web01]
    storage_map: "{{ recovery_plan.datastores }}"
  delegate_to: localhost
  register: storage

- name: Refuse a plan that leaves disks behind
  ansible.builtin.assert:
    that: storage.unprotected | length == 0
    fail_msg: "Unprotected: {{ storage.unprotected }}"

- name: NFS exports behind the VMs' datastores
  continuity.recovery.storage_mapping_info:
    datacenter: DC0
    storage_map: "{{ recovery_plan.datastores }}"
    query: "datastores[?backing.type=='nfs'].{name: name, export: join(':', [backing.remote_host, backing.remote_path])}"
  delegate_to: localhost
  register: exports
"""

RETURN = r"""
vms:
  description: Each VM with its disks, their datastores and replicas.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: VM name.
      type: str
    moid:
      description: Managed object id.
      type: str
    vm_path_name:
      description: Path of the .vmx file.
      type: str
      sample: "[Prod-DS-01] web01/web01.vmx"
    config_datastore:
      description: Datastore holding the VM's configuration files.
      type: str
    config_replica:
      description: Replica of that datastore (V(datastore), V(replication)) or null.
      type: dict
    datastores:
      description: Datastores the VM uses.
      type: list
      elements: str
    config_readable:
      description: False when vCenter could not return the VM's configuration (inaccessible, being created).
      type: bool
    protected:
      description: Whether every disk and the configuration files have a replica (false when unreadable).
      type: bool
    disks:
      description: Virtual disks.
      type: list
      elements: dict
      contains:
        label:
          description: Device label.
          type: str
          sample: Hard disk 1
        key:
          description: Device key.
          type: int
        file:
          description: Backing file.
          type: str
          sample: "[Prod-DS-01] web01/web01.vmdk"
        datastore:
          description: Datastore name.
          type: str
        capacity_kb:
          description: Capacity in KiB.
          type: int
        thin:
          description: Thin provisioned (null when not applicable).
          type: bool
        backing_type:
          description: vSphere backing type name.
          type: str
        replica:
          description: The replica datastore and replication pair, or null when unmapped.
          type: dict
          sample: {datastore: Replica-DS-01, replication: vmstore}
        protected:
          description: Whether the disk's datastore has a replica.
          type: bool
datastores:
  description: Datastores the VMs use, plus the storage map's datastores present at this site.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Datastore name.
      type: str
    moid:
      description: Managed object id.
      type: str
    type:
      description: "Backing type: V(nfs), V(nfs41), V(vmfs), V(local), V(vsan)..."
      type: str
    url:
      description: Datastore URL.
      type: str
    accessible:
      description: Whether the datastore is accessible.
      type: bool
    backing:
      description: >-
        How it is backed. NFS - C(type), C(remote_host), C(remote_path).
        VMFS - C(type), C(uuid), C(version), C(extents) (C(disk_name), C(partition)) and
        C(luns) (canonical names of the extents' devices). Local - C(type), C(path).
      type: dict
      sample: {type: nfs, remote_host: array-prod, remote_path: /exports/prod-ds-01}
    hosts:
      description: Hosts that mount it.
      type: list
      elements: str
    replica:
      description: Replica datastore and replication pair, or null.
      type: dict
unprotected:
  description: Disks and configuration files on datastores the storage map does not cover.
  returned: always
  type: list
  elements: dict
  sample:
    - {vm: web01, disk: Hard disk 2, file: "[Scratch-DS] web01/web01_1.vmdk", datastore: Scratch-DS,
       reason: datastore has no entry in the storage map}
  contains:
    vm:
      description: VM name.
      type: str
    disk:
      description: Disk label, or null for the VM's configuration files.
      type: str
    file:
      description: The file concerned.
      type: str
    datastore:
      description: Its datastore.
      type: str
    reason:
      description: Why it is unprotected.
      type: str
unmapped_datastores:
  description: Datastores the VMs use that the storage map does not name.
  returned: always
  type: list
  elements: str
missing_mapped_datastores:
  description: Datastores the storage map names for this site that do not exist in the datacenter.
  returned: always
  type: list
  elements: str
missing:
  description: VM names from O(vms) not found (only on failure).
  returned: failure
  type: list
  elements: str
vcenter_calls:
  description: SOAP calls made to the vCenter, login and logout included.
  returned: always
  type: int
  sample: 10
query_result:
  description: Value of O(query) over the result.
  returned: when O(query) is set
  type: raw
"""

from ansible_collections.continuity.recovery.plugins.module_utils.errors import NotFound
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import inventory, storage
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.module_base import VsphereModule

try:
    from pyVmomi import vim
except ImportError:  # pragma: no cover - reported by the module base
    vim = None


class StorageMappingInfo(VsphereModule):
    """storage_mapping_info: one batched read, then the pure storage mapping."""

    def module_spec(self) -> dict:
        return dict(
            datacenter=dict(type="str", required=True),
            vms=dict(type="list", elements="str", default=[]),
            storage_map=dict(type="list", elements="dict", default=[], options=dict(
                primary=dict(type="str", required=True),
                recovery=dict(type="str", required=True),
                replication=dict(type="str"),
                mount=dict(type="dict"),
            )),
            site=dict(type="str", choices=list(storage.SITES), default="primary"),
            query=dict(type="str"),
        )

    def run(self, session) -> dict:
        params = self.params
        datacenter = session.datacenter(params["datacenter"])
        names = params["vms"]
        rows = inventory.retrieve_many(session, {
            vim.VirtualMachine: ("name",) if names else storage.VM_PROPERTIES,
            vim.Datastore: storage.DATASTORE_PROPERTIES,
            vim.HostSystem: storage.HOST_PROPERTIES,
        }, root=datacenter)
        vms = rows[vim.VirtualMachine]
        if names:
            vms = inventory.retrieve_objects(session, select_vms(vms, names, params["datacenter"]),
                                             storage.VM_PROPERTIES)
        return storage.storage_mapping(vms, rows[vim.Datastore], rows[vim.HostSystem],
                                       params["storage_map"], site=params["site"])


def select_vms(rows: list, names: list, datacenter: str) -> list:
    """Managed objects of the named VMs; NotFound listing every missing name."""
    wanted = set(names)
    found = [row["obj"] for row in rows if row.get("name") in wanted]
    missing = sorted(wanted - {row.get("name") for row in rows})
    if missing:
        raise NotFound("VMs not found in datacenter %r: %s" % (datacenter, ", ".join(missing)),
                       missing=missing)
    return found


def main():
    """Run the module."""
    StorageMappingInfo().execute()


if __name__ == "__main__":
    main()

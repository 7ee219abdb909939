#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: site_info
short_description: Health and configuration record of one vSphere site
version_added: 0.1.0
description:
  - Reads one datacenter of a vCenter (optionally one cluster) in a constant number
    of API calls, whatever the number of VMs, and reports hosts, clusters,
    datastores, portgroups and VMs (NICs with portgroup names and guest IPs, disks,
    datastores, host, UUIDs).
  - Lists abnormalities that make the site unfit to protect or to recover to
    (hosts not connected, datastores inaccessible or short of free space) and, for
    the protected VMs named in O(vms), VMs missing, not powered on, without running
    tools or without a green guest heartbeat.
  - The baseline role records both sites with it; the recovery plan's live
    cross-reference compares the plan with it.
  - Read-only; never changes anything.
author:
  - continuity.recovery engineers (@continuity-recovery)
extends_documentation_fragment:
  - continuity.recovery.vsphere
options:
  datacenter:
    description:
      - Name of the datacenter to inspect.
    type: str
    required: true
  cluster:
    description:
      - Limit hosts, clusters and datastores to this cluster (datastores mounted by
        at least one of its hosts).
      - Without O(vms), VMs are limited to those running on its hosts as well; VMs
        named in O(vms) are reported wherever they run.
      - The module fails if the cluster does not exist.
    type: str
  vms:
    description:
      - Names of the protected VMs. Only these are recorded in RV(vms) and only
        these get VM health checks; a name not found is an abnormality
        (check V(vm_exists)) and is listed in RV(missing_vms).
      - When omitted, every VM of the datacenter (or cluster) is recorded and no VM
        health check is made.
    type: list
    elements: str
  free_space_threshold_pct:
    description:
      - A datastore with less free space than this, in percent of its capacity, is
        an abnormality (check V(datastore_free_space)).
    type: float
    default: 10
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
  - The API cost, returned as RV(vcenter_calls), is constant in the number of VMs.
    It is the login, one datacenter lookup, one batched retrieval of every object
    type (one more page per 1,000 objects) and, with O(vms), one retrieval of those
    VMs' details.
"""

EXAMPLES = r"""
- name: Baseline of the production site
  continuity.recovery.site_info:
    hostname: vc-prod.example.com
    username: administrator@vsphere.local
    password: "{{ vault_vcenter_password }}"
    datacenter: DC0
    cluster: DC0_C0
    vms: [db01, app01, app02, web01]
  delegate_to: localhost
  register: primary_site

- name: Stop when the site is not healthy
  ansible.builtin.assert:
    that: primary_site.healthy
    fail_msg: "{{ primary_site.abnormalities }}"

- name: Connection options set once for the whole action group
  module_defaults:
    group/continuity.recovery.vsphere:
      hostname: vc-dr.example.com
      username: administrator@vsphere.local
      password: "{{ vault_dr_vcenter_password }}"
  block:
    - name: Portgroup names at the recovery site
      continuity.recovery.site_info:
        datacenter: DC0
        query: "portgroups[?!uplink].name"
      delegate_to: localhost
      register: dr
"""

RETURN = r"""
datacenter:
  description: The datacenter inspected.
  returned: always
  type: str
  sample: DC0
cluster:
  description: The cluster the record is limited to, or null.
  returned: always
  type: str
healthy:
  description: True when RV(abnormalities) is empty.
  returned: always
  type: bool
abnormalities:
  description: What is wrong, each with the object, its type, the check and a detail.
  returned: always
  type: list
  elements: dict
  sample:
    - {object: db01, type: vm, check: vm_heartbeat, detail: guest heartbeat is gray}
  contains:
    object:
      description: Name of the host, datastore or VM.
      type: str
    type:
      description: V(host), V(datastore) or V(vm).
      type: str
    check:
      description: >-
        V(host_connected), V(datastore_accessible), V(datastore_free_space),
        V(vm_exists), V(vm_powered_on), V(vm_tools_running) or V(vm_heartbeat).
      type: str
    detail:
      description: What was found.
      type: str
hosts:
  description: ESXi hosts.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Host name.
      type: str
    moid:
      description: Managed object id.
      type: str
    cluster:
      description: Cluster the host belongs to (null for a standalone host).
      type: str
    connection_state:
      description: V(connected), V(disconnected) or V(notResponding).
      type: str
    power_state:
      description: V(poweredOn), V(poweredOff), V(standBy) or V(unknown).
      type: str
    in_maintenance:
      description: Whether the host is in maintenance mode.
      type: bool
    overall_status:
      description: V(green), V(yellow), V(red) or V(gray).
      type: str
clusters:
  description: Clusters (only O(cluster) when given).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Cluster name.
      type: str
    moid:
      description: Managed object id.
      type: str
    ha_enabled:
      description: vSphere HA enabled (C(configurationEx.dasConfig.enabled)).
      type: bool
    drs_enabled:
      description: DRS enabled (C(configurationEx.drsConfig.enabled)).
      type: bool
    host_count:
      description: Number of hosts.
      type: int
    hosts:
      description: Host names.
      type: list
      elements: str
    overall_status:
      description: Overall status.
      type: str
datastores:
  description: Datastores (with O(cluster), those its hosts mount).
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
      description: "File system type: V(VMFS), V(NFS), V(NFS41), V(vsan), V(OTHER)..."
      type: str
    accessible:
      description: Whether the datastore is accessible.
      type: bool
    maintenance_mode:
      description: Datastore maintenance mode state.
      type: str
    capacity:
      description: Capacity in bytes.
      type: int
    free:
      description: Free space in bytes.
      type: int
    free_pct:
      description: Free space in percent of capacity (one decimal).
      type: float
    url:
      description: Datastore URL.
      type: str
    hosts:
      description: Names of the hosts that mount it.
      type: list
      elements: str
portgroups:
  description: Networks of the datacenter (standard, distributed and opaque portgroups).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Portgroup name.
      type: str
    moid:
      description: Managed object id.
      type: str
    key:
      description: Distributed portgroup key (null for standard portgroups).
      type: str
    switch:
      description: Distributed switch name (null for standard portgroups).
      type: str
    switch_uuid:
      description: Distributed switch UUID.
      type: str
    type:
      description: V(distributed), V(standard) or V(opaque).
      type: str
    uplink:
      description: Whether it is a distributed switch's uplink portgroup.
      type: bool
vms:
  description: VMs recorded (the protected ones when O(vms) is given, else all).
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
    protected:
      description: Whether the VM is named in O(vms).
      type: bool
    power_state:
      description: V(poweredOn), V(poweredOff) or V(suspended).
      type: str
    tools_running_status:
      description: VMware Tools running status.
      type: str
    heartbeat_status:
      description: Guest heartbeat status (V(green) when healthy).
      type: str
    ip_address:
      description: Primary guest IP address.
      type: str
    guest_hostname:
      description: Guest host name.
      type: str
    guest_id:
      description: Configured guest OS identifier.
      type: str
    nics:
      description: Virtual NICs.
      type: list
      elements: dict
      contains:
        label:
          description: Device label.
          type: str
        key:
          description: Device key.
          type: int
        type:
          description: Adapter type (vSphere type name).
          type: str
        mac:
          description: MAC address.
          type: str
        portgroup:
          description: Portgroup name (distributed portgroup keys resolved to names).
          type: str
        portgroup_key:
          description: Distributed portgroup key.
          type: str
        switch:
          description: Distributed switch name.
          type: str
        connected:
          description: Currently connected.
          type: bool
        start_connected:
          description: Connects at power on.
          type: bool
        ip_addresses:
          description: Guest IPs of this NIC (by device key, else MAC).
          type: list
          elements: str
    disks:
      description: Virtual disks.
      type: list
      elements: dict
      contains:
        label:
          description: Device label.
          type: str
        key:
          description: Device key.
          type: int
        file:
          description: Backing file, C([datastore] path).
          type: str
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
    datastores:
      description: Datastores the VM uses.
      type: list
      elements: str
    host:
      description: Host the VM runs on.
      type: str
    cluster:
      description: Cluster of that host.
      type: str
    vm_path_name:
      description: Path of the .vmx file.
      type: str
    uuid:
      description: BIOS UUID.
      type: str
    instance_uuid:
      description: vCenter instance UUID.
      type: str
    template:
      description: Whether the VM is a template.
      type: bool
missing_vms:
  description: Names in O(vms) not found in the datacenter.
  returned: always
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
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import inventory, site
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.module_base import VsphereModule

try:
    from pyVmomi import vim
except ImportError:  # pragma: no cover - reported by the module base
    vim = None


class SiteInfo(VsphereModule):
    """site_info: one batched read, then the pure site record."""

    def module_spec(self) -> dict:
        return dict(
            datacenter=dict(type="str", required=True),
            cluster=dict(type="str"),
            vms=dict(type="list", elements="str"),
            free_space_threshold_pct=dict(type="float", default=site.DEFAULT_FREE_SPACE_THRESHOLD_PCT),
            query=dict(type="str"),
        )

    def run(self, session) -> dict:
        params = self.params
        datacenter = session.datacenter(params["datacenter"])
        protected = params["vms"]
        rows = read_site(session, datacenter, detailed_vms=protected is None)
        if protected is not None:
            wanted = set(protected)
            selected = [row["obj"] for row in rows[vim.VirtualMachine] if row.get("name") in wanted]
            rows[vim.VirtualMachine] = inventory.retrieve_objects(session, selected, site.VM_PROPERTIES)
        cluster = params["cluster"]
        if cluster is not None and not any(c.get("name") == cluster for c in rows[vim.ClusterComputeResource]):
            raise NotFound("cluster %r not found in datacenter %r" % (cluster, params["datacenter"]),
                           missing=[cluster],
                           available=sorted(c.get("name") for c in rows[vim.ClusterComputeResource]))
        record = site.site_record(
            hosts=rows[vim.HostSystem], clusters=rows[vim.ClusterComputeResource],
            datastores=rows[vim.Datastore], networks=rows[vim.Network],
            switches=rows[vim.DistributedVirtualSwitch], vms=rows[vim.VirtualMachine],
            protected=protected, cluster=cluster,
            free_space_threshold_pct=params["free_space_threshold_pct"])
        record.update(datacenter=params["datacenter"], cluster=cluster)
        return record


def read_site(session, datacenter, detailed_vms: bool) -> dict:
    """Every object type the record needs in one container view and one retrieval."""
    return inventory.retrieve_many(session, {
        vim.HostSystem: site.HOST_PROPERTIES,
        vim.ClusterComputeResource: site.CLUSTER_PROPERTIES,
        vim.Datastore: site.DATASTORE_PROPERTIES,
        vim.Network: site.NETWORK_PROPERTIES,
        vim.dvs.DistributedVirtualPortgroup: site.PORTGROUP_PROPERTIES,
        vim.DistributedVirtualSwitch: site.SWITCH_PROPERTIES,
        vim.VirtualMachine: site.VM_PROPERTIES if detailed_vms else site.VM_NAME_PROPERTIES,
    }, root=datacenter)


def main():
    """Run the module."""
    SiteInfo().execute()


if __name__ == "__main__":
    main()

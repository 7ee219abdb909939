#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: host_cutover
short_description: Tiered takeover, drill, drill cleanup and failback of vSphere VMs
version_added: 0.1.0
description:
  - Brings the VMs of one or more tiers of a recovery plan up at the other site, tier by
    tier, strictly in order; inside a tier every step runs for all its VMs together, with
    at most O(max_parallel) requests to vCenter in flight, and its tasks are awaited
    together (no per-VM polling).
  - V(takeover) - in O(mode=planned) the primary VMs still running are shut down (guest
    shutdown, then power off after O(guest_shutdown_timeout)); each VM is registered at the
    recovery site from its replica datastore (or an existing VM of the same name - a
    placeholder - is used), its NICs are reconciled onto the recovery portgroups of the
    network map and missing replica disks attached, it is re-addressed by guest
    customization (address computed from the subnet map, or the plan's explicit
    C(recovery_ip)), powered on, and the module waits until the guest reports the new IP.
    The VMs of a tier are powered on by one C(PowerOnMultiVM) that overrides a DRS automation
    level of manual or partially automated (C(OverrideAutomationLevel=fullyAutomated)); a VM
    vCenter does not attempt to power on (not attempted, or only a DRS recommendation) fails at
    once with the reason.
  - V(drill) - never touches a production VM. The replica is registered at the recovery site
    (if not yet - a VM of the same name without the marker counts as the replica only when it is
    powered off and registered from the replica path), snapshotted, and a linked clone named
    C(<vm><drill_suffix>) is made with NICs only on the drill (bubble) portgroups, re-addressed,
    powered on and verified.
    Clones, snapshots and registrations carry a marker (extraConfig
    C(continuity.recovery.role)/C(continuity.recovery.source), snapshot name
    C(continuity.recovery drill)).
  - V(cleanup) - removes exactly what V(drill) made - marked clones (powered off and
    destroyed), drill snapshots, and replica registrations the drill made (unregistered;
    replica files stay).
  - V(failback) - the reverse of V(takeover) - the VMs running at the recovery site are shut
    down and the primary VMs (existing, or registered from their primary datastore) are put
    back on their primary portgroups with their primary IP, the network's C(primary_gateway)
    and C(primary_dns_servers), and powered on. Every network the VMs use needs a
    C(primary_gateway), and every NIC a known primary IP (the guest reports it, else
    O(baseline) has it) - otherwise the failback fails before any change rather than bring a
    production VM back on DHCP or without its default route. The connection
    options are the recovery vCenter; the primary vCenter is O(primary).
  - Everything is checked before anything changes - unknown VMs, portgroups missing at the
    target site, addresses outside their subnet or on its network or broadcast address, a
    recovered address that is a recovery gateway or DNS server or that another VM gets (a VM of
    the selection, or of another tier of O(plan) whose address is known - its explicit
    C(recovery_ip), or its record in O(baseline)), datastores without replica, any datastore a
    VM has files on (configuration or disk; its replica) or O(drill_datastore) not mounted on
    the target cluster, an unmarked VM of the same name at the recovery site that a drill
    would take for the replica although it runs or is registered from another path - and
    every problem is reported at once in RV(problems), each naming its field.
  - A VM that fails a step is left as it is and reported in RV(failed_vms); the other VMs of
    its tier finish; later tiers do not start. A read or wait that fails in the middle of a tier
    (connection lost, session expired) fails the VMs of that tier not failed yet with the error;
    the result still carries RV(vms), RV(tiers) and RV(timeline) of what was done. A rerun resumes - a VM already registered,
    reconciled and running with its expected IP is left alone and reported unchanged.
author:
  - continuity.recovery engineers (@continuity-recovery)
extends_documentation_fragment:
  - continuity.recovery.vsphere
options:
  action:
    description: What to do.
    type: str
    required: true
    choices: [takeover, drill, cleanup, failback]
  mode:
    description:
      - V(planned) shuts the source VMs down first when their site answers (for V(takeover)
        the primary VMs, for V(failback) the VMs at the recovery site). With O(baseline), a planned
        V(takeover) goes on without the shutdown only when the primary vCenter does not answer at all
        (connection refused, timeout, name not resolved); a refused login or a TLS/certificate failure
        fails the task before any change.
      - V(emergency) never touches the source site; the primary VMs' NICs and IPs come from
        the primary vCenter when it answers, else from O(baseline).
    type: str
    choices: [planned, emergency]
    default: planned
  plan:
    description:
      - The recovery plan (the C(recovery_plan) variable, docs/plan.md). It is validated
        first; its tiers, networks, datastores and sites are the defaults of O(tiers),
        O(networks), O(storage_map), O(datacenter), O(cluster) and O(primary).
      - A plan already normalised by C(continuity.recovery.recovery_plan) is accepted.
    type: dict
  tiers:
    description:
      - Tiers to act on, in this order. Each is the name of a tier of O(plan), or a
        dictionary C({name, vms}) whose C(vms) are names or C({name, recovery_ip, network}).
      - Default - every tier of O(plan) in plan order.
    type: list
    elements: raw
  vms:
    description: Act only on these VMs of the selected tiers.
    type: list
    elements: str
  networks:
    description:
      - The network map (entries C(name), C(primary), C(recovery), C(drill), C(primary_subnet),
        C(recovery_subnet), C(recovery_gateway), C(dns_servers), and for V(failback) C(primary_gateway) -
        inside C(primary_subnet) - and C(primary_dns_servers)). Default - O(plan)'s.
    type: list
    elements: dict
  storage_map:
    description:
      - The storage map (entries C(primary), C(recovery), ...). Default - O(plan)'s C(datastores).
    type: list
    elements: dict
  baseline:
    description:
      - The primary VMs' configuration when the primary vCenter cannot be read - a baseline
        record (the baseline role's C(record)), a C(site_info) result of the primary site, or
        its C(vms) list. Each VM's NICs (portgroup, MAC, adapter type, IPs), disks and
        configuration path are used. Anything else (a file name, a mapping without such a list) is
        refused before any change.
      - When the primary vCenter answers its live records win, except that a NIC reporting no IP
        (a guest already shut down) keeps the baseline's IPs (same MAC).
      - A NIC whose IPs neither the primary nor O(baseline) gives takes those the takeover recorded -
        the VM a takeover of this collection registers at the recovery site carries its source's
        NICs and IPs, as read before the shutdown, in extraConfig C(continuity.recovery.source_nics) -
        so a rerun of a takeover, or a failback, finds the addresses of primary VMs already shut down.
        A source shut down whose registration failed has none recorded - then only O(baseline) (or an
        explicit C(recovery_ip)) has them, and the run fails before any change saying so.
      - For V(failback) it is the source of the primary IPs when given; a primary VM that is powered off
        reports no IP, so without it and without the recorded addresses the failback fails before any change.
    type: raw
  primary:
    description:
      - Connection to the primary vCenter, plus its C(datacenter), C(cluster),
        C(vm_folder) and C(resource_pool). Default - O(plan)'s C(sites.primary).
    type: dict
    suboptions:
      hostname:
        description: Host name or IP address of the primary vCenter.
        type: str
      port:
        description: TCP port. Default - the plan's C(sites.primary.vcenter.port), else 443.
        type: int
      username:
        description: User name.
        type: str
      password:
        description: Password (never returned).
        type: str
      validate_certs:
        description:
          - Verify the TLS certificate.
          - Default - the plan's C(sites.primary.vcenter.validate_certs), else true.
        type: bool
      datacenter:
        description: Datacenter of the primary VMs.
        type: str
      cluster:
        description: Cluster for VMs registered at the primary site by V(failback).
        type: str
      vm_folder:
        description: Folder for VMs registered at the primary site.
        type: str
      resource_pool:
        description: Resource pool for VMs registered at the primary site.
        type: str
  datacenter:
    description: Datacenter at the recovery site. Default - O(plan)'s C(sites.recovery.datacenter).
    type: str
  cluster:
    description: Cluster at the recovery site. Default - O(plan)'s C(sites.recovery.cluster).
    type: str
  vm_folder:
    description: Folder for recovered VMs and drill clones. Default - the datacenter's VM folder.
    type: str
  resource_pool:
    description: Resource pool for recovered VMs. Default - the cluster's root pool.
    type: str
  max_parallel:
    description: Requests to vCenter in flight at once inside a tier.
    type: int
    default: 20
  vm_timeout:
    description: Seconds any one step may take for a VM (a task, the wait for the guest IP).
    type: int
    default: 600
  timeout:
    description: Seconds the whole run may take; tiers not started by then are reported, not run.
    type: int
    default: 3600
  guest_shutdown_timeout:
    description: Seconds a guest shutdown may take before the VM is powered off.
    type: int
    default: 120
  wait_for:
    description: What a powered-on VM must show before it counts as up - its expected IPs, a green heartbeat.
    type: list
    elements: str
    choices: [ip, heartbeat]
    default: [ip]
  drill_suffix:
    description: Suffix of drill clone names.
    type: str
    default: "-drill"
  drill_datastore:
    description:
      - Datastore for the drill clones' child disks. Default - the replica datastore.
      - It must be mounted on the recovery cluster (checked before any change).
    type: str
  unregister_source:
    description:
      - With O(action=failback) (not with O(shutdown_only)) - once every tier is back at the primary site, the
        VMs at the recovery site that this collection registered for the takeover (marker
        C(continuity.recovery.role) V(takeover) or V(failback)) and that are powered off are unregistered
        (C(UnregisterVM); their files stay on the replica datastore), so the recovery site is as it was before
        the takeover (a later drill or takeover registers the replica again). Reported per VM as the step
        C(unregister_source); in check mode as V(would_change). A VM without the marker is never touched; a VM
        already gone needs nothing (a rerun is unchanged). Nothing is unregistered when a tier failed.
    type: bool
    default: false
  shutdown_only:
    description:
      - With O(action=takeover) or O(action=failback) in O(mode=planned) - only shut the source VMs
        down (guest shutdown, then power off after O(guest_shutdown_timeout)) and stop; nothing is
        registered, reconfigured or powered on at the target site.
      - Tiers are shut down in reverse plan order (the front tiers first, the data tier last), so that
        a final data sync (replication C(state=synced)) can follow with every writer stopped, before
        the real cutover run (without this option) brings the VMs up at the target site.
      - The source site must answer (it is where the VMs are shut down); replica datastores need not be
        presented yet (they are not checked); the target portgroups are.
      - A source VM already powered off is left alone (a rerun reports unchanged).
    type: bool
    default: false
  pending_datastores:
    description:
      - Check mode only - replica datastores that an earlier step of the same run presents
        (M(continuity.recovery.storage_mapping) in check mode said it would), so that a role's check
        mode can report the steps of every tier; they are not reported as not mounted. Ignored
        outside check mode (a datastore must really be mounted before VMs are registered from it).
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Reports per VM the steps that would run (RV(vms[].steps)) and the NIC/disk changes, changing nothing.
notes:
  - Re-addressing uses a Linux customization identity (LinuxPrep); Windows guests need a Sysprep identity (not yet).
  - On vcsim 0.24 the registered name must equal the VM's folder name, and registered VMs come back without devices,
    so NICs and disks are always reconciled there.
  - Drill registers and snapshots the replica; a replication engine that rewrites the replica directory must not
    run between V(drill) and V(cleanup).
"""

EXAMPLES = r"""
- name: Planned takeover of the whole plan
  continuity.recovery.host_cutover:
    hostname: "{{ recovery_plan.sites.recovery.vcenter.hostname }}"
    username: "{{ recovery_plan.sites.recovery.vcenter.username }}"
    password: "{{ recovery_plan.sites.recovery.vcenter.password }}"
    plan: "{{ recovery_plan }}"
    action: takeover
    mode: planned
  delegate_to: localhost
  register: cutover

- name: Emergency takeover of tier data from the baseline record
  continuity.recovery.host_cutover:
    plan: "{{ recovery_plan }}"
    action: takeover
    mode: emergency
    tiers: [data]
    baseline: "{{ lookup('ansible.builtin.file', baseline_file) | from_json }}"
  delegate_to: localhost

- name: Planned takeover, step 1 - shut the primary VMs down only (then sync the data one last time)
  continuity.recovery.host_cutover:
    plan: "{{ recovery_plan }}"
    action: takeover
    mode: planned
    shutdown_only: true
  delegate_to: localhost

- name: Drill, then clean up
  module_defaults:
    group/continuity.recovery.vsphere:
      hostname: vc-dr.example.com
      username: administrator@vsphere.local
      password: "{{ vault_dr_password }}"
  block:
    - name: Linked clones in the bubble network
      continuity.recovery.host_cutover:
        plan: "{{ recovery_plan }}"
        action: drill
      delegate_to: localhost
    - name: Remove what the drill made
      continuity.recovery.host_cutover:
        plan: "{{ recovery_plan }}"
        action: cleanup
      delegate_to: localhost

- name: Explicit tier and address, no plan
  continuity.recovery.host_cutover:
    action: takeover
    datacenter: DC0
    cluster: DC0_C0
    primary: {hostname: vc-prod.example.com, username: admin, password: "{{ pw }}", datacenter: DC0}
    tiers:
      - {name: data, vms: [{name: db01, recovery_ip: 10.20.1.10}]}
    networks:
      - {name: prod, primary: Prod-Net, recovery: DR-Prod, drill: DR-Bubble, primary_subnet: 10.10.0.0/20,
         recovery_subnet: 10.20.0.0/20, recovery_gateway: 10.20.0.1, dns_servers: [10.20.0.53],
         primary_gateway: 10.10.0.1, primary_dns_servers: [10.10.0.53]}
    storage_map:
      - {primary: Prod-DS-01, recovery: Replica-DS-01}
  delegate_to: localhost
"""

RETURN = r"""
action:
  description: The action run.
  returned: always
  type: str
tiers:
  description: Tiers in the order run.
  returned: success or partial failure
  type: list
  elements: dict
  contains:
    name:
      description: Tier name.
      type: str
    vms:
      description: VMs of the tier.
      type: list
      elements: str
    state:
      description: V(done), V(failed) or V(not_started).
      type: str
    start:
      description: Seconds from the start of the run when the tier started.
      type: float
    end:
      description: Seconds from the start of the run when the tier ended.
      type: float
    failed_vms:
      description: VMs of the tier that failed.
      type: list
      elements: str
vms:
  description: One entry per VM.
  returned: success or partial failure
  type: list
  elements: dict
  contains:
    name:
      description: VM name.
      type: str
    tier:
      description: Its tier.
      type: str
    status:
      description: V(changed), V(unchanged), V(would_change) (check mode), V(failed) or V(not_started).
      type: str
    steps:
      description: >-
        Steps run (or, in check mode, that would run) - shutdown_source, power_off_source, register,
        mark_source, snapshot, clone, reconfigure, customize, power_on, wait_ip, power_off_clone,
        destroy_clone, remove_snapshot, unregister_source.
      type: list
      elements: str
    changes:
      description: NIC and disk changes (V(edit NIC ...), V(add NIC on DR-Prod), V(attach disk ...)).
      type: list
      elements: str
    timeline:
      description: Each step with its start and end in seconds from the start of the run.
      type: list
      elements: dict
    error:
      description: Why the VM failed or did not start.
      type: str
    failed_step:
      description: The step that failed.
      type: str
    vm:
      description: Managed object id of the recovered VM (the clone for a drill).
      type: str
    ip_addresses:
      description: IPs the guest reports at the end.
      type: list
      elements: str
    portgroups:
      description: Portgroups of its NICs at the end.
      type: list
      elements: str
failed_vms:
  description: VMs that failed.
  returned: success or partial failure
  type: list
  elements: str
not_started_vms:
  description: VMs of tiers that did not start because an earlier tier failed or the timeout passed.
  returned: success or partial failure
  type: list
  elements: str
timeline:
  description: >-
    Every step of every tier (C(tier), C(step), C(start), C(end) in seconds from the start of the run,
    C(vms) - how many VMs took it), ordered by start - the RTO evidence; per-VM detail is in RV(vms[].timeline).
  returned: success or partial failure
  type: list
  elements: dict
  sample:
    - {tier: data, step: register, start: 0.41, end: 0.52, vms: 2}
source_reachable:
  description: Whether the primary vCenter answered (takeover and drill; planned takeover shuts VMs down only then).
  returned: takeover and drill
  type: bool
elapsed:
  description: Seconds the run took.
  returned: success or partial failure
  type: float
problems:
  description: "Input problems found before any change, each C(<field>: <message>)."
  returned: failure
  type: list
  elements: str
  sample:
    - "plan.networks[0].recovery: portgroup 'DR-Prod' not found at site recovery"
vcenter_calls:
  description: SOAP calls made to the recovery vCenter (the main connection).
  returned: always
  type: int
"""

from ansible_collections.continuity.recovery.plugins.module_utils import baseline as baseline_mod
from ansible_collections.continuity.recovery.plugins.module_utils.errors import (
    ConnectionFailure,
    InvalidInput,
    RecoveryError,
)
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import cutover as cplan
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import executor
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.module_base import VsphereModule
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.session import UNREACHABLE, Session


class HostCutover(VsphereModule):
    """host_cutover: validate everything, then run the tiers."""

    def module_spec(self) -> dict:
        return dict(
            action=dict(type="str", required=True, choices=list(cplan.ACTIONS)),
            mode=dict(type="str", choices=list(cplan.MODES), default="planned"),
            plan=dict(type="dict"),
            tiers=dict(type="list", elements="raw"),
            vms=dict(type="list", elements="str"),
            networks=dict(type="list", elements="dict"),
            storage_map=dict(type="list", elements="dict"),
            baseline=dict(type="raw"),
            primary=dict(type="dict", options=dict(
                hostname=dict(type="str"), port=dict(type="int"), username=dict(type="str"),
                password=dict(type="str", no_log=True), validate_certs=dict(type="bool"),
                datacenter=dict(type="str"), cluster=dict(type="str"), vm_folder=dict(type="str"),
                resource_pool=dict(type="str"))),
            datacenter=dict(type="str"),
            cluster=dict(type="str"),
            vm_folder=dict(type="str"),
            resource_pool=dict(type="str"),
            max_parallel=dict(type="int", default=20),
            vm_timeout=dict(type="int", default=600),
            timeout=dict(type="int", default=3600),
            guest_shutdown_timeout=dict(type="int", default=120),
            wait_for=dict(type="list", elements="str", choices=["ip", "heartbeat"], default=["ip"]),
            drill_suffix=dict(type="str", default="-drill"),
            drill_datastore=dict(type="str"),
            shutdown_only=dict(type="bool", default=False),
            unregister_source=dict(type="bool", default=False),
            pending_datastores=dict(type="list", elements="str", default=[]),
        )

    def http_timeout(self) -> float:
        return 120

    def run(self, session) -> dict:
        params = self.params
        action = params["action"]
        for key in ("max_parallel", "vm_timeout", "timeout", "guest_shutdown_timeout"):
            if params[key] is not None and params[key] < 1:
                raise InvalidInput("%s: must be at least 1, got %s" % (key, params[key]),
                                   problems=["%s: must be at least 1" % key])
        shutdown_only = bool(params.get("shutdown_only"))
        if shutdown_only and (action not in ("takeover", "failback") or params["mode"] != "planned"):
            raise_problems(["shutdown_only: needs action=takeover or action=failback with mode=planned "
                            "(got action=%s, mode=%s)" % (action, params["mode"])])
        if params.get("unregister_source") and (action != "failback" or shutdown_only):
            raise_problems(["unregister_source: needs action=failback without shutdown_only (got action=%s%s)"
                            % (action, ", shutdown_only" if shutdown_only else "")])
        sel, problems = cplan.selection(params["plan"], params["tiers"], params["vms"], params["networks"],
                                        params["storage_map"])
        if problems:
            raise_problems(problems)
        sites = (sel["plan"] or {}).get("sites") or {}
        primary = primary_settings(params["primary"], sites.get("primary"))
        recovery = {key: params[key] or (sites.get("recovery") or {}).get(key)
                    for key in ("datacenter", "cluster", "vm_folder", "resource_pool")}
        if not recovery["datacenter"]:
            raise_problems(["datacenter: is required (option datacenter or plan.sites.recovery.datacenter)"])
        names = [vm["name"] for tier in sel["tiers"] for vm in tier["vms"]]
        baseline = {}
        if params["baseline"] is not None:
            problem = baseline_mod.vm_records_problem(params["baseline"])
            if problem:
                raise_problems(["baseline: %s" % problem])
            baseline = baseline_mod.vm_records(params["baseline"])
        if action == "cleanup":
            items = [{"name": vm["name"], "tier": tier["name"], "path": vm["path"], "nics": [], "addresses": [],
                      "disks": []} for tier in sel["tiers"] for vm in tier["vms"]]
            view = executor.SiteView(session, recovery["datacenter"], recovery["cluster"], recovery["vm_folder"],
                                     recovery["resource_pool"])
            return self.finish(executor.Cutover(view, None, params, self.module.check_mode).run(items))

        primary_session = open_primary(primary, required=(action == "failback" or not baseline or shutdown_only),
                                       planned_takeover=(action == "takeover" and params["mode"] == "planned"))
        try:
            if action == "failback":
                return self.failback(session, primary_session, primary, recovery, sel, names, baseline)
            records, source = baseline, None
            if primary_session is not None:
                records = cplan.merge_records(baseline, executor.read_records(primary_session, primary["datacenter"],
                                                                              names))
                if action == "takeover":
                    source = primary_session
            view = executor.SiteView(session, recovery["datacenter"], recovery["cluster"], recovery["vm_folder"],
                                     recovery["resource_pool"])
            if action == "takeover":
                records = self.fill_from_registrations(records, view, names)
            items, problems = cplan.work_items(sel, records, action)
            datastores = view.datastores
            if self.module.check_mode and params["pending_datastores"]:
                datastores = dict(datastores, **{name: {"mounted": True, "pending": True}
                                                 for name in params["pending_datastores"]})
            problems += cplan.target_problems(items, sel, view.portgroups, datastores,
                                              "shutdown" if shutdown_only else action, "recovery",
                                              params["drill_datastore"])
            if action == "drill":
                found = view.read_vms([i["name"] for i in items])
                problems += [p for p in (cplan.adoption_problem(i, found.get(i["name"])) for i in items) if p]
            if problems:
                raise_problems(problems)
            run = executor.Cutover(view, SourceSite(source), params, self.module.check_mode) \
                if source is not None else executor.Cutover(view, None, params, self.module.check_mode)
            if source is not None:
                run.source_records = records
            result = run.run(items)
            result["source_reachable"] = primary_session is not None
            if action == "takeover" and params["mode"] == "planned" and primary_session is None:
                self.module.warn("the primary vCenter did not answer: source VMs were not shut down (baseline used)")
            return self.finish(result)
        finally:
            if primary_session is not None:
                primary_session.close()

    def fill_from_registrations(self, records, view, names) -> dict:
        """Primary IPs that neither the primary (a guest shut down) nor baseline has, from the
        takeover registrations at the recovery site (``view``) - read only when some are missing.
        The VMs whose addresses came from there are named in a warning."""
        lacking = cplan.lacking_ips(records, names)
        if not lacking:
            return records
        filled = cplan.fill_from_registrations(records, view.read_vms(lacking))
        used = [n for n in lacking if filled[n].get("nics") != records[n].get("nics")]
        if used:
            self.module.warn("the primary IPs of %d VM%s (%s) are those their takeover recorded at the recovery "
                             "site: the primary reports none (powered off) and baseline has none"
                             % (len(used), "" if len(used) == 1 else "s", cplan.names_text(used)))
        return filled

    def failback(self, recovery_session, primary_session, primary, recovery, sel, names, baseline) -> dict:
        live = executor.read_records(primary_session, primary["datacenter"], names)
        records = dict(live)
        records.update(baseline)
        if cplan.lacking_ips(records, names) and not self.params.get("shutdown_only"):
            records = self.fill_from_registrations(records, executor.SiteView(
                recovery_session, recovery["datacenter"], recovery["cluster"], recovery["vm_folder"],
                recovery["resource_pool"]), names)
        items, problems = cplan.work_items(sel, records, "failback", bool(self.params.get("shutdown_only")))
        view = executor.SiteView(primary_session, primary["datacenter"], primary.get("cluster"),
                                 primary.get("vm_folder"), primary.get("resource_pool"), role="primary")
        problems += cplan.target_problems(items, sel, view.portgroups, view.datastores,
                                          "shutdown" if self.params.get("shutdown_only") else "failback", "primary")
        if problems:
            raise_problems(problems)
        at_recovery = executor.read_records(recovery_session, recovery["datacenter"], names)
        for item in items:
            item["source_power"] = (at_recovery.get(item["name"]) or {}).get("power_state")
        run = executor.Cutover(view, SourceSite(recovery_session), self.params, self.module.check_mode)
        run.source_records = at_recovery
        result = run.run(items)
        if self.params.get("unregister_source") and not (result["failed_vms"] or result["not_started_vms"]):
            # every tier is back at the primary site: the recovery site as it was before the takeover
            run.unregister_sources(items, executor.SiteView(recovery_session, recovery["datacenter"],
                                                            recovery["cluster"], recovery["vm_folder"],
                                                            recovery["resource_pool"]))
            result["failed_vms"] = [r["name"] for r in result["vms"] if r["status"] == "failed"]
            result["changed"] = any(r["status"] in ("changed", "would_change") or r["steps"] for r in result["vms"])
        return self.finish(result)

    def finish(self, result: dict) -> dict:
        result["action"] = self.params["action"]
        if result["failed_vms"] or result["not_started_vms"]:
            failed = result["failed_vms"]
            result["failed"] = True
            result["msg"] = "%s failed for %d VM%s (%s)%s" % (
                self.params["action"], len(failed), "" if len(failed) == 1 else "s",
                "; ".join("%s: %s" % (r["name"], r["error"]) for r in result["vms"] if r["status"] == "failed")[:2000],
                "; not started: %s" % ", ".join(result["not_started_vms"]) if result["not_started_vms"] else "")
        return result


class SourceSite:
    """The site VMs are shut down at (planned mode)."""

    def __init__(self, session):
        self.session = session


def raise_problems(problems):
    raise InvalidInput("host_cutover input has %d problem%s, nothing was changed:\n%s" % (
        len(problems), "" if len(problems) == 1 else "s", "\n".join("- %s" % p for p in problems)),
        problems=list(problems))


def primary_settings(option, plan_site) -> dict:
    """Primary connection and placement: each sub-option given, else the plan's sites.primary, else 443/true."""
    plan_site = plan_site or {}
    vcenter = dict(plan_site.get("vcenter") or {})
    merged = {"hostname": vcenter.get("hostname"), "port": vcenter.get("port") or 443,
              "username": vcenter.get("username"), "password": vcenter.get("password"),
              "validate_certs": True if vcenter.get("validate_certs") is None else vcenter.get("validate_certs"),
              "datacenter": plan_site.get("datacenter"), "cluster": plan_site.get("cluster"),
              "vm_folder": plan_site.get("vm_folder"), "resource_pool": plan_site.get("resource_pool")}
    for key, value in (option or {}).items():
        if value is not None:
            merged[key] = value
    return merged


def open_primary(primary: dict, required: bool, planned_takeover: bool = False):
    """A Session to the primary vCenter, or None when it is not configured / does not answer.

    Not ``required`` (a baseline stands in), a failure to connect returns None - but for a
    planned takeover (``planned_takeover``, which must shut the primary VMs down) only a vCenter
    that does not answer at all does: a refused login or a TLS/certificate failure fails the task
    before any change, or the primary VMs would keep running next to their recovered copies.
    """
    missing = [k for k in ("hostname", "datacenter") if not primary.get(k)]
    if missing:
        if required:
            raise_problems(["primary.%s: is required (option primary or plan.sites.primary) unless baseline is given"
                            % k for k in missing])
        return None
    session = Session(hostname=primary["hostname"], port=primary["port"], username=primary["username"],
                      password=primary["password"], validate_certs=primary["validate_certs"], timeout=120)
    try:
        return session.connect()
    except RecoveryError as exc:
        if required:
            raise RecoveryError("primary site: %s" % exc, problems=["primary.hostname: %s" % exc]) from None
        if planned_takeover and not (isinstance(exc, ConnectionFailure)
                                     and exc.details.get("reason") == UNREACHABLE):
            why = ("primary.hostname: the primary vCenter %s answered but the connection failed (%s); a planned "
                   "takeover must shut the primary VMs down, so only a vCenter that does not answer is skipped "
                   "(fix the primary connection, or use mode=emergency)" % (session.endpoint, exc))
            raise RecoveryError("primary site: %s" % why, problems=[why]) from None
        return None


def main():
    """Run the module."""
    HostCutover().execute()


if __name__ == "__main__":
    main()

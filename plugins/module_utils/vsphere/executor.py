# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs a host cutover (takeover, drill, cleanup, failback) tier by tier.

Tiers run strictly in order; inside a tier every phase (shut down the source,
register, reconfigure NICs/disks, customize, power on, wait for the guest IP)
submits its tasks for all of the tier's VMs with at most ``max_parallel``
requests in flight and waits for them together (``tasks.wait_for_tasks`` /
``waits.wait_for_properties``): the API cost of a tier does not grow with
per-VM polling. Reads go through the PropertyCollector. A VM that fails a step
is left where it is and reported; the others of its tier finish; later tiers do
not start. A rerun picks up where the last one stopped (``cutover.steps``).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Mapping, Sequence

from ansible_collections.continuity.recovery.plugins.module_utils.errors import (
    InvalidInput,
    NotFound,
    RecoveryError,
)
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import cutover as cplan
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import (
    customization,
    inventory,
    nics,
    site,
    storage,
    tasks,
    waits,
)
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.session import fault_message, fault_text

try:
    from pyVmomi import vim, vmodl
except ImportError:  # pragma: no cover - reported by the module base
    vim = vmodl = None

SITE_SPECS = None  # built lazily (needs pyVmomi)

POWER_ON_OPTIONS = (("OverrideAutomationLevel", "fullyAutomated"),)
"""PowerOnMultiVM_Task options: power on even where the cluster's DRS would only recommend a host
(manual or partially automated mode), as a fully automated cluster does."""


def _site_specs():
    return {
        vim.VirtualMachine: ("name",),
        vim.Network: ("name",),
        vim.dvs.DistributedVirtualPortgroup: ("name", "key", "config.distributedVirtualSwitch"),
        vim.DistributedVirtualSwitch: ("name", "uuid", "config.uplinkPortgroup"),
        vim.Datastore: ("name", "summary.accessible", "host"),
        vim.HostSystem: ("name", "datastore", "parent"),
        vim.ClusterComputeResource: ("name", "resourcePool"),
        vim.ResourcePool: ("name", "parent"),
        vim.Folder: ("name", "childType"),
    }


class SiteView:
    """What one vCenter shows: placement targets, portgroups, datastores, the VMs we care about."""

    def __init__(self, session, datacenter: str, cluster: str | None = None, vm_folder: str | None = None,
                 resource_pool: str | None = None, role: str = "recovery"):
        self.session, self.role = session, role
        self.dc = session.datacenter(datacenter)
        rows = inventory.retrieve_many(session, _site_specs(), root=self.dc)
        self.vm_rows = {r["name"]: r for r in rows[vim.VirtualMachine]}
        hosts = rows[vim.HostSystem]
        clusters = rows[vim.ClusterComputeResource]
        self.cluster = None
        if cluster:
            match = [c for c in clusters if c["name"] == cluster]
            if not match:
                raise NotFound("cluster %r not found in datacenter %r at site %s" % (cluster, datacenter, role),
                               available=sorted(c["name"] for c in clusters))
            self.cluster = match[0]
        elif clusters:
            self.cluster = clusters[0]
        cluster_hosts = [h for h in hosts if self.cluster is None or h.get("parent") == self.cluster["_moid"]]
        pools = {r["_moid"]: r for r in rows[vim.ResourcePool]}
        self.pool = pools.get(self.cluster["resourcePool"])["obj"] if self.cluster else None
        if resource_pool:
            match = [p for p in rows[vim.ResourcePool] if p["name"] == resource_pool]
            if not match:
                raise NotFound("resource pool %r not found at site %s" % (resource_pool, role))
            self.pool = match[0]["obj"]
        self.folder = session.call(lambda: self.dc.vmFolder)
        if vm_folder:
            match = [f for f in rows[vim.Folder] if f["name"] == vm_folder and "VirtualMachine" in (f["childType"] or [])]
            if not match:
                raise NotFound("VM folder %r not found at site %s" % (vm_folder, role))
            self.folder = match[0]["obj"]
        records = site.portgroup_records(rows[vim.Network], rows[vim.DistributedVirtualSwitch])
        objs = {r["_moid"]: r["obj"] for r in rows[vim.Network]}
        self.portgroup_records = records
        self.portgroups = {}
        for record in records:
            if record["uplink"] or record["name"] in self.portgroups:
                continue
            self.portgroups[record["name"]] = dict(record, obj=objs.get(record["moid"]))
        host_names = {h["name"] for h in cluster_hosts}
        self.datastore_names = {d["_moid"]: d["name"] for d in rows[vim.Datastore]}
        self.datastores = {}
        for ds in rows[vim.Datastore]:
            mounted_on = set(storage.datastore_hosts(ds, hosts)) & host_names
            self.datastores[ds["name"]] = {"obj": ds["obj"], "mounted": bool(mounted_on) and ds.get(
                "summary.accessible") is not False, "hosts": sorted(mounted_on)}

    def read_vms(self, names: Sequence[str], extra_objs: Sequence = ()) -> dict:
        """State of the named VMs that exist here, plus ``extra_objs`` (one retrieval)."""
        objs = [self.vm_rows[n]["obj"] for n in names if n in self.vm_rows]
        known = {o._moId for o in objs}
        objs += [o for o in extra_objs if o._moId not in known]
        rows = inventory.retrieve_objects(self.session, objs, cplan.VM_PROPERTIES) if objs else []
        found = {r["name"]: self.state(r) for r in rows if not r.get("_missing") and r.get("name")}
        for name, state in found.items():
            self.vm_rows.setdefault(name, {"name": name, "obj": state["obj"]})
        return found

    def read_registered(self, objs: Sequence) -> dict:
        """State of freshly registered VMs: a light read; devices only for VMs that came with some.

        A VM registered from a .vmx without NICs or disks (always so on vcsim) needs no
        device list to plan its reconfiguration, which spares parsing every default device.
        """
        rows = inventory.retrieve_objects(self.session, objs, (
            "name", "runtime.powerState", "summary.config.numEthernetCards", "summary.config.numVirtualDisks"))
        found, heavy = {}, []
        for row in rows:
            if row.get("_missing") or not row.get("name"):
                continue
            if row.get("summary.config.numEthernetCards") or row.get("summary.config.numVirtualDisks"):
                heavy.append(row["obj"])
                continue
            found[row["name"]] = {"obj": row["obj"], "moid": row["_moid"], "name": row["name"],
                                  "power": row.get("runtime.powerState"), "nics": [], "disks": [], "controllers": [],
                                  "ips": [], "guest_nics": 0, "marker": {}, "snapshots": [], "vm_path_name": None}
            self.vm_rows.setdefault(row["name"], {"name": row["name"], "obj": row["obj"]})
        if heavy:
            found.update(self.read_vms([], heavy))
        return found

    def state(self, row: Mapping) -> dict:
        ips = [ip for g in row.get("guest.net") or [] for ip in g.get("ipAddress") or []]
        return {"obj": row["obj"], "moid": row["_moid"], "name": row["name"], "power": row.get("runtime.powerState"),
                "nics": site.nic_records(row, self.portgroup_records),
                "disks": storage.vm_disks(row, self.datastore_names),
                "controllers": [d for d in row.get("config.hardware.device") or []
                                if d.get("_type") in ("ParaVirtualSCSIController", "VirtualLsiLogicController",
                                                      "VirtualLsiLogicSASController", "VirtualBusLogicController")],
                "ips": ips, "guest_nics": len(row.get("guest.net") or []),
                "marker": cplan.marker(row.get("config.extraConfig")),
                "snapshots": cplan.snapshot_list(row.get("snapshot")),
                "vm_path_name": row.get("config.files.vmPathName")}


def read_records(session, datacenter: str, names: Sequence[str]) -> dict:
    """site_info-shaped VM records of the named VMs at a site (two retrievals)."""
    dc = session.datacenter(datacenter)
    rows = inventory.retrieve_many(session, {
        vim.VirtualMachine: ("name",), vim.Network: ("name",),
        vim.dvs.DistributedVirtualPortgroup: ("name", "key", "config.distributedVirtualSwitch"),
        vim.DistributedVirtualSwitch: ("name", "uuid", "config.uplinkPortgroup"),
        vim.Datastore: ("name",)}, root=dc)
    wanted = set(names)
    objs = [r["obj"] for r in rows[vim.VirtualMachine] if r["name"] in wanted]
    vm_rows = inventory.retrieve_objects(session, objs, cplan.SOURCE_VM_PROPERTIES) if objs else []
    pgs = site.portgroup_records(rows[vim.Network], rows[vim.DistributedVirtualSwitch])
    ds_names = {d["_moid"]: d["name"] for d in rows[vim.Datastore]}
    records = {}
    for row in vm_rows:
        disks = storage.vm_disks(row, ds_names)
        records[row["name"]] = {
            "name": row["name"], "obj": row["obj"], "power_state": row.get("runtime.powerState"),
            "tools_running_status": row.get("guest.toolsRunningStatus"),
            "nics": site.nic_records(row, pgs), "disks": disks,
            "datastores": sorted({d["datastore"] for d in disks if d["datastore"]}),
            "vm_path_name": row.get("config.files.vmPathName")}
    return records


NOT_IN_POWER_ON_RESULT = ("vCenter neither attempted to power it on nor said why (the VM is not in the "
                          "PowerOnMultiVM result)")


def not_powered_on(result) -> dict[str, str]:
    """``{moid: why}`` of the VMs PowerOnMultiVM_Task (``result``: its ClusterPowerOnVmResult) did not attempt
    to power on - the first reason given for a VM wins; a VM it does not name at all: NOT_IN_POWER_ON_RESULT."""
    why: dict[str, str] = {}
    for entry in getattr(result, "notAttempted", None) or []:
        if entry.vm is not None:
            why.setdefault(entry.vm._moId, "vCenter did not attempt to power it on: %s" % (
                fault_text(entry.fault) if entry.fault is not None else "no reason given"))
    for rec in getattr(result, "recommendations", None) or []:
        text = ("DRS only recommended powering it on (%s) and did not power it on: the cluster's DRS is in manual "
                "or partially automated mode and vCenter did not honour OverrideAutomationLevel=fullyAutomated; "
                "set DRS of the cluster (or the VM's override) to fully automated, or apply the recommendation"
                % (rec.reasonText or rec.reason or "recommendation %s" % rec.key))
        for target in [rec.target] + [a.target for a in rec.action or []]:
            moid = getattr(target, "_moId", None)
            if moid is not None:
                why.setdefault(moid, text)
    return why


class Cutover:
    """One run of host_cutover over already validated inputs."""

    def __init__(self, target, source, params: Mapping, check_mode: bool = False,
                 clock: Callable[[], float] = time.monotonic):
        self.target, self.source = target, source  # SiteView, session or None
        self.params, self.check_mode, self.clock = params, check_mode, clock
        self.action, self.mode = params["action"], params.get("mode") or "planned"
        self.shutdown_only = bool(params.get("shutdown_only")) and self.action in ("takeover", "failback")
        self.max_parallel = max(1, int(params.get("max_parallel") or 20))
        self.vm_timeout = float(params.get("vm_timeout") or 600)
        self.start = clock()
        self.deadline = self.start + float(params.get("timeout") or 3600)
        self.results: dict[str, dict] = {}
        self.seen: dict[str, list] = {}
        self.source_records: dict = {}
        self.current: tuple[str, float, set] = ("plan", 0.0, set())  # step running, its start, its VMs
        for sess in (target.session, getattr(source, "session", None)):
            stub = getattr(getattr(sess, "si", None), "_stub", None)
            if stub is not None and getattr(stub, "poolSize", 0) < self.max_parallel:
                stub.poolSize = self.max_parallel  # keep one HTTP connection per parallel request

    # -- helpers ------------------------------------------------------------------------------

    def now(self) -> float:
        return round(self.clock() - self.start, 3)

    def remaining(self, cap: float | None = None) -> float:
        left = self.deadline - self.clock()
        return max(0.0, min(left, cap) if cap is not None else left)

    def result(self, item: Mapping) -> dict:
        return self.results.setdefault(item["name"], {
            "name": item["name"], "tier": item["tier"], "status": "unchanged", "steps": [], "timeline": [],
            "error": None, "failed_step": None, "vm": None, "ip_addresses": [], "portgroups": [], "changes": []})

    def fail(self, item: Mapping, step: str, error: str) -> None:
        res = self.result(item)
        res.update(status="failed", error=error, failed_step=step)

    def enter(self, step: str, items: Sequence[Mapping] = ()) -> float:
        """Note the step now running (for ``abort``); its start time."""
        started = self.now()
        self.current = (step, started, {i["name"] for i in items})
        return started

    def abort(self, items: Sequence[Mapping], exc: Exception) -> None:
        """A read or wait raised in the middle of a tier: every VM of it not failed yet fails with the error.

        The VMs of the step that was running get its timeline entry (the RTO evidence keeps the time spent).
        """
        step, started, names = self.current
        error = str(exc) if isinstance(exc, RecoveryError) else "%s: %s" % (type(exc).__name__, fault_message(exc))
        ended = self.now()
        for item in items:
            res = self.result(item)
            if res["status"] == "failed":
                continue
            if item["name"] in names:
                res["timeline"].append({"step": step, "start": started, "end": ended})
            self.fail(item, step, "the tier stopped in step %s: %s" % (step, error))

    def alive(self, items: Sequence[Mapping]) -> list:
        return [i for i in items if self.result(i)["status"] != "failed"]

    def parallel(self, calls: Sequence[tuple[Mapping, Callable[[], Any]]]) -> list[tuple[Mapping, Any, str | None]]:
        """Run ``(item, call)`` pairs with at most ``max_parallel`` in flight: ``(item, value, error)``."""
        def run(pair):
            item, call = pair
            try:
                return item, call(), None
            except vmodl.MethodFault as exc:
                return item, None, "%s: %s" % (type(exc).__name__, fault_message(exc))
            except RecoveryError as exc:
                return item, None, str(exc)
        if not calls:
            return []
        if len(calls) == 1 or self.max_parallel == 1:
            return [run(c) for c in calls]
        with ThreadPoolExecutor(max_workers=min(self.max_parallel, len(calls))) as pool:
            return list(pool.map(run, calls))

    def phase(self, session, step: str, items: Sequence[Mapping], submit: Callable[[Mapping], Any]) -> list:
        """Submit one task per item, wait for all together, record timeline and failures."""
        started = self.enter(step, items)
        submitted = []
        for item, task, error in self.parallel([(i, (lambda i=i: submit(i))) for i in items]):
            if error:
                self.fail(item, step, error)
            elif task is not None:
                submitted.append((item, task))
        outcomes = []
        if submitted:
            try:
                outcomes = tasks.wait_for_tasks(session, [t for _unused, t in submitted],
                                                timeout=self.remaining(self.vm_timeout), raise_on_error=False,
                                                labels=False)
            except RecoveryError as exc:  # TaskTimeout: every pending task fails its VM
                by_moid = {o["task"]: o for o in exc.details.get("outcomes", [])}
                for item, task in submitted:
                    state = by_moid.get(task._moId, {}).get("state")
                    if state != "success":
                        self.fail(item, step, "%s did not finish: %s" % (step, exc))
                submitted = []
        for (item, _unused), outcome in zip(submitted, outcomes):
            if not outcome.ok:
                self.fail(item, step, outcome.error or "task failed")
        ended = self.now()
        done = []
        for item in items:
            res = self.result(item)
            res["timeline"].append({"step": step, "start": started, "end": ended})
            if res["failed_step"] != step:
                res["steps"].append(step)
                res["status"] = "changed"
                done.append(item)
        by_name = {i["name"]: o for (i, _unused), o in zip(submitted, outcomes)}
        return [(i, by_name.get(i["name"])) for i in done]

    # -- run ------------------------------------------------------------------------------

    def run(self, items: Sequence[Mapping]) -> dict:
        tiers: list[dict] = []
        order = []
        for item in items:
            if item["tier"] not in order:
                order.append(item["tier"])
        if self.shutdown_only:
            order.reverse()  # shut down the front tiers first, the data tier last
        stop = None
        for name in order:
            tier_items = [i for i in items if i["tier"] == name]
            entry = {"name": name, "vms": [i["name"] for i in tier_items], "state": "not_started",
                     "start": None, "end": None}
            tiers.append(entry)
            if stop:
                entry["state"] = "not_started"
                for item in tier_items:
                    res = self.result(item)
                    res.update(status="not_started", error="not started: %s" % stop)
                continue
            if self.remaining() <= 0:
                stop = "the overall timeout passed before tier %r" % name
                for item in tier_items:
                    self.result(item).update(status="not_started", error="not started: %s" % stop)
                continue
            entry["start"] = self.enter("plan")
            try:
                getattr(self, "run_" + self.action)(tier_items)
            except (RecoveryError, vmodl.MethodFault) as exc:  # a read or wait failed: keep what is known
                self.abort(tier_items, exc)
            entry["end"] = self.now()
            failed = [i["name"] for i in tier_items if self.result(i)["status"] == "failed"]
            entry["state"] = "failed" if failed else "done"
            entry["failed_vms"] = failed
            if failed:
                stop = "tier %r failed (%s)" % (name, ", ".join(failed))
        results = [self.results[i["name"]] for i in items]
        failed = [r["name"] for r in results if r["status"] == "failed"]
        changed = any(r["status"] in ("changed", "would_change") or r["steps"] for r in results)
        phases: dict = {}
        for r in results:
            for t in r["timeline"]:
                first = {"tier": r["tier"], "step": t["step"], "start": t["start"], "end": t["end"], "vms": 0}
                entry = phases.setdefault((r["tier"], t["step"]), first)
                entry["start"], entry["end"] = min(entry["start"], t["start"]), max(entry["end"], t["end"])
                entry["vms"] += 1
        timeline = sorted(phases.values(), key=lambda t: (t["start"], t["end"]))
        return {"changed": changed, "tiers": tiers, "vms": results, "failed_vms": failed,
                "not_started_vms": [r["name"] for r in results if r["status"] == "not_started"],
                "timeline": timeline, "elapsed": self.now()}

    # -- takeover / failback ----------------------------------------------------------------

    def plan_steps(self, items: Sequence[Mapping], states: Mapping) -> dict:
        todo = {}
        for item in items:
            try:
                todo[item["name"]] = cplan.steps(item, states.get(item["name"]), self.action, self.mode,
                                                 self.source is not None, self.shutdown_only)
            except InvalidInput as exc:
                self.fail(item, "plan", str(exc))
        return todo

    def would(self, items: Sequence[Mapping], todo: Mapping, states: Mapping) -> None:
        for item in items:
            res = self.result(item)
            if res["status"] == "failed":
                continue
            res["steps"] = list(todo.get(item["name"]) or [])
            state = states.get(item["name"])
            if state is not None and "reconfigure" in res["steps"]:
                res["changes"] = nics.describe(nics.nic_plan(state["nics"], item["nics"]),
                                               nics.disk_plan(state["disks"], item["disks"])) \
                    + cplan.marker_changes(item, state)
            if res["steps"]:
                res["status"] = "would_change"

    def run_takeover(self, items: Sequence[Mapping]) -> None:
        view = self.target
        states = {} if self.shutdown_only else view.read_vms([i["name"] for i in items])
        todo = self.plan_steps(items, states)
        if self.check_mode:
            self.would(items, todo, states)
            return
        self.shutdown_source([i for i in self.alive(items) if "shutdown_source" in todo.get(i["name"], [])])
        if self.shutdown_only:
            return
        role = cplan.ROLE_FAILBACK if self.action == "failback" else cplan.ROLE_TAKEOVER
        register = [i for i in self.alive(items) if "register" in todo.get(i["name"], [])]
        done = self.phase(view.session, "register", register, lambda i: view.session.call(
            view.folder.RegisterVM_Task, path=i["register_path"], name=i["name"], asTemplate=False,
            pool=view.pool, host=None))
        if register:
            new = [o.result for _unused, o in done if o is not None and o.result is not None]
            states = dict(states)
            states.update(view.read_registered(new) if new else {})
            for item in self.alive(register):
                if item["name"] not in states:
                    self.fail(item, "register", "VM %r not found after registering" % item["name"])
        self.reconfigure(self.alive([i for i in items if "reconfigure" in todo.get(i["name"], [])]), states, role)
        self.customize_power_wait(self.alive(items), todo, states, lambda i: states[i["name"]]["obj"])

    run_failback = run_takeover

    def unregister_sources(self, items: Sequence[Mapping], source_view) -> None:
        """Failback ``unregister_source``: unregister the recovery site's takeover registrations (powered
        off, carrying the marker); their files stay on the replica. Check mode lists them."""
        by_name = {i["name"]: i for i in self.alive(items)}
        self.enter("unregister_source")
        try:
            states = source_view.read_vms(list(by_name))
        except (RecoveryError, vmodl.MethodFault) as exc:
            self.abort(list(by_name.values()), exc)
            return
        plan = cplan.unregister_plan(list(by_name), states, self.check_mode)
        for name, reason in plan["skipped"].items():
            self.result(by_name[name])["changes"].append("unregister_source skipped: %s" % reason)
        todo = [by_name[n] for n in plan["unregister"]]
        if self.check_mode:
            for item in todo:
                res = self.result(item)
                res["steps"].append("unregister_source")
                res["status"] = "would_change"
            return
        self.unregister(source_view.session, todo, states)

    def unregister(self, session, items: Sequence[Mapping], states: Mapping) -> None:
        """UnregisterVM for every item, in parallel (its files stay); step ``unregister_source``."""
        started = self.enter("unregister_source", items)
        calls = [(i, (lambda i=i: session.call(states[i["name"]]["obj"].UnregisterVM))) for i in items]
        for item, _unused, error in self.parallel(calls):
            res = self.result(item)
            res["timeline"].append({"step": "unregister_source", "start": started, "end": self.now()})
            if error:
                self.fail(item, "unregister_source", error)
            else:
                res["steps"].append("unregister_source")
                res["status"] = "changed"

    def shutdown_source(self, items: Sequence[Mapping]) -> None:
        if not items or self.source is None:
            return
        session = self.source.session if hasattr(self.source, "session") else self.source
        items = [i for i in items if (self.source_records.get(i["name"]) or {}).get("obj") is not None]
        if not items:
            return
        started = self.enter("shutdown_source", items)
        objs = {i["name"]: self.source_records[i["name"]]["obj"] for i in items}
        calls = [(i, (lambda i=i: session.call(objs[i["name"]].ShutdownGuest))) for i in items]
        for item, _unused, error in self.parallel(calls):
            if error:
                self.result(item)["changes"].append("guest shutdown refused (%s): powering off" % error)
        timeout = self.remaining(float(self.params.get("guest_shutdown_timeout") or 120))
        values, pending = waits.wait_for_properties(session, list(objs.values()), ["runtime.powerState"],
                                                    lambda _moid, v: v["runtime.powerState"] == "poweredOff", timeout)
        still_on = [i for i in items if objs[i["name"]]._moId in pending]
        for item in items:
            res = self.result(item)
            res["timeline"].append({"step": "shutdown_source", "start": started, "end": self.now()})
            if item not in still_on:
                res["steps"].append("shutdown_source")
                res["status"] = "changed"
        if still_on:
            self.phase(session, "power_off_source", still_on,
                       lambda i: session.call(objs[i["name"]].PowerOffVM_Task))

    def reconfigure(self, items: Sequence[Mapping], states: Mapping, role: str) -> None:
        view = self.target

        def submit(item):
            state = states[item["name"]]
            plan = nics.nic_plan(state["nics"], item["nics"])
            disks = nics.disk_plan(state["disks"], item["disks"])
            controller = None
            if state["controllers"]:
                first = state["controllers"][0]
                controller = {"key": first.get("key"),
                              "units": [d.get("unitNumber") for d in state["disks"] if d.get("unitNumber") is not None]}
            self.result(item)["changes"] += nics.describe(plan, disks) + cplan.marker_changes(item, state)
            marks = [vim.option.OptionValue(key=cplan.MARKER_ROLE, value=role),
                     vim.option.OptionValue(key=cplan.MARKER_SOURCE, value=item["name"])]
            if item.get("source_nics"):  # the primary addresses, for a rerun or failback once the source is off
                marks.append(vim.option.OptionValue(key=cplan.MARKER_SOURCE_NICS,
                                                    value=cplan.encode_source_nics(item["source_nics"])))
            spec = vim.vm.ConfigSpec(deviceChange=nics.device_changes(plan, view.portgroups, disks, controller),
                                     extraConfig=marks)
            return view.session.call(state["obj"].ReconfigVM_Task, spec=spec)
        self.phase(view.session, "reconfigure", items, submit)

    def customize_power_wait(self, items: Sequence[Mapping], todo: Mapping, states: Mapping,
                             obj_of: Callable[[Mapping], Any]) -> None:
        view = self.target
        customize = [i for i in items if "customize" in todo.get(i["name"], [])]
        self.phase(view.session, "customize", customize, lambda i: view.session.call(
            obj_of(i).CustomizeVM_Task,
            spec=customization.build_spec(customization.customization(i["name"], i["addresses"]))))
        power = self.alive([i for i in items if "power_on" in todo.get(i["name"], [])])
        self.power_on(power, obj_of)
        wait = self.alive([i for i in items if "wait_ip" in todo.get(i["name"], [])])
        self.wait_ip(wait, obj_of)
        self.verify(self.alive(items), obj_of, states)

    def power_on(self, items: Sequence[Mapping], obj_of: Callable[[Mapping], Any]) -> None:
        """One PowerOnMultiVM_Task per tier; its per-VM child tasks awaited together.

        The task is asked to override the cluster's DRS automation level (``POWER_ON_OPTIONS``):
        on a cluster with DRS in manual or partially automated mode vCenter would otherwise only
        recommend hosts and power nothing on. A VM vCenter did not attempt to power on (listed in
        ``notAttempted``, or only in ``recommendations``) fails at once with the reason.
        """
        if not items:
            return
        view = self.target
        started = self.enter("power_on", items)
        objs = {obj_of(i)._moId: i for i in items}
        try:
            task = view.session.call(view.dc.PowerOnMultiVM_Task, vm=[obj_of(i) for i in items],
                                     option=[vim.option.OptionValue(key=k, value=v) for k, v in POWER_ON_OPTIONS])
            outcome, = tasks.wait_for_tasks(view.session, [task], timeout=self.remaining(self.vm_timeout),
                                            raise_on_error=False, labels=False)
            if not outcome.ok:
                raise RecoveryError(outcome.error or "PowerOnMultiVM failed")
            result = outcome.result
            attempted = {a.vm._moId: a for a in getattr(result, "attempted", None) or [] if a.vm is not None}
            if result is not None:  # vcsim reports no result: it powered every VM on itself
                why = not_powered_on(result)
                for moid, item in objs.items():
                    if moid not in attempted:
                        self.fail(item, "power_on", why.get(moid, NOT_IN_POWER_ON_RESULT))
            children = [(objs[m], a.task) for m, a in attempted.items() if a.task is not None and m in objs]
            if children:
                for (item, _unused), child in zip(children, tasks.wait_for_tasks(
                        view.session, [t for _unused, t in children], timeout=self.remaining(self.vm_timeout),
                        raise_on_error=False, labels=False)):
                    if not child.ok:
                        self.fail(item, "power_on", child.error or "power-on failed")
        except (RecoveryError, vmodl.MethodFault) as exc:
            message = str(exc) if isinstance(exc, RecoveryError) else fault_message(exc)
            for item in items:
                if self.result(item)["status"] != "failed":
                    self.fail(item, "power_on", message)
        ended = self.now()
        for item in items:
            res = self.result(item)
            res["timeline"].append({"step": "power_on", "start": started, "end": ended})
            if res["failed_step"] != "power_on":
                res["steps"].append("power_on")
                res["status"] = "changed"

    def wait_ip(self, items: Sequence[Mapping], obj_of: Callable[[Mapping], Any]) -> None:
        if not items:
            return
        view = self.target
        started = self.enter("wait_ip", items)
        by_moid = {obj_of(i)._moId: i for i in items}
        wait_for = self.params.get("wait_for") or ["ip"]
        paths = ["guest.net", "runtime.powerState"] + (["guestHeartbeatStatus"] if "heartbeat" in wait_for else [])

        def check(moid, values):
            item = by_moid[moid]
            ips = [ip for g in values.get("guest.net") or [] for ip in g.get("ipAddress") or []]
            ok = values.get("runtime.powerState") == "poweredOn"
            if "ip" in wait_for:
                ok = ok and cplan.ips_ok(item, ips)
            if "heartbeat" in wait_for:
                ok = ok and values.get("guestHeartbeatStatus") == "green"
            return ok

        values, pending = waits.wait_for_properties(view.session, [obj_of(i) for i in items], paths, check,
                                                    self.remaining(self.vm_timeout))
        for item in items:
            seen = values.get(obj_of(item)._moId) or {}
            self.seen[item["name"]] = [ip for g in seen.get("guest.net") or [] for ip in g.get("ipAddress") or []]
        ended = self.now()
        for item in items:
            res = self.result(item)
            res["timeline"].append({"step": "wait_ip", "start": started, "end": ended})
            if obj_of(item)._moId in pending:
                expected = ", ".join(a["ip"] for a in item["addresses"] if a)
                self.fail(item, "wait_ip", "the guest did not report %s within %ss"
                          % (expected or "an IP", int(self.vm_timeout)))
            else:
                res["steps"].append("wait_ip")
                res["status"] = "changed"

    def verify(self, items: Sequence[Mapping], obj_of: Callable[[Mapping], Any], states: Mapping | None = None) -> None:
        """Record where each VM ended; VMs whose reconfigure and IP wait succeeded need no further read."""
        if not items:
            return
        self.enter("verify")
        if states is not None:
            for item in items:
                res = self.result(item)
                name = self.clone_name(item) if self.action == "drill" else item["name"]
                state = states.get(name)
                if item["name"] in self.seen and state is not None:
                    res.update(vm=state["moid"], ip_addresses=self.seen[item["name"]],
                               portgroups=[n["portgroup"] for n in item["nics"]], power_state="poweredOn")
                elif state is not None and "reconfigure" not in res["steps"] and state["power"] == "poweredOn" \
                        and cplan.ips_ok(item, state["ips"]):
                    res.update(vm=state["moid"], ip_addresses=state["ips"],
                               portgroups=[n["portgroup"] for n in state["nics"]], power_state=state["power"])
            items = [i for i in items if not self.result(i).get("vm")]
            if not items:
                return
        states = self.target.read_vms([i["name"] for i in items]) if self.action != "drill" else \
            self.target.read_vms([self.clone_name(i) for i in items])
        for item in items:
            name = self.clone_name(item) if self.action == "drill" else item["name"]
            state = states.get(name)
            res = self.result(item)
            if state is None:
                self.fail(item, "verify", "VM %r not found at the target site after the cutover" % name)
                continue
            res.update(vm=state["moid"], ip_addresses=state["ips"], portgroups=[n["portgroup"] for n in state["nics"]],
                       power_state=state["power"])
            wanted = [n["portgroup"] for n in item["nics"]]
            if sorted(p or "" for p in res["portgroups"]) != sorted(wanted):
                self.fail(item, "verify", "NICs are on %s, expected %s" % (res["portgroups"], wanted))
            elif state["power"] != "poweredOn":
                self.fail(item, "verify", "power state is %s" % state["power"])
            elif "ip" in (self.params.get("wait_for") or ["ip"]) and not cplan.ips_ok(item, state["ips"]):
                self.fail(item, "verify", "guest reports %s, expected %s" % (
                    state["ips"], [a["ip"] for a in item["addresses"] if a]))

    # -- drill ------------------------------------------------------------------------------

    def clone_name(self, item: Mapping) -> str:
        return item["name"] + (self.params.get("drill_suffix") or "-drill")

    def run_drill(self, items: Sequence[Mapping]) -> None:
        view = self.target
        names = [i["name"] for i in items] + [self.clone_name(i) for i in items]
        states = view.read_vms(names)
        todo = {}
        for item in items:
            source = states.get(item["name"])
            clone = states.get(self.clone_name(item))
            needed = []
            if source is not None and source["marker"].get("role") in (cplan.ROLE_TAKEOVER, cplan.ROLE_FAILBACK):
                self.fail(item, "plan", "VM %r is taken over at the target site: drill clones only a replica that "
                                        "is registered and not running" % item["name"])
                continue
            problem = cplan.adoption_problem(item, source)
            if problem:  # host_cutover checks it before any change; a VM may have appeared since
                self.fail(item, "plan", problem)
                continue
            if clone is not None and clone["marker"].get("role") != cplan.ROLE_DRILL_CLONE:
                self.fail(item, "plan", "VM %r exists at the target site and is not a drill clone of this "
                                        "collection: refusing to touch it" % self.clone_name(item))
                continue
            if clone is None:
                if source is None:
                    needed.append("register")
                if source is None or not any(s["name"] == cplan.DRILL_SNAPSHOT for s in source["snapshots"]):
                    needed.append("snapshot")
                needed += ["clone", "customize", "power_on", "wait_ip"]
            elif clone["power"] != "poweredOn":
                needed += ["customize", "power_on", "wait_ip"]
            elif not cplan.ips_ok(item, clone["ips"]):
                needed.append("wait_ip")
            todo[item["name"]] = needed
        if self.check_mode:
            self.would(self.alive(items), todo, {})
            return
        register = [i for i in self.alive(items) if "register" in todo[i["name"]]]
        self.phase(view.session, "register", register, lambda i: view.session.call(
            view.folder.RegisterVM_Task, path=i["register_path"], name=i["name"], asTemplate=False,
            pool=view.pool, host=None))
        if register:
            view.vm_rows.update({r["name"]: r for r in inventory.retrieve(view.session, vim.VirtualMachine, ["name"],
                                                                          root=view.dc) if r["name"]})
            states = view.read_vms(names)
            self.phase(view.session, "mark_source", self.alive(register), lambda i: view.session.call(
                states[i["name"]]["obj"].ReconfigVM_Task, spec=vim.vm.ConfigSpec(extraConfig=[
                    vim.option.OptionValue(key=cplan.MARKER_ROLE, value=cplan.ROLE_DRILL_SOURCE),
                    vim.option.OptionValue(key=cplan.MARKER_SOURCE, value=i["name"])])))
        snap = [i for i in self.alive(items) if "snapshot" in todo[i["name"]]]
        self.phase(view.session, "snapshot", snap, lambda i: view.session.call(
            states[i["name"]]["obj"].CreateSnapshot_Task, name=cplan.DRILL_SNAPSHOT,
            description="made by continuity.recovery.host_cutover action=drill; removed by action=cleanup",
            memory=False, quiesce=False))
        clone = [i for i in self.alive(items) if "clone" in todo[i["name"]]]
        if clone:
            states = view.read_vms(names)
        datastore = self.params.get("drill_datastore")
        if datastore and not (view.datastores.get(datastore) or {}).get("mounted"):  # checked before any change
            for item in clone:
                self.fail(item, "clone", "drill_datastore %r is not mounted at the target site" % datastore)
            clone = []

        def submit_clone(item):
            source = states[item["name"]]
            snapshot = next((s for s in source["snapshots"] if s["name"] == cplan.DRILL_SNAPSHOT), None)
            if snapshot is None:
                raise RecoveryError("the drill snapshot of %r is missing" % item["name"])
            plan = nics.nic_plan(source["nics"], item["nics"])
            self.result(item)["changes"] += nics.describe(plan)
            ds = view.datastores[datastore or item["register_datastore"]]["obj"]
            spec = vim.vm.CloneSpec(
                location=vim.vm.RelocateSpec(pool=view.pool, datastore=ds,
                                             diskMoveType="createNewChildDiskBacking"),
                snapshot=vim.vm.Snapshot(snapshot["moid"], view.session.si._stub),  # pylint: disable=protected-access
                powerOn=False, template=False,
                config=vim.vm.ConfigSpec(
                    deviceChange=nics.device_changes(plan, view.portgroups),
                    annotation="drill clone of %s (continuity.recovery)" % item["name"],
                    extraConfig=[vim.option.OptionValue(key=cplan.MARKER_ROLE, value=cplan.ROLE_DRILL_CLONE),
                                 vim.option.OptionValue(key=cplan.MARKER_SOURCE, value=item["name"])]))
            return view.session.call(source["obj"].CloneVM_Task, folder=view.folder, name=self.clone_name(item),
                                     spec=spec)
        self.phase(view.session, "clone", clone, submit_clone)
        view.vm_rows.update({r["name"]: r for r in inventory.retrieve(view.session, vim.VirtualMachine, ["name"],
                                                                      root=view.dc) if r["name"]})
        states = view.read_vms(names)
        missing = [i for i in self.alive(items) if self.clone_name(i) not in states]
        for item in missing:
            self.fail(item, "clone", "clone %r not found after cloning" % self.clone_name(item))
        self.customize_power_wait(self.alive(items), todo, states, lambda i: states[self.clone_name(i)]["obj"])

    # -- cleanup ----------------------------------------------------------------------------

    def run_cleanup(self, items: Sequence[Mapping]) -> None:
        view = self.target
        names = [i["name"] for i in items] + [self.clone_name(i) for i in items]
        states = view.read_vms(names)
        todo = {}
        for item in items:
            needed = []
            clone = states.get(self.clone_name(item))
            if clone is not None and clone["marker"].get("role") == cplan.ROLE_DRILL_CLONE \
                    and clone["marker"].get("source") == item["name"]:
                if clone["power"] == "poweredOn":
                    needed.append("power_off_clone")
                needed.append("destroy_clone")
            source = states.get(item["name"])
            if source is not None:
                if any(s["name"] == cplan.DRILL_SNAPSHOT for s in source["snapshots"]):
                    needed.append("remove_snapshot")
                if source["marker"].get("role") == cplan.ROLE_DRILL_SOURCE:
                    needed.append("unregister_source")
            todo[item["name"]] = needed
        if self.check_mode:
            self.would(items, todo, {})
            return
        session = view.session

        def clone_obj(item):
            return states[self.clone_name(item)]["obj"]
        self.phase(session, "power_off_clone", [i for i in items if "power_off_clone" in todo[i["name"]]],
                   lambda i: session.call(clone_obj(i).PowerOffVM_Task))
        self.phase(session, "destroy_clone", self.alive([i for i in items if "destroy_clone" in todo[i["name"]]]),
                   lambda i: session.call(clone_obj(i).Destroy_Task))

        def remove_snapshots(item):
            snaps = [s for s in states[item["name"]]["snapshots"] if s["name"] == cplan.DRILL_SNAPSHOT]
            task = None
            for snap in snaps:  # normally one
                task = session.call(vim.vm.Snapshot(snap["moid"], session.si._stub).RemoveSnapshot_Task,  # pylint: disable=protected-access
                                    removeChildren=False)
            return task
        self.phase(session, "remove_snapshot", self.alive([i for i in items if "remove_snapshot" in todo[i["name"]]]),
                   remove_snapshots)
        self.unregister(session, self.alive([i for i in items if "unregister_source" in todo[i["name"]]]), states)

"""bench/cutover (c): the floor - only the calls a takeover needs, raw pyVmomi, same concurrency.

The placement targets (the datacenter's VM folder, the cluster's resource pool, the
DVS uuid and the recovery portgroup's key) are read in one retrieval through a
container view, and the service content once (every ``si.content`` or attribute walk
would be one more round trip). Per tier: RegisterVM_Task per VM, ReconfigVM_Task (one vmxnet3 NIC on the recovery
portgroup) per VM, CustomizeVM_Task per VM - each phase submitted with at most
max_parallel requests in flight and awaited together with one PropertyCollector
filter (WaitForUpdatesEx) - then one PowerOnMultiVM_Task and one wait until every
guest reports its new IP. No validation, no idempotence checks, no reporting.

``takeover(cfg)`` is also what (e) runs inside one Ansible module (library/cutover_floor.py).

Prints ``floor_work_s=<seconds>``: from the first statement of this file (before the
pyVmomi import) to the logout - the process minus the bare interpreter start-up.
"""

import time

T0 = time.monotonic()

import json  # noqa: E402  (after T0: the imports are part of the measured work)
import sys  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

from pyVim.connect import Disconnect, SmartConnect  # noqa: E402
from pyVmomi import vim, vmodl  # noqa: E402

PC = vmodl.query.PropertyCollector


def wait(pc, objs, path, done):
    """Block in WaitForUpdatesEx until done(value) holds for ``path`` of every object."""
    if not objs:
        return {}
    collector = pc.CreatePropertyCollector()
    try:
        collector.CreateFilter(PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=o) for o in objs],
                                             propSet=[PC.PropertySpec(type=type(objs[0]), pathSet=[path])]), True)
        values, version = {}, ""
        while True:
            if len(values) == len(objs) and all(done(v) for v in values.values()):
                return values
            update = collector.WaitForUpdatesEx(version, PC.WaitOptions(maxWaitSeconds=10))
            if update is None:
                continue
            version = update.version
            for fu in update.filterSet or []:
                for ou in fu.objectSet or []:
                    for change in ou.changeSet or []:
                        values[ou.obj._moId] = change.val
    finally:
        collector.DestroyPropertyCollector()


def takeover(cfg):
    """The takeover of ``cfg['tiers']`` (run.py's floor.json): the floor's whole work after its imports."""
    si = SmartConnect(host="127.0.0.1", port=cfg["port"], user=cfg["user"], pwd=cfg["password"],
                      disableSslCertValidation=True)
    si._stub.poolSize = cfg["max_parallel"]
    try:
        # the placement targets in one retrieval (si.content or attribute walks would cost a call each)
        content = si.RetrieveContent()
        pc = content.propertyCollector
        view = content.viewManager.CreateContainerView(content.rootFolder, [
            vim.Datacenter, vim.ClusterComputeResource, vim.DistributedVirtualSwitch,
            vim.dvs.DistributedVirtualPortgroup], True)
        found = {}
        for oc in pc.RetrieveContents([PC.FilterSpec(
                objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[
                    PC.TraversalSpec(name="view", type=vim.view.ContainerView, path="view", skip=False)])],
                propSet=[PC.PropertySpec(type=vim.Datacenter, pathSet=["vmFolder"]),
                         PC.PropertySpec(type=vim.ClusterComputeResource, pathSet=["resourcePool"]),
                         PC.PropertySpec(type=vim.DistributedVirtualSwitch, pathSet=["uuid"]),
                         PC.PropertySpec(type=vim.dvs.DistributedVirtualPortgroup, pathSet=["name", "key"])])]):
            found.setdefault(type(oc.obj).__name__.split(".")[-1], []).append(
                (oc.obj, {p.name: p.val for p in oc.propSet}))
        view.Destroy()
        dc, dc_props = found["Datacenter"][0]
        folder, pool = dc_props["vmFolder"], found["ClusterComputeResource"][0][1]["resourcePool"]
        switch_uuid = [props["uuid"] for kind, objs in found.items() if kind.endswith("DistributedVirtualSwitch")
                       for _obj, props in objs][0]
        pg_key = [props["key"] for _obj, props in found["DistributedVirtualPortgroup"]
                  if props["name"] == cfg["net"]["recovery"]][0]
        backing = vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
            port=vim.dvs.PortConnection(portgroupKey=pg_key, switchUuid=switch_uuid))
        nic_spec = vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
            operation="add", device=vim.vm.device.VirtualVmxnet3(key=-1, addressType="generated", backing=backing))])
        netmask = "255.255.240.0"
        with ThreadPoolExecutor(cfg["max_parallel"]) as pool_exec:
            for _tier, vms in cfg["tiers"]:
                tasks = list(pool_exec.map(lambda vm: folder.RegisterVM_Task(
                    path="[Replica-DS-01] %s/%s.vmx" % (vm["name"], vm["name"]), name=vm["name"],
                    asTemplate=False, pool=pool), vms))
                done = wait(pc, tasks, "info.state", lambda s: s in ("success", "error"))
                refs = [t.info.result for t in tasks] if len(tasks) < 2 else None
                if refs is None:
                    results = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=t) for t in tasks],
                                            propSet=[PC.PropertySpec(type=vim.Task, pathSet=["info.result"])])
                    got = {o.obj._moId: o.propSet[0].val
                           for o in pc.RetrieveContents([results])}
                    refs = [got[t._moId] for t in tasks]
                assert len(done) == len(tasks)
                tasks = list(pool_exec.map(lambda vm: vm.ReconfigVM_Task(spec=nic_spec), refs))
                wait(pc, tasks, "info.state", lambda s: s in ("success", "error"))

                def customize(pair):
                    vm, ref = pair
                    spec = vim.vm.customization.Specification(
                        identity=vim.vm.customization.LinuxPrep(
                            hostName=vim.vm.customization.FixedName(name=vm["name"]), domain="local"),
                        globalIPSettings=vim.vm.customization.GlobalIPSettings(dnsServerList=cfg["net"]["dns_servers"]),
                        nicSettingMap=[vim.vm.customization.AdapterMapping(adapter=vim.vm.customization.IPSettings(
                            ip=vim.vm.customization.FixedIp(ipAddress=vm["recovery_ip"]), subnetMask=netmask,
                            gateway=[cfg["net"]["recovery_gateway"]]))])
                    return ref.CustomizeVM_Task(spec=spec)
                tasks = list(pool_exec.map(customize, zip(vms, refs)))
                wait(pc, tasks, "info.state", lambda s: s in ("success", "error"))
                task = dc.PowerOnMultiVM_Task(vm=refs)
                wait(pc, [task], "info.state", lambda s: s in ("success", "error"))
                wait(pc, refs, "guest.ipAddress", lambda ip: ip is not None and ip.startswith("10.20."))
    finally:
        Disconnect(si)


def main():
    with open(sys.argv[1]) as handle:
        takeover(json.load(handle))
    print("floor_work_s=%.3f" % (time.monotonic() - T0))


if __name__ == "__main__":
    main()

"""bench/cutover (c): the floor - only the calls a takeover needs, raw pyVmomi, same concurrency.

Per tier: RegisterVM_Task per VM, ReconfigVM_Task (one vmxnet3 NIC on the recovery
portgroup) per VM, CustomizeVM_Task per VM - each phase submitted with at most
max_parallel requests in flight and awaited together with one PropertyCollector
filter (WaitForUpdatesEx) - then one PowerOnMultiVM_Task and one wait until every
guest reports its new IP. No validation, no idempotence checks, no reporting.
"""

import json
import sys
from concurrent.futures import ThreadPoolExecutor

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

PC = vmodl.query.PropertyCollector


def wait(si, objs, path, done):
    """Block in WaitForUpdatesEx until done(value) holds for ``path`` of every object."""
    if not objs:
        return {}
    collector = si.content.propertyCollector.CreatePropertyCollector()
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


def main():
    cfg = json.load(open(sys.argv[1]))
    si = SmartConnect(host="127.0.0.1", port=cfg["port"], user=cfg["user"], pwd=cfg["password"],
                      disableSslCertValidation=True)
    si._stub.poolSize = cfg["max_parallel"]
    try:
        dc = si.content.rootFolder.childEntity[0]
        folder, pool = dc.vmFolder, dc.hostFolder.childEntity[0].resourcePool
        dvs = [n for n in dc.networkFolder.childEntity if isinstance(n, vim.DistributedVirtualSwitch)][0]
        pg_key = [p.key for p in dvs.portgroup if p.name == cfg["net"]["recovery"]][0]
        backing = vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
            port=vim.dvs.PortConnection(portgroupKey=pg_key, switchUuid=dvs.uuid))
        nic_spec = vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
            operation="add", device=vim.vm.device.VirtualVmxnet3(key=-1, addressType="generated", backing=backing))])
        netmask = "255.255.240.0"
        with ThreadPoolExecutor(cfg["max_parallel"]) as pool_exec:
            for _tier, vms in cfg["tiers"]:
                tasks = list(pool_exec.map(lambda vm: folder.RegisterVM_Task(
                    path="[Replica-DS-01] %s/%s.vmx" % (vm["name"], vm["name"]), name=vm["name"],
                    asTemplate=False, pool=pool), vms))
                done = wait(si, tasks, "info.state", lambda s: s in ("success", "error"))
                refs = [t.info.result for t in tasks] if len(tasks) < 2 else None
                if refs is None:
                    results = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=t) for t in tasks],
                                            propSet=[PC.PropertySpec(type=vim.Task, pathSet=["info.result"])])
                    got = {o.obj._moId: o.propSet[0].val
                           for o in si.content.propertyCollector.RetrieveContents([results])}
                    refs = [got[t._moId] for t in tasks]
                assert len(done) == len(tasks)
                tasks = list(pool_exec.map(lambda vm: vm.ReconfigVM_Task(spec=nic_spec), refs))
                wait(si, tasks, "info.state", lambda s: s in ("success", "error"))

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
                wait(si, tasks, "info.state", lambda s: s in ("success", "error"))
                task = dc.PowerOnMultiVM_Task(vm=refs)
                wait(si, [task], "info.state", lambda s: s in ("success", "error"))
                wait(si, refs, "guest.ipAddress", lambda ip: ip is not None and ip.startswith("10.20."))
    finally:
        Disconnect(si)


if __name__ == "__main__":
    main()

"""inventory.py against a fake PropertyCollector: batching, paging, conversion, view cleanup."""

from __future__ import annotations

import pytest
from pyVmomi import vim, vmodl

from ansible_collections.continuity.recovery.plugins.module_utils.errors import RecoveryError
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import inventory

from vsphere_fakes import FakeSession

PC = vmodl.query.PropertyCollector


def content(obj, **props):
    return PC.ObjectContent(obj=obj, propSet=[vmodl.DynamicProperty(name=k.replace("__", "."), val=v)
                                              for k, v in props.items()])


class PagingCollector:
    """Serves ``objects`` in pages of ``page`` objects, like vCenter with maxObjects."""

    def __init__(self, objects, page=None, fail=False):
        self.objects, self.page, self.fail = objects, page, fail
        self.specs = []
        self.log = None

    def _page(self, start, max_objects):
        size = self.page or max_objects
        chunk = self.objects[start:start + size]
        token = str(start + size) if start + size < len(self.objects) else None
        return PC.RetrieveResult(objects=chunk, token=token)

    def RetrievePropertiesEx(self, specSet, options):
        self.log.append("RetrievePropertiesEx")
        if self.fail:
            raise vmodl.query.InvalidProperty(name="bogus", msg="bogus is not a property")
        self.specs.append((specSet, options))
        return self._page(0, options.maxObjects)

    def ContinueRetrievePropertiesEx(self, token):
        self.log.append("ContinueRetrievePropertiesEx")
        return self._page(int(token), inventory.PAGE_SIZE)


def vms(count):
    return [content(vim.VirtualMachine("vm-%d" % i), name="vm%04d" % i, runtime__powerState="poweredOn")
            for i in range(count)]


def test_one_view_one_retrieval_and_the_view_is_destroyed():
    pc = PagingCollector(vms(3))
    session = FakeSession(pc)
    rows = inventory.retrieve(session, vim.VirtualMachine, ["name", "runtime.powerState", "guest.ipAddress"])
    assert session.log == ["CreateContainerView", "RetrievePropertiesEx", "DestroyView"]
    assert [r["name"] for r in rows] == ["vm0000", "vm0001", "vm0002"]
    assert rows[0]["_moid"] == "vm-0" and rows[0]["_type"] == "VirtualMachine"
    assert rows[0]["runtime.powerState"] == "poweredOn"
    assert rows[0]["guest.ipAddress"] is None  # requested but unset: present as None
    spec_set, options = pc.specs[0]
    assert options.maxObjects == inventory.PAGE_SIZE == 1000
    traversal = spec_set[0].objectSet[0].selectSet[0]
    assert traversal.path == "view" and spec_set[0].objectSet[0].skip is True
    view = session.view_manager.views[0]
    assert view.created_with == ("root-folder", [vim.VirtualMachine], True)
    assert view.destroyed


def test_calls_do_not_depend_on_the_number_of_objects_except_pages():
    small, large = FakeSession(PagingCollector(vms(12))), FakeSession(PagingCollector(vms(2500)))
    assert len(inventory.retrieve(small, vim.VirtualMachine, ["name"])) == 12
    assert len(inventory.retrieve(large, vim.VirtualMachine, ["name"])) == 2500
    assert small.calls == 3
    assert large.calls == 3 + 2  # two continuation pages of 1,000
    assert large.log.count("ContinueRetrievePropertiesEx") == 2


def test_several_types_share_one_retrieval():
    objects = [content(vim.dvs.DistributedVirtualPortgroup("dvportgroup-1"), name="Prod-Net", key="dvportgroup-1"),
               content(vim.Network("network-7"), name="VM Network"),
               content(vim.HostSystem("host-1"), name="esx1")]
    session = FakeSession(PagingCollector(objects))
    out = inventory.retrieve_many(session, {vim.Network: ["name"], vim.dvs.DistributedVirtualPortgroup: ["key"],
                                            vim.HostSystem: ["name"]})
    assert session.calls == 3
    assert [r["name"] for r in out[vim.Network]] == ["Prod-Net", "VM Network"]
    assert [r["key"] for r in out[vim.dvs.DistributedVirtualPortgroup]] == ["dvportgroup-1"]
    assert "key" not in out[vim.Network][1]  # a standard network gets only the Network paths
    assert [r["name"] for r in out[vim.HostSystem]] == ["esx1"]


def test_retrieve_objects_is_one_call_without_a_view():
    objs = [vim.VirtualMachine("vm-%d" % i) for i in range(5)]
    pc = PagingCollector(vms(5))
    session = FakeSession(pc)
    rows = inventory.retrieve_objects(session, objs, ["name"])
    assert session.log == ["RetrievePropertiesEx"]
    assert len(rows) == 5
    assert [o.obj for o in pc.specs[0][0][0].objectSet] == objs
    assert inventory.retrieve_objects(session, [], ["name"]) == []


def test_the_view_is_destroyed_when_retrieval_fails():
    session = FakeSession(PagingCollector([], fail=True))
    with pytest.raises(RecoveryError, match="bogus is not a property") as err:
        inventory.retrieve(session, vim.VirtualMachine, ["bogus"])
    assert err.value.details["fault"] == "vmodl.query.InvalidProperty"
    assert session.view_manager.views[0].destroyed


def test_missing_properties_are_reported():
    item = PC.ObjectContent(obj=vim.VirtualMachine("vm-1"), propSet=[vmodl.DynamicProperty(name="name", val="a")],
                            missingSet=[PC.MissingProperty(path="config", fault=vmodl.MethodFault(msg="no access"))])
    rows = inventory.retrieve(FakeSession(PagingCollector([item])), vim.VirtualMachine, ["name", "config"])
    assert rows[0]["_missing"] == {"config": "no access"}


def test_to_plain_converts_data_objects_refs_and_lists():
    nic = vim.vm.device.VirtualVmxnet3(
        key=4000, macAddress="00:50:56:aa:00:01",
        backing=vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
            port=vim.dvs.PortConnection(portgroupKey="dvportgroup-33", switchUuid="50 1a")),
        connectable=vim.vm.device.VirtualDevice.ConnectInfo(connected=True, startConnected=True))
    plain = inventory.to_plain([nic, vim.Datastore("datastore-1"), None, 3, "x"])
    assert plain[0]["_type"] == "VirtualVmxnet3"
    assert plain[0]["backing"]["_type"] == "VirtualEthernetCardDistributedVirtualPortBackingInfo"
    assert plain[0]["backing"]["port"]["portgroupKey"] == "dvportgroup-33"
    assert plain[0]["connectable"]["connected"] is True
    assert "dynamicProperty" not in plain[0]
    assert plain[1:] == ["datastore-1", None, 3, "x"]


def test_convert_false_keeps_pyvmomi_values():
    host = vim.HostSystem("host-1")
    rows = inventory.retrieve(FakeSession(PagingCollector([content(vim.VirtualMachine("vm-1"), runtime__host=host)])),
                              vim.VirtualMachine, ["runtime.host"], convert=False)
    assert rows[0]["runtime.host"] is host
    assert inventory.moid(host) == "host-1" and inventory.moid("host-2") == "host-2"

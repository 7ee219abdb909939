# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NIC and disk reconciliation of a recovered VM: a pure plan, then pyVmomi device specs.

``nic_plan(current, desired)`` compares the NICs a VM has at the target site
(``site.nic_records`` shape: ``key, type, mac, portgroup, label``) with the NICs
it should have (``{portgroup, mac, type}`` in order, portgroup names at the
target site) and says which to keep, edit (re-back onto another portgroup), add
and remove. NICs are matched by MAC first, then by position. ``disk_plan`` says
which replica disk files a registered VM lacks (vcsim registers VMs without
devices; a real vCenter reads them from the .vmx). ``device_changes`` turns both
plans into ``VirtualDeviceSpec`` objects for one ReconfigVM/CloneVM call.
"""

from __future__ import annotations

from typing import Mapping, Sequence

try:
    from pyVmomi import vim
except ImportError:  # pragma: no cover - reported by the module base
    vim = None

DEFAULT_ADAPTER = "VirtualVmxnet3"
ADAPTERS = ("VirtualVmxnet3", "VirtualE1000", "VirtualE1000e", "VirtualVmxnet2", "VirtualPCNet32",
            "VirtualSriovEthernetCard")


def nic_plan(current: Sequence[Mapping], desired: Sequence[Mapping]) -> dict:
    """``{keep, edit, add, remove, changed}``: ``edit`` is a list of ``(current, desired)``."""
    unmatched = list(current)
    pairs = []
    pending = []
    for want in desired:
        mac = (want.get("mac") or "").lower()
        match = next((nic for nic in unmatched if mac and (nic.get("mac") or "").lower() == mac), None)
        if match is not None:
            unmatched.remove(match)
            pairs.append((match, want))
        else:
            pending.append(want)
    for want in pending:
        if unmatched:
            pairs.append((unmatched.pop(0), want))
        else:
            pairs.append((None, want))
    keep, edit, add = [], [], []
    for nic, want in pairs:
        if nic is None:
            add.append(want)
        elif nic.get("portgroup") == want["portgroup"] and nic.get("connected", True) is not False:
            keep.append(nic)
        else:
            edit.append((nic, want))
    return {"keep": keep, "edit": edit, "add": add, "remove": unmatched,
            "changed": bool(edit or add or unmatched)}


def disk_plan(current_disks: Sequence[Mapping], wanted_files: Sequence[Mapping]) -> list[dict]:
    """Replica disk files (``{file, capacity_kb, thin}``) the VM does not have yet."""
    have = {d.get("file") for d in current_disks}
    return [dict(w) for w in wanted_files if w["file"] not in have]


def describe(plan: Mapping, disks: Sequence[Mapping] = ()) -> list[str]:
    """Human summary of a NIC/disk plan, for check mode and diffs."""
    out = ["edit NIC %s (%s): %s -> %s" % (nic.get("label"), nic.get("mac"), nic.get("portgroup"), want["portgroup"])
           for nic, want in plan["edit"]]
    out += ["add NIC on %s" % want["portgroup"] for want in plan["add"]]
    out += ["remove NIC %s (%s) on %s" % (nic.get("label"), nic.get("mac"), nic.get("portgroup"))
            for nic in plan["remove"]]
    out += ["attach disk %s" % d["file"] for d in disks]
    return out


# -- pyVmomi -------------------------------------------------------------------------------

def _backing(portgroup: Mapping):
    """Backing of a NIC on ``portgroup`` (``{name, type, key, switch_uuid, obj}``)."""
    if portgroup.get("type") == "distributed":
        return vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
            port=vim.dvs.PortConnection(portgroupKey=portgroup["key"], switchUuid=portgroup["switch_uuid"]))
    return vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(
        deviceName=portgroup["name"], network=portgroup.get("obj"))


def _connect():
    return vim.vm.device.VirtualDevice.ConnectInfo(startConnected=True, connected=True, allowGuestControl=True)


def _adapter_class(type_name: str | None):
    name = type_name if type_name in ADAPTERS else DEFAULT_ADAPTER
    return getattr(vim.vm.device, name)


def device_changes(plan: Mapping, portgroups: Mapping[str, Mapping], disks: Sequence[Mapping] = (),
                   controller: Mapping | None = None, datastore_objs: Mapping | None = None) -> list:
    """VirtualDeviceSpecs realising ``plan`` (+ ``disks`` attached to ``controller`` or a new one)."""
    specs = []
    for nic, want in plan["edit"]:
        device = _adapter_class(nic.get("type"))(
            key=nic["key"], addressType="generated" if not nic.get("mac") else "assigned",
            macAddress=nic.get("mac"), backing=_backing(portgroups[want["portgroup"]]),
            connectable=_connect(),
            deviceInfo=vim.Description(label=nic.get("label") or "Network adapter", summary=want["portgroup"]))
        specs.append(vim.vm.device.VirtualDeviceSpec(operation="edit", device=device))
    for index, want in enumerate(plan["add"]):
        device = _adapter_class(want.get("type"))(
            key=-1000 - index, addressType="generated", backing=_backing(portgroups[want["portgroup"]]),
            connectable=_connect())
        specs.append(vim.vm.device.VirtualDeviceSpec(operation="add", device=device))
    for nic in plan["remove"]:
        device = _adapter_class(nic.get("type"))(key=nic["key"])
        specs.append(vim.vm.device.VirtualDeviceSpec(operation="remove", device=device))
    if disks:
        controller_key = (controller or {}).get("key")
        if controller_key is None:
            controller_key = -200
            specs.append(vim.vm.device.VirtualDeviceSpec(operation="add", device=vim.vm.device.ParaVirtualSCSIController(
                key=controller_key, busNumber=0, sharedBus="noSharing")))
        used = set((controller or {}).get("units") or [])
        unit = 0
        for index, disk in enumerate(disks):
            while unit in used or unit == 7:
                unit += 1
            used.add(unit)
            backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                fileName=disk["file"], diskMode="persistent", thinProvisioned=bool(disk.get("thin")))
            specs.append(vim.vm.device.VirtualDeviceSpec(operation="add", device=vim.vm.device.VirtualDisk(
                key=-300 - index, controllerKey=controller_key, unitNumber=unit,
                capacityInKB=int(disk.get("capacity_kb") or 0), backing=backing)))
    return specs

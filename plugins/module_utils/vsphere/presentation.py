# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Presenting replica datastores to recovery hosts, and withdrawing them (pure planning).

``present_plan(entries, hosts, datastores)`` says, per storage map entry, which
hosts of the cluster still have to mount the replica (NFS: ``CreateNasDatastore``
with the entry's mount spec) and reports a datastore of that name backed by
another export as a problem. ``absent_plan`` says which hosts have to unmount it
(``RemoveDatastore``) and refuses while VMs are registered on it.

VMFS replicas (array snapshots/replicas presented as LUNs) take another path:
rescan the HBAs, find the unresolved VMFS volume whose original label is the
entry's ``volume_label`` (``QueryUnresolvedVmfsVolumes``), then resignature it
(new UUID, label ``snap-*``, renamed to the entry's ``recovery`` name) or
force-mount it (keeps its UUID and label; only when the original is not visible),
and rescan the cluster's other hosts so that they mount it too.
``vmfs_capable`` is the capability check: endpoints without those calls (the
simulator) get a clear failure instead of a half-done presentation;
``vmfs_plan`` is the pure decision over the query's result, and
``resignatured_copies`` finds a ``snap-*`` datastore an interrupted run left
unrenamed (a rerun renames it - only when no VM is registered on it).
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.storage import datastore_backing

NFS_TYPES = ("nfs", "nfs41")
VMFS_RESOLUTIONS = ("resignature", "force_mount")


def mount_problems(entry: Mapping, path: str) -> list[str]:
    """Problems of one storage map entry's mount spec."""
    mount = entry.get("mount")
    if not isinstance(mount, Mapping):
        return ["%s.mount: is required to present the replica" % path]
    kind = (mount.get("type") or "").lower()
    if kind in NFS_TYPES:
        return ["%s.mount.%s: is required for type %s" % (path, key, kind)
                for key in ("remote_host", "remote_path") if not mount.get(key)]
    if kind == "vmfs":
        problems = [] if mount.get("volume_label") else ["%s.mount.volume_label: is required for type vmfs" % path]
        if (mount.get("resolution") or "resignature") not in VMFS_RESOLUTIONS:
            problems.append("%s.mount.resolution: must be one of %s" % (path, ", ".join(VMFS_RESOLUTIONS)))
        return problems
    return ["%s.mount.type: must be nfs, nfs41 or vmfs, got %r" % (path, mount.get("type"))]


def _hosts_with(ds: Mapping | None, hosts: Sequence[Mapping]) -> list[str]:
    if ds is None:
        return []
    names = {h["_moid"]: h["name"] for h in hosts}
    found = {names[h["_moid"]] for h in hosts if ds["_moid"] in (h.get("datastore") or [])}
    found |= {names[m["key"]] for m in ds.get("host") or [] if m.get("key") in names
              and (m.get("mountInfo") or {}).get("mounted") is not False}
    return sorted(found)


def present_plan(entries: Sequence[Mapping], hosts: Sequence[Mapping], datastores: Sequence[Mapping]) -> tuple[list, list]:
    """``([{name, path, type, hosts_to_mount, mounted_on}], problems)`` for ``state=present``."""
    by_name = {d["name"]: d for d in datastores}
    out, problems = [], []
    for entry in entries:
        path = entry["path"]
        found = mount_problems(entry, path)
        if found:
            problems += found
            continue
        mount = entry["mount"]
        ds = by_name.get(entry["recovery"])
        kind = mount["type"].lower()
        if ds is not None and kind in NFS_TYPES:
            backing = datastore_backing(ds)
            if backing["type"] not in NFS_TYPES or (backing.get("remote_host"), backing.get("remote_path")) != (
                    mount["remote_host"], mount["remote_path"]):
                problems.append("%s.recovery: datastore %r exists backed by %s, not by %s:%s"
                                % (path, entry["recovery"], _backing_text(backing), mount["remote_host"],
                                   mount["remote_path"]))
                continue
        mounted = _hosts_with(ds, hosts)
        todo = [h["name"] for h in hosts if h["name"] not in mounted]
        out.append({"name": entry["recovery"], "path": path, "type": kind, "mount": dict(mount),
                    "mounted_on": mounted, "hosts_to_mount": todo})
    return out, problems


def absent_plan(entries: Sequence[Mapping], hosts: Sequence[Mapping], datastores: Sequence[Mapping],
                vm_names: Mapping[str, str]) -> tuple[list, list]:
    """``([{name, path, hosts_to_unmount}], problems)`` for ``state=absent``."""
    by_name = {d["name"]: d for d in datastores}
    out, problems = [], []
    for entry in entries:
        ds = by_name.get(entry["recovery"])
        mounted = _hosts_with(ds, hosts)
        if ds is not None and mounted and ds.get("vm"):
            users = sorted(vm_names.get(m, m) for m in ds["vm"])
            problems.append("%s.recovery: datastore %r still holds registered VMs (%s); unregister them first"
                            % (entry["path"], entry["recovery"], ", ".join(users[:10])
                               + (" and %d more" % (len(users) - 10) if len(users) > 10 else "")))
            continue
        out.append({"name": entry["recovery"], "path": entry["path"], "hosts_to_unmount": mounted,
                    "obj": ds["obj"] if ds is not None else None})
    return out, problems


def _backing_text(backing: Mapping) -> str:
    if backing["type"] in NFS_TYPES:
        return "%s:%s" % (backing.get("remote_host"), backing.get("remote_path"))
    return backing["type"]


# -- VMFS -----------------------------------------------------------------------------------

def vmfs_capable(storage_system) -> tuple[bool, str | None]:
    """Whether a host's storage system offers unresolved-volume queries (never raises)."""
    try:
        storage_system.QueryUnresolvedVmfsVolume()
        return True, None
    except Exception as exc:  # pylint: disable=broad-except  # NotImplemented, MethodNotFound, SOAP faults
        return False, "%s: %s" % (type(exc).__name__, getattr(exc, "msg", None) or exc)


def resignatured_copies(label: str, datastores: Sequence[Mapping]) -> list[str]:
    """Names of the VMFS datastores that are resignatured copies of volume ``label`` (``snap-<8 hex>-<label>``)."""
    pattern = re.compile(r"snap-[0-9a-f]{8}-%s" % re.escape(label))
    return sorted(d["name"] for d in datastores if d.get("name") and pattern.fullmatch(d["name"])
                  and (d.get("summary.type") or "VMFS").upper() == "VMFS")


def copy_vm_counts(copies: Sequence[str], datastores: Sequence[Mapping]) -> dict:
    """``{name: number of VMs registered on it}`` of the named datastores (rows with ``vm``)."""
    return {d["name"]: len(d.get("vm") or []) for d in datastores if d.get("name") in copies}


def vmfs_plan(entry: Mapping, unresolved: Sequence[Mapping], existing: Sequence[str],
              copies: Sequence[str] = (), copy_vms: Mapping[str, int] | None = None) -> dict:
    """What to do for one VMFS replica given the unresolved volumes a host reports.

    ``unresolved``: ``{vmfsLabel, vmfsUuid, extent: [{device: {diskName}, devicePath}], resolveStatus}``;
    ``copies``: resignatured copies of the volume already mounted (``resignatured_copies``), ``copy_vms``
    how many VMs are registered on each (``copy_vm_counts``).
    Returns ``{action: none|resignature|force_mount|rename|missing|ambiguous|blocked, volume, extent_paths,
    datastore, reason}``: ``rename`` (an earlier run resignatured the volume and stopped before renaming the
    ``snap-*`` datastore) names it in ``datastore``. A copy with VMs registered on it is not taken for
    that leftover - the interrupted run registered nothing there, so it is someone's other copy of the
    volume (``ambiguous``, renamed by no one but the operator).
    """
    mount = entry["mount"]
    if entry["recovery"] in existing:
        return {"action": "none", "reason": "datastore %r is already mounted" % entry["recovery"]}
    matches = [v for v in unresolved if v.get("vmfsLabel") == mount["volume_label"]]
    resignature = (mount.get("resolution") or "resignature") == "resignature"
    used = (copy_vms or {}).get(copies[0], 0) if len(copies) == 1 else 0
    if not matches and resignature and len(copies) == 1 and used:
        reason = ("no unresolved VMFS volume labelled %r, and its one resignatured copy %r has %d VM%s registered: "
                  "not the copy an interrupted run of this module left (that one holds none); if it is the replica, "
                  "rename it to %r" % (mount["volume_label"], copies[0], used, "" if used == 1 else "s",
                                       entry["recovery"]))
        return {"action": "ambiguous", "reason": reason}
    if not matches and resignature and len(copies) == 1:
        return {"action": "rename", "datastore": copies[0],
                "reason": "datastore %r is the resignatured volume %r, not renamed yet"
                          % (copies[0], mount["volume_label"])}
    if not matches and resignature and copies:
        reason = ("no unresolved VMFS volume labelled %r, and %d resignatured copies of it are mounted (%s): "
                  "rename the right one to %r" % (mount["volume_label"], len(copies), ", ".join(copies),
                                                  entry["recovery"]))
        return {"action": "ambiguous", "reason": reason}
    if not matches:
        return {"action": "missing", "reason": "no unresolved VMFS volume labelled %r (rescan done?)"
                % mount["volume_label"]}
    if len(matches) > 1:
        return {"action": "ambiguous", "reason": "%d unresolved volumes are labelled %r"
                % (len(matches), mount["volume_label"])}
    volume = matches[0]
    resolution = mount.get("resolution") or "resignature"
    status = volume.get("resolveStatus") or {}
    if resolution == "resignature" and status.get("resolvable") is False:
        return {"action": "blocked", "reason": "volume %r cannot be resignatured: %s"
                % (mount["volume_label"], status.get("incompleteExtents") and "extents missing" or "not resolvable")}
    if resolution == "force_mount" and status.get("multipleCopies"):
        return {"action": "blocked", "reason": "volume %r is visible more than once: force-mount would clash; "
                                               "resignature it" % mount["volume_label"]}
    paths = [e.get("devicePath") for e in volume.get("extent") or [] if e.get("devicePath")]
    return {"action": resolution, "volume": volume.get("vmfsUuid"), "extent_paths": paths, "reason": None}

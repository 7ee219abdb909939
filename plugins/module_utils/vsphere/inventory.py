# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Batched reads of the vSphere inventory through the PropertyCollector.

Reading N objects costs a number of SOAP calls independent of N:

* ``retrieve`` / ``retrieve_many``: CreateContainerView, one RetrievePropertiesEx
  (plus one ContinueRetrievePropertiesEx per further page of ``PAGE_SIZE``
  objects) and DestroyView — 3 calls up to ``PAGE_SIZE`` objects, whatever the
  number of object types and properties asked for.
* ``retrieve_objects``: one RetrievePropertiesEx (+ pages) for a known list of
  managed object references.

Each object comes back as a dict: ``obj`` (the managed object reference),
``_moid``, ``_type`` (vSphere type name) and one key per requested property path
(``None`` when unset). With ``convert=True`` (the default) property values are
turned into plain data by ``to_plain``: data objects become dicts keyed by their
vSphere property names plus ``_type``, managed object references become their
moid strings. The pure layers (storage.py, site.py) work on those dicts.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any, Iterable, Mapping, Sequence

from ansible_collections.continuity.recovery.plugins.module_utils.errors import RecoveryError

try:
    from pyVmomi import VmomiSupport, vim, vmodl
except ImportError:  # pragma: no cover - session.py reports the missing library
    VmomiSupport = vim = vmodl = None

PAGE_SIZE = 1000
"""Objects per RetrievePropertiesEx page (``RetrieveOptions.maxObjects``)."""


def retrieve(session, obj_type, properties: Sequence[str], root=None, recursive: bool = True,
             convert: bool = True) -> list[dict]:
    """All objects of ``obj_type`` under ``root`` (default: the root folder) with ``properties``."""
    return retrieve_many(session, {obj_type: properties}, root=root, recursive=recursive,
                         convert=convert)[obj_type]


def retrieve_many(session, specs: Mapping[Any, Sequence[str]], root=None, recursive: bool = True,
                  convert: bool = True) -> dict:
    """Several object types in one container view and one property retrieval.

    ``specs`` maps a pyVmomi managed object type to the property paths wanted for
    it. Returns the same keys mapped to lists of row dicts. An object that is an
    instance of several requested types (a distributed portgroup is a Network)
    appears under each, with the union of their properties.
    """
    content = session.content
    container = root if root is not None else content.rootFolder
    view = session.call(content.viewManager.CreateContainerView, container,
                        list(specs), recursive)
    try:
        traversal = vmodl.query.PropertyCollector.TraversalSpec(
            name="traverseView", path="view", skip=False, type=vim.view.ContainerView)
        object_spec = vmodl.query.PropertyCollector.ObjectSpec(
            obj=view, skip=True, selectSet=[traversal])
        rows = _collect(session, [object_spec], specs, convert)
    finally:
        try:
            session.call(view.DestroyView)
        except (RecoveryError, vmodl.MethodFault):
            pass
    return _group(rows, specs)


def retrieve_objects(session, objs: Iterable, properties: Sequence[str],
                     convert: bool = True) -> list[dict]:
    """``properties`` of the given managed objects (all of one type) in one retrieval.

    An object deleted meanwhile does not fail the read: its row carries the
    fault under ``_missing`` instead of property values.
    """
    objs = list(objs)
    if not objs:
        return []
    obj_type = type(objs[0])
    object_specs = [vmodl.query.PropertyCollector.ObjectSpec(obj=obj, skip=False) for obj in objs]
    return _collect(session, object_specs, {obj_type: properties}, convert)


def _collect(session, object_specs, specs: Mapping[Any, Sequence[str]], convert: bool) -> list[dict]:
    """Run one RetrievePropertiesEx (+ continuation pages) and build row dicts."""
    collector = session.content.propertyCollector
    prop_specs = [vmodl.query.PropertyCollector.PropertySpec(type=obj_type, all=False,
                                                             pathSet=list(paths))
                  for obj_type, paths in specs.items()]
    filter_spec = vmodl.query.PropertyCollector.FilterSpec(
        objectSet=object_specs, propSet=prop_specs, reportMissingObjectsInResults=True)
    options = vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=PAGE_SIZE)
    rows: list[dict] = []
    result = _call_pc(session, collector.RetrievePropertiesEx, specSet=[filter_spec],
                      options=options)
    while result is not None:
        rows.extend(_row(item, specs, convert) for item in result.objects or [])
        if not getattr(result, "token", None):
            break
        result = _call_pc(session, collector.ContinueRetrievePropertiesEx, token=result.token)
    return rows


def _call_pc(session, method, **kwargs):
    """Call a PropertyCollector method; a vSphere fault becomes a RecoveryError."""
    try:
        return session.call(method, **kwargs)
    except vmodl.MethodFault as exc:
        raise RecoveryError("property retrieval on vCenter %s failed: %s"
                            % (getattr(session, "endpoint", "?"), _fault_text(exc)),
                            fault=type(exc).__name__) from None


def _row(item, specs: Mapping[Any, Sequence[str]], convert: bool) -> dict:
    """One ObjectContent as a dict with every requested path present."""
    obj = item.obj
    row: dict = {"obj": obj, "_moid": obj._moId, "_type": type(obj)._wsdlName}
    for obj_type, paths in specs.items():
        if isinstance(obj, obj_type):
            for path in paths:
                row.setdefault(path, None)
    for prop in item.propSet or []:
        row[prop.name] = to_plain(prop.val) if convert else prop.val
    missing = {m.path: _fault_text(m.fault) for m in item.missingSet or []}
    if missing:
        row["_missing"] = missing
    return row


def _group(rows: list[dict], specs: Mapping[Any, Sequence[str]]) -> dict:
    """Rows by requested type (an object may be listed under several types)."""
    grouped: dict = {obj_type: [] for obj_type in specs}
    for row in rows:
        for obj_type in specs:
            if isinstance(row["obj"], obj_type):
                grouped[obj_type].append(row)
    return grouped


def _fault_text(fault) -> str:
    """Message of a MethodFault or LocalizedMethodFault."""
    inner = getattr(fault, "fault", None)
    for candidate in (getattr(fault, "localizedMessage", None), getattr(fault, "msg", None),
                      getattr(inner, "msg", None) if inner is not None else None):
        if candidate:
            return str(candidate)
    return type(inner if inner is not None else fault).__name__


def to_plain(value: Any) -> Any:
    """pyVmomi values as plain, JSON-friendly data.

    Data objects become dicts (vSphere property names, unset ones left out, plus
    ``_type``), managed object references their moid, datetimes ISO 8601 strings,
    binary base64 text; lists are converted element-wise.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, VmomiSupport.ManagedObject):
        return value._moId
    if isinstance(value, VmomiSupport.DataObject):
        plain = {"_type": type(value)._wsdlName}
        for prop in value._GetPropertyList():
            if prop.name in ("dynamicType", "dynamicProperty"):
                continue
            item = getattr(value, prop.name, None)
            if item is not None:
                plain[prop.name] = to_plain(item)
        return plain
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, type):
        return getattr(value, "_wsdlName", value.__name__)
    return str(value)


def moid(obj) -> str | None:
    """The moid of a managed object reference, or the string itself (already plain)."""
    if obj is None or isinstance(obj, str):
        return obj
    return obj._moId

# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait until many objects' properties satisfy a condition, together (WaitForUpdatesEx).

``wait_for_properties(session, objs, paths, done, timeout)`` puts every object
into one PropertyFilter of a private PropertyCollector and blocks server-side in
``WaitForUpdatesEx`` (backoff up to ``poll`` seconds per call) until
``done(moid, values)`` is true for each object or ``timeout`` passes: used for "the
guest shut down" and "the guest reports its new IP" over a whole tier, with no
per-VM polling. Returns ``{moid: values}`` and the moids still not done.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Mapping, Sequence

from ansible_collections.continuity.recovery.plugins.module_utils.errors import RecoveryError
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.inventory import to_plain

try:
    from pyVmomi import vmodl
except ImportError:  # pragma: no cover - reported by the module base
    vmodl = None


def wait_for_properties(session, objs: Sequence, paths: Sequence[str], done: Callable[[str, Mapping], bool],
                        timeout: float, poll: float = 10,
                        clock: Callable[[], float] = time.monotonic) -> tuple[dict, list]:
    """Block until ``done(moid, values)`` for every object (values: plain data by path)."""
    objs = list(objs)
    if not objs:
        return {}, []
    values: dict = {o._moId: {p: None for p in paths} for o in objs}
    deadline = clock() + max(0.0, float(timeout))
    pc = vmodl.query.PropertyCollector
    collector = session.call(session.content.propertyCollector.CreatePropertyCollector)
    try:
        spec = pc.FilterSpec(objectSet=[pc.ObjectSpec(obj=o, skip=False) for o in objs],
                             propSet=[pc.PropertySpec(type=type(objs[0]), pathSet=list(paths))])
        session.call(collector.CreateFilter, spec, partialUpdates=False)
        version, step = "", 1.0
        while True:
            pending = [m for m, v in values.items() if not done(m, v)]
            remaining = deadline - clock()
            if not pending or (remaining <= 0 and version):
                return values, pending
            wait = int(max(1, min(math.ceil(step), math.ceil(poll), math.ceil(max(remaining, 0)))))
            update = session.call(collector.WaitForUpdatesEx, version=version,
                                  options=pc.WaitOptions(maxWaitSeconds=wait))
            if update is None:
                step = min(step * 2, poll)
                continue
            version = update.version
            for filter_update in update.filterSet or []:
                for obj_update in filter_update.objectSet or []:
                    entry = values.get(obj_update.obj._moId)
                    if entry is None:
                        continue
                    for change in obj_update.changeSet or []:
                        entry[change.name] = None if change.op in ("remove", "indirectRemove") \
                            else to_plain(change.val)
    except vmodl.MethodFault as exc:
        raise RecoveryError("waiting on vCenter %s failed: %s" % (session.endpoint, type(exc).__name__)) from None
    finally:
        try:
            session.call(collector.DestroyPropertyCollector)
        except (RecoveryError, vmodl.MethodFault):
            pass

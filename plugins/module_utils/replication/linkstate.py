# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remember when a pair's link was last seen connected and first seen disconnected.

PostgreSQL 15 does not record when a slot went inactive, and an rsync target
cannot be asked while it is unreachable; so buffer_info keeps a small JSON file
per pair on the controller (0600 in a 0700 directory). Not a managed system:
writing it is not a change.
"""

from __future__ import annotations

import json
import os

from ansible_collections.continuity.recovery.plugins.module_utils.evidence import utcnow


def observe(directory, pair, state, now=None):
    """Record ``state`` for ``pair``; return (since, source) of the current state."""
    now = now or utcnow()
    if not directory:
        return None, "unknown"
    path = os.path.join(directory, "link-%s.json" % pair)
    try:
        with open(path, encoding="utf-8") as handle:
            memory = json.load(handle)
    except (OSError, ValueError):
        memory = {}
    if memory.get("state") != state:
        memory = {"state": state, "since": now, "last_connected": memory.get("last_connected"),
                  "first_observed": memory.get("state") is None}
    if state == "connected":
        memory["last_connected"] = now
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(memory, handle)
        os.replace(tmp, path)
    except OSError:
        pass
    if state == "disconnected" and memory.get("last_connected"):
        return memory["last_connected"], "last_seen_connected"
    if memory.get("first_observed"):
        return memory["since"], "first_observed"
    return memory["since"], "observed_transition"

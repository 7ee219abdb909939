# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drill's production fingerprint (pure Python, unit-tested).

A drill must prove that production was untouched: the primary VMs, the primary
databases and the replication between the sites. ``fingerprint`` reduces what
``site_info`` (primary site), ``database_info`` (each primary database) and
``replication_info`` (each pair) report to the fields a drill could change and
production traffic does not: power, host, configuration path and identity, NICs
(MAC, portgroup, connected, guest IPs), disks; a database's role, timeline,
replication settings, slots and streaming senders; a pair's roles, link, streaming state, hold,
direction and authority (rsync: its snapshots and last run too). Positions that
move with normal production work (WAL LSNs, lag, pending bytes, sizes) are kept apart in
``observed`` and never compared: ``compare`` reports whether the primary's LSN
progressed, as information.
"""

from __future__ import annotations

SCHEMA = "continuity.recovery/drill-fingerprint/v1"


def _vm(vm):
    nics = sorted(
        ({"mac": n.get("mac"), "portgroup": n.get("portgroup"), "connected": n.get("connected"),
          "start_connected": n.get("start_connected"), "ip_addresses": sorted(n.get("ip_addresses") or [])}
         for n in vm.get("nics") or []),
        key=lambda n: (str(n["mac"]), str(n["portgroup"])))
    disks = sorted(({"file": d.get("file"), "datastore": d.get("datastore")} for d in vm.get("disks") or []),
                   key=lambda d: str(d["file"]))
    return {"power_state": vm.get("power_state"), "host": vm.get("host"), "vm_path_name": vm.get("vm_path_name"),
            "uuid": vm.get("uuid"), "ip_address": vm.get("ip_address"), "nics": nics, "disks": disks}


def _database(info):
    if not info.get("reachable", True) and info.get("error"):
        return {"reachable": False}
    slots = sorted(({"slot_name": s.get("slot_name"), "slot_type": s.get("slot_type"), "active": s.get("active"),
                     "wal_status": s.get("wal_status")} for s in info.get("slots") or []),
                   key=lambda s: str(s["slot_name"]))
    senders = sorted(({"application_name": s.get("application_name"), "state": s.get("state"),
                       "sync_state": s.get("sync_state")} for s in info.get("senders") or []),
                     key=lambda s: str(s["application_name"]))
    return {"reachable": True, "role": info.get("role"), "timeline": info.get("timeline"),
            "settings": dict(info.get("settings") or {}), "slots": slots, "senders": senders}


def _side(side):
    side = side or {}
    return {"reachable": side.get("reachable"), "role": side.get("role"), "timeline": side.get("timeline"),
            "read_only": side.get("read_only"), "replay_paused": side.get("replay_paused")}


def _pair(info):
    out = {"engine": info.get("engine"), "source": _side(info.get("source")), "target": _side(info.get("target")),
           "link": (info.get("link") or {}).get("state"), "held": bool(info.get("held")),
           "direction": info.get("direction"), "authoritative": info.get("authoritative")}
    if info.get("engine") == "postgresql":
        streaming = info.get("streaming") or {}
        out.update(streaming=streaming.get("state"), sync_state=info.get("sync_state"))
    else:
        out.update(established=info.get("established"), established_at=info.get("established_at"),
                   snapshots=list(info.get("snapshots") or []), last_run=(info.get("last_run") or {}).get("at"))
    return out


def _lsn(info):
    return info.get("current_lsn") if isinstance(info, dict) else None


def fingerprint(site=None, databases=None, replication=None, vms=None):
    """``site``: a site_info result of the primary site; ``databases``: pair name -> database_info result of its
    primary; ``replication``: pair name -> replication_info result. ``vms`` limits the VMs (default all)."""
    wanted = set(vms) if vms else None
    out = {"schema": SCHEMA, "vms": {}, "databases": {}, "replication": {},
           "observed": {"lsn": {}}}
    for vm in (site or {}).get("vms") or []:
        if wanted is None or vm.get("name") in wanted:
            out["vms"][vm["name"]] = _vm(vm)
    for name in sorted(wanted - set(out["vms"])) if wanted else []:
        out["vms"][name] = {"missing": True}
    for name, info in sorted((databases or {}).items()):
        out["databases"][name] = _database(info or {})
        out["observed"]["lsn"][name] = _lsn(info)
    for name, info in sorted((replication or {}).items()):
        out["replication"][name] = _pair(info or {})
    return out


def _walk(before, after, path, out):
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after), key=str):
            _walk(before.get(key), after.get(key), "%s.%s" % (path, key) if path else str(key), out)
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after)):
            _walk(b, a, "%s[%d]" % (path, i), out)
    elif before != after:
        out.append({"path": path, "before": before, "after": after})


def _lsn_int(text):
    try:
        high, low = str(text).split("/")
        return (int(high, 16) << 32) + int(low, 16)
    except (ValueError, AttributeError):
        return None


def compare(before, after):
    """Differences between two fingerprints (``observed`` excluded), and LSN progress per database."""
    differences = []
    for section in ("vms", "databases", "replication"):
        _walk((before or {}).get(section) or {}, (after or {}).get(section) or {}, section, differences)
    lsn = {}
    b_lsn = ((before or {}).get("observed") or {}).get("lsn") or {}
    a_lsn = ((after or {}).get("observed") or {}).get("lsn") or {}
    for name in sorted(set(b_lsn) | set(a_lsn)):
        first, last = _lsn_int(b_lsn.get(name)), _lsn_int(a_lsn.get(name))
        lsn[name] = {"before": b_lsn.get(name), "after": a_lsn.get(name),
                     "progressed": None if first is None or last is None else last > first,
                     "bytes": None if first is None or last is None else last - first}
    return {"unchanged": not differences, "differences": differences, "lsn": lsn,
            "compared": {s: len((before or {}).get(s) or {}) for s in ("vms", "databases", "replication")}}

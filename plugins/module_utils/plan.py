# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The recovery plan: structural validation and normalisation (pure Python).

``validate(plan)`` checks a plan (docs/plan.md) as a whole and returns
``(normalised, problems)``: every problem at once, each a :class:`Problem`
naming its path in the plan's own notation (``tiers[1].vms[0]``). It never
raises on bad input. ``normalised`` is None unless the plan is clean.

Checks against the live sites are in ``plan_sites``; re-addressing arithmetic
is in ``ipmap``.
"""

from __future__ import annotations

import copy
import difflib
import posixpath
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ansible_collections.continuity.recovery.plugins.module_utils import ipmap
from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput

ROOT = "recovery_plan"
MASK = "********"

IDENT_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
SLOT_RE = re.compile(r"[a-z0-9_]{1,63}")
HOSTNAME_RE = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)
SIZE_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?([A-Za-z]*)")
SIZE_UNITS = {"": 1, "b": 1, "kb": 1024, "kib": 1024, "mb": 1024 ** 2, "mib": 1024 ** 2,
              "gb": 1024 ** 3, "gib": 1024 ** 3, "tb": 1024 ** 4, "tib": 1024 ** 4}

MAX_SECONDS = 30 * 86400
MAX_WINDOW = timedelta(days=7)
MAX_SNAPSHOTS = 1000
MAX_BUFFER_BYTES = 1024 ** 5
MAX_OBJECT_NAME = 80
MAX_TEXT = 255
MAX_PATH = 4096
MAX_SECRET = 1024
MAX_DATETIME_TEXT = 64
MAX_NETWORKS = 256
MAX_DATASTORES = 1024
MAX_PAIRS = 1024
MAX_TIERS = 64
MAX_TIER_VMS = 5000
MAX_DNS = 8
MAX_SHOWN = 60

DEFAULT_VCENTER_PORT = 443
DEFAULT_PG_PORT = 5432
DEFAULT_FILL_PCT = 80

ENGINES = ("rsync", "postgresql")
MOUNT_TYPES = ("nfs",)
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a plan: where (plan path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class _Report:
    """Collects problems; a check never stops at the first one."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        """Record a problem at ``path`` (the plan root when empty)."""
        self.problems.append(Problem(path or ROOT, message))


# --------------------------------------------------------------- formatting

def _join(path: str, key: str) -> str:
    """``a.b`` + ``c`` -> ``a.b.c``."""
    return f"{path}.{key}" if path else key


def _item(path: str, index: int) -> str:
    """``a.b`` + 3 -> ``a.b[3]``."""
    return f"{path}[{index}]"


def _show(value: Any) -> str:
    """A scalar for a message: quoted, escaped, shortened."""
    if isinstance(value, str):
        text = value if len(value) <= MAX_SHOWN else value[:MAX_SHOWN] + "..."
        return repr(text)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


def _kind(value: Any) -> str:
    """The YAML-ish type name of a value."""
    if value is None:
        return "null"
    for types, name in ((bool, "boolean"), (int, "integer"), (float, "float"), (str, "string"),
                        (Mapping, "mapping"), ((list, tuple), "list"), (datetime, "date-time"),
                        (date, "date")):
        if isinstance(value, types):
            return name
    return type(value).__name__


def _got(value: Any, secret: bool = False) -> str:
    """``got string 'x'``, ``got a list``, ``got null``; never shows a secret."""
    kind = _kind(value)
    if value is None:
        return "got null"
    if secret or kind in ("mapping", "list") or kind not in ("boolean", "integer", "float", "string",
                                                             "date-time", "date"):
        article = "an" if kind[0] in "aeiou" else "a"
        return f"got {article} {kind}"
    return f"got {kind} {_show(value)}"


def _ref(section: str, index: int, name: Any) -> str:
    """``networks[0] (prod)``: a cross reference in a message."""
    return f"{section}[{index}] ({name})" if isinstance(name, str) else f"{section}[{index}]"


def _utc_text(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``."""
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------ basic checks

def _mapping(rep: _Report, value: Any, path: str, required: tuple[str, ...],
             optional: tuple[str, ...] = ()) -> Mapping | None:
    """Check a mapping: its type, unknown keys (each reported), required keys."""
    if not isinstance(value, Mapping):
        rep.add(path, f"must be a mapping, {_got(value)}")
        return None
    allowed = required + optional
    for key in value:
        if key not in allowed:
            rep.add(path, _unknown_key(key, allowed, path))
    for key in required:
        if value.get(key) is None:
            rep.add(_join(path, key), "is required")
    return value


def _unknown_key(key: Any, allowed: tuple[str, ...], path: str) -> str:
    """``unknown key 'rpo_second' (did you mean 'rpo_seconds'?)``."""
    if path == "" and key == ROOT:
        return f"unknown key {_show(key)} (pass the plan itself, not a mapping that contains it)"
    if isinstance(key, str):
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.75)
        if close:
            return f"unknown key {_show(key)} (did you mean {_show(close[0])}?)"
    return f"unknown key {_show(key)} (allowed: {', '.join(allowed)})"


def _bad_character(text: str) -> str | None:
    """The first control (or bidi-override) character of ``text``, as U+XXXX."""
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI_CONTROLS:
            return f"U+{ord(char):04X}"
    return None


def _string(rep: _Report, value: Any, path: str, max_len: int = MAX_TEXT,
            secret: bool = False) -> str | None:
    """A non-empty string of at most ``max_len`` characters without control characters."""
    if not isinstance(value, str):
        rep.add(path, f"must be a string, {_got(value, secret)}")
        return None
    if not value:
        rep.add(path, "must not be empty")
        return None
    if len(value) > max_len:
        rep.add(path, f"must be at most {max_len} characters, got {len(value)}")
        return None
    if secret and "\x00" in value:
        rep.add(path, "must not contain a NUL character")
        return None
    bad = None if secret else _bad_character(value)
    if bad:
        rep.add(path, f"must not contain control characters, found {bad} in {_show(value)}")
        return None
    return value


def _object_name(rep: _Report, value: Any, path: str, max_len: int = MAX_OBJECT_NAME) -> str | None:
    """A vSphere object name: any printable unicode, <= 80 characters, no outer spaces."""
    text = _string(rep, value, path, max_len)
    if text is not None and text != text.strip():
        rep.add(path, f"must not start or end with whitespace, got {_show(text)}")
        return None
    return text


def _pattern(rep: _Report, value: Any, path: str, pattern: re.Pattern) -> str | None:
    """A string matching ``pattern`` completely."""
    text = _string(rep, value, path, MAX_TEXT)
    if text is not None and not pattern.fullmatch(text):
        rep.add(path, f"must match ^{pattern.pattern}$, got {_show(text)}")
        return None
    return text


def _ident(rep: _Report, value: Any, path: str) -> str | None:
    """A plan identifier (plan, network, pair and tier names)."""
    return _pattern(rep, value, path, IDENT_RE)


def _integer(rep: _Report, value: Any, path: str, low: int, high: int) -> int | None:
    """An integer (not a boolean) in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int):
        rep.add(path, f"must be an integer, {_got(value)}")
        return None
    if not low <= value <= high:
        rep.add(path, f"must be between {low} and {high}, got {value}")
        return None
    return int(value)


def _seconds(rep: _Report, value: Any, path: str) -> int | None:
    """A positive number of seconds, at most 30 days."""
    if isinstance(value, bool) or not isinstance(value, int):
        rep.add(path, f"must be an integer number of seconds, {_got(value)}")
        return None
    if value < 1:
        rep.add(path, f"must be positive, got {value}")
        return None
    if value > MAX_SECONDS:
        rep.add(path, f"must be at most {MAX_SECONDS} (30 days), got {_show(value)}")
        return None
    return int(value)


def _boolean(rep: _Report, value: Any, path: str) -> bool | None:
    """A real boolean (``true``/``false``), not ``'yes'`` nor 1."""
    if not isinstance(value, bool):
        rep.add(path, f"must be a boolean (true or false), {_got(value)}")
        return None
    return value


def _choice(rep: _Report, value: Any, path: str, choices: tuple[str, ...]) -> str | None:
    """One of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        rep.add(path, f"must be one of {', '.join(choices)}; {_got(value)}")
        return None
    return value


def _list(rep: _Report, value: Any, path: str, low: int, high: int) -> list | None:
    """A list with ``low..high`` entries."""
    if not isinstance(value, (list, tuple)):
        rep.add(path, f"must be a list, {_got(value)}")
        return None
    if len(value) < low:
        rep.add(path, f"must list at least {low} {'entry' if low == 1 else 'entries'}")
        return None
    if len(value) > high:
        rep.add(path, f"must list at most {high} entries, got {len(value)}")
        return None
    return list(value)


def _optional(value: Any, default: Any, check: Callable[[], Any]) -> Any:
    """``default`` when ``value`` is absent/null, else the result of ``check()``."""
    return default if value is None else check()


def _abs_path(rep: _Report, value: Any, path: str) -> str | None:
    """A safe absolute path: normalised, no ``..``, no control characters, not ``/``."""
    if isinstance(value, str) and ("\x00" in value or "\n" in value or "\r" in value):
        rep.add(path, f"is unsafe: contains a NUL or newline character: {_show(value)}")
        return None
    text = _string(rep, value, path, MAX_PATH)
    if text is None:
        return None
    if not text.startswith("/"):
        rep.add(path, f"must be an absolute path, got {_show(text)}")
        return None
    if ".." in text.split("/"):
        rep.add(path, f"is unsafe: must not contain '..' components, got {_show(text)}")
        return None
    normal = posixpath.normpath(text)
    if normal.startswith("//"):
        normal = "/" + normal.lstrip("/")
    if normal != text:
        rep.add(path, f"must be a normalised path: write {_show(normal)}, not {_show(text)}")
        return None
    if text == "/":
        rep.add(path, "must not be the root directory '/'")
        return None
    return text


def _host(rep: _Report, value: Any, path: str, socket_dir: bool = False) -> str | None:
    """A host name or IP address (or, for PostgreSQL, a socket directory)."""
    text = _string(rep, value, path, 253 if not socket_dir else MAX_PATH)
    if text is None:
        return None
    if socket_dir and text.startswith("/"):
        return _abs_path(rep, text, path)
    try:
        ipmap.parse_ip(text)
        return text
    except InvalidInput:
        pass
    if not HOSTNAME_RE.fullmatch(text):
        rep.add(path, f"must be a host name or IP address, got {_show(text)}")
        return None
    return text


def _size(rep: _Report, value: Any, path: str) -> int | None:
    """A size with a unit (PostgreSQL style, binary multiples): bytes."""
    usage = "must be a size such as 512MB, 1GB or '1 TB' (units B, kB, MB, GB, TB)"
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        rep.add(path, f"{usage}, {_got(value)}")
        return None
    match = SIZE_RE.fullmatch(value.strip()) if isinstance(value, str) and len(value) <= 32 else None
    if isinstance(value, str) and (not match or match.group(2).lower() not in SIZE_UNITS
                                   or ("." in match.group(1) and SIZE_UNITS[match.group(2).lower()] == 1)):
        rep.add(path, f"{usage}, got {_show(value)}")
        return None
    number = value if isinstance(value, int) else int(float(match.group(1)) * SIZE_UNITS[match.group(2).lower()])
    if number < 1:
        rep.add(path, f"must be positive, got {_show(value)}")
        return None
    if number > MAX_BUFFER_BYTES:
        rep.add(path, f"must be at most 1024 TB, got {_show(value)}")
        return None
    return number


def _moment(rep: _Report, value: Any, path: str) -> datetime | None:
    """An ISO 8601 date-time with a time zone (a string, or a YAML timestamp)."""
    example = "e.g. 2026-11-28T22:00:00Z"
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and len(value) <= MAX_DATETIME_TEXT:
        try:
            moment = datetime.fromisoformat(value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value)
        except ValueError:
            rep.add(path, f"must be an ISO 8601 date-time with a time zone ({example}), got {_show(value)}")
            return None
    else:
        rep.add(path, f"must be an ISO 8601 date-time with a time zone ({example}), {_got(value)}")
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        rep.add(path, f"has no time zone: {_show(str(value))}; append Z (UTC) or an offset such as +01:00")
        return None
    return moment


def _ip(rep: _Report, value: Any, path: str, what: str) -> Any:
    """A parsed IP address (netaddr) or None after reporting why not."""
    try:
        return ipmap.parse_ip(value, what)
    except InvalidInput as exc:
        rep.add(path, exc.message)
        return None


def _cidr(rep: _Report, value: Any, path: str, what: str) -> Any:
    """A parsed subnet (netaddr) or None after reporting why not."""
    try:
        return ipmap.parse_cidr(value, what)
    except InvalidInput as exc:
        rep.add(path, exc.message)
        return None


def _duplicates(rep: _Report, entries: list[tuple[str, Any]], describe: Callable[[Any, int], str]) -> None:
    """Report every entry whose value was already seen: ``describe(value, first_index)``."""
    seen: dict[Any, int] = {}
    for index, (path, value) in enumerate(entries):
        if value is None:
            continue
        if value in seen:
            rep.add(path, describe(value, seen[value]))
        else:
            seen[value] = index


def _unique(rep: _Report, section: str, entries: list, field: str, describe: Callable[[Any, int], str]) -> None:
    """Report every ``section[i].field`` whose value an earlier entry already has (invalid entries are None)."""
    _duplicates(rep, [(_item(section, i) + "." + field, entry and entry[field]) for i, entry in enumerate(entries)],
                describe)


# ---------------------------------------------------------------- sections

def _objectives(rep: _Report, value: Any) -> dict | None:
    """``objectives``: RPO and RTO in seconds, the buffer fill threshold."""
    data = _mapping(rep, value, "objectives", ("rpo_seconds", "rto_seconds"), ("max_buffer_fill_pct",))
    if data is None:
        return None
    result = {}
    for key in ("rpo_seconds", "rto_seconds"):
        result[key] = _optional(data.get(key), None, lambda k=key: _seconds(rep, data[k], f"objectives.{k}"))
    result["max_buffer_fill_pct"] = _optional(
        data.get("max_buffer_fill_pct"), DEFAULT_FILL_PCT,
        lambda: _integer(rep, data["max_buffer_fill_pct"], "objectives.max_buffer_fill_pct", 1, 100))
    return result


def _change_window(rep: _Report, value: Any) -> dict | None:
    """``change_window``: start and end with time zones, end after start, <= 7 days."""
    data = _mapping(rep, value, "change_window", ("start", "end"))
    if data is None:
        return None
    start = _optional(data.get("start"), None, lambda: _moment(rep, data["start"], "change_window.start"))
    end = _optional(data.get("end"), None, lambda: _moment(rep, data["end"], "change_window.end"))
    if start is None or end is None:
        return None
    shown_start, shown_end = _utc_text(start), _utc_text(end)
    if end <= start:
        rep.add("change_window.end", f"must be after start ({shown_start}), got {shown_end}")
        return None
    if end - start > MAX_WINDOW:
        rep.add("change_window.end", f"is {end - start} after start; a change window lasts at most 7 days")
        return None
    return {"start": shown_start, "end": shown_end}


def _vcenter(rep: _Report, value: Any, path: str) -> dict | None:
    """``sites.<site>.vcenter``: connection settings of one vCenter."""
    data = _mapping(rep, value, path, ("hostname",), ("port", "username", "password", "validate_certs"))
    if data is None:
        return None
    return {
        "hostname": _optional(data.get("hostname"), None,
                              lambda: _host(rep, data["hostname"], _join(path, "hostname"))),
        "port": _optional(data.get("port"), DEFAULT_VCENTER_PORT,
                          lambda: _integer(rep, data["port"], _join(path, "port"), 1, 65535)),
        "username": _optional(data.get("username"), None,
                              lambda: _string(rep, data["username"], _join(path, "username"))),
        "password": _optional(data.get("password"), None,
                              lambda: _string(rep, data["password"], _join(path, "password"), MAX_SECRET, True)),
        "validate_certs": _optional(data.get("validate_certs"), True,
                                    lambda: _boolean(rep, data["validate_certs"], _join(path, "validate_certs"))),
    }


def _site(rep: _Report, value: Any, path: str) -> dict | None:
    """``sites.<site>``: vCenter, datacenter, cluster, optional folder and pool."""
    data = _mapping(rep, value, path, ("vcenter", "datacenter", "cluster"), ("vm_folder", "resource_pool"))
    if data is None:
        return None
    result: dict[str, Any] = {
        "vcenter": _optional(data.get("vcenter"), None, lambda: _vcenter(rep, data["vcenter"], _join(path, "vcenter"))),
    }
    for key in ("datacenter", "cluster"):
        result[key] = _optional(data.get(key), None, lambda k=key: _object_name(rep, data[k], _join(path, k)))
    for key in ("vm_folder", "resource_pool"):
        result[key] = _optional(data.get(key), None, lambda k=key: _object_name(rep, data[k], _join(path, k), MAX_TEXT))
    return result


def _sites(rep: _Report, value: Any) -> dict | None:
    """``sites``: exactly ``primary`` and ``recovery``."""
    data = _mapping(rep, value, "sites", ("primary", "recovery"))
    if data is None:
        return None
    return {role: _optional(data.get(role), None, lambda r=role: _site(rep, data[r], f"sites.{r}"))
            for role in ("primary", "recovery")}


# ----------------------------------------------------------------- networks

def _dns_servers(rep: _Report, value: Any, path: str) -> list | None:
    """``dns_servers``: up to 8 distinct IP addresses."""
    items = _list(rep, value, path, 0, MAX_DNS)
    if items is None:
        return None
    parsed = [_ip(rep, item, _item(path, i), "DNS server address") for i, item in enumerate(items)]
    _duplicates(rep, [(_item(path, i), ip) for i, ip in enumerate(parsed)],
                lambda ip, first: f"DNS server {ip} is already listed at {_item(path, first)}")
    return parsed if all(ip is not None for ip in parsed) else None


def _network(rep: _Report, value: Any, path: str) -> dict | None:
    """One ``networks[]`` entry: portgroups, subnets, gateway and DNS."""
    data = _mapping(rep, value, path, ("name", "primary", "recovery", "drill", "primary_subnet",
                                       "recovery_subnet", "recovery_gateway"),
                    ("dns_servers", "primary_gateway", "primary_dns_servers"))
    if data is None:
        return None
    got = {"name": _optional(data.get("name"), None, lambda: _ident(rep, data["name"], _join(path, "name")))}
    for key in ("primary", "recovery", "drill"):
        got[key] = _optional(data.get(key), None, lambda k=key: _object_name(rep, data[k], _join(path, k)))
    for key, what in (("primary_subnet", "primary subnet"), ("recovery_subnet", "recovery subnet")):
        got[key] = _optional(data.get(key), None, lambda k=key, w=what: _cidr(rep, data[k], _join(path, k), w))
    got["recovery_gateway"] = _optional(data.get("recovery_gateway"), None, lambda: _ip(
        rep, data["recovery_gateway"], _join(path, "recovery_gateway"), "gateway address"))
    got["dns_servers"] = _optional(data.get("dns_servers"), [],
                                   lambda: _dns_servers(rep, data["dns_servers"], _join(path, "dns_servers")))
    got["primary_gateway"] = _optional(data.get("primary_gateway"), None, lambda: _ip(
        rep, data["primary_gateway"], _join(path, "primary_gateway"), "gateway address"))
    got["primary_dns_servers"] = _optional(data.get("primary_dns_servers"), [], lambda: _dns_servers(
        rep, data["primary_dns_servers"], _join(path, "primary_dns_servers")))
    _network_addressing(rep, got, path)
    if got["drill"] is not None and got["drill"] == got["recovery"]:
        rep.add(_join(path, "drill"), f"drill portgroup {_show(got['drill'])} is also the recovery portgroup; "
                                      "drills need an isolated portgroup")
    return got


def _network_addressing(rep: _Report, got: dict, path: str) -> None:
    """Versions agree; each gateway is a host address inside its subnet (primary_gateway: primary_subnet)."""
    primary, recovery = got["primary_subnet"], got["recovery_subnet"]
    if primary is not None and recovery is not None and primary.version != recovery.version:
        rep.add(_join(path, "recovery_subnet"),
                f"{recovery} is IPv{recovery.version} but primary_subnet {primary} is IPv{primary.version}")
    for key, subnet_key in (("recovery_gateway", "recovery_subnet"), ("primary_gateway", "primary_subnet")):
        _gateway_in_subnet(rep, got[key], got[subnet_key], _join(path, key), subnet_key)


def _gateway_in_subnet(rep: _Report, gateway: Any, subnet: Any, path: str, subnet_key: str) -> None:
    """A gateway is a host address inside its subnet (nothing to say when either is missing)."""
    if subnet is None or gateway is None:
        return
    if gateway.version != subnet.version or gateway not in subnet:
        rep.add(path, f"gateway {gateway} is outside {subnet_key} {subnet}")
        return
    role = ipmap.reserved_role(gateway, subnet)
    if role:
        rep.add(path, f"gateway {gateway} is the {role} of {subnet_key} {subnet}")


def _overlaps(rep: _Report, networks: list[dict | None], key: str) -> None:
    """Subnets ``key`` of different networks must not overlap."""
    for j, later in enumerate(networks):
        for i in range(j):
            earlier = networks[i]
            if not later or not earlier or later[key] is None or earlier[key] is None:
                continue
            one, two = earlier[key], later[key]
            if one.version == two.version and one.first <= two.last and two.first <= one.last:
                rep.add(_join(_item("networks", j), key),
                        f"{two} overlaps {key} {one} of {_ref('networks', i, earlier['name'])}")
                break


def _networks(rep: _Report, value: Any) -> list | None:
    """``networks``: the network map, with uniqueness and overlap checks."""
    items = _list(rep, value, "networks", 1, MAX_NETWORKS)
    if items is None:
        return None
    nets = [_network(rep, item, _item("networks", i)) for i, item in enumerate(items)]
    _unique(rep, "networks", nets, "name",
            lambda name, first: f"network {_show(name)} is already defined at networks[{first}]")
    _unique(rep, "networks", nets, "primary",
            lambda pg, first: f"portgroup {_show(pg)} is already mapped by "
                              f"{_ref('networks', first, nets[first]['name'])}")
    _overlaps(rep, nets, "primary_subnet")
    _overlaps(rep, nets, "recovery_subnet")
    recovery_pgs = {n["recovery"]: i for i, n in enumerate(nets) if n and n["recovery"] is not None}
    for i, net in enumerate(nets):
        if net and net["drill"] in recovery_pgs and recovery_pgs[net["drill"]] != i:
            first = recovery_pgs[net["drill"]]
            rep.add(_item("networks", i) + ".drill",
                    f"drill portgroup {_show(net['drill'])} is the recovery portgroup of "
                    f"{_ref('networks', first, nets[first]['name'])}; drills need an isolated portgroup")
    return nets


# --------------------------------------------------------------- datastores

def _mount(rep: _Report, value: Any, path: str) -> dict | None:
    """``datastores[].mount``: how the replica is presented (NFS)."""
    data = _mapping(rep, value, path, ("type", "remote_host", "remote_path"), ("local_path",))
    if data is None:
        return None
    return {
        "type": _optional(data.get("type"), None, lambda: _choice(rep, data["type"], _join(path, "type"), MOUNT_TYPES)),
        "remote_host": _optional(data.get("remote_host"), None,
                                 lambda: _host(rep, data["remote_host"], _join(path, "remote_host"))),
        "remote_path": _optional(data.get("remote_path"), None,
                                 lambda: _abs_path(rep, data["remote_path"], _join(path, "remote_path"))),
        "local_path": _optional(data.get("local_path"), None,
                                lambda: _abs_path(rep, data["local_path"], _join(path, "local_path"))),
    }


def _datastore(rep: _Report, value: Any, path: str) -> dict | None:
    """One ``datastores[]`` entry of the storage map."""
    data = _mapping(rep, value, path, ("primary", "recovery", "replication", "mount"))
    if data is None:
        return None
    got = {key: _optional(data.get(key), None, lambda k=key: _object_name(rep, data[k], _join(path, k)))
           for key in ("primary", "recovery")}
    got["replication"] = _optional(data.get("replication"), None,
                                   lambda: _ident(rep, data["replication"], _join(path, "replication")))
    got["mount"] = _optional(data.get("mount"), None, lambda: _mount(rep, data["mount"], _join(path, "mount")))
    return got


def _datastores(rep: _Report, value: Any) -> list | None:
    """``datastores``: the storage map; primaries and replicas used once each."""
    items = _list(rep, value, "datastores", 1, MAX_DATASTORES)
    if items is None:
        return None
    stores = [_datastore(rep, item, _item("datastores", i)) for i, item in enumerate(items)]
    _unique(rep, "datastores", stores, "primary",
            lambda name, first: f"datastore {_show(name)} is already mapped by datastores[{first}]")
    _unique(rep, "datastores", stores, "recovery",
            lambda name, first: f"replica datastore {_show(name)} is already the replica of "
                                f"{_ref('datastores', first, stores[first]['primary'])}")
    return stores


# -------------------------------------------------------------- replication

def _location(rep: _Report, value: Any, path: str) -> dict | None:
    """An rsync ``source``/``target`` or a WAL ``archive``: path and optional host."""
    data = _mapping(rep, value, path, ("path",), ("host",))
    if data is None:
        return None
    return {"path": _optional(data.get("path"), None, lambda: _abs_path(rep, data["path"], _join(path, "path"))),
            "host": _optional(data.get("host"), None, lambda: _host(rep, data["host"], _join(path, "host")))}


def _endpoint(rep: _Report, value: Any, path: str) -> dict | None:
    """A PostgreSQL endpoint: host (or socket directory), port, credentials, database."""
    data = _mapping(rep, value, path, ("host",), ("port", "user", "password", "database"))
    if data is None:
        return None
    return {
        "host": _optional(data.get("host"), None, lambda: _host(rep, data["host"], _join(path, "host"), True)),
        "port": _optional(data.get("port"), DEFAULT_PG_PORT,
                          lambda: _integer(rep, data["port"], _join(path, "port"), 1, 65535)),
        "user": _optional(data.get("user"), None, lambda: _string(rep, data["user"], _join(path, "user"), 63)),
        "password": _optional(data.get("password"), None,
                              lambda: _string(rep, data["password"], _join(path, "password"), MAX_SECRET, True)),
        "database": _optional(data.get("database"), None,
                              lambda: _string(rep, data["database"], _join(path, "database"), 63)),
    }


def _buffer(rep: _Report, data: Mapping, path: str) -> dict:
    """``max_buffer`` as given and ``max_buffer_bytes`` parsed (None when absent)."""
    raw = data.get("max_buffer")
    return {"max_buffer": raw,
            "max_buffer_bytes": _optional(raw, None, lambda: _size(rep, raw, _join(path, "max_buffer")))}


def _rsync_pair(rep: _Report, data: Mapping, path: str) -> dict:
    """Fields of an rsync pair."""
    got = {key: _optional(data.get(key), None, lambda k=key: _location(rep, data[k], _join(path, k)))
           for key in ("source", "target")}
    got["snapshots"] = _optional(data.get("snapshots"), 0,
                                 lambda: _integer(rep, data["snapshots"], _join(path, "snapshots"), 0, MAX_SNAPSHOTS))
    got.update(_buffer(rep, data, path))
    source, target = got["source"], got["target"]
    if source and target and source["path"] and target["path"] and source["host"] == target["host"]:
        one, two = source["path"], target["path"]
        if one == two or two.startswith(one + "/") or one.startswith(two + "/"):
            rep.add(_join(path, "target.path"),
                    f"{_show(two)} overlaps source path {_show(one)} on the same host; "
                    "a pair must not replicate into itself")
    return got


def _postgresql_pair(rep: _Report, data: Mapping, path: str) -> dict:
    """Fields of a PostgreSQL streaming pair."""
    got = {key: _optional(data.get(key), None, lambda k=key: _endpoint(rep, data[k], _join(path, k)))
           for key in ("primary", "standby")}
    got["slot"] = _optional(data.get("slot"), None, lambda: _pattern(rep, data["slot"], _join(path, "slot"), SLOT_RE))
    got["synchronous"] = _optional(data.get("synchronous"), False,
                                   lambda: _boolean(rep, data["synchronous"], _join(path, "synchronous")))
    got.update(_buffer(rep, data, path))
    got["archive"] = _optional(data.get("archive"), None,
                               lambda: _location(rep, data["archive"], _join(path, "archive")))
    primary, standby = got["primary"], got["standby"]
    same = primary and standby and (primary["host"], primary["port"]) == (standby["host"], standby["port"])
    if same and primary["host"]:
        rep.add(_join(path, "standby"), f"is the same endpoint as primary ({primary['host']}:{primary['port']})")
    return got


_ENGINE_KEYS = {
    "rsync": (("source", "target"), ("snapshots", "max_buffer")),
    "postgresql": (("primary", "standby", "slot"), ("synchronous", "max_buffer", "archive")),
}


def _pair(rep: _Report, value: Any, path: str) -> dict | None:
    """One ``replication[]`` entry; its keys depend on its engine."""
    engine = value.get("engine") if isinstance(value, Mapping) else None
    if isinstance(engine, str) and engine in _ENGINE_KEYS:
        required, optional = _ENGINE_KEYS[engine]
        data = _mapping(rep, value, path, ("name", "engine") + required, optional)
    else:
        every = tuple(k for keys in _ENGINE_KEYS.values() for part in keys for k in part)
        data = _mapping(rep, value, path, ("name", "engine"), tuple(dict.fromkeys(every)))
    if data is None:
        return None
    got = {"name": _optional(data.get("name"), None, lambda: _ident(rep, data["name"], _join(path, "name"))),
           "engine": _optional(engine, None, lambda: _choice(rep, engine, _join(path, "engine"), ENGINES))}
    if got["engine"] == "rsync":
        got.update(_rsync_pair(rep, data, path))
    elif got["engine"] == "postgresql":
        got.update(_postgresql_pair(rep, data, path))
    return got


def _replication(rep: _Report, value: Any) -> list | None:
    """``replication``: the pairs, names unique, slots unique per primary server."""
    items = _list(rep, value, "replication", 0, MAX_PAIRS)
    if items is None:
        return None
    pairs = [_pair(rep, item, _item("replication", i)) for i, item in enumerate(items)]
    _unique(rep, "replication", pairs, "name",
            lambda name, first: f"replication pair {_show(name)} is already defined at replication[{first}]")
    slots = []
    for i, pair in enumerate(pairs):
        key = None
        if pair and pair["engine"] == "postgresql" and pair["primary"] and pair["slot"]:
            key = (pair["primary"]["host"], pair["primary"]["port"], pair["slot"])
        slots.append((_item("replication", i) + ".slot", key))
    _duplicates(rep, slots, lambda key, first: f"slot {_show(key[2])} is already used by "
                                               f"{_ref('replication', first, pairs[first]['name'])} "
                                               f"on the same primary {key[0]}:{key[1]}")
    return pairs


# -------------------------------------------------------------------- tiers

def _vm(rep: _Report, value: Any, path: str) -> dict | None:
    """A tier VM entry: a name, or ``{name, recovery_ip, network}``."""
    if isinstance(value, str):
        name = _object_name(rep, value, path)
        return None if name is None else {"name": name, "recovery_ip": None, "network": None, "_path": path}
    if not isinstance(value, Mapping):
        rep.add(path, f"must be a VM name or a mapping with name, recovery_ip and network, {_got(value)}")
        return None
    data = _mapping(rep, value, path, ("name",), ("recovery_ip", "network"))
    got = {"name": _optional(data.get("name"), None, lambda: _object_name(rep, data["name"], _join(path, "name"))),
           "network": _optional(data.get("network"), None,
                                lambda: _ident(rep, data["network"], _join(path, "network"))),
           "recovery_ip": _optional(data.get("recovery_ip"), None, lambda: _ip(
               rep, data["recovery_ip"], _join(path, "recovery_ip"), "IP address")),
           "_path": path, "_explicit": True}
    got["_skip"] = got["name"] is None or any(data.get(k) is not None and got[k] is None
                                              for k in ("network", "recovery_ip"))
    return got


def _names(rep: _Report, value: Any, path: str, check: Callable[[_Report, Any, str], Any]) -> list | None:
    """A list of names, each checked by ``check``; duplicates reported."""
    items = _list(rep, value, path, 0, MAX_TIER_VMS)
    if items is None:
        return None
    names = [check(rep, item, _item(path, i)) for i, item in enumerate(items)]
    _duplicates(rep, [(_item(path, i), n) for i, n in enumerate(names)],
                lambda name, first: f"{_show(name)} is already listed at {_item(path, first)}")
    return names


def _tier(rep: _Report, value: Any, path: str) -> dict | None:
    """One ``tiers[]`` entry: VMs, databases promoted, dependencies."""
    data = _mapping(rep, value, path, ("name",), ("vms", "databases", "depends_on"))
    if data is None:
        return None
    got = {"name": _optional(data.get("name"), None, lambda: _ident(rep, data["name"], _join(path, "name")))}
    vms = _optional(data.get("vms"), [], lambda: _list(rep, data["vms"], _join(path, "vms"), 0, MAX_TIER_VMS))
    got["vms"] = None if vms is None else [_vm(rep, v, _item(_join(path, "vms"), i)) for i, v in enumerate(vms)]
    got["databases"] = _optional(data.get("databases"), [],
                                 lambda: _names(rep, data["databases"], _join(path, "databases"), _ident))
    got["depends_on"] = _optional(data.get("depends_on"), None,
                                  lambda: _names(rep, data["depends_on"], _join(path, "depends_on"), _ident))
    got["_depends_given"] = data.get("depends_on") is not None
    if not data.get("vms") and not data.get("databases") and vms is not None and got["databases"] is not None:
        rep.add(path, "lists neither vms nor databases")
    return got


def _tiers(rep: _Report, value: Any) -> list | None:
    """``tiers``: structure, unique names, each VM in one tier only."""
    items = _list(rep, value, "tiers", 1, MAX_TIERS)
    if items is None:
        return None
    tiers = [_tier(rep, item, _item("tiers", i)) for i, item in enumerate(items)]
    _unique(rep, "tiers", tiers, "name",
            lambda name, first: f"tier {_show(name)} is already defined at tiers[{first}]")
    seen: dict[str, int] = {}
    for index, tier in enumerate(tiers):
        for vm in (tier or {}).get("vms") or []:
            if vm is None or vm["name"] is None:
                continue
            if vm["name"] in seen:
                first = seen[vm["name"]]
                where = _ref("tiers", first, tiers[first]["name"])
                rep.add(vm["_path"], f"VM {_show(vm['name'])} is already in {where}")
            else:
                seen[vm["name"]] = index
    return tiers


# ------------------------------------------------------------- references

def _complete(entries: list | None) -> bool:
    """Every entry of a section has a valid name (so "not defined" is not a cascade)."""
    return entries is not None and all(entry and entry["name"] for entry in entries)


def _pair_index(pairs: list | None) -> dict[str, dict]:
    """Valid replication pairs by name (first definition wins)."""
    index: dict[str, dict] = {}
    for pair in pairs or []:
        if pair and pair["name"] and pair["name"] not in index:
            index[pair["name"]] = pair
    return index


class _Pairs:
    """Valid replication pairs by name, and whether that is every pair of the plan."""

    def __init__(self, pairs: list | None, given: bool) -> None:
        self.by_name = _pair_index(pairs)
        self.complete = _complete(pairs) if given else True


def _check_pair_ref(rep: _Report, path: str, name: str, pairs: _Pairs, engine: str, user: str) -> bool:
    """A reference to a replication pair of ``engine``: exists and has that engine.

    An unknown name is reported only when every pair has a valid name;
    otherwise the section's own problems already explain it.
    """
    pair = pairs.by_name.get(name)
    if pair is None:
        if pairs.complete:
            known = ", ".join(pairs.by_name) or "none"
            rep.add(path, f"replication pair {_show(name)} is not defined (pairs: {known})")
        return False
    if pair["engine"] is not None and pair["engine"] != engine:
        article = "an" if engine == "rsync" else "a"
        rep.add(path, f"replication pair {_show(name)} has engine {pair['engine']}; "
                      f"{user} must name {article} {engine} pair")
        return False
    return True


def _datastore_refs(rep: _Report, stores: list | None, pairs: _Pairs) -> None:
    """``datastores[].replication`` names an rsync pair, each pair used once."""
    used: dict[str, int] = {}
    for i, store in enumerate(stores or []):
        if not store or not store["replication"]:
            continue
        path = _item("datastores", i) + ".replication"
        name = store["replication"]
        if not _check_pair_ref(rep, path, name, pairs, "rsync", "a datastore"):
            continue
        if name in used:
            first = used[name]
            rep.add(path, f"replication pair {_show(name)} already replicates "
                          f"{_ref('datastores', first, stores[first]['primary'])}")
        else:
            used[name] = i


def _database_refs(rep: _Report, tiers: list | None, pairs: _Pairs) -> None:
    """``tiers[].databases`` name postgresql pairs, each promoted in one tier."""
    promoted: dict[str, int] = {}
    for t, tier in enumerate(tiers or []):
        for d, name in enumerate((tier or {}).get("databases") or []):
            if name is None:
                continue
            path = _item(_item("tiers", t) + ".databases", d)
            if not _check_pair_ref(rep, path, name, pairs, "postgresql", "tier databases"):
                continue
            if name in promoted and promoted[name] != t:
                first = promoted[name]
                rep.add(path, f"replication pair {_show(name)} is already promoted in "
                              f"{_ref('tiers', first, tiers[first]['name'])}")
            promoted.setdefault(name, t)


def _dependency_path(graph: dict[str, list[str]], start: str, goal: str) -> list[str] | None:
    """A path ``start -> ... -> goal`` following ``graph`` edges (depth first)."""
    stack, seen = [(start, [start])], {start}
    while stack:
        node, trail = stack.pop()
        if node == goal:
            return trail
        for nxt in reversed(graph.get(node, [])):
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, trail + [nxt]))
    return None


class _TierGraph:
    """Tier positions and ``depends_on`` edges, for reference and cycle checks."""

    def __init__(self, tiers: list) -> None:
        self.position: dict[str, int] = {}
        for i, tier in enumerate(tiers):
            if tier and tier["name"] is not None:
                self.position.setdefault(tier["name"], i)
        self.complete = _complete(tiers)
        self.edges = {t["name"]: [d for d in t["depends_on"] or [] if d in self.position]
                      for i, t in enumerate(tiers) if t and t["name"] is not None and self.position[t["name"]] == i}
        self.cycles_seen: set[frozenset[str]] = set()


def _default_dependencies(tiers: list) -> None:
    """A tier without ``depends_on`` depends on the previous tier."""
    for i, tier in enumerate(tiers):
        if tier and not tier["_depends_given"]:
            previous = tiers[i - 1] if i else None
            tier["depends_on"] = [previous["name"]] if previous and previous["name"] else []


def _dependencies(rep: _Report, tiers: list | None) -> None:
    """``depends_on``: known tiers, earlier ones only; each cycle named once; defaults filled."""
    if not tiers:
        return
    _default_dependencies(tiers)
    graph = _TierGraph(tiers)
    for i, tier in enumerate(tiers):
        if not tier or not tier["_depends_given"] or tier["depends_on"] is None:
            continue
        for d, name in enumerate(tier["depends_on"]):
            if name is not None:
                _check_dependency(rep, _item(_item("tiers", i) + ".depends_on", d), tier["name"], i, name, graph)


def _check_dependency(rep: _Report, path: str, tier_name: str | None, index: int, name: str,
                      graph: _TierGraph) -> None:
    """One ``depends_on`` entry: defined, earlier, and not closing a (new) cycle."""
    position = graph.position
    if name not in position:
        if graph.complete:
            rep.add(path, f"tier {_show(name)} is not defined (tiers: {', '.join(position) or 'none'})")
        return
    if name == tier_name:
        rep.add(path, f"tier {_show(name)} cannot depend on itself (dependency cycle {name} -> {name})")
        return
    if position[name] < index:
        return
    cycle = _dependency_path(graph.edges, name, tier_name) if tier_name is not None else None
    if cycle and frozenset(cycle) not in graph.cycles_seen:
        graph.cycles_seen.add(frozenset(cycle))
        rep.add(path, f"dependency cycle {' -> '.join([tier_name] + cycle)}; depends_on must name earlier tiers")
    else:
        rep.add(path, f"tier {_show(name)} is not an earlier tier (it is tiers[{position[name]}]); "
                      "depends_on must name earlier tiers")


# ------------------------------------------------------------- addressing

def _network_of(vm: dict, networks: list, by_name: dict[str, int]) -> tuple[int, dict] | None:
    """The network (index, entry) an explicit VM entry belongs to, if known."""
    if vm["network"] is not None:
        index = by_name.get(vm["network"])
        return None if index is None else (index, networks[index])
    ip = vm["recovery_ip"]
    for index, net in enumerate(networks):
        subnet = net and net["recovery_subnet"]
        if subnet is not None and ip.version == subnet.version and ip in subnet:
            return index, net
    return None


def _recovery_ip_problem(ip: Any, index: int, net: dict) -> str | None:
    """Why an explicit recovery_ip cannot be used in network ``net`` (or None)."""
    ref = _ref("networks", index, net["name"])
    subnet = net["recovery_subnet"]
    if subnet is None:
        return None
    if ip.version != subnet.version or ip not in subnet:
        return f"recovery_ip {ip} is outside recovery_subnet {subnet} of {ref}"
    role = ipmap.reserved_role(ip, subnet)
    if role:
        return f"recovery_ip {ip} is the {role} of recovery_subnet {subnet} of {ref}"
    if net["recovery_gateway"] is not None and ip == net["recovery_gateway"]:
        return f"recovery_ip {ip} is the recovery_gateway of {ref}"
    if ip in (net["dns_servers"] or []):
        return f"recovery_ip {ip} is a DNS server of {ref}"
    return None


def _dns_of_another(ip: Any, index: int, networks: list) -> str | None:
    """Why ``ip`` collides with a DNS server another network names (its own: _recovery_ip_problem)."""
    for other, net in enumerate(networks):
        if other != index and net and ip in (net["dns_servers"] or []):
            return f"recovery_ip {ip} is a DNS server of {_ref('networks', other, net['name'])}"
    return None


def _readdressing(rep: _Report, networks: list | None, tiers: list | None) -> None:
    """Explicit VM addresses and networks: inside, not reserved, no collisions; prefix rule.

    Skipped when the network map itself is invalid: its own problems say why.
    """
    if networks is None:
        return
    by_name: dict[str, int] = {}
    for index, net in enumerate(networks):
        if net and net["name"]:
            by_name.setdefault(net["name"], index)
    explicit: dict[int, list[dict]] = {}
    used: dict[Any, dict] = {}
    for tier in tiers or []:
        for vm in (tier or {}).get("vms") or []:
            if not vm or not vm.get("_explicit") or vm["_skip"]:
                continue
            _explicit_vm(rep, vm, networks, by_name, explicit, used)
    for index, net in enumerate(networks):
        _prefix_rule(rep, index, net, explicit.get(index, []))


def _explicit_vm(rep: _Report, vm: dict, networks: list, by_name: dict[str, int],
                 explicit: dict[int, list[dict]], used: dict[Any, dict]) -> None:
    """Check one VM entry given as a mapping and remember it by network."""
    if vm["network"] is not None and vm["network"] not in by_name:
        if _complete(networks):
            rep.add(vm["_path"] + ".network",
                    f"network {_show(vm['network'])} is not defined (networks: {', '.join(by_name) or 'none'})")
        return
    if vm["recovery_ip"] is None:
        if vm["network"] is not None:
            explicit.setdefault(by_name[vm["network"]], []).append(vm)
        return
    found = _network_of(vm, networks, by_name)
    if found is None:
        rep.add(vm["_path"] + ".recovery_ip",
                f"recovery_ip {vm['recovery_ip']} is not inside any recovery_subnet of networks")
        return
    index, net = found
    explicit.setdefault(index, []).append(vm)
    problem = (_recovery_ip_problem(vm["recovery_ip"], index, net)
               or _dns_of_another(vm["recovery_ip"], index, networks))
    if problem:
        rep.add(vm["_path"] + ".recovery_ip", problem)
        return
    other = used.get(vm["recovery_ip"])
    if other is not None:
        rep.add(vm["_path"] + ".recovery_ip", f"recovery_ip {vm['recovery_ip']} is already used by VM "
                                              f"{_show(other['name'])} ({other['_path']})")
        return
    used[vm["recovery_ip"]] = vm
    vm["network"] = net["name"]


def _prefix_rule(rep: _Report, index: int, net: dict | None, vms: list[dict]) -> None:
    """Different prefix lengths need an explicit recovery_ip on every VM of the network."""
    if not net or net["primary_subnet"] is None or net["recovery_subnet"] is None:
        return
    primary, recovery = net["primary_subnet"], net["recovery_subnet"]
    if primary.version != recovery.version or primary.prefixlen == recovery.prefixlen:
        return
    change = f"networks[{index}] ({net['name']}) re-addresses /{primary.prefixlen} to /{recovery.prefixlen}"
    if not vms:
        rep.add(_item("networks", index) + ".recovery_subnet",
                f"prefix length /{recovery.prefixlen} differs from primary_subnet {primary}; this needs an "
                f"explicit recovery_ip on every VM of network {_show(net['name'])}, and no VM has one")
        return
    for vm in vms:
        if vm["recovery_ip"] is None:
            rep.add(vm["_path"], f"VM {_show(vm['name'])} needs an explicit recovery_ip: {change}")


# ---------------------------------------------------------------- the plan

_TOP_REQUIRED = ("name", "objectives", "sites", "networks", "datastores", "tiers")
_TOP_OPTIONAL = ("change_window", "replication")


def _plain_network(net: dict) -> dict:
    """A network entry with addresses as strings."""
    return {**net, "primary_subnet": str(net["primary_subnet"]), "recovery_subnet": str(net["recovery_subnet"]),
            "recovery_gateway": str(net["recovery_gateway"]), "dns_servers": [str(ip) for ip in net["dns_servers"]],
            "primary_gateway": None if net["primary_gateway"] is None else str(net["primary_gateway"]),
            "primary_dns_servers": [str(ip) for ip in net["primary_dns_servers"]]}


def _plain_tier(tier: dict) -> dict:
    """A tier entry without bookkeeping keys, VM addresses as strings."""
    vms = [{"name": vm["name"], "recovery_ip": None if vm["recovery_ip"] is None else str(vm["recovery_ip"]),
            "network": vm["network"]} for vm in tier["vms"]]
    return {"name": tier["name"], "vms": vms, "databases": list(tier["databases"]),
            "depends_on": list(tier["depends_on"])}


def _normalised(parts: dict) -> dict:
    """Assemble the normalised plan from clean parts."""
    tiers = [_plain_tier(t) for t in parts["tiers"]]
    return {
        "name": parts["name"],
        "objectives": parts["objectives"],
        "change_window": parts["change_window"],
        "sites": parts["sites"],
        "networks": [_plain_network(n) for n in parts["networks"]],
        "datastores": parts["datastores"],
        "replication": parts["replication"],
        "tiers": tiers,
        "tier_order": [t["name"] for t in tiers],
        "vm_index": {vm["name"]: t["name"] for t in tiers for vm in t["vms"]},
    }


def validate(plan: Any) -> tuple[dict | None, list[Problem]]:
    """Validate and normalise a recovery plan.

    :returns: ``(normalised, [])`` for a clean plan, ``(None, problems)``
        otherwise, every problem found, in the plan's order.
    """
    rep = _Report()
    data = _mapping(rep, plan, "", _TOP_REQUIRED, _TOP_OPTIONAL)
    if data is None:
        return None, rep.problems
    sections: dict[str, Callable[[_Report, Any], Any]] = {
        "objectives": _objectives, "change_window": _change_window, "sites": _sites,
        "networks": _networks, "datastores": _datastores, "replication": _replication, "tiers": _tiers,
    }
    defaults = {"change_window": None, "replication": []}
    parts: dict[str, Any] = {"name": _optional(data.get("name"), None, lambda: _ident(rep, data["name"], "name"))}
    for key, check in sections.items():
        parts[key] = _optional(data.get(key), defaults.get(key), lambda k=key, c=check: c(rep, data[k]))
    pairs = _Pairs(parts["replication"], data.get("replication") is not None)
    _datastore_refs(rep, parts["datastores"], pairs)
    _database_refs(rep, parts["tiers"], pairs)
    _dependencies(rep, parts["tiers"])
    _readdressing(rep, parts["networks"], parts["tiers"])
    if rep.problems:
        return None, rep.problems
    return _normalised(parts), []


def mask_secrets(plan: Any, keys: frozenset[str] = frozenset({"password"})) -> Any:
    """A deep copy of ``plan`` with the value of every ``password`` key (any depth) masked.

    Absent (null) passwords stay null so a report does not suggest one is set.
    """
    if isinstance(plan, Mapping):
        return {key: (MASK if key in keys and value is not None else mask_secrets(value, keys))
                for key, value in plan.items()}
    if isinstance(plan, (list, tuple)):
        return [mask_secrets(item, keys) for item in plan]
    return copy.deepcopy(plan)

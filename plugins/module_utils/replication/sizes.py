# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sizes with units, as the recovery plan and PostgreSQL write them (binary multiples)."""

from __future__ import annotations

import re

from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput

_SIZE_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?([A-Za-z]*)")
_UNITS = {"": 1, "b": 1, "kb": 1024, "kib": 1024, "mb": 1024 ** 2, "mib": 1024 ** 2,
          "gb": 1024 ** 3, "gib": 1024 ** 3, "tb": 1024 ** 4, "tib": 1024 ** 4}


def parse_size(value):
    """``'1GB'``, ``'512 MB'``, ``0.5GB`` or an int (bytes) -> bytes; None stays None."""
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise InvalidInput("a size must be a number of bytes or a string such as 1GB, got %r" % (value,))
    if isinstance(value, int):
        return value
    match = _SIZE_RE.fullmatch(str(value).strip())
    if not match or match.group(2).lower() not in _UNITS:
        raise InvalidInput("a size must be such as 512MB, 1GB or '1 TB', got %r" % (value,))
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def pg_setting_bytes(setting, unit):
    """A pg_settings (setting, unit) pair -> bytes; ``-1`` (unlimited) -> None."""
    if setting in (None, "") or str(setting) == "-1":
        return None
    unit = (unit or "").strip()
    factor = 1
    match = re.fullmatch(r"([0-9]*)\s*([A-Za-z]*)", unit)
    if match:
        factor = int(match.group(1) or 1) * _UNITS.get(match.group(2).lower(), 1)
    return int(setting) * factor

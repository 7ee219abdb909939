# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL WAL positions (LSNs): ``'16/B374D848'`` <-> int."""

from __future__ import annotations


def parse(text):
    """``'X/Y'`` -> int; None stays None."""
    if text in (None, ""):
        return None
    high, low = str(text).split("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(value):
    """int -> ``'X/Y'``."""
    if value is None:
        return None
    return "%X/%X" % (value >> 32, value & 0xFFFFFFFF)


def diff(newer, older):
    """Bytes between two LSN strings (``newer - older``), or None when either is unknown."""
    a, b = parse(newer), parse(older)
    if a is None or b is None:
        return None
    return a - b

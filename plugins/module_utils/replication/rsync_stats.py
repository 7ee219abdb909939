# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse ``rsync --stats --itemize-changes`` output (pure)."""

from __future__ import annotations

import re

_FIELDS = {
    "Number of files": "files",
    "Number of created files": "created_files",
    "Number of deleted files": "deleted_files",
    "Number of regular files transferred": "files_transferred",
    "Total file size": "total_file_size",
    "Total transferred file size": "transferred_file_size",
    "Literal data": "literal_data",
    "Matched data": "matched_data",
    "File list size": "file_list_size",
    "Total bytes sent": "bytes_sent",
    "Total bytes received": "bytes_received",
}
_LINE = re.compile(r"^([A-Za-z ]+?):\s+([0-9][0-9,.]*)")
_ITEM = re.compile(r"^(\*deleting|[<>ch.*][fdLDS][^ ]{9})\s+(.*)$")


def parse(text):
    """{files, deleted_files, files_transferred, total_file_size, literal_data, bytes_sent, ..., items}."""
    stats = {name: 0 for name in _FIELDS.values()}
    items = []
    for line in (text or "").splitlines():
        match = _LINE.match(line.strip())
        if match and match.group(1) in _FIELDS:
            stats[_FIELDS[match.group(1)]] = int(match.group(2).replace(",", "").split(".")[0])
            continue
        item = _ITEM.match(line.rstrip())
        if item:
            items.append({"change": item.group(1), "path": item.group(2)})
    stats["items"] = items
    return stats


def changes(stats):
    """Itemized entries that change the destination (transfers, creations, deletions, attribute changes)."""
    out = []
    for item in stats["items"]:
        change = item["change"]
        if change.startswith(".d"):
            continue  # a directory's attributes only (its mtime): no data pending
        if change.startswith(".") and not set(change[2:]) - {"."}:
            continue
        out.append(item)
    return out


def attribute_only_files(stats):
    """Paths of existing regular files whose attributes alone rsync would change (``.f`` items)."""
    return [i["path"] for i in stats["items"] if i["change"][:2] == ".f" and set(i["change"][2:]) - {"."}]

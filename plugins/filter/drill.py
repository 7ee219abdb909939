# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drill's ``drill_fingerprint`` and ``drill_compare`` filters (docs: drill_fingerprint.yml, drill_compare.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.continuity.recovery.plugins.module_utils import drill


def _mapping(value, what):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AnsibleFilterError("drill_fingerprint: %s must be a dict of pair name -> result" % what)
    return value


def drill_fingerprint(site, databases=None, replication=None, vms=None):
    """site_info (primary) + database_info and replication_info per pair -> the production fingerprint."""
    if site is not None and not isinstance(site, dict):
        raise AnsibleFilterError("drill_fingerprint: the input must be a site_info result (dict)")
    if vms is not None and not isinstance(vms, (list, tuple)):
        raise AnsibleFilterError("drill_fingerprint: vms must be a list of VM names")
    try:
        return drill.fingerprint(site, _mapping(databases, "databases"), _mapping(replication, "replication"),
                                 list(vms) if vms else None)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise AnsibleFilterError("drill_fingerprint: malformed input (a site_info result, and database_info / "
                                 "replication_info results per pair, are expected): %s: %s"
                                 % (type(exc).__name__, exc), orig_exc=exc)


def drill_compare(before, after):
    """Two production fingerprints -> unchanged, differences, LSN progress."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        raise AnsibleFilterError("drill_compare: both fingerprints must be dicts (from drill_fingerprint)")
    try:
        return drill.compare(before, after)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise AnsibleFilterError("drill_compare: malformed fingerprint: %s: %s" % (type(exc).__name__, exc),
                                 orig_exc=exc)


class FilterModule:
    """Drill fingerprints."""

    def filters(self):
        return {"drill_fingerprint": drill_fingerprint, "drill_compare": drill_compare}

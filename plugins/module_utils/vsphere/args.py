# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one argument spec of the vsphere connection family.

Matches the doc fragment ``continuity.recovery.vsphere`` option for option.
Users set these once for every module of the action group with
``module_defaults: {group/continuity.recovery.vsphere: {...}}``.
"""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback


def vsphere_argument_spec() -> dict:
    """The connection options every vsphere-group module accepts."""
    return dict(
        hostname=dict(type="str", required=True, fallback=(env_fallback, ["VMWARE_HOST"])),
        port=dict(type="int", default=443, fallback=(env_fallback, ["VMWARE_PORT"])),
        username=dict(type="str", required=True, aliases=["user", "admin"],
                      fallback=(env_fallback, ["VMWARE_USER"])),
        password=dict(type="str", required=True, no_log=True, aliases=["pass", "pwd"],
                      fallback=(env_fallback, ["VMWARE_PASSWORD"])),
        validate_certs=dict(type="bool", default=True,
                            fallback=(env_fallback, ["VMWARE_VALIDATE_CERTS"])),
    )


def session_kwargs(params: dict) -> dict:
    """Keyword arguments of ``session.Session`` from validated module parameters."""
    return dict(hostname=params["hostname"], port=params["port"], username=params["username"],
                password=params["password"], validate_certs=params["validate_certs"])

# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Connection options shared by every module of the vsphere action group."""

    DOCUMENTATION = r"""
options:
  hostname:
    description:
      - Host name or IP address of the vCenter Server.
      - If not set, the environment variable E(VMWARE_HOST) is used.
    type: str
    required: true
  port:
    description:
      - TCP port of the vCenter Server API.
      - If not set, the environment variable E(VMWARE_PORT) is used.
    type: int
    default: 443
  username:
    description:
      - vCenter user to log in as.
      - If not set, the environment variable E(VMWARE_USER) is used.
    type: str
    required: true
    aliases: [user, admin]
  password:
    description:
      - Password of O(username).
      - If not set, the environment variable E(VMWARE_PASSWORD) is used.
      - Never written to results or evidence.
    type: str
    required: true
    aliases: [pass, pwd]
  validate_certs:
    description:
      - Verify the vCenter's TLS certificate against the system trust store.
      - Set to V(false) only for lab or self-signed endpoints; an explicit V(false)
        is always honoured, also for C(localhost).
      - If not set, the environment variable E(VMWARE_VALIDATE_CERTS) is used.
    type: bool
    default: true
notes:
  - All modules of this connection family can share their connection options through
    C(module_defaults) with the action group C(group/continuity.recovery.vsphere).
  - Requires the C(pyvmomi) Python library on the host that runs the module
    (usually the controller, by delegating the task to C(localhost)).
requirements:
  - pyvmomi >= 8.0
"""

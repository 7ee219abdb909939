# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``SafeModule``: an AnsibleModule that masks secrets nested in dict options.

A recovery plan passed as a module option (``plan``) carries the vCenter and
database passwords of both sites. Options declared ``no_log`` are masked by
Ansible, but a ``dict`` option cannot be ``no_log`` without masking every value
in it (VM names, hosts). ``SafeModule`` adds the values of every secret-named
key (the keys ``evidence.redact`` masks: ``password``, ``*_password``, ``token``,
...) at any depth of the module's parameters to ``no_log_values`` as soon as the
parameters are loaded, before argument validation, so that no result, failure
(including a validation failure), invocation echo, log line or AWX job event
carries them.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.continuity.recovery.plugins.module_utils.evidence import secret_values


class SafeModule(AnsibleModule):
    """AnsibleModule whose nested secret values are no_log values from the start."""

    def _load_params(self):
        super()._load_params()
        self.no_log_values.update(secret_values(self.params))

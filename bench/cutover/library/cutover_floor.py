# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""bench/cutover (e): the floor's own code (floor.takeover) run as one Ansible module.

Not part of the collection (bench/ is left out of the build): a stand-in that adds
nothing to the floor but what running any module costs - ansible-playbook's start-up,
templating the arguments, the AnsiballZ payload, the module's interpreter and
``ansible.module_utils.basic``, the result's way back and the callbacks. Its time is the
lowest (a) any module doing this takeover could reach on this machine. The playbook
next to this directory (floor_module.yml) finds it as a playbook-adjacent ``library``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type  # pylint: disable=invalid-name

import sys

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: cutover_floor
short_description: bench/cutover (e) - the floor's takeover as one module task
description: Imports C(floor.py) from O(floor_dir) and runs its C(takeover) on O(cfg).
options:
  floor_dir:
    description: Directory holding C(floor.py) (bench/cutover).
    type: path
    required: true
  cfg:
    description: The floor's input, as run.py writes it to C(floor.json).
    type: dict
    required: true
author: continuity.recovery contributors
"""


def main():
    module = AnsibleModule(argument_spec={"floor_dir": {"type": "path", "required": True},
                                          "cfg": {"type": "dict", "required": True}})
    sys.path.insert(0, module.params["floor_dir"])  # bench/cutover, for floor.py
    import floor  # pylint: disable=import-error,import-outside-toplevel
    floor.takeover(module.params["cfg"])
    module.exit_json(changed=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: recovery_plan
short_description: Validate and normalise a recovery plan before anything changes
version_added: 0.1.0
description:
  - "The preflight of every lifecycle role. Checks a recovery plan (schema in
    C(docs/plan.md)) as a whole and reports B(all) problems at once, each
    naming its path in the plan, for example
    C(tiers[1].vms[0]: VM 'app09' not found at site primary)."
  - The live checks run once the plan's structure is valid (they need the
    structure to know what to look for); structural problems are reported
    together, then live problems together.
  - "Structure: types, required and unknown keys, names, uniqueness, references
    between networks, datastores, replication pairs and tiers, tier
    dependencies without cycles, objectives, the change window."
  - "Re-addressing (netaddr): subnets, gateways inside their subnet, explicit
    recovery addresses inside the recovery subnet, no two VMs on one recovered
    address, no overlapping subnets."
  - "Live (O(live=true)): both vCenters answer; datacenters, clusters,
    portgroups and datastores exist where the plan says; every protected VM
    exists at the primary site with its primary IP inside the primary subnet of
    its network; the primary database endpoints answer. Facts are read with
    M(continuity.recovery.site_info) and M(continuity.recovery.database_info)."
  - Read-only at both sites. Fails when there is any problem.
author:
  - continuity.recovery engineers (@continuity-recovery)
options:
  plan:
    description: The recovery plan (usually C({{ recovery_plan }})).
    type: raw
    required: true
  live:
    description: Also check the plan against both live sites and the database endpoints.
    type: bool
    default: true
  sites:
    description:
      - With O(live=true), the sites checked live. An emergency takeover checks only V(recovery) - the
        primary site may be gone; its vCenter, VMs, portgroups and datastores and the primary database
        endpoints are then not looked at (and not reported).
    type: list
    elements: str
    choices: [primary, recovery]
    default: [primary, recovery]
  databases:
    description:
      - With O(live=true), also check that the primary database endpoints answer. A takeover checks
        its databases itself (a pair already promoted has a fenced, stopped primary).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Never changes anything.
  action:
    support: full
    description: Runs on the controller as an action plugin; live facts are read by modules on the target host.
notes:
  - This module is an action plugin; the file here carries its documentation.
seealso:
  - module: continuity.recovery.site_info
  - module: continuity.recovery.database_info
"""

EXAMPLES = r"""
- name: Preflight
  continuity.recovery.recovery_plan:
    plan: "{{ recovery_plan }}"
  register: preflight

- name: Only the recovery site must answer (emergency takeover)
  continuity.recovery.recovery_plan:
    plan: "{{ recovery_plan }}"
    sites: [recovery]

- name: Structure only (no connection to the sites)
  continuity.recovery.recovery_plan:
    plan: "{{ recovery_plan }}"
    live: false
"""

RETURN = r"""
plan:
  description: The normalised plan (defaults filled in, VM entries as dicts, C(vm_index)), with passwords masked.
  returned: when the structure could be normalised
  type: dict
problems:
  description: "Every problem found, each as C(path: message)."
  returned: always
  type: list
  elements: str
  sample: ["tiers[1].vms[0]: VM 'app09' not found at site primary"]
checked:
  description: Which checks ran (V(structure), V(live)).
  returned: always
  type: list
  elements: str
sites:
  description: Per checked site, whether it answered and how many VMs, portgroups and datastores it reported.
  returned: when O(live=true) and the structure was valid
  type: dict
checked_sites:
  description: The sites checked live (O(sites)).
  returned: when O(live=true) and the structure was valid
  type: list
  elements: str
"""

# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Preflight of a recovery plan on the controller (docs: modules/recovery_plan.py).

1. Structure, references and re-addressing (module_utils/plan.py, pure).
2. Against the live sites (module_utils/plan_sites.py) with facts gathered by the
   collection's own read-only modules: site_info at each site, database_info at
   every database endpoint.
All problems are reported at once; nothing is changed anywhere.
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.continuity.recovery.plugins.module_utils import plan as plan_model
from ansible_collections.continuity.recovery.plugins.module_utils import plan_sites
from ansible_collections.continuity.recovery.plugins.module_utils.site_facts import (
    database_facts,
    failed_site,
    site_facts,
)
from ansible_collections.continuity.recovery.plugins.plugin_utils.action_arguments import validated_arguments

ARGUMENT_SPEC = dict(
    plan=dict(type="raw", required=True),
    live=dict(type="bool", default=True),
    sites=dict(type="list", elements="str", choices=["primary", "recovery"], default=["primary", "recovery"]),
    databases=dict(type="bool", default=True),
)

_SITE_INFO = "continuity.recovery.site_info"
_DATABASE_INFO = "continuity.recovery.database_info"


class ActionModule(ActionBase):
    """Validate and normalise a recovery plan; fail with every problem by path."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = validated_arguments("recovery_plan", ARGUMENT_SPEC, self._task.args)

        normalised, problems = plan_model.validate(args["plan"])
        result["checked"] = ["structure"]
        if normalised is not None and args["live"]:
            wanted = [s for s in ("primary", "recovery") if s in args["sites"]]
            if not wanted:
                raise AnsibleActionFail("recovery_plan: sites must name at least one site when live=true")
            facts = self._gather_facts(normalised, task_vars, wanted, args["databases"])
            live = only_sites(plan_sites.check(normalised, facts), wanted)
            if not args["databases"]:
                live = [p for p in live if not re.match(r"^replication\[\d+\]\.primary$", p.path)]
            problems = list(problems) + live
            result["checked"].append("live")
            result["checked_sites"] = wanted
            result["sites"] = {name: _site_summary(facts[name]) for name in wanted}

        result["problems"] = [str(p) for p in problems]
        result["changed"] = False
        if normalised is not None:
            result["plan"] = plan_model.mask_secrets(normalised)
        if problems:
            result["failed"] = True
            result["msg"] = "recovery plan has %d problem%s:\n%s" % (
                len(problems), "" if len(problems) == 1 else "s",
                "\n".join("- %s" % p for p in result["problems"]))
        else:
            result["msg"] = "recovery plan %r is valid" % normalised["name"]
        return result

    def _gather_facts(self, plan, task_vars, wanted=("primary", "recovery"), databases=True):
        facts = {"databases": {}}
        vms_by_site = {"primary": sorted(plan["vm_index"]), "recovery": []}
        for site_name in wanted:
            site = plan["sites"][site_name]
            args = _site_info_args(site, vms_by_site[site_name])
            info = self._run(_SITE_INFO, args, task_vars)
            facts[site_name] = failed_site(info) if info.get("failed") else site_facts(info)
        for pair in plan.get("replication", []):
            if pair["engine"] != "postgresql" or "primary" not in wanted or not databases:
                continue  # database_info reads the primary endpoints only
            facts["databases"][pair["name"]] = {
                side: database_facts(self._run(_DATABASE_INFO, dict(_pg_args(pair[side]), allow_unreachable=True),
                                               task_vars))
                for side in ("primary", "standby") if pair.get(side)
            }
        return facts

    def _run(self, module, module_args, task_vars):
        return self._execute_module(module_name=module, module_args=module_args, task_vars=task_vars)


def only_sites(problems, wanted):
    """The live problems that concern the checked sites (an unchecked site's facts are simply absent).

    Unchecked primary: its vCenter, its VMs, portgroups and datastores and the primary database
    endpoints are not looked at (an emergency takeover: the primary site may be gone).
    """
    skipped = [s for s in ("primary", "recovery") if s not in wanted]
    out = []
    for problem in problems:
        path = problem.path
        if any(path.startswith("sites.%s." % s) for s in skipped):
            continue
        if "primary" in skipped and (re.match(r"^replication\[\d+\]\.primary$", path)
                                     or re.match(r"^(networks|datastores)\[\d+\]\.primary$", path)
                                     or re.match(r"^tiers\[\d+\]\.vms\[\d+\]", path)):
            continue
        if "recovery" in skipped and re.match(r"^networks\[\d+\]\.(recovery|drill)$", path):
            continue
        out.append(problem)
    return out


def _site_info_args(site, vms):
    """site_info options of a site: unset connection values are left out, so the module's env fallbacks apply."""
    args = {k: v for k, v in site["vcenter"].items() if k != "name" and v is not None}
    return dict(args, datacenter=site["datacenter"], vms=vms)


def _pg_args(endpoint):
    mapping = {"host": "login_host", "port": "login_port", "user": "login_user",
               "password": "login_password", "database": "login_db", "ssl_mode": "ssl_mode"}
    return {mapping[k]: v for k, v in endpoint.items() if k in mapping and v is not None}


def _site_summary(site):
    return {
        "reachable": site.get("reachable"),
        "error": site.get("error"),
        "vms": len(site.get("vms", {})),
        "portgroups": len(site.get("portgroups", [])),
        "datastores": len(site.get("datastores", [])),
    }

"""docs/awx/controller.yml stays true to the playbooks, roles and the awx.awx module options.

No AWX here: the checks are what a Controller would refuse or, worse, accept and
then run wrongly - a job template on a playbook that does not exist, a survey
variable that no role of the playbook reads (a typo silently ignored), a survey
type that does not match the role's argument spec (an integer question for a
str option, a free-text boolean), a nested variable asked at launch, a workflow
node naming a template that is not defined, an option name the awx.awx module
does not have.
"""

from __future__ import annotations

import os
import re
import sys

import pytest
import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "helpers"))
import task_files  # noqa: E402  pylint: disable=wrong-import-position
CONTROLLER = os.path.join(REPO_ROOT, "docs", "awx", "controller.yml")

# Options of the awx.awx (= ansible.controller) modules used here, from their documentation
# (awx.awx 24; the connection options controller_host etc. are left out).
MODULE_OPTIONS = {
    "controller_execution_environments": {"name", "new_name", "image", "description", "organization", "credential",
                                          "pull", "state"},
    "controller_credential_types": {"name", "new_name", "description", "kind", "inputs", "injectors", "state"},
    "controller_credentials": {"name", "new_name", "copy_from", "description", "organization", "credential_type",
                               "inputs", "user", "team", "update_secrets", "state"},
    "controller_projects": {"name", "new_name", "copy_from", "description", "scm_type", "scm_url", "local_path",
                            "scm_branch", "scm_refspec", "credential", "scm_clean", "scm_delete_on_update",
                            "scm_track_submodules", "scm_update_on_launch", "scm_update_cache_timeout",
                            "allow_override", "timeout", "default_environment", "custom_virtualenv", "organization",
                            "state", "wait", "update_project", "interval", "signature_validation_credential"},
    "controller_inventories": {"name", "new_name", "copy_from", "description", "organization", "variables", "kind",
                               "host_filter", "instance_groups", "prevent_instance_group_fallback", "input_inventories",
                               "state"},
    "controller_inventory_sources": {"name", "new_name", "description", "inventory", "organization", "source",
                                     "source_path", "source_vars", "scm_branch", "enabled_var", "enabled_value",
                                     "host_filter", "limit", "credential", "execution_environment", "overwrite",
                                     "overwrite_vars", "custom_virtualenv", "timeout", "verbosity", "update_on_launch",
                                     "update_cache_timeout", "source_project", "notification_templates_started",
                                     "notification_templates_success", "notification_templates_error", "state"},
    "controller_templates": {"name", "new_name", "copy_from", "description", "organization", "job_type", "inventory",
                             "project", "playbook", "credentials", "execution_environment", "forks", "limit",
                             "verbosity", "extra_vars", "job_tags", "force_handlers", "skip_tags", "start_at_task",
                             "diff_mode", "timeout", "use_fact_cache", "host_config_key", "ask_scm_branch_on_launch",
                             "ask_diff_mode_on_launch", "ask_variables_on_launch", "ask_limit_on_launch",
                             "ask_tags_on_launch", "ask_skip_tags_on_launch", "ask_job_type_on_launch",
                             "ask_verbosity_on_launch", "ask_inventory_on_launch", "ask_credential_on_launch",
                             "ask_execution_environment_on_launch", "ask_forks_on_launch", "ask_instance_groups_on_launch",
                             "ask_job_slice_count_on_launch", "ask_labels_on_launch", "ask_timeout_on_launch",
                             "survey_enabled", "survey_spec", "become_enabled", "allow_simultaneous", "instance_groups",
                             "scm_branch", "labels", "job_slice_count", "webhook_service", "webhook_credential",
                             "notification_templates_started", "notification_templates_success",
                             "notification_templates_error", "prevent_instance_group_fallback", "state"},
    "controller_workflows": {"name", "new_name", "copy_from", "description", "extra_vars", "organization",
                             "allow_simultaneous", "ask_variables_on_launch", "inventory", "limit", "scm_branch",
                             "ask_inventory_on_launch", "ask_scm_branch_on_launch", "ask_limit_on_launch",
                             "ask_labels_on_launch", "ask_skip_tags_on_launch", "ask_tags_on_launch", "webhook_service",
                             "webhook_credential", "survey_enabled", "survey_spec", "labels", "workflow_nodes",
                             "destroy_current_nodes", "notification_templates_started",
                             "notification_templates_success", "notification_templates_error",
                             "notification_templates_approvals", "job_tags", "skip_tags", "state"},
}
NODE_KEYS = {"identifier", "unified_job_template", "related", "extra_data", "inventory", "scm_branch", "job_type",
             "job_tags", "skip_tags", "limit", "diff_mode", "verbosity", "all_parents_must_converge", "state"}
EDGES = ("success_nodes", "failure_nodes", "always_nodes")
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
BOOL_CHOICES = {"true", "false"}


def _load():
    with open(CONTROLLER, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


CONFIG = _load()
TEMPLATES = {t["name"]: t for t in CONFIG["controller_templates"]}


def _roles_of(playbook: str) -> list[str]:
    """Short names of the collection roles a playbook runs (roles:, include_role, import_role)."""
    with open(os.path.join(REPO_ROOT, playbook), encoding="utf-8") as handle:
        plays = yaml.safe_load(handle)
    found = []
    for play in plays:
        found += [role["role"] if isinstance(role, dict) else role for role in play.get("roles", [])]
        found += [task[key]["name"] for task in task_files.document_tasks([play])
                  for key in ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role")
                  if key in task]
    return [r.split(".")[-1] for r in found if r.startswith("continuity.recovery.")]


def _role_options(role: str) -> dict:
    with open(os.path.join(REPO_ROOT, "roles", role, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["argument_specs"]["main"]["options"]


def _playbook_vars(playbook: str) -> set:
    """Variables a playbook reads itself (its own documented extra vars, e.g. lifecycle's run id override)."""
    with open(os.path.join(REPO_ROOT, playbook), encoding="utf-8") as handle:
        return set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*\|\s*default", handle.read()))


@pytest.mark.parametrize("section", sorted(MODULE_OPTIONS))
def test_items_use_only_the_module_options(section: str) -> None:
    items = CONFIG.get(section)
    assert items, "%s is empty" % section
    for item in items:
        unknown = set(item) - MODULE_OPTIONS[section]
        assert not unknown, "%s %r: not an option of the module: %s" % (section, item.get("name"), sorted(unknown))


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_job_template_runs_a_playbook_of_this_repository(name: str) -> None:
    template = TEMPLATES[name]
    assert os.path.isfile(os.path.join(REPO_ROOT, template["playbook"])), template["playbook"]
    assert _roles_of(template["playbook"]), "%s runs no continuity.recovery role" % template["playbook"]
    assert template["project"] in {p["name"] for p in CONFIG["controller_projects"]}
    assert template["inventory"] in {i["name"] for i in CONFIG["controller_inventories"]}
    assert template["execution_environment"] in {e["name"] for e in CONFIG["controller_execution_environments"]}
    assert set(template["credentials"]) <= {c["name"] for c in CONFIG["controller_credentials"]}
    # nothing nested is set at template level either: the plan comes from the inventory
    assert all(isinstance(v, (str, int, float, bool)) for v in (template.get("extra_vars") or {}).values())
    assert template["allow_simultaneous"] is False


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_survey_sets_scalar_role_variables_of_matching_type(name: str) -> None:
    template = TEMPLATES[name]
    survey = template.get("survey_spec") or {}
    assert template.get("survey_enabled") is bool(survey.get("spec"))
    options = {}
    for role in _roles_of(template["playbook"]):
        options.update(_role_options(role))
    own = _playbook_vars(template["playbook"])
    seen = set()
    for question in survey.get("spec", []):
        var, kind = question["variable"], question["type"]
        assert var not in seen, "%s: %s asked twice" % (name, var)
        seen.add(var)
        assert kind in SURVEY_TYPES and kind != "multiselect", "%s: %s: type %s" % (name, var, kind)
        assert question["question_name"] and isinstance(question["required"], bool)
        if var not in options:
            assert var in own, "%s: survey variable %s is read by no role of %s" % (name, var, template["playbook"])
            continue
        spec = options[var]
        assert not spec.get("required"), "%s: %s is required by the role: it must not depend on a survey" % (name, var)
        spec_type = spec.get("type", "str")
        if kind == "integer":
            assert spec_type == "int", (name, var, spec_type)
            assert isinstance(question["default"], int) and question["min"] <= question["default"] <= question["max"]
        elif kind == "float":
            assert spec_type == "float", (name, var, spec_type)
        elif kind == "multiplechoice":
            choices = set(question["choices"])
            assert question.get("default") in choices, (name, var)
            if spec_type == "bool":
                assert choices == BOOL_CHOICES, (name, var, choices)
                assert str(spec.get("default", False)).lower() == question["default"], \
                    "%s: %s defaults differ from the role (%s)" % (name, var, spec.get("default"))
            else:
                assert spec_type == "str" and set(spec.get("choices", choices)) >= choices, (name, var)
                assert spec.get("default") in (None, question["default"]), (name, var)
        else:
            assert spec_type in ("str", "path"), (name, var, spec_type)
        if kind == "integer" and "default" in spec:
            assert spec["default"] == question["default"], "%s: %s defaults differ from the role" % (name, var)


def test_workflows_link_defined_templates_and_nodes() -> None:
    workflows = CONFIG["controller_workflows"]
    assert workflows
    for workflow in workflows:
        nodes = {n["identifier"]: n for n in workflow["workflow_nodes"]}
        assert len(nodes) == len(workflow["workflow_nodes"]), "duplicate identifiers in %s" % workflow["name"]
        targets = set()
        for node in nodes.values():
            assert set(node) <= NODE_KEYS, (workflow["name"], node["identifier"], set(node) - NODE_KEYS)
            ujt = node["unified_job_template"]
            if ujt["type"] == "job_template":
                assert ujt["name"] in TEMPLATES, "%s: node %s runs undefined %s" % (
                    workflow["name"], node["identifier"], ujt["name"])
            else:
                assert ujt["type"] == "workflow_approval" and ujt.get("timeout"), (workflow["name"], ujt)
            related = node["related"]
            assert set(related) == set(EDGES) | {"credentials"}, (workflow["name"], node["identifier"])
            for edge in EDGES:
                for target in related[edge]:
                    assert target["identifier"] in nodes, (workflow["name"], node["identifier"], target)
                    targets.add(target["identifier"])
        roots = set(nodes) - targets
        assert len(roots) == 1, "%s: one start node expected, got %s" % (workflow["name"], sorted(roots))
        # every workflow ends with the report, reached whatever the outcome of the step before it
        reports = [n for n in nodes.values() if n["unified_job_template"]["name"] == "continuity.recovery report"]
        assert reports, workflow["name"]
        report_id = reports[0]["identifier"]
        parents = [n for n in nodes.values() if any(t["identifier"] == report_id for t in n["related"]["always_nodes"])]
        assert parents, "%s: the report must be an always-node of the step it reports on" % workflow["name"]


def test_the_issue_workflows_exist() -> None:
    """baseline -> drill -> report; takeover; failback."""
    names = " ".join(w["name"] for w in CONFIG["controller_workflows"])
    for step in ("drill", "takeover", "failback"):
        assert step in names
    drill = next(w for w in CONFIG["controller_workflows"] if "drill" in w["name"])
    order = [n["unified_job_template"]["name"].rsplit(" ", 1)[1] for n in drill["workflow_nodes"]]
    assert order == ["baseline", "drill", "report"]


def test_configure_playbook_passes_every_key_it_is_given() -> None:
    """docs/awx/configure.yml hands each controller.yml key to its module (none silently dropped)."""
    with open(os.path.join(REPO_ROOT, "docs", "awx", "configure.yml"), encoding="utf-8") as handle:
        [play] = yaml.safe_load(handle)
    by_loop = {}
    for task in play["tasks"]:
        module = next(k for k in task if k.startswith("awx.awx."))
        section = task["loop"].strip("{} ")
        by_loop[section] = (module, set(task[module]))
    assert set(by_loop) == set(MODULE_OPTIONS), sorted(set(MODULE_OPTIONS) ^ set(by_loop))
    for section, (module, passed) in by_loop.items():
        assert passed <= MODULE_OPTIONS[section], (module, passed - MODULE_OPTIONS[section])
        used = set().union(*(set(item) for item in CONFIG[section]))
        assert used <= passed, "%s: %s not passed to %s" % (section, sorted(used - passed), module)

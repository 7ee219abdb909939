"""Secrets nested in a module's dict options never leave the module (SafeModule).

A recovery plan passed as ``plan`` carries the vCenter and database passwords of both
sites. The module's result, its failure (also an argument-validation failure raised
before the module runs), the invocation echo and ``-vvv`` output must not carry any of
them. Read-only against the shared lab: host_cutover runs in check mode.
"""

from __future__ import annotations

import json

import yaml

from playbook_runner import REPO, run_playbook

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: host_cutover with the whole plan, check mode
      continuity.recovery.host_cutover:
        hostname: "{{ recovery_plan.sites.recovery.vcenter.hostname }}"
        port: "{{ recovery_plan.sites.recovery.vcenter.port }}"
        username: "{{ recovery_plan.sites.recovery.vcenter.username }}"
        password: "{{ recovery_plan.sites.recovery.vcenter.password }}"
        validate_certs: false
        plan: "{{ recovery_plan }}"
        action: drill
      check_mode: true
      ignore_errors: true
    - name: host_cutover failing argument validation, with the plan
      continuity.recovery.host_cutover:
        hostname: "{{ recovery_plan.sites.recovery.vcenter.hostname }}"
        username: "{{ recovery_plan.sites.recovery.vcenter.username }}"
        password: "{{ recovery_plan.sites.recovery.vcenter.password }}"
        plan: "{{ recovery_plan }}"
        action: no-such-action
      ignore_errors: true
    - name: buffer_info with an unknown option carrying the plan
      continuity.recovery.buffer_info:
        name: paydb
        engine: postgresql
        primary: {host: 127.0.0.1}
        standby: {host: 127.0.0.1}
        slot: dr_paydb
        not_an_option: "{{ recovery_plan }}"
      ignore_errors: true
"""


def lab_secrets():
    with open(REPO + "/inventories/lab/group_vars/all/recovery_plan.yml", encoding="utf-8") as handle:
        plan = yaml.safe_load(handle)["recovery_plan"]
    found = set()

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                if key.endswith("password") and isinstance(item, str):
                    found.add(item)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(plan)
    return found


def test_no_plan_secret_in_results_failures_or_vvv_output(lab, tmp_path):
    secrets = lab_secrets()
    assert {"lab-vcenter-secret", "lab-db-secret"} <= secrets
    playbook = tmp_path / "secrets.yml"
    playbook.write_text(PLAYBOOK)
    run = run_playbook(str(playbook), args=["-vvv"])
    results = [r for name in ("host_cutover with the whole plan, check mode",
                              "host_cutover failing argument validation, with the plan",
                              "buffer_info with an unknown option carrying the plan")
               for r in run.task_results(name)]
    assert len(results) == 3 and all(r.get("failed") for r in results), results
    assert "value of action must be one of" in results[1]["msg"]
    assert "not_an_option" in results[2]["msg"]
    text = json.dumps(results) + run.stdout + run.stderr
    for secret in secrets:
        assert secret not in text, "secret %r leaked" % secret

"""inventories/example: the two-site template README points at is a valid plan and a usable inventory."""

from __future__ import annotations

from pathlib import Path

import yaml

from ansible_collections.continuity.recovery.plugins.module_utils.plan import validate

EXAMPLE = Path(__file__).resolve().parents[3] / "inventories" / "example"


def _vars(name: str) -> dict:
    return yaml.safe_load((EXAMPLE / "group_vars" / "all" / name).read_text(encoding="utf-8")) or {}


def test_the_example_plan_passes_the_offline_preflight():
    plan = _vars("recovery_plan.yml")["recovery_plan"]
    normalised, problems = validate(plan)
    assert problems == [], [str(p) for p in problems]
    assert [t["name"] for t in normalised["tiers"]] == ["data", "app", "web"]


def test_the_example_keeps_its_secrets_in_the_vault():
    text = (EXAMPLE / "group_vars" / "all" / "recovery_plan.yml").read_text(encoding="utf-8")
    plan = yaml.safe_load(text)["recovery_plan"]
    passwords = [site["vcenter"]["password"] for site in plan["sites"].values()]
    passwords += [p[side]["password"] for p in plan["replication"] if p["engine"] == "postgresql"
                  for side in ("primary", "standby")]
    assert passwords and all(p.startswith("{{ vault_") and p.endswith(" }}") for p in passwords), passwords


def test_the_example_fixes_an_absolute_evidence_root():
    root = _vars("evidence.yml")["recovery_evidence_root"]
    assert root.startswith("/"), root
    hosts = yaml.safe_load((EXAMPLE / "hosts.yml").read_text(encoding="utf-8"))
    assert "localhost" in hosts["all"]["hosts"]

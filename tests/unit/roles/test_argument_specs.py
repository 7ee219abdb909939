"""Every role's meta/argument_specs.yml agrees with its defaults/main.yml.

ansible-core validates role arguments against the spec but takes their values from
defaults/main.yml: a default stated in both must be the same, or the documentation
(ansible-doc -t role, the docs site) says one thing and the role does another.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"
SPECS = sorted(ROLES.glob("*/meta/argument_specs.yml"))


def _options(spec_path: Path) -> dict:
    specs = yaml.safe_load(spec_path.read_text(encoding="utf-8"))["argument_specs"]
    out = {}
    for entry in specs.values():
        out.update(entry.get("options") or {})
    return out


def _defaults(role_dir: Path) -> dict:
    path = role_dir / "defaults" / "main.yml"
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.exists() else {}


@pytest.mark.parametrize("spec_path", SPECS, ids=[p.parts[-3] for p in SPECS])
def test_spec_defaults_are_the_role_defaults(spec_path):
    defaults = _defaults(spec_path.parents[1])
    differ = {name: (option["default"], defaults[name]) for name, option in _options(spec_path).items()
              if "default" in option and name in defaults and defaults[name] != option["default"]}
    assert not differ, "argument_specs default vs defaults/main.yml: %s" % differ


@pytest.mark.parametrize("spec_path", SPECS, ids=[p.parts[-3] for p in SPECS])
def test_every_role_default_is_a_documented_argument(spec_path):
    undocumented = sorted(set(_defaults(spec_path.parents[1])) - set(_options(spec_path)))
    assert not undocumented, "defaults/main.yml variables missing from argument_specs: %s" % undocumented

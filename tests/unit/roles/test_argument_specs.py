"""Every role's meta/argument_specs.yml agrees with its defaults/main.yml, and its task files use the options as typed.

ansible-core validates role arguments against the spec but takes their values from
defaults/main.yml: a default stated in both must be the same, or the documentation
(ansible-doc -t role, the docs site) says one thing and the role does another.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"
sys.path.insert(0, str(ROLES.parent / "tests" / "helpers"))
import task_files  # noqa: E402  pylint: disable=wrong-import-position
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


BARE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def test_a_bare_when_names_only_a_bool_option():
    """ansible-core 2.19 fails a conditional whose result is not a boolean: ``when: <option>`` on an option
    that may be null, a string or a list (type raw, str, list, dict) fails the task - it did in the failback
    role (``when: failback_baseline``). Such an option needs a test (``is truthy``, ``| length > 0``)."""
    types = {}
    for spec_path in SPECS:
        for name, option in _options(spec_path).items():
            types[name] = option.get("type", "str")
    found = []
    for path in sorted(ROLES.glob("*/tasks/*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for task in task_files.document_tasks(document):
            conditions = task.get("when")
            for condition in conditions if isinstance(conditions, list) else [conditions]:
                if isinstance(condition, str) and BARE_NAME.match(condition.strip()) \
                        and types.get(condition.strip(), "bool") != "bool":
                    found.append("%s: %r (when: %s, an option of type %s)" % (
                        path.relative_to(ROLES), task.get("name"), condition, types[condition.strip()]))
    assert not found, "\n".join(found)

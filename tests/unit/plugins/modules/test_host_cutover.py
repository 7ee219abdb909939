"""host_cutover without a server: documented options equal the spec, settings merge, input problems."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput
from ansible_collections.continuity.recovery.plugins.modules import host_cutover as hc


class _Stub(hc.HostCutover):
    def __init__(self):  # no AnsibleModule
        pass


def test_documented_options_match_the_spec():
    documented = yaml.safe_load(hc.DOCUMENTATION)["options"]
    spec = _Stub().module_spec()
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc["type"] == option["type"], name
        assert doc.get("default") == option.get("default"), name
        assert bool(doc.get("required")) == bool(option.get("required")), name
        assert doc.get("choices") == option.get("choices"), name
        assert doc.get("elements") == option.get("elements"), name
    sub = documented["primary"]["suboptions"]
    assert sorted(sub) == sorted(spec["primary"]["options"])
    for name, option in spec["primary"]["options"].items():
        assert sub[name]["type"] == option["type"], name
        assert sub[name].get("default") == option.get("default"), name


def test_examples_and_return_are_yaml():
    assert isinstance(yaml.safe_load(hc.EXAMPLES), list)
    returned = yaml.safe_load(hc.RETURN)
    assert {"tiers", "vms", "failed_vms", "timeline", "problems", "vcenter_calls"} <= set(returned)


def test_primary_settings_option_overrides_plan():
    plan_site = {"vcenter": {"hostname": "a", "port": 1, "username": "u", "password": "p", "validate_certs": False},
                 "datacenter": "DC0", "cluster": "C"}
    merged = hc.primary_settings({"hostname": "b", "port": None, "datacenter": None}, plan_site)
    assert merged["hostname"] == "b" and merged["port"] == 1 and merged["datacenter"] == "DC0"
    assert merged["validate_certs"] is False


def test_open_primary_needs_a_host_unless_baseline():
    assert hc.open_primary({"hostname": None, "datacenter": None}, required=False) is None
    with pytest.raises(InvalidInput) as err:
        hc.open_primary({"hostname": None, "datacenter": "DC0"}, required=True)
    assert err.value.details["problems"][0].startswith("primary.hostname: is required")


def test_raise_problems_lists_every_problem():
    with pytest.raises(InvalidInput) as err:
        hc.raise_problems(["a: x", "b: y"])
    assert "2 problems, nothing was changed" in str(err.value)
    assert err.value.details["problems"] == ["a: x", "b: y"]

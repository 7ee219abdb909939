"""host_cutover without a server: documented options equal the spec, settings merge, input problems."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.continuity.recovery.plugins.module_utils.errors import (
    AuthenticationFailure,
    ConnectionFailure,
    InvalidInput,
    RecoveryError,
)
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


def test_primary_option_without_port_or_validate_certs_keeps_the_plans():
    """``primary: {password: ...}`` alone must not reset the plan's port and validate_certs to 443/true."""
    spec = _Stub().module_spec()["primary"]["options"]
    assert spec["port"].get("default") is None and spec["validate_certs"].get("default") is None
    option = {key: None for key in spec}
    option["password"] = "pw"
    plan_site = {"vcenter": {"hostname": "vc-prod", "port": 8443, "validate_certs": False, "username": "a"},
                 "datacenter": "DC0"}
    merged = hc.primary_settings(option, plan_site)
    assert (merged["hostname"], merged["port"], merged["validate_certs"], merged["password"]) == \
        ("vc-prod", 8443, False, "pw")
    merged = hc.primary_settings(dict(option, port=9443, validate_certs=True), plan_site)
    assert merged["port"] == 9443 and merged["validate_certs"] is True
    merged = hc.primary_settings(option, {"vcenter": {"hostname": "vc-prod"}, "datacenter": "DC0"})
    assert merged["port"] == 443 and merged["validate_certs"] is True


PRIMARY = {"hostname": "vc-prod", "port": 443, "username": "admin", "password": "x", "validate_certs": True,
           "datacenter": "DC0"}


def failing_connect(monkeypatch, exc):
    def connect(self):
        raise exc
    monkeypatch.setattr(hc.Session, "connect", connect)


@pytest.mark.parametrize("exc", [
    AuthenticationFailure("vCenter vc-prod:443 refused the login of admin: Login failure", endpoint="vc-prod:443"),
    ConnectionFailure("cannot connect to vCenter vc-prod:443: certificate verify failed", endpoint="vc-prod:443",
                      reason="tls"),
    ConnectionFailure("cannot connect to vCenter vc-prod:443: is not a VIM server", endpoint="vc-prod:443",
                      reason="protocol"),
])
def test_planned_takeover_with_baseline_fails_when_the_primary_answers_but_refuses(monkeypatch, exc):
    """Treating a refused login as 'primary down' would skip the shutdown: split brain."""
    failing_connect(monkeypatch, exc)
    with pytest.raises(RecoveryError) as err:
        hc.open_primary(dict(PRIMARY), required=False, planned_takeover=True)
    problem, = err.value.details["problems"]
    assert problem.startswith("primary.hostname: the primary vCenter vc-prod:443 answered but the connection "
                              "failed (%s); a planned takeover must shut the primary VMs down" % exc)
    # emergency takeover and drill never shut the primary down: the baseline stands in
    assert hc.open_primary(dict(PRIMARY), required=False) is None


def test_planned_takeover_with_baseline_goes_on_when_the_primary_does_not_answer(monkeypatch):
    failing_connect(monkeypatch, ConnectionFailure("cannot connect to vCenter vc-prod:443: [Errno 111] Connection "
                                                   "refused", endpoint="vc-prod:443", reason="unreachable"))
    assert hc.open_primary(dict(PRIMARY), required=False, planned_takeover=True) is None
    with pytest.raises(RecoveryError, match="primary site: cannot connect"):
        hc.open_primary(dict(PRIMARY), required=True, planned_takeover=True)


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

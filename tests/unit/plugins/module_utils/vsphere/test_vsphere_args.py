"""The vsphere argument spec: options, aliases, env fallbacks, and the doc fragment matching it exactly."""

from __future__ import annotations

import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.continuity.recovery.plugins.doc_fragments.vsphere import ModuleDocFragment
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.args import (
    session_kwargs,
    vsphere_argument_spec,
)

ENV = ("VMWARE_HOST", "VMWARE_PORT", "VMWARE_USER", "VMWARE_PASSWORD", "VMWARE_VALIDATE_CERTS")


def test_options_and_aliases():
    spec = vsphere_argument_spec()
    assert sorted(spec) == ["hostname", "password", "port", "username", "validate_certs"]
    assert spec["username"]["aliases"] == ["user", "admin"]
    assert spec["password"]["aliases"] == ["pass", "pwd"]
    assert spec["password"]["no_log"] is True
    assert spec["port"]["default"] == 443 and spec["validate_certs"]["default"] is True


def test_env_fallbacks(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VMWARE_HOST", "vc.example")
    monkeypatch.setenv("VMWARE_PORT", "8443")
    monkeypatch.setenv("VMWARE_USER", "admin@vsphere.local")
    monkeypatch.setenv("VMWARE_PASSWORD", "s3cret")
    monkeypatch.setenv("VMWARE_VALIDATE_CERTS", "false")
    result = ArgumentSpecValidator(vsphere_argument_spec()).validate({})
    assert not result.error_messages
    assert session_kwargs(result.validated_parameters) == dict(
        hostname="vc.example", port=8443, username="admin@vsphere.local", password="s3cret",
        validate_certs=False)
    assert "s3cret" in result._no_log_values  # pylint: disable=protected-access


def test_explicit_false_is_kept_and_aliases_work(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    result = ArgumentSpecValidator(vsphere_argument_spec()).validate(
        {"hostname": "vc", "user": "u", "pwd": "p", "validate_certs": False})
    params = result.validated_parameters
    assert (params["username"], params["password"], params["validate_certs"], params["port"]) == (
        "u", "p", False, 443)


def test_required_without_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    result = ArgumentSpecValidator(vsphere_argument_spec()).validate({})
    assert result.error_messages == ["missing required arguments: hostname, password, username"]


def test_doc_fragment_matches_the_spec_exactly():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = vsphere_argument_spec()
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc["type"] == option["type"], name
        assert doc.get("default") == option.get("default"), name
        assert bool(doc.get("required")) == bool(option.get("required")), name
        assert doc.get("aliases", []) == option.get("aliases", []), name
        env = option["fallback"][1][0]
        assert "E(%s)" % env in " ".join(doc["description"]), name

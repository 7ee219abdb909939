"""site_info without a server: documented options equal the spec, and the module glue (query, calls, errors)."""

from __future__ import annotations

import json

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from pyVmomi import vim

from ansible_collections.continuity.recovery.plugins.module_utils.errors import AuthenticationFailure
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import module_base
from ansible_collections.continuity.recovery.plugins.modules import site_info

CONNECTION = {"hostname": "vc.example", "username": "u", "password": "secret-pw", "validate_certs": False}


class FakeSession:
    """Stands in for vsphere.session.Session inside the module base."""

    fail_with: Exception | None = None

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.calls = 0
        self.endpoint = "%s:%s" % (kwargs["hostname"], kwargs["port"])

    def __enter__(self):
        if self.fail_with is not None:
            raise self.fail_with  # pylint: disable=raising-bad-type
        self.calls = 2
        return self

    def __exit__(self, *exc):
        self.calls += 1

    def datacenter(self, name):
        self.calls += 3
        return "dc:" + name


HOST = {"obj": vim.HostSystem("host-1"), "_moid": "host-1", "name": "esx1", "parent": "cl-1", "datastore": [],
        "runtime.connectionState": "connected", "runtime.powerState": "poweredOn",
        "runtime.inMaintenanceMode": False, "overallStatus": "green"}
CLUSTER = {"obj": vim.ClusterComputeResource("cl-1"), "_moid": "cl-1", "name": "DC0_C0", "host": ["host-1"],
           "configurationEx": {"dasConfig": {"enabled": True}}}
VM = {"obj": vim.VirtualMachine("vm-1"), "_moid": "vm-1", "name": "web01", "runtime.host": "host-1",
      "runtime.powerState": "poweredOn", "guest.toolsRunningStatus": "guestToolsRunning",
      "guestHeartbeatStatus": "green"}


@pytest.fixture
def fake_vcenter(monkeypatch):
    seen = {}

    def retrieve_many(session, specs, root=None, **kwargs):
        session.calls += 3
        seen["specs"], seen["root"] = specs, root
        return {vim.HostSystem: [HOST], vim.ClusterComputeResource: [CLUSTER], vim.Datastore: [],
                vim.Network: [], vim.dvs.DistributedVirtualPortgroup: [], vim.DistributedVirtualSwitch: [],
                vim.VirtualMachine: [VM]}

    def retrieve_objects(session, objs, properties, **kwargs):
        session.calls += 1
        seen["objects"] = objs
        return [VM for obj in objs if obj is VM["obj"]]

    FakeSession.fail_with = None
    monkeypatch.setattr(module_base, "Session", FakeSession)
    monkeypatch.setattr(site_info.inventory, "retrieve_many", retrieve_many)
    monkeypatch.setattr(site_info.inventory, "retrieve_objects", retrieve_objects)
    return seen


def run(args, capsys):
    with patch_module_args(dict(CONNECTION, **args)):
        with pytest.raises(SystemExit):
            site_info.main()
    return json.loads(capsys.readouterr().out)


def test_documented_options_match_the_spec():
    documented = yaml.safe_load(site_info.DOCUMENTATION)["options"]
    spec = site_info.SiteInfo.module_spec(None)
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc["type"] == option["type"], name
        assert doc.get("default") == option.get("default"), name
        assert bool(doc.get("required")) == bool(option.get("required")), name
        assert doc.get("elements") == option.get("elements"), name
    assert "continuity.recovery.vsphere" in yaml.safe_load(site_info.DOCUMENTATION)["extends_documentation_fragment"]


def test_protected_vms_are_read_in_one_more_call_and_checked(fake_vcenter, capsys):
    out = run({"datacenter": "DC0", "vms": ["web01", "ghost"], "query": "vms[].name"}, capsys)
    assert fake_vcenter["root"] == "dc:DC0"
    assert fake_vcenter["specs"][vim.VirtualMachine] == site_info.site.VM_NAME_PROPERTIES
    assert fake_vcenter["objects"] == [VM["obj"]]
    assert out["changed"] is False and out["healthy"] is False
    assert out["missing_vms"] == ["ghost"]
    assert [(a["object"], a["check"]) for a in out["abnormalities"]] == [("ghost", "vm_exists")]
    assert out["query_result"] == ["web01"]
    assert out["vcenter_calls"] == 2 + 3 + 3 + 1 + 1
    assert out["datacenter"] == "DC0" and out["cluster"] is None


def test_without_vms_all_vms_are_read_in_the_batch(fake_vcenter, capsys):
    out = run({"datacenter": "DC0", "cluster": "DC0_C0"}, capsys)
    assert fake_vcenter["specs"][vim.VirtualMachine] == site_info.site.VM_PROPERTIES
    assert "objects" not in fake_vcenter
    assert out["healthy"] is True and [v["name"] for v in out["vms"]] == ["web01"]
    assert out["clusters"][0]["ha_enabled"] is True
    assert out["vcenter_calls"] == 2 + 3 + 3 + 1


def test_unknown_cluster_fails_with_names(fake_vcenter, capsys):
    out = run({"datacenter": "DC0", "cluster": "Nope"}, capsys)
    assert out["failed"] is True
    assert out["msg"] == "cluster 'Nope' not found in datacenter 'DC0'"
    assert out["missing"] == ["Nope"] and out["available"] == ["DC0_C0"]
    assert out["error_type"] == "NotFound"
    assert out["vcenter_calls"] == 9


def test_typed_client_errors_become_one_failure(fake_vcenter, capsys):
    FakeSession.fail_with = AuthenticationFailure("vCenter vc.example:443 refused the login of u",
                                                  endpoint="vc.example:443", msg="must not overwrite")
    out = run({"datacenter": "DC0"}, capsys)
    assert out["failed"] is True
    assert out["msg"] == "vCenter vc.example:443 refused the login of u"
    assert out["endpoint"] == "vc.example:443" and out["error_type"] == "AuthenticationFailure"
    assert "secret-pw" not in json.dumps(out)


def test_bad_query_is_reported(fake_vcenter, capsys):
    out = run({"datacenter": "DC0", "query": "vms[?"}, capsys)
    assert out["failed"] is True and "invalid JMESPath expression" in out["msg"]

"""site_info against the lab: the configuration record of both sites and the health checks.

The lab is only read. VM health checks are exercised on a scratch VM of our own
(on a local datastore in a temporary directory, no NIC), whose guest state is
set through vcsim's ``SET.<property>`` extraConfig keys, and removed afterwards.
The call-count comparison between the 12-VM lab and a 320-VM simulator lives in
test_vsphere_client.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

import pytest
import yaml

from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import tasks
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.session import Session
from ansible_collections.continuity.recovery.plugins.modules import site_info

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
MODULE = "continuity.recovery.site_info"
VM_CHECKS = {"vm_exists", "vm_powered_on", "vm_tools_running", "vm_heartbeat"}


def connection(vc: dict) -> dict:
    """Module connection options from a lab.json vcenter entry."""
    return {k: vc[k] for k in ("hostname", "port", "username", "password", "validate_certs")}


def ansible_env() -> dict:
    """Environment of an ansible command run as a user would, with JSON results."""
    return dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal", ANSIBLE_CALLBACK_RESULT_FORMAT="json",
                ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "collections"),
                PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))


def run_module(vc: dict, check: bool = False, **args) -> dict:
    """``ansible localhost -m continuity.recovery.site_info -a <json>``; its result."""
    cmd = [os.path.join(VENV_BIN, "ansible"), "localhost", "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=" + os.path.join(VENV_BIN, "python"),
           "-m", MODULE, "-a", json.dumps(dict(connection(vc), **args))]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, cwd=REPO, env=ansible_env())
    start = proc.stdout.find("localhost | ")
    if start < 0 or "{" not in proc.stdout[start:]:
        raise AssertionError("no result (rc %d):\n%s%s" % (proc.returncode, proc.stdout, proc.stderr))
    result = json.loads(proc.stdout[proc.stdout.index("{", start):])
    result.setdefault("failed", proc.stdout[start:].split(" => ", 1)[0].endswith("FAILED!"))
    return result


@pytest.fixture(scope="module")
def primary(lab) -> dict:
    return lab["sites"]["primary"]["vcenter"]


@pytest.fixture(scope="module")
def primary_record(lab, primary) -> dict:
    """site_info of the primary site for the lab's VMs (one run shared by several tests)."""
    out = run_module(primary, datacenter=lab["sites"]["primary"]["datacenter"],
                     cluster=lab["sites"]["primary"]["cluster"], vms=[vm["name"] for vm in lab["vms"]])
    assert not out["failed"], out.get("msg")
    return out


@pytest.fixture(scope="module")
def scratch_vm(lab, primary, tmp_path_factory):
    """A powered-off scratch VM on a local datastore of our own; yields a function to set its state."""
    from pyVmomi import vim

    tag = "%d" % os.getpid()
    ds_name, vm_name = "Scratch-Site-" + tag, "crtest-site-" + tag
    path = tmp_path_factory.mktemp("scratch-site") / ds_name
    path.mkdir()
    created = {}
    with Session(**connection(primary)) as s:
        dc = s.datacenter(lab["sites"]["primary"]["datacenter"])
        try:
            cluster = s.cluster(dc, lab["sites"]["primary"]["cluster"])
            host = sorted(cluster.host, key=lambda h: h.name)[0]
            created["ds"] = host.configManager.datastoreSystem.CreateLocalDatastore(name=ds_name, path=str(path))
            spec = vim.vm.ConfigSpec(name=vm_name, guestId="otherLinux64Guest", numCPUs=1, memoryMB=64,
                                     files=vim.vm.FileInfo(vmPathName="[%s]" % ds_name))
            vm = created["vm"] = tasks.wait_for_tasks(s, [dc.vmFolder.CreateVM_Task(
                config=spec, pool=cluster.resourcePool, host=host)], 60)[0].result

            def set_state(power: str, tools: str = "guestToolsNotRunning", heartbeat: str = "gray") -> None:
                running = vm.runtime.powerState == "poweredOn"
                if power == "poweredOn" and not running:
                    tasks.wait_for_tasks(s, [vm.PowerOnVM_Task()], 60)
                elif power == "poweredOff" and running:
                    tasks.wait_for_tasks(s, [vm.PowerOffVM_Task()], 60)
                extra = [vim.option.OptionValue(key="SET.guest.toolsRunningStatus", value=tools),
                         vim.option.OptionValue(key="SET.guestHeartbeatStatus", value=heartbeat)]
                tasks.wait_for_tasks(s, [vm.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=extra))], 60)

            yield vm_name, ds_name, set_state
        finally:
            vm = created.get("vm")
            if vm is not None:
                if vm.runtime.powerState == "poweredOn":
                    tasks.wait_for_tasks(s, [vm.PowerOffVM_Task()], 60)
                tasks.wait_for_tasks(s, [vm.Destroy_Task()], 60)
            if created.get("ds") is not None:
                tasks.wait_for_tasks(s, [created["ds"].Destroy_Task()], 60)


def test_primary_configuration_record(lab, primary_record):
    site = lab["sites"]["primary"]
    out = primary_record
    assert out["changed"] is False
    assert out["datacenter"] == site["datacenter"] and out["cluster"] == site["cluster"]
    assert [h["name"] for h in out["hosts"]] == sorted(site["hosts"])
    assert all(h["connection_state"] == "connected" and h["cluster"] == site["cluster"] for h in out["hosts"])
    (cluster,) = out["clusters"]
    assert cluster["name"] == site["cluster"] and cluster["host_count"] == len(site["hosts"])
    prod = {d["name"]: d for d in out["datastores"]}["Prod-DS-01"]
    assert prod["accessible"] is True and prod["hosts"] == sorted(site["hosts"])
    assert prod["capacity"] > 0 and 0 <= prod["free_pct"] <= 100
    pgs = {p["name"]: p for p in out["portgroups"]}
    assert pgs["Prod-Net"]["type"] == "distributed" and pgs["Prod-Net"]["switch"] == site["dvs"]

    vms = {v["name"]: v for v in out["vms"]}
    assert sorted(vms) == sorted(vm["name"] for vm in lab["vms"])
    for expected in lab["vms"]:
        vm = vms[expected["name"]]
        assert vm["protected"] is True and vm["power_state"] == "poweredOn"
        assert vm["host"] == expected["host"] and vm["cluster"] == site["cluster"]
        assert vm["ip_address"] == expected["ip"]
        assert vm["vm_path_name"] == "[%s] %s/%s.vmx" % (expected["datastore"], vm["name"], vm["name"])
        assert vm["datastores"] == [expected["datastore"]]
        assert vm["uuid"] and vm["instance_uuid"]
        (nic,) = vm["nics"]
        assert nic["portgroup"] == expected["portgroup"] and nic["portgroup_key"] == pgs["Prod-Net"]["key"]
        assert nic["switch"] == site["dvs"] and nic["connected"] is True and nic["mac"]
        assert nic["ip_addresses"] == [expected["ip"]]
        assert [d["datastore"] for d in vm["disks"]] == [expected["datastore"]]
    assert out["missing_vms"] == []


def test_primary_abnormalities_are_consistent(primary_record):
    out = primary_record
    checks = {a["check"] for a in out["abnormalities"]}
    # the lab's VMs exist and are powered on; tools/heartbeat depend on how the lab seeds the guests
    assert not checks & {"vm_exists", "vm_powered_on", "host_connected", "datastore_accessible"}
    assert out["healthy"] is (out["abnormalities"] == [])
    for item in out["abnormalities"]:
        assert set(item) == {"object", "type", "check", "detail"}


def test_recovery_site_record(lab):
    site = lab["sites"]["recovery"]
    out = run_module(site["vcenter"], datacenter=site["datacenter"], cluster=site["cluster"], vms=[])
    assert not out["failed"], out.get("msg")
    assert out["vms"] == [] and out["missing_vms"] == []
    assert set(site["portgroups"]) <= {p["name"] for p in out["portgroups"]}
    assert set(site["datastores"]) <= {d["name"] for d in out["datastores"]}
    assert [h["name"] for h in out["hosts"]] == sorted(site["hosts"])


def test_thresholds_and_missing_vms_are_abnormalities(lab, primary):
    out = run_module(primary, datacenter="DC0", vms=[lab["vms"][0]["name"], "no-such-vm"],
                     free_space_threshold_pct=100, query="abnormalities[?type!='vm'].[object, check]")
    assert not out["failed"], out.get("msg")
    assert ["Prod-DS-01", "datastore_free_space"] in out["query_result"]
    assert out["missing_vms"] == ["no-such-vm"]
    assert {"object": "no-such-vm", "type": "vm", "check": "vm_exists",
            "detail": "protected VM not found"} in out["abnormalities"]
    assert out["healthy"] is False


def test_vm_health_checks_only_for_protected_vms(primary, scratch_vm):
    vm_name, ds_name, set_state = scratch_vm

    def vm_checks(**args):
        out = run_module(primary, datacenter="DC0", free_space_threshold_pct=0, **args)
        assert not out["failed"], out.get("msg")
        return sorted((a["object"], a["check"]) for a in out["abnormalities"] if a["type"] == "vm"), out

    set_state("poweredOff")
    checks, out = vm_checks(vms=[vm_name])
    assert checks == [(vm_name, "vm_powered_on")]
    assert out["vms"][0]["datastores"] == [ds_name] and out["vms"][0]["nics"] == []

    set_state("poweredOn", tools="guestToolsNotRunning", heartbeat="yellow")
    checks = vm_checks(vms=[vm_name])[0]
    assert checks == [(vm_name, "vm_heartbeat"), (vm_name, "vm_tools_running")]

    set_state("poweredOn", tools="guestToolsRunning", heartbeat="green")
    checks, out = vm_checks(vms=[vm_name])
    assert checks == [] and out["vms"][0]["tools_running_status"] == "guestToolsRunning"
    assert out["vms"][0]["heartbeat_status"] == "green"

    # not protected: recorded (no vms given -> every VM) but never checked
    set_state("poweredOff")
    checks, out = vm_checks()
    assert checks == [] and vm_name in {v["name"] for v in out["vms"]}


def test_unknown_cluster_and_datacenter_fail_clearly(primary):
    out = run_module(primary, datacenter="DC0", cluster="No-Such-Cluster")
    assert out["failed"] and out["error_type"] == "NotFound" and out["missing"] == ["No-Such-Cluster"]
    out = run_module(primary, datacenter="No-Such-DC")
    assert out["failed"] and out["msg"].startswith("datacenter 'No-Such-DC' not found on vCenter")


def test_result_keys_are_the_documented_ones(lab, primary):
    doc = yaml.safe_load(site_info.RETURN)
    out = run_module(primary, check=True, datacenter="DC0", vms=[lab["vms"][0]["name"]], query="healthy")
    assert set(out) - {"changed", "invocation", "failed"} == set(doc)
    for key in ("hosts", "clusters", "datastores", "portgroups", "vms"):
        assert set(out[key][0]) == set(doc[key]["contains"]), key
    vm = out["vms"][0]
    assert set(vm["nics"][0]) == set(doc["vms"]["contains"]["nics"]["contains"])
    assert set(vm["disks"][0]) == set(doc["vms"]["contains"]["disks"]["contains"])


def test_playbook_with_group_module_defaults(lab, primary, tmp_path):
    """Connection options set once for group/continuity.recovery.vsphere, both modules, check mode."""
    results = tmp_path / "results.json"
    playbook = tmp_path / "site.yml"
    playbook.write_text(textwrap.dedent("""\
        - hosts: localhost
          gather_facts: false
          module_defaults:
            group/continuity.recovery.vsphere: {connection}
          tasks:
            - name: Site record
              continuity.recovery.site_info:
                datacenter: DC0
                vms: {vms}
              register: site
            - name: Storage mapping
              continuity.recovery.storage_mapping_info:
                datacenter: DC0
                vms: {vms}
                storage_map: [{{primary: Prod-DS-01, recovery: Replica-DS-01, replication: vmstore}}]
              register: storage
            - name: Keep the results
              ansible.builtin.copy:
                content: "{{{{ {{'site': site, 'storage': storage}} | to_json }}}}"
                dest: {results}
                mode: "0600"
              check_mode: false
        """).format(connection=json.dumps(connection(primary)), vms=json.dumps([vm["name"] for vm in lab["vms"]]),
                    results=results))
    proc = subprocess.run(
        [os.path.join(VENV_BIN, "ansible-playbook"), str(playbook), "-i", "localhost,", "-c", "local", "--check",
         "-e", "ansible_python_interpreter=" + os.path.join(VENV_BIN, "python")],
        capture_output=True, text=True, timeout=300, check=False, cwd=REPO, env=ansible_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(results.read_text())
    assert data["site"]["changed"] is False and data["storage"]["changed"] is False
    assert len(data["site"]["vms"]) == len(lab["vms"])
    assert data["storage"]["unprotected"] == []
    assert data["site"]["vcenter_calls"] == data["storage"]["vcenter_calls"] == 11

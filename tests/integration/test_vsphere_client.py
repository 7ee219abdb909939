"""The vSphere client layer against real vcsim: typed errors, batched reads, many tasks at once.

Two endpoints:

* the lab's primary vCenter (``lab`` fixture, 12 VMs by default) — read only;
* ``big_vcenter``: a vcsim of our own (the lab's binary, a free port in
  38443-38999, a temporary datastore directory) seeded here with ``BIG_VMS``
  VMs on a NAS datastore and a distributed portgroup, stopped by pid at the end.

The headline check: the SOAP calls needed to read every VM with its
configuration do not depend on the number of VMs — for the client layer and
for both modules, measured side by side on 12 and on 300+ VMs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pytest

from ansible_collections.continuity.recovery.plugins.module_utils.errors import (
    AuthenticationFailure,
    ConnectionFailure,
    TaskFailed,
)
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import inventory, site, tasks
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.session import CONNECT_CALLS, Session

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
BIG_VMS = int(os.environ.get("VSPHERE_TEST_BIG_VMS", "320"))
BIG_USER = "administrator@vsphere.local"
BIG_PASSWORD = "big-vcenter-secret"
OWN_PORTS = range(38443, 39000)


# --------------------------------------------------------------------------- helpers

def vcenter_args(vc: dict) -> dict:
    """Session keyword arguments from a lab.json vcenter entry."""
    return dict(hostname=vc["hostname"], port=vc["port"], username=vc["username"], password=vc["password"],
                validate_certs=vc["validate_certs"])


def free_port() -> int:
    """A free TCP port on loopback inside the range this suite may use."""
    for port in OWN_PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in %s-%s" % (OWN_PORTS.start, OWN_PORTS.stop - 1))


def run_module(module: str, vc: dict, **args) -> dict:
    """Run a module the way a user does: ``ansible localhost -m <module> -a <json>``; its result."""
    module_args = dict(vcenter_args(vc), **args)
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal", ANSIBLE_CALLBACK_RESULT_FORMAT="json",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "collections"),
               PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run(
        [os.path.join(VENV_BIN, "ansible"), "localhost", "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=" + os.path.join(VENV_BIN, "python"),
         "-m", module, "-a", json.dumps(module_args)],
        capture_output=True, text=True, timeout=300, check=False, cwd=REPO, env=env)
    start = proc.stdout.find("localhost | ")
    if start < 0 or "{" not in proc.stdout[start:]:
        raise AssertionError("no result from %s (rc %d):\n%s%s" % (module, proc.returncode, proc.stdout, proc.stderr))
    result = json.loads(proc.stdout[proc.stdout.index("{", start):])
    # the minimal callback shows failure in the status word ("localhost | FAILED! => {...}")
    result.setdefault("failed", proc.stdout[start:].split(" => ", 1)[0].endswith("FAILED!"))
    return result


def seed_big(vc: dict, vm_count: int, datastore_dir: str) -> None:
    """NAS datastore, distributed switch with a portgroup, then ``vm_count`` VMs with a disk, a NIC and an IP."""
    from pyVmomi import vim

    with Session(**vcenter_args(vc)) as s:
        dc = s.datacenter("DC0")
        cluster = s.cluster(dc, "DC0_C0")
        hosts = sorted(cluster.host, key=lambda h: h.name)
        spec = vim.host.NasVolume.Specification(remoteHost="array-big", remotePath="/exports/big-ds-01",
                                                localPath=datastore_dir, accessMode="readWrite", type="NFS")
        for host in hosts:
            host.configManager.datastoreSystem.CreateNasDatastore(spec=spec)
        create = vim.DistributedVirtualSwitch.CreateSpec(
            configSpec=vim.dvs.VmwareDistributedVirtualSwitch.ConfigSpec(name="DSwitch-Big"))
        dvs, = [o.result for o in tasks.wait_for_tasks(s, [dc.networkFolder.CreateDVS_Task(spec=create)], 60)]
        tasks.wait_for_tasks(s, [dvs.ReconfigureDvs_Task(spec=vim.dvs.VmwareDistributedVirtualSwitch.ConfigSpec(
            configVersion=dvs.config.configVersion,
            host=[vim.dvs.HostMember.ConfigSpec(operation="add", host=h) for h in hosts]))], 60)
        tasks.wait_for_tasks(s, [dvs.AddDVPortgroup_Task(spec=[vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
            name="Big-Net", type="earlyBinding", numPorts=16, autoExpand=True)])], 60)
        pg = [p for p in dvs.portgroup if p.name == "Big-Net"][0]
        name = os.path.basename(datastore_dir)
        submitted = [dc.vmFolder.CreateVM_Task(config=big_vm_spec(i, name, dvs.uuid, pg.key),
                                               pool=cluster.resourcePool, host=hosts[i % len(hosts)])
                     for i in range(vm_count)]
        created = [o.result for o in tasks.wait_for_tasks(s, submitted, 600)]
        tasks.wait_for_tasks(s, [dc.PowerOnMultiVM_Task(vm=created)], 600)


def big_vm_spec(index: int, datastore: str, dvs_uuid: str, pg_key: str):
    """One VM: pvscsi + thin disk on the NAS datastore, vmxnet3 on the portgroup, a guest IP."""
    from pyVmomi import vim

    dev = vim.vm.device
    ctrl = dev.VirtualDeviceSpec(operation="add", device=dev.ParaVirtualSCSIController(
        key=-100, busNumber=0, sharedBus="noSharing"))
    disk = dev.VirtualDeviceSpec(operation="add", fileOperation="create", device=dev.VirtualDisk(
        key=-101, controllerKey=-100, unitNumber=0, capacityInKB=1024,
        backing=dev.VirtualDisk.FlatVer2BackingInfo(fileName="[%s]" % datastore, diskMode="persistent",
                                                    thinProvisioned=True)))
    nic = dev.VirtualDeviceSpec(operation="add", device=dev.VirtualVmxnet3(
        key=-102, addressType="generated",
        backing=dev.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
            port=vim.dvs.PortConnection(portgroupKey=pg_key, switchUuid=dvs_uuid)),
        connectable=dev.VirtualDevice.ConnectInfo(startConnected=True, connected=True)))
    return vim.vm.ConfigSpec(
        name="big%04d" % index, guestId="otherLinux64Guest", numCPUs=1, memoryMB=64,
        files=vim.vm.FileInfo(vmPathName="[%s]" % datastore), deviceChange=[ctrl, disk, nic],
        extraConfig=[vim.option.OptionValue(key="SET.guest.ipAddress",
                                            value="10.30.%d.%d" % (index // 250, index % 250 + 2))])


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def primary(lab) -> dict:
    """The lab's primary vCenter entry."""
    return lab["sites"]["primary"]["vcenter"]


@pytest.fixture(scope="module")
def big_vcenter(lab, tmp_path_factory):
    """A vcsim of our own seeded with BIG_VMS VMs; yields its vcenter dict and stops it by pid."""
    binary = os.path.join(lab["lab_dir"], "bin", "vcsim")
    if not os.access(binary, os.X_OK):
        pytest.fail("the lab's vcsim binary is missing: %s" % binary)
    work = tmp_path_factory.mktemp("big-vcenter")
    datastore_dir = work / "Big-DS-01"
    datastore_dir.mkdir()
    port = free_port()
    urlfile = work / "url"
    with open(work / "vcsim.log", "wb") as log:
        proc = subprocess.Popen([binary, "-listen", "127.0.0.1:%d" % port, "-hosts", "3", "-urlfile", str(urlfile),
                                 "-username", BIG_USER, "-password", BIG_PASSWORD],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not urlfile.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("own vcsim did not start; see %s" % (work / "vcsim.log"))
            time.sleep(0.1)
        vc = {"hostname": "127.0.0.1", "port": port, "username": BIG_USER, "password": BIG_PASSWORD,
              "validate_certs": False}
        started = time.monotonic()
        seed_big(vc, BIG_VMS, str(datastore_dir))
        print("seeded %d VMs in %.1fs on port %d" % (BIG_VMS, time.monotonic() - started, port))
        yield vc
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


# --------------------------------------------------------------------------- session

def test_login_counts_calls_from_the_start(primary):
    with Session(**vcenter_args(primary)) as s:
        assert s.calls == CONNECT_CALLS
        assert s.content.about.apiType == "VirtualCenter"
        assert s.calls == CONNECT_CALLS + 1
    assert s.calls == CONNECT_CALLS + 2  # + Logout


def test_wrong_password_is_an_authentication_failure(primary):
    with pytest.raises(AuthenticationFailure) as err:
        Session(**{**vcenter_args(primary), "password": "not-the-password"}).connect()
    assert "refused the login of %s" % primary["username"] in str(err.value)


def test_unreachable_endpoint_is_a_connection_failure_naming_host_and_port(primary):
    port = free_port()
    with pytest.raises(ConnectionFailure) as err:
        Session(**{**vcenter_args(primary), "port": port}, timeout=5).connect()
    assert "127.0.0.1:%d" % port in str(err.value)


def test_validate_certs_is_honoured_even_on_localhost(primary):
    # vcsim's certificate is self-signed: verification must fail, not be skipped for 127.0.0.1
    with pytest.raises(ConnectionFailure, match="certificate"):
        Session(**{**vcenter_args(primary), "validate_certs": True}, timeout=5).connect()


# --------------------------------------------------------------------------- inventory

def read_every_vm(vc: dict) -> tuple[list[dict], int]:
    """All VMs with the site record's properties; returns the rows and the SOAP calls it took."""
    from pyVmomi import vim

    with Session(**vcenter_args(vc)) as s:
        dc = s.datacenter("DC0")
        before = s.calls
        rows = inventory.retrieve(s, vim.VirtualMachine, site.VM_PROPERTIES, root=dc)
        return rows, s.calls - before


def test_reading_every_vm_with_its_config_is_one_batch(lab, primary):
    rows, calls = read_every_vm(primary)
    names = {r["name"] for r in rows}
    assert {vm["name"] for vm in lab["vms"]} <= names
    assert calls == 3  # CreateContainerView + RetrievePropertiesEx + DestroyView
    by_name = {r["name"]: r for r in rows}
    first = lab["vms"][0]
    row = by_name[first["name"]]
    assert row["config.files.vmPathName"].startswith("[%s]" % first["datastore"])
    assert any(d.get("_type") == "VirtualDisk" for d in row["config.hardware.device"])
    assert row["guest.ipAddress"] == first["ip"]


def test_retrieve_objects_reads_named_vms_in_one_call(lab, primary):
    from pyVmomi import vim

    wanted = {vm["name"] for vm in lab["vms"][:3]}
    with Session(**vcenter_args(primary)) as s:
        dc = s.datacenter("DC0")
        objs = [r["obj"] for r in inventory.retrieve(s, vim.VirtualMachine, ["name"], root=dc) if r["name"] in wanted]
        before = s.calls
        rows = inventory.retrieve_objects(s, objs, ["name", "runtime.powerState"])
        assert s.calls - before == 1
    assert {r["name"] for r in rows} == wanted


def test_call_count_does_not_depend_on_vm_count(lab, primary, big_vcenter):
    small_rows, small_calls = read_every_vm(primary)
    big_rows, big_calls = read_every_vm(big_vcenter)
    assert len(big_rows) == BIG_VMS and len(small_rows) < BIG_VMS
    assert small_calls == big_calls == 3

    measured = {}
    for label, vc, rows in (("lab", primary, small_rows), ("big", big_vcenter, big_rows)):
        names = sorted(r["name"] for r in rows)
        all_vms = run_module("continuity.recovery.site_info", vc, datacenter="DC0")
        named = run_module("continuity.recovery.site_info", vc, datacenter="DC0", vms=names)
        storage = run_module("continuity.recovery.storage_mapping_info", vc, datacenter="DC0", vms=names)
        for result in (all_vms, named, storage):
            assert not result.get("failed"), result.get("msg")
        assert len(all_vms["vms"]) == len(named["vms"]) == len(storage["vms"]) == len(rows)
        measured[label] = (len(rows), all_vms["vcenter_calls"], named["vcenter_calls"], storage["vcenter_calls"])
    print("vcenter_calls (vms, site_info all, site_info named, storage_mapping_info named): %s" % measured)
    assert measured["lab"][1:] == measured["big"][1:]


# --------------------------------------------------------------------------- tasks

def test_many_tasks_are_waited_for_together_and_every_failure_is_reported(big_vcenter):
    from pyVmomi import vim

    with Session(**vcenter_args(big_vcenter)) as s:
        dc = s.datacenter("DC0")
        vms = [r["obj"] for r in inventory.retrieve(s, vim.VirtualMachine, ["name"], root=dc)
               if r["name"].startswith("big")]
        sample = vms[:200]
        submitted = [s.call(vm.PowerOffVM_Task) for vm in sample]
        before = s.calls
        started = time.monotonic()
        outcomes = tasks.wait_for_tasks(s, submitted, timeout=120)
        wait_calls = s.calls - before
        print("waited for %d power-offs in %.2fs with %d SOAP calls" % (len(sample), time.monotonic() - started,
                                                                        wait_calls))
        assert [o.state for o in outcomes] == ["success"] * len(sample)
        assert wait_calls <= 6  # CreatePropertyCollector, CreateFilter, 1-3 WaitForUpdatesEx, Destroy

        # powering off again fails for every one of them: all failures are reported, none hides another
        again = [s.call(vm.PowerOffVM_Task) for vm in sample[:25]]
        with pytest.raises(TaskFailed) as err:
            tasks.wait_for_tasks(s, again, timeout=60)
        assert len(err.value.details["failures"]) == 25
        assert str(err.value).startswith("25 of 25 tasks failed: ")

        restored = tasks.wait_for_tasks(s, [dc.PowerOnMultiVM_Task(vm=sample)], timeout=120)
        assert restored[0].ok
        states = inventory.retrieve_objects(s, sample, ["runtime.powerState"])
        assert {r["runtime.powerState"] for r in states} == {"poweredOn"}

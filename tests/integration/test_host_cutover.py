"""host_cutover and storage_mapping against a lab of their own (real vcsim, files on disk).

Destructive (takeover registers VMs at the recovery site and shuts primaries down),
so these tests start their own lab (CUTOVER_LAB_DIR, default /var/lib/crl-cutover-it,
port offset CUTOVER_LAB_PORT_OFFSET=310) and purge it afterwards; the shared lab is
never touched. The replica is what replication would deliver: the primary
datastore's VM folders copied into the lab's Replica-DS-01 directory.

Order matters and is kept by pytest's file order: bad input (nothing changes; also a
failback without primary_gateway, a planned takeover with a baseline whose primary login
or certificate fails, a missing drill_datastore), present the replica, a drill refused
because a VM of a replica's name is not the replica, drill + cleanup (production
untouched, no artifact left), withdraw/present, partial takeover + resume (no duplicates, tier order, IPs), failback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim, vmodl

from fingerprint import vsphere_fingerprint

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
LAB_DIR = os.environ.get("CUTOVER_LAB_DIR", "/var/lib/crl-cutover-it")
OFFSET = os.environ.get("CUTOVER_LAB_PORT_OFFSET", "310")
MARKER = "continuity.recovery.role"


def run_module(module, args, check=False):
    """``ansible localhost -m <module> -a <json>``; its result dict (``failed`` set on failure)."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal", ANSIBLE_CALLBACK_RESULT_FORMAT="json",
               ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "collections"),
               PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run(
        [os.path.join(VENV_BIN, "ansible"), "localhost", "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=" + os.path.join(VENV_BIN, "python"),
         "-m", "continuity.recovery." + module, "-a", json.dumps(args)] + (["--check"] if check else []),
        capture_output=True, text=True, timeout=300, check=False, cwd=REPO, env=env)
    start = proc.stdout.find("localhost | ")
    if start < 0 or "{" not in proc.stdout[start:]:
        raise AssertionError("no result (rc %d):\n%s%s" % (proc.returncode, proc.stdout, proc.stderr))
    result = json.loads(proc.stdout[proc.stdout.index("{", start):])
    result.setdefault("failed", proc.stdout[start:].split(" => ", 1)[0].endswith("FAILED!"))
    result["_stderr"] = proc.stderr  # ansible prints the module's warnings there, not in the result
    return result


def labctl(*args):
    return subprocess.run([os.path.join(VENV_BIN, "python"), os.path.join(REPO, "tests", "lab", "labctl.py")]
                          + list(args), capture_output=True, text=True, timeout=600, cwd=REPO, check=False)


@pytest.fixture(scope="module")
def cut_lab():
    res = labctl("up", "--lab-dir", LAB_DIR, "--port-offset", OFFSET)
    if res.returncode != 0:
        pytest.fail("labctl up failed:\n%s%s" % (res.stdout, res.stderr))
    with open(os.path.join(LAB_DIR, "lab.json")) as handle:
        lab = json.load(handle)
    plan = json.loads(labctl("plan", "--lab-dir", LAB_DIR, "--port-offset", OFFSET, "--format", "json").stdout)
    lab["plan"] = plan["recovery_plan"]
    replica = lab["sites"]["recovery"]["replica_dirs"]["Replica-DS-01"]
    primary = lab["sites"]["primary"]["datastores"]["Prod-DS-01"]
    for name in os.listdir(replica):
        shutil.rmtree(os.path.join(replica, name))
    for name in os.listdir(primary):  # what replication delivers
        shutil.copytree(os.path.join(primary, name), os.path.join(replica, name))
    yield lab
    res = labctl("down", "--lab-dir", LAB_DIR, "--purge")
    assert res.returncode == 0, res.stdout + res.stderr


def args(lab, **extra):
    vc = lab["sites"]["recovery"]["vcenter"]
    base = {k: vc[k] for k in ("hostname", "port", "username", "password", "validate_certs")}
    base["plan"] = lab["plan"]
    base.update(extra)
    return base


def connect(lab, site):
    vc = lab["sites"][site]["vcenter"]
    return SmartConnect(host=vc["hostname"], port=vc["port"], user=vc["username"], pwd=vc["password"],
                        disableSslCertValidation=True)


def recovery_vms(lab):
    """name -> (power, [portgroup names], [guest IPs], marker role, has snapshots) at the recovery site."""
    si = connect(lab, "recovery")
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        pgs = {}
        net_view = content.viewManager.CreateContainerView(content.rootFolder, [vim.dvs.DistributedVirtualPortgroup],
                                                           True)
        for pg in net_view.view:
            pgs[pg.key] = pg.name
        pc = vmodl.query.PropertyCollector
        vms = list(view.view)
        spec = vms and pc.FilterSpec(objectSet=[pc.ObjectSpec(obj=vm) for vm in vms], propSet=[pc.PropertySpec(
            type=vim.VirtualMachine, pathSet=["name", "config.hardware.device", "config.extraConfig", "guest.net",
                                              "runtime.powerState", "snapshot"])])
        out = {}
        # a PropertyCollector read: vcsim 0.24 crashes on single reads of unset properties (snapshot)
        for item in (content.propertyCollector.RetrieveContents([spec]) if vms else []):
            props = {p.name: p.val for p in item.propSet}
            nics = [pgs.get(d.backing.port.portgroupKey) for d in props["config.hardware.device"]
                    if isinstance(d, vim.vm.device.VirtualEthernetCard)]
            role = next((o.value for o in props.get("config.extraConfig") or [] if o.key == MARKER), None)
            ips = sorted(ip for n in props.get("guest.net") or [] for ip in n.ipAddress or [])
            out.setdefault(props["name"], []).append((str(props["runtime.powerState"]), nics, ips, role,
                                                      bool(props.get("snapshot"))))
        view.Destroy()
        net_view.Destroy()
        return out
    finally:
        Disconnect(si)


def primary_vms(lab):
    """VM name -> fingerprint entry (power, ips, ...) at the primary site."""
    return {k.split(":", 1)[1]: v for k, v in vsphere_fingerprint(lab["sites"]["primary"]["vcenter"]).items()
            if isinstance(v, dict) and "power" in v}


def blank_guest_ips(lab, names):
    """Make powered-off primary VMs report no guest IP, as vSphere does (vcsim keeps guest.net on power-off)."""
    si = connect(lab, "primary")
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        vms = {vm.name: vm for vm in view.view if vm.name in names}
        view.Destroy()
        for name in names:
            assert str(vms[name].runtime.powerState) == "poweredOff", name
            WaitForTask(vms[name].ReconfigVM_Task(spec=vim.vm.ConfigSpec(extraConfig=[
                vim.option.OptionValue(key="SET.guest.ipAddress", value="")])))
    finally:
        Disconnect(si)
    primary = primary_vms(lab)
    assert all(not [ip for ip in primary[n]["ips"] if ip] for n in names), {n: primary[n]["ips"] for n in names}


def expected_ips(lab):
    return {vm["name"]: "10.20." + vm["ip"].split(".", 2)[2] for vm in lab["vms"]}


def test_bad_input_fails_before_any_change(cut_lab):
    before = (vsphere_fingerprint(cut_lab["sites"]["primary"]["vcenter"]),
              vsphere_fingerprint(cut_lab["sites"]["recovery"]["vcenter"]))
    plan = json.loads(json.dumps(cut_lab["plan"]))
    plan["networks"][0]["recovery"] = "DR-Nowhere"
    plan["tiers"][1]["vms"][0] = {"name": plan["tiers"][1]["vms"][0], "recovery_ip": "10.20.0.9"}
    result = run_module("host_cutover", args(cut_lab, plan=plan, action="takeover"))
    assert result["failed"]
    problems = "\n".join(result["problems"])
    assert "plan.networks[0].recovery: portgroup 'DR-Nowhere' not found at site recovery" in problems
    assert "plan.datastores[0].recovery: datastore 'Replica-DS-01' is not mounted at site recovery" in problems
    result = run_module("host_cutover", args(cut_lab, action="takeover", tiers=[
        {"name": "t", "vms": ["ghost01", {"name": "db01", "recovery_ip": "10.99.0.7", "network": "prod"}]}]))
    assert result["failed"]
    assert "tiers[0].vms[1].recovery_ip: 10.99.0.7 is outside recovery_subnet 10.20.0.0/20" in "\n".join(
        result["problems"])
    result = run_module("host_cutover", args(cut_lab, action="takeover", tiers=[{"name": "t", "vms": ["ghost01"]}]))
    assert "tiers[0].vms[0]: VM 'ghost01' not found at site primary" in result["problems"]
    # a baseline given as a file name, or a mapping holding no VM list, is refused - not silently ignored
    for baseline, words in (("/srv/baseline.json", "baseline: must be a baseline record"),
                            ({"primary": {"vms": []}}, "baseline: has no list of VMs at record.sites.primary.vms")):
        result = run_module("host_cutover", args(cut_lab, action="takeover", baseline=baseline))
        assert result["failed"] and result["problems"][0].startswith(words), result.get("msg")
    # failback needs the primary gateway back (the guest returns with its recovery-site address)
    plan = json.loads(json.dumps(cut_lab["plan"]))
    del plan["networks"][0]["primary_gateway"]
    result = run_module("host_cutover", args(cut_lab, plan=plan, action="failback"))
    assert result["failed"]
    assert any(p.startswith("plan.networks[0].primary_gateway: is required for failback") for p in result["problems"])
    # a planned takeover with a baseline skips the shutdown only when the primary does not answer at all: a
    # refused login fails it (the plan's port and validate_certs stay: primary only overrides the password)
    primary = cut_lab["sites"]["primary"]["vcenter"]
    result = run_module("host_cutover", args(cut_lab, action="takeover", baseline=[{"name": "db01"}],
                                             primary={"password": "not-the-password"}))
    assert result["failed"]
    problem, = result["problems"]
    assert problem.startswith("primary.hostname: the primary vCenter 127.0.0.1:%d answered but the connection "
                              "failed (vCenter 127.0.0.1:%d refused the login" % (primary["port"], primary["port"]))
    result = run_module("host_cutover", args(cut_lab, action="takeover", baseline=[{"name": "db01"}],
                                             primary={"validate_certs": True}))
    assert result["failed"] and "certificate verify failed" in result["problems"][0]
    result = run_module("host_cutover", args(cut_lab, action="drill", drill_datastore="Nowhere-DS"))
    assert "drill_datastore: datastore 'Nowhere-DS' is not found at site recovery" in "\n".join(result["problems"])
    after = (vsphere_fingerprint(cut_lab["sites"]["primary"]["vcenter"]),
             vsphere_fingerprint(cut_lab["sites"]["recovery"]["vcenter"]))
    assert after == before


def test_present_replica_check_mode_then_idempotent(cut_lab):
    result = run_module("storage_mapping", args(cut_lab), check=True)
    assert result["changed"] and result["datastores"][0]["hosts_to_mount"] == ["DC0_C0_H0", "DC0_C0_H1"]
    assert "Replica-DS-01" not in recovery_datastores(cut_lab)
    result = run_module("storage_mapping", args(cut_lab))
    assert result["changed"] and not result.get("failed")
    assert recovery_datastores(cut_lab)["Replica-DS-01"] == ["DC0_C0_H0", "DC0_C0_H1"]
    assert run_module("storage_mapping", args(cut_lab))["changed"] is False


def recovery_datastores(lab):
    si = connect(lab, "recovery")
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
        out = {}
        for host in view.view:
            for ds in host.datastore:
                out.setdefault(ds.name, []).append(host.name)
        view.Destroy()
        return {k: sorted(v) for k, v in out.items()}
    finally:
        Disconnect(si)


def test_drill_refuses_a_vm_of_the_replicas_name_that_is_not_the_replica(cut_lab):
    name = cut_lab["plan"]["tiers"][0]["vms"][0]
    si = connect(cut_lab, "recovery")
    try:
        content = si.RetrieveContent()
        dc = next(e for e in content.rootFolder.childEntity if isinstance(e, vim.Datacenter))
        cluster = next(c for c in dc.hostFolder.childEntity if isinstance(c, vim.ClusterComputeResource))
        local = next(d.name for d in dc.datastore if d.name != "Replica-DS-01")
        spec = vim.vm.ConfigSpec(name=name, memoryMB=64, numCPUs=1, guestId="otherGuest64",
                                 files=vim.vm.FileInfo(vmPathName="[%s]" % local))
        task = dc.vmFolder.CreateVM_Task(config=spec, pool=cluster.resourcePool)
        WaitForTask(task)
        foreign = task.info.result  # powered off, registered from the local datastore: not the replica
        before = vsphere_fingerprint(cut_lab["sites"]["recovery"]["vcenter"])
        result = run_module("host_cutover", args(cut_lab, action="drill"))
        assert result["failed"]
        problem = next(p for p in result["problems"] if "is not the replica" in p)
        assert problem.startswith("plan.tiers[0].vms[0]: VM %r at the recovery site is not the replica: it is "
                                  "registered from [%s]" % (name, local))
        assert vsphere_fingerprint(cut_lab["sites"]["recovery"]["vcenter"]) == before
        WaitForTask(foreign.Destroy_Task())
    finally:
        Disconnect(si)
    assert recovery_vms(cut_lab) == {}


def test_drill_leaves_production_untouched_and_cleanup_leaves_nothing(cut_lab):
    prod_before = vsphere_fingerprint(cut_lab["sites"]["primary"]["vcenter"])
    check = run_module("host_cutover", args(cut_lab, action="drill"), check=True)
    assert check["changed"] and {v["status"] for v in check["vms"]} == {"would_change"}
    assert recovery_vms(cut_lab) == {}
    result = run_module("host_cutover", args(cut_lab, action="drill"))
    assert not result["failed"], result.get("msg")
    vms = recovery_vms(cut_lab)
    wanted = expected_ips(cut_lab)
    for name, ip in wanted.items():
        assert vms[name + "-drill"] == [("poweredOn", ["DR-Bubble"], [ip], "drill-clone", False)]
        assert vms[name][0][3] == "drill-source" and vms[name][0][4]  # replica registered + snapshot
        assert vms[name][0][0] == "poweredOff"
    assert run_module("host_cutover", args(cut_lab, action="drill"))["changed"] is False
    assert vsphere_fingerprint(cut_lab["sites"]["primary"]["vcenter"]) == prod_before

    result = run_module("host_cutover", args(cut_lab, action="cleanup"))
    assert result["changed"] and not result["failed"]
    assert recovery_vms(cut_lab) == {}
    clones = [d for d in os.listdir(cut_lab["sites"]["recovery"]["replica_dirs"]["Replica-DS-01"])
              if d.endswith("-drill")]
    assert clones == []
    assert run_module("host_cutover", args(cut_lab, action="cleanup"))["changed"] is False
    assert vsphere_fingerprint(cut_lab["sites"]["primary"]["vcenter"]) == prod_before


def test_withdraw_is_planned_and_refused_cleanly_by_vcsim(cut_lab):
    check = run_module("storage_mapping", args(cut_lab, state="absent"), check=True)
    assert check["changed"] and check["datastores"][0]["hosts_to_unmount"] == ["DC0_C0_H0", "DC0_C0_H1"]
    # vcsim 0.24 has no RemoveDatastore: the first unmount fails, nothing is unmounted
    result = run_module("storage_mapping", args(cut_lab, state="absent"))
    assert result["failed"] and "RemoveDatastore" in result["msg"] and result["unmounted"] == []
    assert recovery_datastores(cut_lab)["Replica-DS-01"] == ["DC0_C0_H0", "DC0_C0_H1"]


def test_takeover_check_mode_reports_and_changes_nothing(cut_lab):
    before = vsphere_fingerprint(cut_lab["sites"]["recovery"]["vcenter"])
    result = run_module("host_cutover", args(cut_lab, action="takeover"), check=True)
    assert result["changed"] and not result["failed"]
    assert {v["status"] for v in result["vms"]} == {"would_change"}
    assert result["vms"][0]["steps"] == ["shutdown_source", "register", "reconfigure", "customize", "power_on",
                                         "wait_ip"]
    assert vsphere_fingerprint(cut_lab["sites"]["recovery"]["vcenter"]) == before
    assert {v["power"] for v in primary_vms(cut_lab).values()} == {"poweredOn"}


def test_partial_takeover_then_resume_without_duplicates(cut_lab):
    replica = cut_lab["sites"]["recovery"]["replica_dirs"]["Replica-DS-01"]
    broken = cut_lab["plan"]["tiers"][1]["vms"][1]  # second VM of tier app
    nvram = os.path.join(replica, broken, broken + ".nvram")
    os.rename(nvram, nvram + ".away")  # replication has not delivered it yet
    try:
        result = run_module("host_cutover", args(cut_lab, action="takeover", max_parallel=4))
    finally:
        os.rename(nvram + ".away", nvram)
    assert result["failed"]
    assert result["failed_vms"] == [broken]
    web = cut_lab["plan"]["tiers"][2]["vms"]
    assert sorted(result["not_started_vms"]) == sorted(web)
    assert [t["state"] for t in result["tiers"]] == ["done", "failed", "not_started"]
    vms = recovery_vms(cut_lab)
    assert broken not in vms and not set(web) & set(vms)
    # primaries of the tiers that ran are shut down (planned mode); web's still run
    primary = primary_vms(cut_lab)
    assert primary[web[0]]["power"] == "poweredOn"
    assert primary[cut_lab["plan"]["tiers"][0]["vms"][0]]["power"] == "poweredOff"

    # on vSphere the guests shut down report no IP any more: the VMs the first run registered recorded
    # their sources' addresses; the one whose registration failed has none, and the rerun says so first
    off = [n for n, v in primary.items() if v["power"] == "poweredOff"]
    assert broken in off and len(off) > 1
    blank_guest_ips(cut_lab, off)
    before = vsphere_fingerprint(cut_lab["sites"]["recovery"]["vcenter"])
    refused = run_module("host_cutover", args(cut_lab, action="takeover"))
    assert refused["failed"] and len(refused["problems"]) == 1, refused.get("msg")
    assert refused["problems"][0].startswith("plan.tiers[1].vms[1]: VM '%s' reports no IPv4 address" % broken)
    assert "pass baseline" in refused["problems"][0]
    assert vsphere_fingerprint(cut_lab["sites"]["recovery"]["vcenter"]) == before
    assert primary_vms(cut_lab)[web[0]]["power"] == "poweredOn"

    ip = next(vm["ip"] for vm in cut_lab["vms"] if vm["name"] == broken)
    result = run_module("host_cutover", args(cut_lab, action="takeover",
                                             baseline=[{"name": broken, "nics": [{"ip_addresses": [ip]}]}]))
    assert not result["failed"], result.get("msg")
    status = {v["name"]: v["status"] for v in result["vms"]}
    assert status[broken] == "changed" and all(status[n] == "changed" for n in web)
    assert status[cut_lab["plan"]["tiers"][0]["vms"][0]] == "unchanged"
    tiers = result["tiers"]
    assert [t["name"] for t in tiers] == ["data", "app", "web"]
    assert tiers[1]["start"] >= tiers[0]["end"] and tiers[2]["start"] >= tiers[1]["end"]
    steps = [(t["tier"], t["step"]) for t in result["timeline"]]
    assert steps.index(("app", "register")) < steps.index(("web", "shutdown_source"))

    vms = recovery_vms(cut_lab)
    wanted = expected_ips(cut_lab)
    assert sorted(vms) == sorted(wanted)  # one registration per VM, nothing else
    for name, ip in wanted.items():
        assert vms[name] == [("poweredOn", ["DR-Prod"], [ip], "takeover", False)], name
    blank_guest_ips(cut_lab, web)  # every source is down now, none reports an IP, and no baseline is given
    again = run_module("host_cutover", args(cut_lab, action="takeover"))
    assert again["changed"] is False and {v["status"] for v in again["vms"]} == {"unchanged"}, again.get("msg")
    assert "the primary IPs of %d VMs (" % len(wanted) in " ".join(again["_stderr"].split()), again["_stderr"]


def test_failback_restores_primary_addresses(cut_lab):
    """No baseline and no primary guest reports an IP (blanked above): the takeover's records have them."""
    assert not [ip for v in primary_vms(cut_lab).values() for ip in v["ips"] if ip]
    result = run_module("host_cutover", args(cut_lab, action="failback"))
    assert not result["failed"], result.get("msg")
    primary = primary_vms(cut_lab)
    for vm in cut_lab["vms"]:
        assert primary[vm["name"]]["power"] == "poweredOn"
        assert primary[vm["name"]]["ips"] == [vm["ip"]]
    assert {v[0][0] for v in recovery_vms(cut_lab).values()} == {"poweredOff"}


def test_shutdown_only_stops_the_sources_and_nothing_else(cut_lab):
    """Planned takeover, first step: the primaries go down (reverse tier order), nothing comes up."""
    recovery_before = vsphere_fingerprint(cut_lab["sites"]["recovery"]["vcenter"])
    assert {v["power"] for v in primary_vms(cut_lab).values()} == {"poweredOn"}  # failback brought them back
    check = run_module("host_cutover", args(cut_lab, action="takeover", shutdown_only=True), check=True)
    assert check["changed"] and not check["failed"], check.get("msg")
    assert {tuple(v["steps"]) for v in check["vms"]} == {("shutdown_source",)}
    assert {v["power"] for v in primary_vms(cut_lab).values()} == {"poweredOn"}

    result = run_module("host_cutover", args(cut_lab, action="takeover", shutdown_only=True))
    assert result["changed"] and not result["failed"], result.get("msg")
    assert [t["name"] for t in result["tiers"]] == ["web", "app", "data"]
    assert {tuple(v["steps"]) for v in result["vms"]} <= {("shutdown_source",), ("power_off_source",)}
    assert {v["power"] for v in primary_vms(cut_lab).values()} == {"poweredOff"}
    assert vsphere_fingerprint(cut_lab["sites"]["recovery"]["vcenter"]) == recovery_before

    again = run_module("host_cutover", args(cut_lab, action="takeover", shutdown_only=True))
    assert again["changed"] is False and {v["status"] for v in again["vms"]} == {"unchanged"}
    refused = run_module("host_cutover", args(cut_lab, action="takeover", mode="emergency", shutdown_only=True))
    assert refused["failed"] and refused["problems"][0].startswith("shutdown_only: needs")

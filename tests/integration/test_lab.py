"""The two-site lab (tests/lab/labctl.py) is what docs/lab.md says it is.

The first group needs no lab (topology, committed plan); the rest use the
``lab`` fixture and are marked ``integration``. Nothing here takes the shared
lab down; the full up/status/down cycle runs on a private 4-VM lab in its own
LAB_DIR and port offset (LAB_TEST_PORT_OFFSET, default 300).
"""

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
LAB_SRC = REPO / "tests" / "lab"
DEFAULT_LAB_DIR = "/var/lib/continuity-recovery-lab"

sys.path.insert(0, str(LAB_SRC))
import labctl as labctl_module  # noqa: E402  (the fixture "labctl" runs it as a process)
import topology  # noqa: E402

INVENTORY = REPO / "inventories" / "lab"
PLAN_FILE = INVENTORY / "group_vars" / "all" / "recovery_plan.yml"


def clean_env():
    """Environment without LAB_* overrides: the committed plan is for the default lab."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LAB_")}


# --------------------------------------------------------------------------- no lab needed

def test_topology_12():
    vms = topology.topology(12)
    assert [v["name"] for v in vms] == (
        ["db01", "db02"] + ["app%02d" % i for i in range(1, 7)] + ["web%02d" % i for i in range(1, 5)])
    assert [v["ip"] for v in vms] == ["10.10.1.%d" % i for i in range(10, 22)]
    assert {v["portgroup"] for v in vms} == {"Prod-Net"}
    assert {v["datastore"] for v in vms} == {"Prod-DS-01"}
    assert [t for t, _vms in topology.tiers(12)] == ["data", "app", "web"]


@pytest.mark.parametrize("count", [4, 5, 6, 7, 13, 100, 999, 1000, 3829])
def test_topology_ratio_names_and_ips(count):
    vms = topology.topology(count)
    assert len(vms) == count
    sizes = {t: sum(1 for v in vms if v["tier"] == t) for t in ("data", "app", "web")}
    assert sizes["data"] >= 2 and sizes["app"] >= 1 and sizes["web"] >= 1
    if count >= 60:  # about 1:3:2
        assert abs(sizes["data"] - count / 6) <= 1 and abs(sizes["web"] - count / 3) <= 1
    width = max(2, len(str(max(sizes.values()))))
    assert all(len(v["name"].lstrip("adbpwe")) == width for v in vms)
    assert len({v["name"] for v in vms}) == count
    ips = [int(v["ip"].split(".")[2]) * 256 + int(v["ip"].split(".")[3]) for v in vms]
    assert ips == list(range(256 + 10, 256 + 10 + count))
    assert all(v["ip"].startswith("10.10.") for v in vms)
    assert topology.topology(count) == vms  # pure


@pytest.mark.parametrize("count", [0, 3, 3830])
def test_topology_bounds(count):
    with pytest.raises(ValueError):
        topology.topology(count)


def test_committed_plan_equals_generator(labctl):
    """inventories/lab holds exactly `labctl plan` for 12 VMs, offset 0, the default LAB_DIR."""
    args = ("plan", "--lab-dir", DEFAULT_LAB_DIR, "--vm-count", "12", "--port-offset", "0")
    regen = "regenerate: .venv/bin/python tests/lab/labctl.py %s --output %s" % (
        " ".join(args), PLAN_FILE.relative_to(REPO))
    res = labctl(*args, "--format", "json", env=clean_env())
    assert res.returncode == 0, res.stderr
    committed_text = PLAN_FILE.read_text()
    assert yaml.safe_load(committed_text) == json.loads(res.stdout), regen
    res = labctl(*args, env=clean_env())
    assert res.returncode == 0, res.stderr
    assert committed_text == res.stdout, regen


def test_committed_plan_content():
    plan = yaml.safe_load(PLAN_FILE.read_text())["recovery_plan"]
    assert plan["objectives"] == {"rpo_seconds": 60, "rto_seconds": 900, "max_buffer_fill_pct": 80}
    assert plan["sites"]["primary"]["vcenter"]["port"] == 18443
    assert plan["sites"]["recovery"]["vcenter"]["port"] == 28443
    assert all(plan["sites"][s]["vcenter"]["validate_certs"] is False for s in ("primary", "recovery"))
    pairs = {p["name"]: p for p in plan["replication"]}
    assert pairs["vmstore"]["engine"] == "rsync" and pairs["vmstore"]["snapshots"] == 24
    assert pairs["vmstore"]["source"]["path"] == DEFAULT_LAB_DIR + "/primary/datastores/Prod-DS-01"
    assert pairs["paydb"]["primary"]["port"] == 15432 and pairs["paydb"]["standby"]["port"] == 25432
    assert pairs["paydb"]["slot"] == "dr_paydb" and pairs["paydb"]["max_buffer"] == "1GB"
    assert plan["datastores"][0]["mount"]["local_path"] == DEFAULT_LAB_DIR + "/recovery/datastores/Replica-DS-01"
    assert [(t["name"], t["vms"]) for t in plan["tiers"]] == list(topology.tiers(12))
    assert plan["tiers"][0]["databases"] == ["paydb"]


def test_committed_plan_validates():
    """The lab plan passes the collection's own structural validation (when plan.py exists)."""
    plan_mod = pytest.importorskip("ansible_collections.continuity.recovery.plugins.module_utils.plan")
    plan = yaml.safe_load(PLAN_FILE.read_text())["recovery_plan"]
    _normalised, problems = plan_mod.validate(plan)
    assert problems == []


def test_inventory_hosts_and_evidence_root():
    hosts = yaml.safe_load((INVENTORY / "hosts.yml").read_text())
    localhost = hosts["all"]["hosts"]["localhost"]
    assert localhost["ansible_connection"] == "local"
    assert localhost["ansible_python_interpreter"] == "{{ ansible_playbook_python }}"
    # the lab leaves recovery_evidence_root unset: the roles' $PWD/evidence (the repository's evidence/ for
    # `make demo`); the file only says so
    text = (INVENTORY / "group_vars" / "all" / "evidence.yml").read_text()
    assert not yaml.safe_load(text) and "recovery_evidence_root" in text


def test_plan_follows_offset_and_lab_dir(labctl):
    res = labctl("plan", "--lab-dir", "/srv/lab1000", "--vm-count", "1000", "--port-offset", "100",
                 "--format", "json", env=clean_env())
    assert res.returncode == 0, res.stderr
    plan = json.loads(res.stdout)["recovery_plan"]
    assert plan["sites"]["primary"]["vcenter"]["port"] == 18543
    assert plan["replication"][1]["primary"]["port"] == 15532
    assert plan["replication"][0]["target"]["path"] == "/srv/lab1000/recovery/datastores/Replica-DS-01"
    assert sum(len(t["vms"]) for t in plan["tiers"]) == 1000


def test_up_reserves_the_server_ports_and_keeps_other_reservations(tmp_path, capsys):
    lab = labctl_module.Lab(str(tmp_path / "lab"), port_offset=310)
    setting = tmp_path / "ip_local_reserved_ports"
    setting.write_text("8080,35400-35420\n", encoding="ascii")
    assert lab.reserved_port_ranges() == [(35710, 36109), (45742, 45749)]
    assert "35710-36109,45742-45749 reserved" in lab._reserve_ports(str(setting))
    assert setting.read_text(encoding="ascii") == "8080,35400-35420,35710-36109,45742-45749\n"
    assert lab._reserve_ports(str(setting)) is None  # already reserved: no change
    setting.write_text("35000-36200,45000-46000\n", encoding="ascii")  # covered by a wider range
    assert lab._reserve_ports(str(setting)) is None
    assert lab._reserve_ports(str(tmp_path / "no" / "such" / "file")) is None  # cannot read: a warning
    assert "ports not reserved" in capsys.readouterr().out


def test_status_of_a_lab_never_started_exits_3(tmp_path, labctl):
    res = labctl("status", "--lab-dir", tmp_path / "nothing", "--json", env=clean_env())
    assert res.returncode == 3
    assert json.loads(res.stdout)["up"] is False


# --------------------------------------------------------------------------- the shared lab

def retrieve(si, vimtype, props, root=None):
    """{moref: {prop: value}} for every object of vimtype under root: one view + paged RetrievePropertiesEx."""
    from pyVmomi import vmodl
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(root or content.rootFolder, [vimtype], True)
    pc = vmodl.query.PropertyCollector
    spec = pc.FilterSpec(
        objectSet=[pc.ObjectSpec(obj=view, skip=True, selectSet=[
            pc.TraversalSpec(name="v", type=type(view), path="view", skip=False)])],
        propSet=[pc.PropertySpec(type=vimtype, pathSet=list(props))])
    out = {}
    try:
        res = content.propertyCollector.RetrievePropertiesEx([spec], pc.RetrieveOptions())
        while res is not None:
            for obj in res.objects:
                out[obj.obj] = {p.name: p.val for p in obj.propSet}
            res = content.propertyCollector.ContinueRetrievePropertiesEx(res.token) if res.token else None
    finally:
        view.Destroy()
    return out


def test_lab_json(lab, lab_dir):
    assert os.stat(os.path.join(lab_dir, "lab.json")).st_mode & 0o777 == 0o600
    assert lab["lab_dir"] == lab_dir
    assert lab["vm_count"] >= 12
    assert [{k: v for k, v in vm.items() if k != "host"} for vm in lab["vms"]] == topology.topology(lab["vm_count"])
    assert lab["sites"]["primary"]["vcenter"]["port"] == 18443 + lab["port_offset"]
    assert lab["sites"]["recovery"]["vcenter"]["port"] == 28443 + lab["port_offset"]
    assert lab["postgres"]["primary"]["port"] == 15432 + lab["port_offset"]
    assert lab["postgres"]["standby"]["port"] == 25432 + lab["port_offset"]
    assert lab["postgres"]["standby"]["data_dir"] == os.path.join(lab_dir, "pg", "standby")


@pytest.mark.parametrize("site", ["primary", "recovery"])
def test_clusters_have_hosts(lab, vsphere, site):
    from pyVmomi import vim
    si = vsphere(site)
    clusters = retrieve(si, vim.ClusterComputeResource, ["name", "host"])
    assert [c["name"] for c in clusters.values()] == [lab["sites"][site]["cluster"]]
    hosts = sorted(h.name for h in next(iter(clusters.values()))["host"])
    assert len(hosts) >= 2
    assert hosts == lab["sites"][site]["hosts"]


def test_primary_vms_match_topology(lab, vsphere):
    from pyVmomi import vim
    si = vsphere("primary")
    vms = retrieve(si, vim.VirtualMachine, ["name", "guest.ipAddress", "guest.net", "runtime.powerState",
                                            "runtime.host", "network", "datastore", "config.guestId",
                                            "config.hardware.numCPU", "config.hardware.memoryMB"])
    by_name = {v["name"]: v for v in vms.values()}
    expected = {vm["name"]: vm for vm in lab["vms"]}
    assert set(by_name) == set(expected)
    assert len(expected) >= 12
    assert {vm["tier"] for vm in lab["vms"]} == {"data", "app", "web"}
    hosts_used = set()
    for name, vm in expected.items():
        got = by_name[name]
        assert got["guest.ipAddress"] == vm["ip"], name
        assert got["guest.net"][0].ipAddress == [vm["ip"]], name
        assert got["runtime.powerState"] == "poweredOn", name
        assert got["runtime.host"].name == vm["host"], name
        assert [n.name for n in got["network"]] == [vm["portgroup"]], name
        assert [d.name for d in got["datastore"]] == [vm["datastore"]], name
        assert got["config.guestId"] == "otherLinux64Guest"
        assert (got["config.hardware.numCPU"], got["config.hardware.memoryMB"]) == (1, 128)
        hosts_used.add(vm["host"])
    assert hosts_used == set(lab["sites"]["primary"]["hosts"])  # spread over every host


def test_vm_devices(lab, vsphere):
    from pyVmomi import vim
    si = vsphere("primary")
    path = "%s/vm/%s" % (lab["sites"]["primary"]["datacenter"], lab["vms"][0]["name"])
    vm = si.content.searchIndex.FindByInventoryPath(path)
    assert vm is not None
    devices = vm.config.hardware.device
    scsi = [d for d in devices if isinstance(d, vim.vm.device.ParaVirtualSCSIController)]
    disks = [d for d in devices if isinstance(d, vim.vm.device.VirtualDisk)]
    nics = [d for d in devices if isinstance(d, vim.vm.device.VirtualVmxnet3)]
    assert len(scsi) == 1 and len(disks) == 1 and len(nics) == 1
    assert disks[0].controllerKey == scsi[0].key
    assert disks[0].backing.fileName.startswith("[Prod-DS-01] %s/" % vm.name)
    assert disks[0].backing.thinProvisioned
    pg = [n for n in vm.network if n.name == "Prod-Net"][0]
    assert nics[0].backing.port.portgroupKey == pg.key
    assert nics[0].backing.port.switchUuid == pg.config.distributedVirtualSwitch.uuid
    assert vm.config.files.vmPathName == "[Prod-DS-01] %s/%s.vmx" % (vm.name, vm.name)


def test_portgroups(lab, vsphere):
    from pyVmomi import vim
    for site in ("primary", "recovery"):
        si = vsphere(site)
        pgs = retrieve(si, vim.dvs.DistributedVirtualPortgroup, ["name", "config.distributedVirtualSwitch", "host"])
        names = {p["name"]: p for p in pgs.values()}
        for want in lab["sites"][site]["portgroups"]:
            assert want in names, (site, want)
            assert names[want]["config.distributedVirtualSwitch"].name == lab["sites"][site]["dvs"]
            assert sorted(h.name for h in names[want]["host"]) == lab["sites"][site]["hosts"]
    assert lab["sites"]["primary"]["portgroups"] == ["Prod-Net"]
    assert lab["sites"]["recovery"]["portgroups"] == ["DR-Prod", "DR-Bubble"]


def test_datastores(lab, vsphere):
    from pyVmomi import vim
    for site, want in (("primary", "Prod-DS-01"), ("recovery", "DR-Local-01")):
        si = vsphere(site)
        dss = {d["name"]: d for d in retrieve(si, vim.Datastore, ["name", "summary.type", "summary.url",
                                                                  "summary.accessible", "info"]).values()}
        assert set(dss) == {want}, site  # the replica is NOT mounted at the recovery site
        ds = dss[want]
        assert ds["summary.type"] == "NFS" and ds["summary.accessible"]
        assert ds["summary.url"] == lab["sites"][site]["datastores"][want]
        nas = lab["sites"][site]["nas"][want]
        assert (ds["info"].nas.remoteHost, ds["info"].nas.remotePath) == (nas["remote_host"], nas["remote_path"])
        hosts = retrieve(si, vim.HostSystem, ["name", "datastore"])
        for h in hosts.values():  # vcsim 0.24: hosts list the NAS datastore, ds.host stays empty
            assert [d.name for d in h["datastore"]] == [want], (site, h["name"])
    replica = lab["sites"]["recovery"]["replica_dirs"]["Replica-DS-01"]
    assert os.path.isdir(replica)


def test_vm_files_on_disk(lab):
    ds_dir = Path(lab["sites"]["primary"]["datastores"]["Prod-DS-01"])
    for vm in lab["vms"]:
        folder = ds_dir / vm["name"]
        assert (folder / ("%s.vmx" % vm["name"])).is_file(), folder
        assert (folder / ("%s.nvram" % vm["name"])).is_file(), folder
        assert list(folder.glob("*.vmdk")), folder
    # one folder per VM and nothing else, but for the dot files replication keeps there
    # (the rsync canary of the protect role's proof: .continuity-recovery-canary)
    folders = sorted(p.name for p in ds_dir.iterdir() if not p.name.startswith("."))
    assert folders == sorted(vm["name"] for vm in lab["vms"])


def expected_payments(accounts, payments):
    total = sum(100 + (g * 104729) % 500000 for g in range(1, payments + 1))
    rejected = sum(1 for g in range(1, payments + 1) if g % 50 == 0)
    return total, rejected


def test_postgres_schema_and_rows(lab, pg_connect):
    seed = lab["postgres"]["primary"]["seed"]
    with pg_connect() as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
        assert {"accounts", "payments", "lab_info"} <= tables
        fks = conn.execute("""
            SELECT count(*) FROM pg_constraint
             WHERE conrelid = 'public.payments'::regclass AND contype = 'f'
               AND confrelid = 'public.accounts'::regclass""").fetchone()[0]
        assert fks == 2
        assert conn.execute("SELECT count(*) FROM accounts").fetchone()[0] >= seed["accounts"]
        # the seeded rows are deterministic (later tests may append, never rewrite them)
        total, rejected = expected_payments(seed["accounts"], seed["payments"])
        row = conn.execute("SELECT count(*), sum(amount_cents), count(*) FILTER (WHERE status = 'rejected') "
                           "FROM payments WHERE id <= %s", (seed["payments"],)).fetchone()
        assert tuple(row) == (seed["payments"], total, rejected)


def test_postgres_settings_and_roles(lab, pg_connect):
    with pg_connect() as conn:
        settings = dict(conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
            (["wal_level", "max_wal_senders", "max_replication_slots", "wal_log_hints", "hot_standby",
              "password_encryption", "max_slot_wal_keep_size", "listen_addresses", "port",
              "data_checksums", "unix_socket_directories"],)).fetchall())
        assert settings["wal_level"] == "replica"
        assert settings["max_wal_senders"] == "10" and settings["max_replication_slots"] == "10"
        assert settings["wal_log_hints"] == "on" and settings["hot_standby"] == "on"
        assert settings["data_checksums"] == "on"
        assert settings["password_encryption"] == "scram-sha-256"
        assert settings["max_slot_wal_keep_size"] == "1024"  # MB
        assert settings["listen_addresses"] == "127.0.0.1"
        assert int(settings["port"]) == lab["postgres"]["primary"]["port"]
        assert settings["unix_socket_directories"] == lab["postgres"]["primary"]["socket_dir"]
        roles = dict(conn.execute("SELECT rolname, ARRAY[rolsuper, rolreplication] FROM pg_roles "
                                  "WHERE rolname IN ('dr_admin', 'replicator')").fetchall())
        assert roles == {"dr_admin": [True, False], "replicator": [False, True]}
    pg = lab["postgres"]["primary"]
    with pg_connect(user=pg["replication_user"], password=pg["replication_password"], dbname="postgres",
                    replication="database") as conn:
        assert conn.execute("IDENTIFY_SYSTEM").fetchone() is not None


def test_postgres_rejects_a_wrong_password(pg_connect):
    import psycopg
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        pg_connect(password="wrong").close()


def status(labctl, lab_dir, env=None):
    res = labctl("status", "--lab-dir", lab_dir, "--json", env=env)
    return res.returncode, json.loads(res.stdout)


def test_status_when_up(lab, lab_dir, labctl):
    code, st = status(labctl, lab_dir)
    assert code == 0 and st["up"] is True
    names = {c["name"]: c for c in st["components"]}
    assert {"vcsim-primary", "vcsim-recovery", "postgres-primary"} <= set(names)
    assert all(names[n]["alive"] and names[n]["pid"] for n in ("vcsim-primary", "vcsim-recovery",
                                                               "postgres-primary"))


def test_the_lab_server_ports_are_reserved_in_the_kernel(lab):
    """Automatic port assignment skips the ports private test servers listen on (see labctl.py)."""
    with open("/proc/sys/net/ipv4/ip_local_reserved_ports", encoding="ascii") as handle:
        reserved = labctl_module.parse_port_ranges(handle.read())
    for low, high in ((35400, 35799), (45432, 45439)):
        low, high = low + lab["port_offset"], high + lab["port_offset"]
        assert any(a <= low and high <= b for a, b in reserved), (low, high, reserved)


def test_up_twice_is_a_noop(lab, lab_dir, labctl):
    _code, before = status(labctl, lab_dir)
    lab_json = Path(lab_dir, "lab.json")
    mtime = lab_json.stat().st_mtime_ns
    t0 = time.monotonic()
    res = labctl("up", "--lab-dir", lab_dir)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    assert "changed=false" in res.stdout.splitlines()[-1], res.stdout
    assert "changed:" not in res.stdout
    _code, after = status(labctl, lab_dir)
    assert [(c["name"], c["pid"]) for c in after["components"]] == \
        [(c["name"], c["pid"]) for c in before["components"]]
    assert lab_json.stat().st_mtime_ns == mtime
    assert elapsed < 20, "a no-op `up` took %.1fs" % elapsed  # loose: it is ~0.5s when idle


# --------------------------------------------------------------------------- a private lab: full cycle

@pytest.fixture
def private_lab(labctl):
    """A 4-VM lab in its own LAB_DIR and ports; always purged afterwards."""
    base = tempfile.mkdtemp(prefix="crl-test-", dir="/var/tmp")
    os.chmod(base, 0o755)  # the postgres user must traverse it
    lab_dir = os.path.join(base, "lab")
    env = clean_env()
    env.update(LAB_DIR=lab_dir, LAB_VM_COUNT="4", LAB_PORT_OFFSET=os.environ.get("LAB_TEST_PORT_OFFSET", "300"))
    yield lab_dir, env
    labctl("down", "--purge", env=env)
    shutil.rmtree(base, ignore_errors=True)


def running(pid):
    """pid exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.mark.integration
def test_private_lab_cycle(private_lab, labctl):
    lab_dir, env = private_lab
    code, st = status(labctl, lab_dir, env)
    assert code == 3 and not st["up"]

    res = labctl("up", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    code, st = status(labctl, lab_dir, env)
    assert code == 0, st
    pids = {c["name"]: c["pid"] for c in st["components"]}
    lab = json.loads(Path(lab_dir, "lab.json").read_text())
    assert len(lab["vms"]) == 4 and lab["port_offset"] == int(env["LAB_PORT_OFFSET"])

    # a second `up` while running with other sizes is refused, not half-applied
    res = labctl("up", "--vm-count", "6", env=env)
    assert res.returncode == 1 and "down" in res.stderr

    # lose one vCenter: status is partial (3); `up` restarts and re-seeds only that one
    os.kill(pids["vcsim-recovery"], signal.SIGTERM)  # a process this test started
    for _attempt in range(50):
        if not running(pids["vcsim-recovery"]):
            break
        time.sleep(0.1)
    code, st = status(labctl, lab_dir, env)
    assert code == 3
    res = labctl("up", env=env)
    assert res.returncode == 0, res.stderr
    assert "vcsim-recovery started" in res.stdout and "vcsim-primary" not in res.stdout
    code, st = status(labctl, lab_dir, env)
    new = {c["name"]: c["pid"] for c in st["components"]}
    assert code == 0
    assert new["vcsim-primary"] == pids["vcsim-primary"]
    assert new["postgres-primary"] == pids["postgres-primary"]
    assert new["vcsim-recovery"] != pids["vcsim-recovery"]

    # down stops exactly those pids; twice is safe; data is kept without --purge
    res = labctl("down", env=env)
    assert res.returncode == 0, res.stderr
    for pid in new.values():
        assert not running(pid), pid
    code, _out = status(labctl, lab_dir, env)
    assert code == 3
    assert labctl("down", env=env).returncode == 0
    assert Path(lab_dir, "pg", "primary", "PG_VERSION").exists()

    # up again: PostgreSQL keeps its data, the vCenters are re-seeded
    res = labctl("up", env=env)
    assert res.returncode == 0, res.stderr
    assert "postgres-primary started" in res.stdout and "seeded" not in res.stdout.split("postgres-primary")[1]
    assert status(labctl, lab_dir, env)[0] == 0

    res = labctl("down", "--purge", env=env)
    assert res.returncode == 0, res.stderr
    assert not os.path.exists(lab_dir)

"""The loss test: emergency takeover after SIGKILL of the primary under write load, then failback.

On a lab of its own (FAILBACK_LAB_DIR, default /var/lib/crl-failback-it, port offset
FAILBACK_LAB_PORT_OFFSET=340), purged at the end; the shared lab is never touched.

1. protect (the protect role, that lab's plan), then baseline (the reference an emergency takeover needs);
2. writers insert one row per transaction into the plan's database, each with its own log:
   an id is logged as attempted before the INSERT and as acked only after COMMIT returned;
3. the recovery site stops receiving WAL (its WAL receiver is switched off: a link cut) while
   the writers go on, so the primary holds commits the standby never saw; then every process of
   the primary cluster is SIGKILLed by pid (postmaster.pid and its children, never by name);
4. emergency takeover (recovery_emergency) - the reported RPO (lost transactions / inserted rows)
   equals the acked ids missing at the new primary (plus at most one in-doubt id per writer
   connection: attempted, not acked, committed at the old primary only);
5. the old primary is started again by hand: it comes up fenced (in recovery) and refuses writes;
6. rows and a file are written at the recovery site (the takeover's writes);
7. failback outside a (closed) window is refused and recorded (check/change_window failed); check mode
   changes nothing; failback_pairs naming one pair only is refused before any change (tier data needs
   both pairs), as is a failback_baseline that is a file name; failback_cutover=false reverses and verifies only (the quarantine taken, the old primary
   streams from the recovery site, which stays the writable primary with its VMs running); then the
   failback (inside a change window passed in), SIGKILLed once the pairs replicate recovery -> primary
   and resumed by a rerun, both in the reverse-only run's directory - the quarantine file holds exactly
   the lost ids; every row written at the recovery site is at the primary; replication runs primary ->
   recovery again (replication_info, canary); the VMs are back on their primary portgroups with their
   primary IPs; a second failback changes nothing.

Reliability item 2 (crash takeover, docs/reliability.md): steps 3-5 and the failback's outcome record
their figures (``@pytest.mark.chaos_item("2")``, tests/chaos/figures_plugin.py); at each of those points
the number of sides that accept writes is counted (never more than one: no split brain).
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import psycopg
import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

from playbook_runner import run_playbook

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)
LAB_DIR = os.environ.get("FAILBACK_LAB_DIR", "/var/lib/crl-failback-it")
OFFSET = os.environ.get("FAILBACK_LAB_PORT_OFFSET", "340")
# the takeover: H3's role when present (FAILBACK_TAKEOVER=role|modules forces one), else the modules
TAKEOVER_ROLE = os.path.join(REPO, "roles", "takeover", "tasks", "main.yml")
WRITERS = 3
TAKEOVER_IDS = range(1_000_001, 1_000_201)


def labctl(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "tests", "lab", "labctl.py")] + list(args),
                          capture_output=True, text=True, timeout=600, cwd=REPO, check=False)


@pytest.fixture(scope="module")
def fb_lab():
    if os.path.exists(os.path.join(LAB_DIR, ".continuity-recovery-lab")):
        labctl("down", "--lab-dir", LAB_DIR, "--purge")  # a fresh lab: earlier runs may have left it failed over
    res = labctl("up", "--lab-dir", LAB_DIR, "--port-offset", OFFSET)
    if res.returncode != 0:
        pytest.fail("labctl up failed:\n%s%s" % (res.stdout, res.stderr))
    with open(os.path.join(LAB_DIR, "lab.json"), encoding="utf-8") as handle:
        lab = json.load(handle)
    plan = json.loads(labctl("plan", "--lab-dir", LAB_DIR, "--port-offset", OFFSET, "--format", "json").stdout)
    lab["plan"] = plan["recovery_plan"]
    work = tempfile.mkdtemp(prefix="crl-failback-it-")  # not pytest's tmp: kept while the module runs
    lab["evidence"], lab["logs"] = os.path.join(work, "evidence"), os.path.join(work, "writers")
    os.makedirs(lab["logs"])
    lab["state"] = {}
    yield lab
    if os.environ.get("FAILBACK_KEEP_LAB"):  # debugging: leave the lab and the evidence as the tests left them
        return
    shutil.rmtree(work)
    res = labctl("down", "--lab-dir", LAB_DIR, "--purge")
    assert res.returncode == 0, res.stdout + res.stderr


def playbook(lab, name, check=False, **extra):
    extra_vars = {"recovery_plan": lab["plan"], "recovery_evidence_root": lab["evidence"]}
    extra_vars.update(extra)
    run = run_playbook(os.path.join(REPO, "playbooks", name), extra_vars=extra_vars, check=check,
                       env={"LAB_DIR": LAB_DIR}, timeout=1200)
    for secret in ("lab-repl-secret", "lab-db-secret", "lab-vcenter-secret"):
        assert secret not in json.dumps(run.data), "a password leaked into the results of %s" % name
    return run


def connect(lab, side, **kw):
    pg = lab["postgres"][side]
    return psycopg.connect(host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"],
                           dbname=pg["database"], connect_timeout=5, **kw)


def ids_at(lab, side):
    with connect(lab, side) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM public.fb_writer")}


def writable_sides(lab):
    """The sides whose cluster answers and is not in recovery (accepts writes)."""
    out = []
    for side in ("primary", "standby"):
        try:
            with connect(lab, side) as conn:
                if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False:
                    out.append(side)
        except psycopg.OperationalError:  # down (killed, or stopped by the failback)
            pass
    return out


def count_writable(lab):
    """Record how many sides accept writes now; the largest count seen is item 2's split-brain figure."""
    sides = writable_sides(lab)
    lab["state"]["writable_max"] = max(lab["state"].get("writable_max", 0), len(sides))
    return sides


def records(lab, role):
    out = []
    for path in sorted(glob.glob(os.path.join(lab["evidence"], lab["plan"]["name"], "*", "records.jsonl"))):
        with open(path, encoding="utf-8") as handle:
            out += [r for r in map(json.loads, handle) if r["role"] == role]
    return out


# ------------------------------------------------------------------ the writers
class Writer(threading.Thread):
    """One connection, one row per transaction; ``attempted`` before the INSERT, ``acked`` after COMMIT."""

    def __init__(self, lab, number):
        super().__init__(daemon=True)
        self.lab, self.number = lab, number
        self.log = os.path.join(lab["logs"], "writer-%d.log" % number)
        self.stop = threading.Event()
        self.error = None

    def run(self):
        next_id = self.number
        with open(self.log, "a", encoding="utf-8") as log:
            try:
                with connect(self.lab, "primary") as conn:
                    while not self.stop.is_set():
                        log.write("attempt %d\n" % next_id)
                        log.flush()
                        with conn.transaction():
                            conn.execute("INSERT INTO public.fb_writer (id, writer, note) VALUES (%s, %s, %s)",
                                         (next_id, self.number, "written at the primary"))
                        log.write("ack %d\n" % next_id)  # only after COMMIT returned
                        log.flush()
                        next_id += WRITERS
            except psycopg.Error as exc:  # the primary was killed under us
                self.error = str(exc)

    def ids(self):
        attempted, acked = set(), set()
        with open(self.log, encoding="utf-8") as handle:
            for line in handle:
                what, value = line.split()
                (attempted if what == "attempt" else acked).add(int(value))
        return attempted, acked


def kill_cluster(data_dir):
    """SIGKILL the postmaster of ``data_dir`` (by postmaster.pid) and every child of it, by pid."""
    with open(os.path.join(data_dir, "postmaster.pid"), encoding="utf-8") as handle:
        postmaster = int(handle.readline())
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="utf-8") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == postmaster:
            children.append(int(entry))
    for pid in [postmaster] + children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(os.path.exists("/proc/%d" % p) and _alive(p)
                                              for p in [postmaster] + children):
        time.sleep(0.1)
    return [postmaster] + children


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def as_postgres(argv):
    pw = pwd.getpwnam("postgres")
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd="/",
                          user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])


def site_vms(lab, site):
    """name -> (power, [portgroup names], [guest IPs]) at ``site``."""
    vc = lab["sites"][site]["vcenter"]
    si = SmartConnect(host=vc["hostname"], port=vc["port"], user=vc["username"], pwd=vc["password"],
                      disableSslCertValidation=True)
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        net_view = content.viewManager.CreateContainerView(content.rootFolder,
                                                           [vim.dvs.DistributedVirtualPortgroup], True)
        pgs = {pg.key: pg.name for pg in net_view.view}
        pc = vmodl.query.PropertyCollector
        vms = list(view.view)
        out = {}
        if vms:
            spec = pc.FilterSpec(objectSet=[pc.ObjectSpec(obj=vm) for vm in vms], propSet=[pc.PropertySpec(
                type=vim.VirtualMachine, pathSet=["name", "config.hardware.device", "guest.net", "runtime.powerState"])])
            for item in content.propertyCollector.RetrieveContents([spec]):
                props = {p.name: p.val for p in item.propSet}
                nics = [pgs.get(getattr(getattr(d.backing, "port", None), "portgroupKey", None))
                        for d in props.get("config.hardware.device") or []
                        if isinstance(d, vim.vm.device.VirtualEthernetCard)]
                ips = sorted(ip for n in props.get("guest.net") or [] for ip in n.ipAddress or [])
                out[props["name"]] = (str(props["runtime.powerState"]), nics, ips)
        view.Destroy()
        net_view.Destroy()
        return out
    finally:
        Disconnect(si)


def pair_args(lab, name):
    pair = next(p for p in lab["plan"]["replication"] if p["name"] == name)
    if pair["engine"] == "rsync":
        return {"name": name, "engine": "rsync", "source": pair["source"], "target": {"path": pair["target"]["path"]}}
    pg = lab["postgres"]
    return {"name": name, "engine": "postgresql", "slot": pair["slot"],
            "replication_user": pg["primary"]["replication_user"],
            "replication_password": pg["primary"]["replication_password"],
            "primary": dict(pair["primary"], data_dir=pg["primary"]["data_dir"]),
            "standby": dict(pair["standby"], data_dir=pg["standby"]["data_dir"])}


def module_play(tmp_path, name, tasks):
    path = os.path.join(tmp_path, name + ".yml")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump([{"name": name, "hosts": "localhost", "gather_facts": False, "tasks": tasks}], handle)
    return run_playbook(path, env={"LAB_DIR": LAB_DIR}, timeout=900)


# ------------------------------------------------------------------ the test, in order
def test_protect_and_baseline(fb_lab):
    with connect(fb_lab, "primary", autocommit=True) as conn:
        conn.execute("CREATE TABLE public.fb_writer (id bigint PRIMARY KEY, writer int NOT NULL, note text NOT NULL,"
                     " at timestamptz NOT NULL DEFAULT now())")
    run = playbook(fb_lab, "protect.yml")
    assert run.rc == 0, run.stdout[-4000:]
    run = playbook(fb_lab, "baseline.yml")  # the reference configuration an emergency takeover starts from
    assert run.rc == 0, run.stdout[-4000:]
    with connect(fb_lab, "standby") as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True


@pytest.mark.chaos_item("2")
def test_sigkill_under_load_then_emergency_takeover(fb_lab, tmp_path, figures):
    lab, state = fb_lab, fb_lab["state"]
    writers = [Writer(lab, n) for n in range(1, WRITERS + 1)]
    for w in writers:
        w.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(ids_at(lab, "standby")) < 100:
        time.sleep(0.2)  # the standby streams under load
    assert len(ids_at(lab, "standby")) >= 100
    # the link to the recovery site goes down: its WAL receiver stops, the writers go on
    with connect(lab, "standby", autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET primary_conninfo = ''")
        conn.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and conn.execute("SELECT count(*) FROM pg_stat_wal_receiver").fetchone()[0]:
            time.sleep(0.1)
    time.sleep(1.5)
    killed = kill_cluster(lab["postgres"]["primary"]["data_dir"])
    assert len(killed) > 1
    figures.set(writers=WRITERS, processes_killed=len(killed))
    for w in writers:
        w.join(timeout=30)
        assert not w.is_alive() and w.error, "writer %d did not see the primary die" % w.number
    attempted, acked = set(), set()
    for w in writers:
        a, k = w.ids()
        attempted |= a
        acked |= k
    in_doubt = attempted - acked
    assert len(in_doubt) <= WRITERS  # at most one per connection
    state.update(attempted=attempted, acked=acked, in_doubt=in_doubt)

    by = os.environ.get("FAILBACK_TAKEOVER") or ("role" if os.path.exists(TAKEOVER_ROLE) else "modules")
    if by == "role":
        # the primary vCenter still answers (its VMs run): anything of the primary answering needs the confirmation
        run = playbook(lab, "takeover.yml", takeover_mode="emergency", recovery_emergency=True,
                       takeover_confirm_healthy_primary=True)
        assert run.rc == 0, run.stdout[-5000:]
        rpo = [r["data"]["rpo"] for r in records(lab, "takeover")
               if r["kind"] == "change" and r["name"] == "promote" and r["subject"] == "pair:paydb"][-1]
        state["takeover_by"] = "role"
    else:  # the takeover driven through the modules
        vc = lab["sites"]["recovery"]["vcenter"]
        conn = {k: vc[k] for k in ("hostname", "port", "username", "password", "validate_certs")}
        promote_pg = dict(pair_args(lab, "paydb"), state="promoted")
        promote_rs = dict(pair_args(lab, "vmstore"), state="promoted")
        present = dict(conn, plan=lab["plan"], state="present")
        vms = dict(conn, plan=lab["plan"], action="takeover", mode="emergency")
        run = module_play(str(tmp_path), "emergency takeover", [
            {"name": "promote paydb", "continuity.recovery.replication": promote_pg},
            {"name": "promote vmstore", "continuity.recovery.replication": promote_rs},
            {"name": "present replica", "continuity.recovery.storage_mapping": present},
            {"name": "vms", "continuity.recovery.host_cutover": vms},
        ])
        assert run.rc == 0, run.stdout[-5000:]
        rpo = run.task_results("promote paydb")[0]["rpo"]
        state["takeover_by"] = "modules"
    at_new = ids_at(lab, "standby")
    missing_acked = acked - at_new
    lost_in_doubt_max = in_doubt - at_new
    assert missing_acked, "the link cut should have left acked commits at the old primary only"
    assert at_new <= attempted  # nothing the writers did not attempt
    assert rpo["mode"] == "emergency" and rpo["exact"] is True, rpo
    lost = rpo["lost_rows"]["inserted"]
    assert len(missing_acked) <= lost <= len(missing_acked) + len(lost_in_doubt_max), (rpo, len(missing_acked))
    assert rpo["lost_transactions"] == lost  # one row per transaction
    state.update(at_new=at_new, missing_acked=missing_acked, rpo=rpo)
    assert count_writable(lab) == ["standby"]
    figures.set(rows_attempted=len(attempted), rows_acked=len(acked), in_doubt_rows=len(in_doubt),
                acked_rows_not_replicated=len(missing_acked), rows_at_new_primary=len(at_new),
                rpo_lost_rows=lost, rpo_lost_transactions=rpo["lost_transactions"], rpo_exact=rpo["exact"],
                rpo_equals_acked_missing_plus_in_doubt_committed=len(missing_acked) <= lost
                <= len(missing_acked) + len(lost_in_doubt_max), takeover_by=state["takeover_by"])


@pytest.mark.chaos_item("2")
def test_old_primary_comes_back_fenced(fb_lab, figures):
    pg = fb_lab["postgres"]["primary"]
    assert os.path.exists(os.path.join(pg["data_dir"], "continuity.recovery.fence"))
    res = as_postgres([os.path.join(pg["bin_dir"], "pg_ctl"), "-D", pg["data_dir"], "-l", pg["log_file"], "-w",
                       "-t", "60", "start"])
    assert res.returncode == 0, res.stdout + res.stderr
    with connect(fb_lab, "primary", autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO public.fb_writer (id, writer, note) VALUES (-1, 0, 'must be refused')")
    assert count_writable(fb_lab) == ["standby"]  # the recovery site only: no split brain
    figures.set(restarted_in_recovery=True, write_refused_at_old_primary=True, fence_file_present=True)
    # left running: the failback stops it before extracting and rewinding


def test_writes_at_the_recovery_site(fb_lab):
    with connect(fb_lab, "standby") as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
        for i in TAKEOVER_IDS:
            with conn.transaction():
                conn.execute("INSERT INTO public.fb_writer (id, writer, note) VALUES (%s, 0, 'written during the takeover')",
                             (i,))
        conn.execute("UPDATE public.accounts SET balance_cents = balance_cents + 1 WHERE id <= 10")
        conn.commit()
    replica = fb_lab["sites"]["recovery"]["replica_dirs"]["Replica-DS-01"]
    with open(os.path.join(replica, "db01", "takeover.log"), "w", encoding="utf-8") as handle:
        handle.write("written at the recovery site during the takeover\n")
    fb_lab["state"]["at_recovery"] = ids_at(fb_lab, "standby")


def window():
    now = datetime.datetime.now(datetime.timezone.utc)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {"start": (now - datetime.timedelta(hours=1)).strftime(fmt),
            "end": (now + datetime.timedelta(hours=1)).strftime(fmt)}


def test_failback_refused_outside_the_change_window(fb_lab):
    before = {r["run_id"] for r in records(fb_lab, "failback")}
    run = playbook(fb_lab, "failback.yml", failback_change_window={"start": "2020-01-01T00:00:00Z",
                                                                   "end": "2020-01-01T01:00:00Z"})
    assert run.rc != 0 and "refusing to change anything outside it" in json.dumps(run.failures())
    assert any("failback refused, nothing was changed" in f.get("msg", "") for f in run.failures()), run.failures()
    with connect(fb_lab, "standby") as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
    # the refusal is recorded (and nothing else: no change record, no journal to resume)
    refused = [r for r in records(fb_lab, "failback") if r["run_id"] not in before]
    assert [(r["kind"], r["name"], r["status"]) for r in refused] == [("check", "change_window", "failed")], refused
    assert refused[0]["data"]["stage"] == "start" and refused[0]["data"]["window"]["end"] == "2020-01-01T01:00:00Z"
    run_dir_of = os.path.join(fb_lab["evidence"], fb_lab["plan"]["name"], refused[0]["run_id"])
    assert not os.path.exists(os.path.join(run_dir_of, "journal.jsonl"))


def test_failback_check_mode_changes_nothing(fb_lab):
    before_recovery = site_vms(fb_lab, "recovery")
    run = playbook(fb_lab, "failback.yml", check=True, failback_change_window=window())
    assert run.rc == 0, run.stdout[-5000:]
    with connect(fb_lab, "standby") as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
    with connect(fb_lab, "primary") as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
    assert site_vms(fb_lab, "recovery") == before_recovery
    planned = {r["subject"]: r["data"] for r in records(fb_lab, "failback") if r["name"] == "failback"}
    assert planned["pair:paydb"]["check_mode"] and planned["pair:paydb"]["phase"] == "taken_over"
    assert any("pg_rewind" in a for a in planned["pair:paydb"]["actions"])
    assert any("extract" in a for a in planned["pair:paydb"]["actions"])
    assert planned["pair:vmstore"]["phase"] == "taken_over"


def test_failback_of_one_pair_refused_when_a_tier_needs_the_other(fb_lab):
    """failback_pairs=[paydb]: tier data needs paydb and vmstore (db01/db02 on Prod-DS-01), so its VMs could not
    move back; cutting paydb back under them is refused before anything changes, naming the tier, VMs and pairs."""
    before_recovery, before_primary = site_vms(fb_lab, "recovery"), site_vms(fb_lab, "primary")
    known = {r["run_id"] for r in records(fb_lab, "failback")}
    run = playbook(fb_lab, "failback.yml", failback_change_window=window(), failback_pairs=["paydb"])
    assert run.rc != 0
    msg = " ".join(f.get("msg", "") for f in run.failures())
    assert "failback refused, nothing was changed" in msg, msg
    assert "tier data needs pair vmstore (VM db01 on datastore Prod-DS-01" in msg and "pair paydb" in msg, msg
    with connect(fb_lab, "standby") as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
    with connect(fb_lab, "primary") as conn:  # the old primary, restarted fenced, not touched (not rewound)
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
    assert site_vms(fb_lab, "recovery") == before_recovery and site_vms(fb_lab, "primary") == before_primary
    new = [r for r in records(fb_lab, "failback") if r["run_id"] not in known]
    tiers = [r for r in new if r["name"] == "tiers"]
    assert len(tiers) == 1 and tiers[0]["status"] == "failed"
    assert tiers[0]["data"]["staying"] == ["data", "app", "web"] and tiers[0]["data"]["moving"] == []
    assert not [r for r in new if r["kind"] == "change"]
    assert not os.path.exists(os.path.join(fb_lab["evidence"], fb_lab["plan"]["name"], tiers[0]["run_id"], "journal.jsonl"))


def test_failback_with_a_baseline_that_is_no_baseline_is_refused_before_any_change(fb_lab):
    """A file name where the record belongs: host_cutover would refuse it only after the data was cut back."""
    before_recovery, before_primary = site_vms(fb_lab, "recovery"), site_vms(fb_lab, "primary")
    run = playbook(fb_lab, "failback.yml", failback_change_window=window(),
                   failback_baseline="/var/lib/evidence/baseline-20261201T000000Z.json")
    assert run.rc != 0
    msg = " ".join(f.get("msg", "") for f in run.failures())
    assert "baseline_vms: failback_baseline must be a baseline record" in msg and "got str" in msg, msg
    with connect(fb_lab, "standby") as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
    with connect(fb_lab, "primary") as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
    assert site_vms(fb_lab, "recovery") == before_recovery and site_vms(fb_lab, "primary") == before_primary


REVERSE_ONLY_IDS = range(2_000_001, 2_000_051)


def test_failback_reverse_and_verify_only(fb_lab):
    """failback_cutover=false: the pairs are reversed (quarantine, pg_rewind; rsync reverse delta) and verified, then
    the role stops - no final sync, no cut back, no fence: the recovery site stays the writable primary, its VMs run."""
    lab, state = fb_lab, fb_lab["state"]
    before_recovery = site_vms(lab, "recovery")
    assert before_recovery and {v[0] for v in before_recovery.values()} == {"poweredOn"}
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    run = playbook(lab, "failback.yml", failback_change_window=window(), failback_cutover=False)
    assert run.rc == 0, run.stdout[-6000:]
    # the old primary follows the recovery site; the recovery site is still the primary and accepts writes
    with connect(lab, "primary") as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
    with connect(lab, "standby") as conn:
        assert conn.execute("SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only')").fetchone() \
            == (False, "off")
        for i in REVERSE_ONLY_IDS:
            with conn.transaction():
                conn.execute("INSERT INTO public.fb_writer (id, writer, note) VALUES (%s, 0, 'written after the reversal')",
                             (i,))
    state["at_recovery"] = ids_at(lab, "standby")
    assert count_writable(lab) == ["standby"]
    assert site_vms(lab, "recovery") == before_recovery  # the VMs at the recovery site still run, untouched
    recs = [r for r in records(lab, "failback") if r["ts"] >= started]
    assert len({r["run_id"] for r in recs}) == 1
    names = {(r["kind"], r["name"]) for r in recs}
    assert ("check", "reversed") in names and ("change", "quarantine") in names
    assert ("check", "recovery_writes_at_primary") not in names and ("change", "vms") not in names
    assert not [r for r in records(lab, "protect") if r["run_id"] == recs[0]["run_id"]]  # nothing re-protected
    skipped = [r for r in recs if r["name"] == "cut_back"]
    assert len(skipped) == 1 and skipped[0]["status"] == "skipped" and skipped[0]["kind"] == "change"
    changes = {r["subject"]: r["data"] for r in recs if r["kind"] == "change" and r["name"] == "failback"}
    assert [s["step"] for s in changes["pair:paydb"]["steps"]] == ["reversed"]
    assert [s["step"] for s in changes["pair:vmstore"]["steps"]] == ["reversed"]
    assert changes["pair:paydb"]["stopped_after"] == "verify"
    summary = [r for r in recs if r["kind"] == "summary"][-1]["data"]
    assert summary["cutover"] is False and summary["stopped_after"] == "verify" and summary["proven"] is None
    # the failback is not finished: the journal step stays started, so the run that cuts back continues here
    run_dir_of = os.path.join(lab["evidence"], lab["plan"]["name"], recs[0]["run_id"])
    with open(os.path.join(run_dir_of, "journal.jsonl"), encoding="utf-8") as handle:
        assert [e["status"] for e in map(json.loads, handle) if e["step"] == "failback"] == ["started"]
    state["reverse_only_run_id"] = recs[0]["run_id"]


def interrupted_failback(lab, after):
    """Start the failback playbook and SIGKILL its process group (started here, killed by pid) as soon as a
    failback record named ``after`` appears; returns the run directory it was writing."""
    env = dict(os.environ, LAB_DIR=LAB_DIR, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "collections"),
               PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    extra = {"recovery_plan": lab["plan"], "recovery_evidence_root": lab["evidence"],
             "failback_change_window": window()}
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    proc = subprocess.Popen([os.path.join(VENV_BIN, "ansible-playbook"), os.path.join(REPO, "playbooks", "failback.yml"),
                             "-i", os.path.join(REPO, "inventories", "lab"), "-e", json.dumps(extra)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            seen = [r for r in records(lab, "failback") if r["ts"] >= started and r["name"] == after]
            if seen:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=60)
                return seen[-1]["run_id"]
            time.sleep(0.2)
        raise AssertionError("the failback ended (rc %s) before a %r record" % (proc.poll(), after))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)


def test_failback_interrupted_after_the_reversal_then_resumed(fb_lab):
    """Killed once the pairs run recovery -> primary (reversed by the reverse-only run: quarantine written, pg_rewind
    done); the rerun resumes in the same run directory - the reverse-only run's - and finishes; test_failback then
    checks the outcome."""
    lab, state = fb_lab, fb_lab["state"]
    state["failback_started"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    run_id = interrupted_failback(lab, "reversed")
    assert run_id == state["reverse_only_run_id"]  # continued in the reverse-only run's directory
    with connect(lab, "primary") as conn:  # the old primary follows the recovery site now
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
    with connect(lab, "standby") as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
    run = playbook(lab, "failback.yml", failback_change_window=window())
    assert run.rc == 0, run.stdout[-6000:]
    since = [r for r in records(lab, "failback") if r["ts"] > state["failback_started"] and not r["data"].get("check_mode")]
    assert {r["run_id"] for r in since} == {run_id}  # one run directory: the rerun resumed the interrupted run
    assert len([r for r in since if r["kind"] == "summary"]) == 1
    phases = [r["data"]["phases"] for r in since if r["name"] == "preflight"]
    assert phases == [{"paydb": "taken_over", "vmstore": "taken_over"}] * 2
    state["failback_run_id"] = run_id


@pytest.mark.chaos_item("2")
def test_failback(fb_lab, figures):
    lab, state = fb_lab, fb_lab["state"]
    recs = [r for r in records(lab, "failback") if r["run_id"] == state["failback_run_id"]]

    # the quarantine file holds exactly the lost ids (written by the reverse-only run, reported by the later ones)
    quarantine = [r for r in recs if r["name"] == "quarantine"]
    assert len(quarantine) == 3 and {q["kind"] for q in quarantine} == {"change"}, quarantine
    assert not quarantine[0]["data"].get("existing") and quarantine[-1]["data"]["existing"] is True
    assert quarantine[0]["data"]["path"] == quarantine[-1]["data"]["path"]
    path = quarantine[0]["data"]["path"]
    assert path.startswith(lab["evidence"]) and os.stat(path).st_mode & 0o077 == 0
    with open(path, encoding="utf-8") as handle:
        doc = json.load(handle)
    tables = {name.split(":", 1)[1]: t for name, t in doc["tables"].items()}
    quarantined = {row["id"] for row in tables["public.fb_writer"]["rows"]}
    assert set(tables) == {"public.fb_writer"}
    assert state["missing_acked"] <= quarantined                       # every acked row the takeover lost
    assert quarantined - state["missing_acked"] <= state["in_doubt"]    # plus in-doubt ones that committed
    assert not quarantined & state["at_new"]                           # nothing that survived the takeover
    assert len(quarantined) == state["rpo"]["lost_rows"]["inserted"] == doc["totals"]["rows"]
    assert quarantine[0]["data"]["transactions"] == state["rpo"]["lost_transactions"]

    # every row written at the recovery site during the takeover is at the primary
    with connect(lab, "primary") as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
        at_primary = {r[0] for r in conn.execute("SELECT id FROM public.fb_writer")}
        balances = conn.execute("SELECT sum(balance_cents) FROM public.accounts WHERE id <= 10").fetchone()[0]
    assert state["at_recovery"] <= at_primary and set(TAKEOVER_IDS) <= at_primary
    assert set(REVERSE_ONLY_IDS) <= at_primary  # written at the recovery site after the reverse-only run
    assert not quarantined & at_primary  # the lost rows are in the quarantine, not silently back
    assert count_writable(lab) == ["primary"]
    # every acked row is at the primary or, lost by the takeover, in the quarantine file
    unaccounted = state["acked"] - at_primary - quarantined
    figures.set(quarantined_rows=len(quarantined), takeover_rows_written=len(TAKEOVER_IDS),
                takeover_rows_at_primary=len(set(TAKEOVER_IDS) & at_primary),
                rows_lost_after_failback=len(unaccounted), writable_primaries_max=state["writable_max"])
    assert not unaccounted
    assert state["writable_max"] == 1
    with connect(lab, "standby") as conn:
        assert conn.execute("SELECT sum(balance_cents) FROM public.accounts WHERE id <= 10").fetchone()[0] == balances
    primary_ds = lab["sites"]["primary"]["datastores"]["Prod-DS-01"]
    with open(os.path.join(primary_ds, "db01", "takeover.log"), encoding="utf-8") as handle:
        assert handle.read() == "written at the recovery site during the takeover\n"

    # replication runs primary -> recovery again
    probe = module_play(run_dir(lab), "after failback", [
        {"name": "info", "continuity.recovery.replication_info": pair_args(lab, "paydb")},
        {"name": "canary", "continuity.recovery.replication": dict(pair_args(lab, "paydb"), state="synced", canary=True)},
        {"name": "files", "continuity.recovery.replication_info": pair_args(lab, "vmstore")},
    ])
    assert probe.rc == 0, probe.stdout[-3000:]
    info = probe.task_results("info")[0]
    assert info["source"]["role"] == "primary" and info["target"]["role"] == "standby"
    assert info["direction"] == "forward" and info["streaming"]["state"] == "streaming"
    assert probe.task_results("canary")[0]["canary"]["read_at_target"] is True
    files = probe.task_results("files")[0]
    assert files["authoritative"] == "source" and files["direction"] == "forward"

    # the VMs are back on their primary portgroups with their primary IPs; the recovery site's are off
    primary = site_vms(lab, "primary")
    for vm in lab["vms"]:
        assert primary[vm["name"]] == ("poweredOn", [vm["portgroup"]], [vm["ip"]]), vm["name"]
    assert site_vms(lab, "recovery") == {}  # shut down, then unregistered (unregister_source): as before the takeover
    replica = lab["sites"]["recovery"]["replica_dirs"]["Replica-DS-01"]
    assert all(os.path.exists(os.path.join(replica, vm["name"], vm["name"] + ".vmx")) for vm in lab["vms"])

    # evidence; the journal says the failback finished (a rerun would not resume it)
    run_dir_of = os.path.dirname(path.rsplit("/quarantine/", 1)[0] + "/")
    with open(os.path.join(run_dir_of, "journal.jsonl"), encoding="utf-8") as handle:
        events = [e for e in map(json.loads, handle) if e["step"] == "failback"]
    # reverse only (left started), killed once, resumed, finished
    assert [e["status"] for e in events] == ["started", "started", "started", "done"]
    # attempts of the failback that cut back (the reverse-only run before them not counted)
    figures.set(failback_attempts=len([e for e in events if e["status"] == "started"]) - 1)
    summary = [r for r in recs if r["kind"] == "summary" and r["name"] == "failback"][-1]["data"]
    assert summary["pairs"] == 2 and summary["failed_back"] == 2 and summary["proven"] is True
    assert summary["quarantine_files"] == [path]
    assert summary["quarantined_rows"] == len(quarantined)
    assert summary["quarantined_transactions"] == state["rpo"]["lost_transactions"]
    proofs = {r["subject"]: r for r in recs if r["name"] == "recovery_writes_at_primary"}
    assert {p["status"] for p in proofs.values()} == {"ok"}
    assert proofs["pair:paydb"]["data"]["final_lsn_replayed_at_primary"] is True
    changes = {r["subject"]: r for r in recs if r["kind"] == "change" and r["name"] == "failback"}
    assert [s["step"] for s in changes["pair:paydb"]["data"]["steps"]] == [
        "reversed", "final_sync", "cut_back", "reprotect"]
    steps = changes["pair:vmstore"]["data"]["steps"]
    assert [s["step"] for s in steps] == ["reversed", "final_sync", "cut_back"]
    assert "cut_back" in steps[2]["details"]
    reversed_files = [r for r in recs if r["name"] == "reversed" and r["subject"] == "pair:vmstore"]
    assert reversed_files[0]["data"]["last_run"]["kind"] == "reverse delta"  # by the reverse-only run


def run_dir(lab):
    path = os.path.join(lab["logs"], "plays")
    os.makedirs(path, exist_ok=True)
    return path


def test_failback_again_changes_nothing(fb_lab):
    run = playbook(fb_lab, "failback.yml", failback_change_window=window())
    assert run.rc == 0, run.stdout[-5000:]
    changed = [t["task"]["name"] for t in run.data["plays"][0]["tasks"] if t["hosts"]["localhost"].get("changed")]
    assert run.stats.get("changed", 0) == 0, changed

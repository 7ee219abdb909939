"""The takeover role, its journal and playbooks/rollback.yml against a lab of their own.

Destructive (the primary VMs go down, the databases are promoted), so these tests start
their own lab (TAKEOVER_LAB_DIR, default /var/lib/crl-takeover-it, port offset
TAKEOVER_LAB_PORT_OFFSET=330), protect it with the protect role, and purge it at the end;
the shared lab is never touched. Playbooks run by FQCN, as users run them.

Order matters (pytest keeps the file order): refusals (outside the window; the primary answers
and no confirmation, the message naming what answered; an empty reference) and check mode change
nothing; a planned takeover whose second tier fails, rolled back, then completed by a rerun (zero
rows lost, each VM registered once, tiers in order, rpo/rto/timing evidence); a rerun that
changes nothing; then, on a fresh lab, a planned takeover during which files keep appearing at
the primary datastore: zero loss is not proven, it stops after the promotion before storage and
tiers, and a rerun with takeover_accept_data_loss completes it; on a fresh lab, an emergency
takeover with the primary site gone (refused while its vCenter still answers, even refusing the
login; outside the change window, recovery_emergency), killed during its second tier and
completed by a rerun; last, on a fresh lab again, a planned takeover killed during its second
tier, rolled back from that state, then completed by a rerun.

Reruns pass takeover_confirm_healthy_primary whenever the primary vCenter still answers (its VMs
powered off): anything of the primary that answers needs the confirmation.

Reliability item 3 (interrupted takeover, docs/reliability.md): the last two record their
figures (``@pytest.mark.chaos_item("3")``, tests/chaos/figures_plugin.py).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import psycopg
import pytest
import yaml
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

from fingerprint import vsphere_fingerprint
from playbook_runner import REPO, run_playbook

pytestmark = pytest.mark.integration

LAB_DIR = os.environ.get("TAKEOVER_LAB_DIR", "/var/lib/crl-takeover-it")
OFFSET = os.environ.get("TAKEOVER_LAB_PORT_OFFSET", "330")
TAKEOVER = "continuity.recovery.takeover"
ROLLBACK = "continuity.recovery.rollback"
MARKER = "continuity.recovery.role"
ROWS = 400


def labctl(*args):
    return subprocess.run([os.path.join(REPO, ".venv", "bin", "python"), os.path.join(REPO, "tests", "lab", "labctl.py")]
                          + list(args), capture_output=True, text=True, timeout=600, cwd=REPO, check=False)


def iso(delta_hours):
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=delta_hours)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def open_window():
    return {"start": iso(-1), "end": iso(2)}


class Lab:
    def __init__(self, root):
        self.root = str(root)
        self.evidence = os.path.join(self.root, "evidence")
        self.env = {"LAB_DIR": LAB_DIR}
        self.info = None
        self.plan = None

    def up(self):
        res = labctl("up", "--lab-dir", LAB_DIR, "--port-offset", OFFSET)
        assert res.returncode == 0, res.stdout + res.stderr
        with open(os.path.join(LAB_DIR, "lab.json"), encoding="utf-8") as handle:
            self.info = json.load(handle)
        plan = labctl("plan", "--lab-dir", LAB_DIR, "--port-offset", OFFSET, "--format", "yaml")
        self.plan = yaml.safe_load(plan.stdout)["recovery_plan"]
        run = self.play("continuity.recovery.protect", recovery_run_id="20000101T000000Z")
        assert run.rc == 0, run.stdout[-3000:]

    def reset(self):
        """A fresh lab (purged, evidence removed, up and protected again) for the next scenario."""
        assert labctl("down", "--lab-dir", LAB_DIR, "--purge").returncode == 0
        shutil.rmtree(self.evidence, ignore_errors=True)
        self.up()

    def write_rows(self):
        """ROWS rows into a new table at the primary; returns their rows() digest."""
        with self.pg("primary") as conn:
            conn.execute("create table takeover_it_rows (id serial primary key, v text not null)")
            conn.execute("insert into takeover_it_rows (v) select 'row ' || g from generate_series(1, %d) g" % ROWS)
            return rows(conn)

    def play(self, playbook, check=False, **extra):
        extra_vars = {"recovery_plan": self.plan, "recovery_evidence_root": self.evidence}
        extra_vars.update(extra)
        return run_playbook(playbook, extra_vars=extra_vars, check=check, env=self.env)

    def pg(self, side):
        pg = self.info["postgres"][side]
        return psycopg.connect(host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"],
                               dbname=pg["database"], autocommit=True, connect_timeout=5)

    def vcenter(self, site):
        return self.info["sites"][site]["vcenter"]

    def runs(self):
        base = os.path.join(self.evidence, self.plan["name"])
        return sorted(os.listdir(base)) if os.path.isdir(base) else []

    def records(self, run_id):
        with open(os.path.join(self.evidence, self.plan["name"], run_id, "records.jsonl"), encoding="utf-8") as handle:
            return [json.loads(line) for line in handle]

    def journal(self, run_id):
        path = os.path.join(self.evidence, self.plan["name"], run_id, "journal.jsonl")
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle]


def journal_state(events):
    state = {}
    for event in events:
        state[event["step"]] = event["status"]
    return state


@pytest.fixture(scope="module")
def tk_lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("takeover"))
    lab.up()
    yield lab
    res = labctl("down", "--lab-dir", LAB_DIR, "--purge")
    assert res.returncode == 0, res.stdout + res.stderr


def recovery_vms(lab):
    """name -> [(power, [portgroups], [guest IPs], marker role)] at the recovery site (one entry per registration)."""
    vc = lab.vcenter("recovery")
    si = SmartConnect(host=vc["hostname"], port=vc["port"], user=vc["username"], pwd=vc["password"],
                      disableSslCertValidation=True)
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        net_view = content.viewManager.CreateContainerView(content.rootFolder, [vim.dvs.DistributedVirtualPortgroup],
                                                           True)
        pgs = {pg.key: pg.name for pg in net_view.view}
        pc = vmodl.query.PropertyCollector
        vms = list(view.view)
        out = {}
        if vms:
            spec = pc.FilterSpec(objectSet=[pc.ObjectSpec(obj=vm) for vm in vms], propSet=[pc.PropertySpec(
                type=vim.VirtualMachine, pathSet=["name", "config.hardware.device", "config.extraConfig", "guest.net",
                                                  "runtime.powerState"])])
            for item in content.propertyCollector.RetrieveContents([spec]):
                props = {p.name: p.val for p in item.propSet}
                nics = [pgs.get(d.backing.port.portgroupKey) for d in props["config.hardware.device"]
                        if isinstance(d, vim.vm.device.VirtualEthernetCard)]
                role = next((o.value for o in props.get("config.extraConfig") or [] if o.key == MARKER), None)
                ips = sorted(ip for n in props.get("guest.net") or [] for ip in n.ipAddress or [])
                out.setdefault(props["name"], []).append((str(props["runtime.powerState"]), nics, ips, role))
        view.Destroy()
        net_view.Destroy()
        return out
    finally:
        Disconnect(si)


def primary_power(lab):
    return {k.split(":", 1)[1]: v["power"] for k, v in vsphere_fingerprint(lab.vcenter("primary")).items()
            if isinstance(v, dict) and "power" in v}


def expected_ips(lab):
    return {vm["name"]: "10.20." + vm["ip"].split(".", 2)[2] for vm in lab.info["vms"]}


def kill_during(lab, extra, step, timeout=300):
    """Run the takeover playbook and SIGKILL its process group once the journal shows ``step`` started."""
    extra_vars = {"recovery_plan": lab.plan, "recovery_evidence_root": lab.evidence}
    extra_vars.update(extra)
    bin_dir = os.path.join(REPO, ".venv", "bin")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), LAB_DIR=LAB_DIR,
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "collections"),
               PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    before = set(lab.runs())
    proc = subprocess.Popen([os.path.join(bin_dir, "ansible-playbook"), TAKEOVER, "-i", os.path.join(REPO, "inventories", "lab"),
                             "-e", json.dumps(extra_vars)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            new = set(lab.runs()) - before
            if new and any(e["step"] == step and e["status"] == "started" for e in lab.journal(sorted(new)[-1])):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the journal never showed %s started (rc %s)" % (step, proc.poll()))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    return proc.returncode


def failure_text(run):
    return " ".join(str(f.get("msg", "")) for f in run.failures())


def leaks(run, secrets=("lab-db-secret", "lab-vcenter-secret", "lab-repl-secret")):
    """Names of the tasks whose results (what AWX stores as job events) carry a lab secret."""
    found = []
    for play in run.data.get("plays", []):
        for task in play.get("tasks", []):
            text = json.dumps(task.get("hosts", {}))
            if any(secret in text for secret in secrets):
                found.append(task["task"]["name"])
    return found


def settled_recovery_vms(lab, quiet=3.0, timeout=120):
    """recovery_vms once it stops changing: vCenter tasks submitted before a kill run on without their client."""
    last, since = recovery_vms(lab), time.monotonic()
    deadline = since + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = recovery_vms(lab)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
    raise AssertionError("the recovery site kept changing for %ss after the kill" % timeout)


def duplicate_registrations(vms):
    """Registrations beyond the first of each VM name at the recovery site."""
    return sum(len(regs) - 1 for regs in vms.values())


def rolled_back(lab, run_id):
    """playbooks/rollback.yml on the unfinished takeover ``run_id``: in check mode first (nothing changes), then
    for real - tiers data and app undone, the promoted pair left done (the way back is failback), the recovery
    site's VMs powered off, each registered once. Returns (the real run, the rollback's summary record)."""
    vms_before, journal_before = recovery_vms(lab), lab.journal(run_id)
    dry = lab.play(ROLLBACK, check=True)
    assert dry.rc == 0, dry.stdout[-3000:]
    assert recovery_vms(lab) == vms_before and lab.journal(run_id) == journal_before
    back = lab.play(ROLLBACK)
    assert back.rc == 0, back.stdout[-3000:]
    state = journal_state(lab.journal(run_id))
    assert state["takeover/tier:app"] == "undone" and state["takeover/tier:data"] == "undone"
    assert state["takeover/pair:paydb/promote"] == "done"  # never un-promoted: the way back is failback
    vms = recovery_vms(lab)
    assert vms and {v[0] for regs in vms.values() for v in regs} == {"poweredOff"}
    assert duplicate_registrations(vms) == 0
    summary = [r for r in lab.records(run_id) if r["role"] == "rollback" and r["kind"] == "summary"][-1]
    assert summary["data"]["stopped_at"] == "takeover/pair:paydb/promote"
    assert {"takeover/tier:app", "takeover/tier:data"} <= set(summary["data"]["undone"])
    return back, summary


def assert_taken_over_once(vms, wanted):
    """Every VM of the plan (``wanted``: name -> recovery IP) registered once at the recovery site, powered on, on
    the recovery portgroup, with its re-addressed IP, marked by the takeover; nothing else."""
    assert sorted(vms) == sorted(wanted)
    for name, ip in wanted.items():
        assert vms[name] == [("poweredOn", ["DR-Prod"], [ip], "takeover")], name


def rows(conn):
    return conn.execute("select count(*), coalesce(max(id), 0), md5(coalesce(string_agg(v, ',' order by id), ''))"
                        " from takeover_it_rows").fetchone()


def test_refused_outside_the_window_and_without_confirmation(tk_lab):
    before = (vsphere_fingerprint(tk_lab.vcenter("primary")), vsphere_fingerprint(tk_lab.vcenter("recovery")))
    closed = tk_lab.play(TAKEOVER, recovery_change_window={"start": iso(-5), "end": iso(-4)},
                         takeover_confirm_healthy_primary=True)
    assert closed.rc != 0
    msg = failure_text(closed)
    assert "recovery_emergency" in msg and "after the change window" in msg, msg

    unconfirmed = tk_lab.play(TAKEOVER, recovery_change_window=open_window())
    assert unconfirmed.rc != 0
    msg = [f["msg"] for f in unconfirmed.failures() if "healthy" in f.get("msg", "")]
    assert msg and "takeover_confirm_healthy_primary" in msg[0], unconfirmed.stdout[-2000:]
    primary_db = tk_lab.info["postgres"]["primary"]
    assert "vCenter %s answers" % tk_lab.plan["sites"]["primary"]["vcenter"]["hostname"] in msg[0], msg[0]
    assert "database paydb %s:%s answers (writable primary)" % (primary_db["host"], primary_db["port"]) in msg[0], msg[0]

    # an emergency takeover from an empty reference (a baseline without VMs): refused before any change
    empty = tk_lab.play(TAKEOVER, takeover_mode="emergency", recovery_emergency=True,
                        takeover_confirm_healthy_primary=True, takeover_baseline={"vms": []})
    assert empty.rc != 0
    assert any("holds no VM" in f.get("msg", "") for f in empty.failures()), empty.stdout[-2000:]

    after = (vsphere_fingerprint(tk_lab.vcenter("primary")), vsphere_fingerprint(tk_lab.vcenter("recovery")))
    assert after == before
    with tk_lab.pg("primary") as conn:  # still the writable primary
        assert conn.execute("select pg_is_in_recovery(), current_setting('default_transaction_read_only')").fetchone() \
            == (False, "off")
    with tk_lab.pg("standby") as conn:
        assert conn.execute("select pg_is_in_recovery()").fetchone() == (True,)
    runs = [r for r in tk_lab.runs() if r != "20000101T000000Z"]
    assert len(runs) == 3 and not any(tk_lab.journal(r) for r in runs)  # refused before any journaled step
    refusals = [r for run in runs for r in tk_lab.records(run) if r["role"] == "takeover" and r["status"] == "failed"]
    assert {r["name"] for r in refusals} == {"change_window", "primary_site", "reference"}
    site = [r for r in refusals if r["name"] == "primary_site"][0]["data"]
    assert site["confirmation_required"] is True and site["confirmed"] is False and len(site["answered"]) == 2
    assert site["databases"]["paydb"]["primary"]["read_only"] is False


def test_check_mode_changes_nothing(tk_lab):
    before = (vsphere_fingerprint(tk_lab.vcenter("primary")), vsphere_fingerprint(tk_lab.vcenter("recovery")))
    known = set(tk_lab.runs())
    run = tk_lab.play(TAKEOVER, check=True, recovery_change_window=open_window(), takeover_confirm_healthy_primary=True)
    assert run.rc == 0, run.stdout[-3000:]
    after = (vsphere_fingerprint(tk_lab.vcenter("primary")), vsphere_fingerprint(tk_lab.vcenter("recovery")))
    assert after == before
    with tk_lab.pg("standby") as conn:
        assert conn.execute("select pg_is_in_recovery()").fetchone() == (True,)
    (new,) = set(tk_lab.runs()) - known
    assert tk_lab.journal(new) == []
    tiers = [r for r in tk_lab.records(new) if r["kind"] == "change" and r["name"] == "tier"]
    assert [r["subject"] for r in tiers] == ["tier:data", "tier:app", "tier:web"]
    for record in tiers:  # what each tier would do, VM by VM
        assert record["data"]["check_mode"] is True
        assert {v["status"] for v in record["data"]["vms"]} == {"would_change"}
        assert all("register" in v["steps"] and "wait_ip" in v["steps"] for v in record["data"]["vms"])


def test_interrupted_takeover_rolls_back_then_a_rerun_completes_it(tk_lab):
    written = tk_lab.write_rows()
    # tier app fails: one VM's .nvram is missing at the primary, so the final sync leaves the replica without it
    primary_ds = tk_lab.info["sites"]["primary"]["datastores"]["Prod-DS-01"]
    replica_ds = tk_lab.info["sites"]["recovery"]["replica_dirs"]["Replica-DS-01"]
    broken = tk_lab.plan["tiers"][1]["vms"][1]
    nvram = os.path.join(primary_ds, broken, broken + ".nvram")
    saved = os.path.join(tk_lab.root, broken + ".nvram")
    shutil.move(nvram, saved)
    known = set(tk_lab.runs())
    first = tk_lab.play(TAKEOVER, recovery_change_window=open_window(), takeover_confirm_healthy_primary=True)
    assert first.rc != 0
    assert any("stopped at tier app" in f.get("msg", "") for f in first.failures()), first.stdout[-3000:]
    (run_id,) = set(tk_lab.runs()) - known
    state = journal_state(tk_lab.journal(run_id))
    assert state["takeover/tier:data"] == "done" and state["takeover/tier:app"] == "failed" and "takeover/tier:web" not in state
    assert state["takeover/pair:paydb/promote"] == "done" and state["takeover"] == "started"
    vms = recovery_vms(tk_lab)
    data_tier = tk_lab.plan["tiers"][0]["vms"]
    assert all(vms[n][0][0] == "poweredOn" for n in data_tier)
    assert broken not in vms and not set(tk_lab.plan["tiers"][2]["vms"]) & set(vms)

    # what replication had not delivered arrives; the half-finished takeover is rolled back
    shutil.copy(saved, os.path.join(replica_ds, broken, broken + ".nvram"))
    shutil.move(saved, nvram)
    back, _summary = rolled_back(tk_lab, run_id)

    # the rerun resumes the same run and completes it (the primary vCenter still answers: confirmed again)
    again = tk_lab.play(TAKEOVER, recovery_change_window=open_window(), takeover_confirm_healthy_primary=True)
    assert again.rc == 0, again.stdout[-3000:]
    assert set(tk_lab.runs()) - known == {run_id}
    events = tk_lab.journal(run_id)
    state = journal_state(events)
    assert state["takeover"] == "done" and all(state["takeover/tier:" + t["name"]] == "done" for t in tk_lab.plan["tiers"])
    # tiers in order: each starts after the previous one is done (last attempt)
    last = {}
    for event in events:
        if event["step"].startswith("takeover/tier:") and event["status"] in ("started", "done"):
            last[(event["step"], event["status"])] = event["ts"]
    assert last[("takeover/tier:data", "done")] <= last[("takeover/tier:app", "started")]
    assert last[("takeover/tier:app", "done")] <= last[("takeover/tier:web", "started")]

    vms = recovery_vms(tk_lab)
    wanted = expected_ips(tk_lab)
    assert_taken_over_once(vms, wanted)
    assert set(primary_power(tk_lab).values()) == {"poweredOff"}

    with tk_lab.pg("standby") as conn:  # the new primary has every row written before the takeover
        assert conn.execute("select pg_is_in_recovery()").fetchone() == (False,)
        assert rows(conn) == written

    records = tk_lab.records(run_id)
    zero = {r["subject"]: r for r in records if r["kind"] == "check" and r["name"] == "zero_loss"}
    assert set(zero) == {"pair:paydb", "pair:vmstore"} and {r["status"] for r in zero.values()} == {"ok"}
    summary = [r for r in records if r["kind"] == "summary" and r["name"] == "takeover"][-1]
    rpo, rto = summary["data"]["rpo"], summary["data"]["rto"]
    assert rpo["zero_loss"] is True and rpo["achieved_seconds"] == 0 and rpo["objective_seconds"] == 60
    assert rto["achieved_seconds"] > 0 and rto["objective_seconds"] == 900
    assert rto["start"] < rto["end"]
    assert [t["tier"] for t in summary["data"]["tier_timings"]] == ["data", "app", "web"]
    timing = [r for r in records if r["kind"] == "timing" and r["role"] == "takeover" and r["name"].startswith("tier ")]
    assert {r["data"]["tier"] for r in timing} >= {"data", "app", "web"}
    assert all(r["data"]["start"] <= r["data"]["end"] for r in timing)
    assert "lab-db-secret" not in json.dumps(records) and "lab-vcenter-secret" not in json.dumps(events)
    assert leaks(again) == [] and leaks(back) == []


def test_a_rerun_changes_nothing_and_duplicates_nothing(tk_lab):
    before = recovery_vms(tk_lab)
    known = set(tk_lab.runs())
    run = tk_lab.play(TAKEOVER, recovery_change_window=open_window(), takeover_confirm_healthy_primary=True)
    assert run.rc == 0, run.stdout[-3000:]
    assert run.stats.get("changed", 0) == 0
    assert recovery_vms(tk_lab) == before
    (new,) = set(tk_lab.runs()) - known  # the finished takeover is not resumed: a new run, every step idempotent
    summary = [r for r in tk_lab.records(new) if r["kind"] == "summary" and r["name"] == "takeover"][-1]
    assert summary["status"] == "ok" and summary["data"]["already_taken_over"] is True
    assert summary["data"]["rto"]["achieved_seconds"] is None


class FileWriter(threading.Thread):
    """Keeps creating small files in a directory (something still writing at the primary datastore)."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.stop, self.count = path, threading.Event(), 0

    def run(self):
        while not self.stop.is_set():
            with open(os.path.join(self.path, "late-%06d.dat" % self.count), "w", encoding="utf-8") as handle:
                handle.write("written after the final sync started\n")
            self.count += 1
            time.sleep(0.02)


def test_planned_takeover_stops_before_storage_and_tiers_when_zero_loss_is_not_proven(tk_lab):
    """Files keep appearing at the primary datastore during the takeover: the comparison after the final delta
    finds some left, so zero loss is not proven for vmstore. The takeover stops after the promotion (the primary
    fenced) before the replica datastores and the tiers; a rerun without takeover_accept_data_loss stops there again;
    with it, the rerun resumes the same run and completes it (the gate abnormal, the summary abnormal)."""
    tk_lab.reset()
    primary_ds = tk_lab.info["sites"]["primary"]["datastores"]["Prod-DS-01"]
    extra = {"recovery_change_window": open_window(), "takeover_confirm_healthy_primary": True}
    writer = FileWriter(primary_ds)
    known = set(tk_lab.runs())
    writer.start()
    try:
        stopped = tk_lab.play(TAKEOVER, **extra)
    finally:
        writer.stop.set()
        writer.join(timeout=10)
    assert stopped.rc != 0
    msg = failure_text(stopped)
    assert "zero data loss is not proven for vmstore" in msg and "takeover_accept_data_loss=true" in msg, msg
    (run_id,) = set(tk_lab.runs()) - known
    state = journal_state(tk_lab.journal(run_id))
    assert state["takeover"] == "started"
    assert state["takeover/pair:vmstore/promote"] == "done" and state["takeover/pair:paydb/promote"] == "done"
    assert "takeover/storage:present" not in state and not [k for k in state if k.startswith("takeover/tier:")]
    assert recovery_vms(tk_lab) == {}  # no VM registered at the recovery site
    with tk_lab.pg("standby") as conn:
        assert conn.execute("select pg_is_in_recovery()").fetchone() == (False,)
    records = tk_lab.records(run_id)
    zero = {r["subject"]: r["status"] for r in records if r["kind"] == "check" and r["name"] == "zero_loss"}
    assert zero["pair:vmstore"] == "failed", zero
    gate = [r for r in records if r["name"] == "zero_loss_gate"]
    assert [g["status"] for g in gate] == ["failed"] and gate[0]["data"]["accepted"] is False
    assert [p["pair"] for p in gate[0]["data"]["pairs"]] == ["vmstore"]

    again = tk_lab.play(TAKEOVER, **extra)  # without the override: stops at the same place
    assert again.rc != 0 and "zero data loss is not proven for vmstore" in failure_text(again)
    assert "takeover/storage:present" not in journal_state(tk_lab.journal(run_id))

    accepted = tk_lab.play(TAKEOVER, takeover_accept_data_loss=True, **extra)
    assert accepted.rc == 0, accepted.stdout[-3000:]
    assert set(tk_lab.runs()) - known == {run_id}
    assert journal_state(tk_lab.journal(run_id))["takeover"] == "done"
    assert_taken_over_once(recovery_vms(tk_lab), expected_ips(tk_lab))
    records = tk_lab.records(run_id)
    assert [g["status"] for g in records if g["name"] == "zero_loss_gate"] == ["failed", "failed", "abnormal"]
    summary = [r for r in records if r["kind"] == "summary" and r["name"] == "takeover"][-1]
    assert summary["status"] == "abnormal" and summary["data"]["rpo"]["zero_loss"] is False


@pytest.mark.chaos_item("3")
def test_emergency_takeover_with_the_primary_site_gone(tk_lab, figures):
    tk_lab.reset()
    baseline = tk_lab.play("continuity.recovery.baseline", recovery_run_id="20000101T000001Z")
    assert baseline.rc == 0, baseline.stdout[-3000:]
    written = tk_lab.write_rows()
    with tk_lab.pg("primary") as conn:
        target = conn.execute("select pg_current_wal_lsn()::text").fetchone()[0]
    with tk_lab.pg("standby") as conn:  # replicated before the disaster
        for _unused in range(100):
            if conn.execute("select pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()[0]:
                break
            subprocess.run(["sleep", "0.2"], check=True)
    # the primary site goes away: its database first...
    with open(os.path.join(tk_lab.info["postgres"]["primary"]["data_dir"], "postmaster.pid"), encoding="utf-8") as handle:
        os.kill(int(handle.readline().strip()), 3)  # SIGQUIT: immediate shutdown, like a crash
    subprocess.run(["sleep", "2"], check=True)
    # ...while its vCenter still answers, refusing the login (a wrong password): that is not "down" - refused
    known = set(tk_lab.runs())
    wrong = json.loads(json.dumps(tk_lab.plan))
    wrong["sites"]["primary"]["vcenter"]["password"] = "not-the-password"
    answered = tk_lab.play(TAKEOVER, recovery_plan=wrong, takeover_mode="emergency", recovery_emergency=True)
    assert answered.rc != 0
    msg = failure_text(answered)
    assert "takeover_confirm_healthy_primary" in msg and "answers but could not be read (AuthenticationFailure" in msg, msg
    with tk_lab.pg("standby") as conn:
        assert conn.execute("select pg_is_in_recovery()").fetchone() == (True,)
    (refused_run,) = set(tk_lab.runs()) - known
    assert tk_lab.journal(refused_run) == []
    site = [r for r in tk_lab.records(refused_run) if r["name"] == "primary_site"][-1]
    assert site["status"] == "failed" and site["data"]["vcenter_error_type"] == "AuthenticationFailure"
    assert site["data"]["databases"]["paydb"]["primary"]["reachable"] is False
    # ...then the vCenter goes too
    with open(os.path.join(LAB_DIR, "run", "vcsim-primary.pid"), encoding="utf-8") as handle:
        os.kill(int(handle.read().strip()), 15)
    subprocess.run(["sleep", "2"], check=True)

    closed = {"start": iso(-5), "end": iso(-4)}
    refused = tk_lab.play(TAKEOVER, takeover_mode="emergency", recovery_change_window=closed)
    assert refused.rc != 0 and "recovery_emergency" in failure_text(refused)
    extra = {"takeover_mode": "emergency", "recovery_emergency": True, "recovery_change_window": closed}
    # killed while tier app is being cut over (the whole process group: ansible-playbook and its module)
    known = set(tk_lab.runs())
    killed_run = kill_during(tk_lab, extra, "takeover/tier:app")
    (run_id,) = set(tk_lab.runs()) - known
    assert killed_run != 0
    state = journal_state(tk_lab.journal(run_id))
    assert state["takeover/tier:data"] == "done" and state["takeover/tier:app"] == "started"
    assert state["takeover"] == "started" and "takeover/tier:web" not in state
    figures.set(emergency_killed_at="takeover/tier:app", emergency_vms_registered_at_kill=len(recovery_vms(tk_lab)))
    # the rerun resumes that run and completes it: no VM twice
    run = tk_lab.play(TAKEOVER, **extra)
    assert run.rc == 0, run.stdout[-3000:]
    assert tk_lab.runs()[-1] == run_id and journal_state(tk_lab.journal(run_id))["takeover"] == "done"

    vms = recovery_vms(tk_lab)
    wanted = expected_ips(tk_lab)
    figures.set(emergency_rerun_completed=True, emergency_rerun_resumed_same_run=tk_lab.runs()[-1] == run_id,
                emergency_duplicate_registrations=duplicate_registrations(vms))
    assert_taken_over_once(vms, wanted)
    with tk_lab.pg("standby") as conn:
        assert conn.execute("select pg_is_in_recovery()").fetchone() == (False,)
        assert rows(conn) == written

    records = tk_lab.records(run_id)
    reference = [r for r in records if r["kind"] == "check" and r["name"] == "reference"][-1]
    assert reference["data"]["source"].endswith("baseline-20000101T000001Z.json")
    summary = [r for r in records if r["kind"] == "summary" and r["name"] == "takeover"][-1]
    assert summary["data"]["mode"] == "emergency" and summary["data"]["emergency_declared"] is True
    paydb = summary["data"]["rpo"]["pairs"]["paydb"]
    assert paydb["mode"] == "emergency" and paydb["source"]
    if paydb["exact"]:  # every row was replicated before the crash: nothing lost
        assert paydb["lost_transactions"] == 0
    assert summary["data"]["rto"]["achieved_seconds"] > 0
    assert "takeover/primary:shutdown" not in {b["step"] for b in summary["data"]["breakdown"]}


@pytest.mark.chaos_item("3")
def test_a_takeover_killed_in_tier_2_rolls_back_from_that_state_then_a_rerun_completes(tk_lab, figures):
    tk_lab.reset()
    written = tk_lab.write_rows()
    extra = {"recovery_change_window": open_window(), "takeover_confirm_healthy_primary": True}
    known = set(tk_lab.runs())
    assert kill_during(tk_lab, extra, "takeover/tier:app") != 0  # the whole process group, module included
    (run_id,) = set(tk_lab.runs()) - known
    state = journal_state(tk_lab.journal(run_id))
    assert state["takeover/tier:data"] == "done" and state["takeover/tier:app"] == "started"
    assert state["takeover"] == "started" and "takeover/tier:web" not in state
    registered_at_kill = len(recovery_vms(tk_lab))
    at_kill = settled_recovery_vms(tk_lab)  # what the tasks in flight at the kill finished at vCenter
    assert duplicate_registrations(at_kill) == 0

    # the rollback playbook from exactly that state (once the tasks in flight have finished)
    back, summary = rolled_back(tk_lab, run_id)

    # the rerun resumes the same run and completes it: every VM of the plan, registered once
    again = tk_lab.play(TAKEOVER, recovery_change_window=open_window(), takeover_confirm_healthy_primary=True)
    assert again.rc == 0, again.stdout[-3000:]
    assert set(tk_lab.runs()) - known == {run_id}
    assert journal_state(tk_lab.journal(run_id))["takeover"] == "done"
    vms = recovery_vms(tk_lab)
    wanted = expected_ips(tk_lab)
    with tk_lab.pg("standby") as conn:
        assert conn.execute("select pg_is_in_recovery()").fetchone() == (False,)
        at_new = rows(conn)
    figures.set(killed_at="takeover/tier:app", vms=len(wanted), vms_registered_at_kill=registered_at_kill,
                vms_registered_once_tasks_in_flight_finished=len(at_kill),
                rollback_check_mode_changed_nothing=True, rollback_undone=sorted(summary["data"]["undone"]),
                rollback_stopped_at=summary["data"]["stopped_at"], rerun_after_rollback_completed=True,
                rerun_resumed_same_run=set(tk_lab.runs()) - known == {run_id},
                duplicate_registrations=duplicate_registrations(vms), rows_written=written[0],
                rows_at_new_primary=at_new[0])
    assert_taken_over_once(vms, wanted)
    assert at_new == written
    assert leaks(back) == [] and leaks(again) == []

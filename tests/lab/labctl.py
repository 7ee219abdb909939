#!/usr/bin/env python
"""labctl: the continuity.recovery two-site lab (all real software).

    labctl.py up       start (or keep) the lab: two vcsim vCenters + PostgreSQL 15 primary
    labctl.py down     stop exactly what `up` started, by pid (--purge: remove LAB_DIR)
    labctl.py status   one line per component; exit 0 when everything is up, 3 otherwise
    labctl.py plan     the recovery_plan of this lab (YAML; --format json)

Run it with the collection's venv (.venv/bin/python): it needs pyvmomi and
psycopg besides the standard library (PyYAML, shipped with ansible-core, only
for `plan --format yaml`). See docs/lab.md for ports, layout and credentials.

Every process has a pidfile in LAB_DIR/run; a pid is only trusted (or signalled)
when /proc/<pid>/cmdline shows it is the lab's own process. vcsim keeps its
inventory in memory, so a (re)started vcsim is re-seeded over the vSphere API;
a marker (pid + process start time) records that the running process is seeded.
"""

import argparse
import concurrent.futures
import contextlib
import errno
import fcntl
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import topology  # noqa: E402  (tests/lab/topology.py)

DEFAULT_LAB_DIR = "/var/lib/continuity-recovery-lab"
DEFAULT_VM_COUNT = 12
DEFAULT_PORT_OFFSET = 0
DEFAULT_DELAY_MS = 0
LAB_MARKER = ".continuity-recovery-lab"

VCSIM_SOURCE = os.path.join(HERE, "vcsim")
VCSIM_USER = "administrator@vsphere.local"
VCSIM_PASSWORD = "lab-vcenter-secret"  # lab only
DATACENTER = "DC0"
CLUSTER = "DC0_C0"

PG_BIN = "/usr/lib/postgresql/15/bin"
PG_OS_USER = "postgres"
PG_ADMIN_USER = "dr_admin"
PG_ADMIN_PASSWORD = "lab-db-secret"  # lab only
PG_REPL_USER = "replicator"
PG_REPL_PASSWORD = "lab-repl-secret"  # lab only
PG_DATABASE = "payments"
PG_ACCOUNTS = 1000
PG_PAYMENTS = 5000

SITES = {
    "primary": {
        "base_port": 18443,
        "hosts": 3,
        "dvs": "DSwitch-Prod",
        "portgroups": ["Prod-Net"],
        "datastores": {"Prod-DS-01": ("array-prod", "/exports/prod-ds-01")},
        "replica_dirs": [],
    },
    "recovery": {
        "base_port": 28443,
        "hosts": 2,
        "dvs": "DSwitch-DR",
        "portgroups": ["DR-Prod", "DR-Bubble"],
        "datastores": {"DR-Local-01": ("array-dr", "/exports/dr-local-01")},
        "replica_dirs": ["Replica-DS-01"],
    },
}
PG_PRIMARY_BASE_PORT = 15432
PG_STANDBY_BASE_PORT = 25432
# Ports inside the kernel's ephemeral range (ip_local_port_range, 32768-60999 by default) that
# servers of this lab listen on, + the port offset: the tests' private PostgreSQL clusters
# (35432-35719) and the drill's clone (45432). A client connection the kernel gave one of them as
# its local port makes a server started there fail with "Address already in use"; `up` reserves
# them (ip_local_reserved_ports), so automatic port assignment skips them.
SERVER_PORTS_IN_EPHEMERAL_RANGE = ((35400, 35799), (45432, 45439))
RESERVED_PORTS_FILE = "/proc/sys/net/ipv4/ip_local_reserved_ports"

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
TASK_TIMEOUT = 600.0
CREATE_BATCH = 250
CREATE_WORKERS = 8

EXIT_DOWN = 3
EXIT_USAGE = 2


class LabError(Exception):
    """A lab operation failed; the message says what and where to look."""


def log(msg):
    print(msg, flush=True)


def parse_port_ranges(text):
    """``ip_local_reserved_ports`` text ("8080,35400-35799") as [(low, high), ...]."""
    ranges = []
    for part in filter(None, text.strip().split(",")):
        low, _sep, high = part.partition("-")
        ranges.append((int(low), int(high or low)))
    return ranges


# --------------------------------------------------------------------------- processes

def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            raw = f.read()
    except (OSError, ValueError):
        return None
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def proc_starttime(pid):
    """Start time of pid in clock ticks since boot (field 22 of /proc/pid/stat), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None  # zombie: not alive
    return int(fields[19])


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None


def write_file(path, text, mode=0o644):
    """Atomically write text to path with mode; returns True when the content changed."""
    try:
        with open(path) as f:
            if f.read() == text:
                os.chmod(path, mode)
                return False
    except OSError:
        pass
    tmp = "%s.tmp.%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def remove_file(path):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def port_open(port, host="127.0.0.1", timeout=0.5):
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.settimeout(timeout)
        return s.connect_ex((host, port)) == 0


def _ignore_missing(function, path, exc_info):
    """rmtree error handler: a file already gone is fine (a stopping process may remove its own)."""
    if not issubclass(exc_info[0], FileNotFoundError):
        raise exc_info[1]


def terminate(pid, is_ours, timeout=STOP_TIMEOUT):
    """SIGTERM pid (only while is_ours(pid)), wait up to timeout, then SIGKILL. True if it is gone."""
    if not is_ours(pid):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        if not is_ours(pid):
            return True
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    if is_ours(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and is_ours(pid):
            time.sleep(0.1)
    return not is_ours(pid)


def run_as_postgres(cmd, cwd, input_text=None, timeout=120, check=True):
    pw = pwd.getpwnam(PG_OS_USER)
    env = {
        "PATH": PG_BIN + ":/usr/bin:/bin",
        "HOME": pw.pw_dir,
        "USER": PG_OS_USER,
        "LOGNAME": PG_OS_USER,
        "LC_ALL": "C.UTF-8",
        "PGTZ": "UTC",
    }
    res = subprocess.run(
        cmd, check=False, cwd=cwd, env=env, user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
        input=input_text, capture_output=True, text=True, timeout=timeout,
        start_new_session=True,  # a Ctrl-C in the caller's terminal must not reach the postmaster
    )
    if check and res.returncode != 0:
        raise LabError("%s failed (exit %d): %s%s" % (
            " ".join(cmd[:2]), res.returncode, res.stdout, res.stderr))
    return res


# --------------------------------------------------------------------------- vSphere

def vsphere_connect(port, timeout=READY_TIMEOUT):
    from pyVim.connect import SmartConnect
    return SmartConnect(host="127.0.0.1", port=port, user=VCSIM_USER, pwd=VCSIM_PASSWORD,
                        disableSslCertValidation=True, httpConnectionTimeout=timeout)


def wait_tasks(si, tasks, timeout=TASK_TIMEOUT):
    """Wait for tasks together: one RetrievePropertiesEx per poll, backoff sleep, hard timeout.

    Returns the tasks' results in order; raises LabError on the first failed task.
    """
    from pyVmomi import vim, vmodl
    if not tasks:
        return []
    pc = si.content.propertyCollector
    spec = vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=t) for t in tasks],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(
            type=vim.Task, pathSet=["info.state", "info.error", "info.result"])],
    )
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        info = {}
        res = pc.RetrievePropertiesEx([spec], vmodl.query.PropertyCollector.RetrieveOptions())
        while res is not None:
            for obj in res.objects:
                info[obj.obj._moId] = {p.name: p.val for p in obj.propSet}
            res = pc.ContinueRetrievePropertiesEx(res.token) if res.token else None
        pending = 0
        for t in tasks:
            i = info.get(t._moId, {})
            state = i.get("info.state")
            if state == "error":
                err = i.get("info.error")
                raise LabError("task %s failed: %s" % (t._moId, getattr(err, "localizedMessage", None) or err))
            if state != "success":
                pending += 1
        if not pending:
            return [info[t._moId].get("info.result") for t in tasks]
        if time.monotonic() > deadline:
            raise LabError("%d of %d tasks still running after %.0fs" % (pending, len(tasks), timeout))
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def find_child(folder, name):
    for e in folder.childEntity:
        if e.name == name:
            return e
    raise LabError("%s not found in %s" % (name, folder.name))


def vm_config_spec(vm, dvs_uuid, pg_key):
    from pyVmomi import vim
    dev = vim.vm.device
    ctrl = dev.VirtualDeviceSpec(operation="add", device=dev.ParaVirtualSCSIController(
        key=-100, busNumber=0, sharedBus="noSharing"))
    disk = dev.VirtualDeviceSpec(operation="add", fileOperation="create", device=dev.VirtualDisk(
        key=-101, controllerKey=-100, unitNumber=0, capacityInKB=1024,
        backing=dev.VirtualDisk.FlatVer2BackingInfo(
            fileName="[%s]" % vm["datastore"], diskMode="persistent", thinProvisioned=True)))
    nic = dev.VirtualDeviceSpec(operation="add", device=dev.VirtualVmxnet3(
        key=-102, addressType="generated",
        backing=dev.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
            port=vim.dvs.PortConnection(portgroupKey=pg_key, switchUuid=dvs_uuid)),
        connectable=dev.VirtualDevice.ConnectInfo(startConnected=True, allowGuestControl=True, connected=True)))
    return vim.vm.ConfigSpec(
        name=vm["name"], guestId="otherLinux64Guest", numCPUs=1, memoryMB=128,
        files=vim.vm.FileInfo(vmPathName="[%s]" % vm["datastore"]),
        deviceChange=[ctrl, disk, nic],
        # vcsim applies SET.<property> keys to the VM: a guest with VMware Tools
        # running, a green heartbeat and its primary IP, as a healthy VM reports.
        extraConfig=[
            vim.option.OptionValue(key="SET.guest.ipAddress", value=vm["ip"]),
            vim.option.OptionValue(key="SET.guest.toolsRunningStatus", value="guestToolsRunning"),
            vim.option.OptionValue(key="SET.guestHeartbeatStatus", value="green"),
        ],
    )


# --------------------------------------------------------------------------- the lab

class Lab:
    def __init__(self, lab_dir, vm_count=DEFAULT_VM_COUNT, port_offset=DEFAULT_PORT_OFFSET,
                 delay_ms=DEFAULT_DELAY_MS):
        self.lab_dir = os.path.abspath(lab_dir)
        self.vm_count = vm_count
        self.port_offset = port_offset
        self.delay_ms = delay_ms
        d = self.lab_dir
        self.bin_dir = os.path.join(d, "bin")
        self.vcsim_bin = os.path.join(self.bin_dir, "vcsim")
        self.run_dir = os.path.join(d, "run")
        self.log_dir = os.path.join(d, "log")
        self.pg_dir = os.path.join(d, "pg")
        self.pg_data = os.path.join(self.pg_dir, "primary")
        self.pg_standby_data = os.path.join(self.pg_dir, "standby")
        self.pg_socket_dir = os.path.join(self.pg_dir, "run")
        self.pg_log = os.path.join(self.pg_dir, "log", "primary.log")
        self.pg_archive = os.path.join(self.pg_dir, "archive", "primary")
        self.pg_recovery_archive = os.path.join(self.pg_dir, "archive", "recovery")  # the plan's paydb archive
        self.lab_json = os.path.join(d, "lab.json")
        self.config_file = os.path.join(self.run_dir, "config.json")

    # ---- naming
    def port(self, site):
        return SITES[site]["base_port"] + self.port_offset

    @property
    def pg_port(self):
        return PG_PRIMARY_BASE_PORT + self.port_offset

    @property
    def pg_standby_port(self):
        return PG_STANDBY_BASE_PORT + self.port_offset

    def datastore_dir(self, site, name):
        return os.path.join(self.lab_dir, site, "datastores", name)

    def pidfile(self, component):
        return os.path.join(self.run_dir, component + ".pid")

    def marker(self, site):
        return os.path.join(self.run_dir, "vcsim-%s.seeded" % site)

    def urlfile(self, site):
        return os.path.join(self.run_dir, "vcsim-%s.url" % site)

    # ---- recorded configuration (what the running lab was started with)
    def recorded(self):
        try:
            with open(self.config_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def config(self):
        return {"vm_count": self.vm_count, "port_offset": self.port_offset, "delay_ms": self.delay_ms}

    @classmethod
    def from_recorded(cls, lab_dir, vm_count=DEFAULT_VM_COUNT, port_offset=DEFAULT_PORT_OFFSET):
        """The lab as recorded by its last `up` (status/down); the arguments only when nothing is recorded."""
        lab = cls(lab_dir, vm_count=vm_count, port_offset=port_offset)
        rec = lab.recorded()
        if rec:
            lab = cls(lab_dir, vm_count=rec["vm_count"], port_offset=rec["port_offset"],
                      delay_ms=rec.get("delay_ms", 0))
        return lab

    # ---- liveness
    def vcsim_pid(self, site):
        """pid of the running lab vcsim for site, or None (pidfile checked against /proc)."""
        pid = read_pid(self.pidfile("vcsim-" + site))
        if pid and self._is_vcsim(pid, site):
            return pid
        return None

    def _is_vcsim(self, pid, site):
        cmd = proc_cmdline(pid)
        if not cmd or proc_starttime(pid) is None:
            return False
        listen = "127.0.0.1:%d" % self.port(site)
        return (os.path.basename(cmd[0]) == "vcsim" and cmd[0].startswith(self.bin_dir + os.sep)
                and "-listen" in cmd and listen in cmd)

    def postgres_pid(self, data_dir=None):
        """pid of the postmaster running on data_dir (its own postmaster.pid, checked against /proc)."""
        data_dir = data_dir or self.pg_data
        pid = read_pid(os.path.join(data_dir, "postmaster.pid"))
        if pid and self._is_postgres(pid, data_dir):
            return pid
        return None

    @staticmethod
    def _is_postgres(pid, data_dir):
        cmd = proc_cmdline(pid)
        if not cmd or proc_starttime(pid) is None:
            return False
        return os.path.basename(cmd[0]) == "postgres" and data_dir in cmd

    def seeded(self, site, pid):
        try:
            with open(self.marker(site)) as f:
                m = json.load(f)
        except (OSError, ValueError):
            return False
        if m.get("pid") != pid or m.get("starttime") != proc_starttime(pid):
            return False
        return site != "primary" or m.get("vm_count") == self.vm_count

    # ---- directories
    def ensure_dirs(self):
        if os.geteuid() != 0:
            raise LabError("labctl up/down run as root (PostgreSQL is started as the postgres user)")
        d = self.lab_dir
        if os.path.isdir(d) and os.listdir(d) and not os.path.exists(os.path.join(d, LAB_MARKER)):
            raise LabError("%s exists, is not empty and is not a lab directory (no %s)" % (d, LAB_MARKER))
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        write_file(os.path.join(d, LAB_MARKER), "continuity.recovery lab directory (labctl.py)\n")
        # postgres must be able to traverse every parent of LAB_DIR
        p = d
        while p != "/":
            if not os.stat(p).st_mode & 0o001:
                raise LabError("%s is not traversable by the postgres user (chmod o+x, or use --lab-dir)" % p)
            p = os.path.dirname(p)
        for sub in (self.bin_dir, self.run_dir, self.log_dir):
            os.makedirs(sub, exist_ok=True)
        os.chmod(self.run_dir, 0o700)
        for site, s in SITES.items():
            for name in list(s["datastores"]) + s["replica_dirs"]:
                os.makedirs(self.datastore_dir(site, name), exist_ok=True)
        pw = pwd.getpwnam(PG_OS_USER)
        for sub in (self.pg_dir, self.pg_socket_dir, os.path.dirname(self.pg_log), self.pg_archive,
                    os.path.dirname(self.pg_archive)):
            os.makedirs(sub, exist_ok=True)
            st = os.stat(sub)
            if (st.st_uid, st.st_gid) != (pw.pw_uid, pw.pw_gid):
                os.chown(sub, pw.pw_uid, pw.pw_gid)
            os.chmod(sub, 0o700)

    @contextlib.contextmanager
    def locked(self):
        os.makedirs(self.run_dir, exist_ok=True)
        fd = os.open(os.path.join(self.run_dir, "labctl.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # ------------------------------------------------------------------- up
    def up(self, reseed=False):
        t0 = time.monotonic()
        changed = []
        self.ensure_dirs()
        with self.locked():
            self._check_config()
            if self._build_vcsim():
                changed.append("vcsim binary built")
            for site in SITES:
                if reseed and self._stop_vcsim(site):
                    log("vcsim-%s stopped for --reseed" % site)
                act = self._up_vcsim(site)
                if act:
                    changed.append("vcsim-%s %s" % (site, act))
            act = self._reserve_ports()
            if act:
                changed.append(act)
            act = self._up_postgres()
            if act:
                changed.append("postgres-primary %s" % act)
            write_file(self.config_file, json.dumps(self.config(), indent=2) + "\n", 0o600)
            if write_file(self.lab_json, json.dumps(self.description(), indent=2) + "\n", 0o600):
                changed.append("lab.json written")
        for c in changed:
            log("changed: " + c)
        changed_text = "true" if changed else "false"
        log("lab up: %s changed=%s elapsed=%.2fs" % (self.lab_dir, changed_text, time.monotonic() - t0))
        return changed

    def reserved_port_ranges(self):
        """The ranges of SERVER_PORTS_IN_EPHEMERAL_RANGE for this lab's port offset."""
        return [(low + self.port_offset, high + self.port_offset) for low, high in SERVER_PORTS_IN_EPHEMERAL_RANGE]

    def _reserve_ports(self, path=RESERVED_PORTS_FILE):
        """Add this lab's server ports to the kernel's reserved ports (kept: what others reserved).

        Returns what changed, or None. Without the right to write the setting the lab still comes up:
        a warning says that a private server may then meet a port a client connection holds.
        """
        try:
            with open(path, encoding="ascii") as handle:
                current = handle.read().strip()
        except OSError as exc:
            log("warning: cannot read %s (%s): ports not reserved" % (path, exc.strerror))
            return None
        have = parse_port_ranges(current)
        missing = [r for r in self.reserved_port_ranges()
                   if not any(low <= r[0] and r[1] <= high for low, high in have)]
        if not missing:
            return None
        missing_text = ",".join("%d-%d" % r for r in missing)
        try:
            with open(path, "w", encoding="ascii") as handle:
                handle.write(",".join(filter(None, (current, missing_text))) + "\n")
        except OSError as exc:
            log("warning: cannot write %s (%s): ports %s not reserved; a private test server may meet "
                "\"Address already in use\" from a client connection's local port" % (path, exc.strerror, missing_text))
            return None
        return "ports %s reserved from automatic assignment (%s)" % (missing_text, os.path.basename(path))

    def _check_config(self):
        rec = self.recorded()
        if not rec or rec == self.config():
            return
        running = [c for c, pid in self.pids().items() if pid]
        if running:
            raise LabError(
                "the lab in %s is running (%s) with vm_count=%s port_offset=%s delay_ms=%s; "
                "asked for vm_count=%s port_offset=%s delay_ms=%s: run `labctl.py down --lab-dir %s` first"
                % (self.lab_dir, ", ".join(running), rec.get("vm_count"), rec.get("port_offset"),
                   rec.get("delay_ms"), self.vm_count, self.port_offset, self.delay_ms, self.lab_dir))

    def pids(self):
        return {
            "vcsim-primary": self.vcsim_pid("primary"),
            "vcsim-recovery": self.vcsim_pid("recovery"),
            "postgres-primary": self.postgres_pid(),
        }

    def _build_vcsim(self):
        main_go = os.path.join(VCSIM_SOURCE, "main.go")
        if os.path.exists(self.vcsim_bin) and os.path.getmtime(self.vcsim_bin) >= os.path.getmtime(main_go):
            return False
        log("building vcsim from %s (GOPATH=/usr/share/gocode) ..." % VCSIM_SOURCE)
        tmp = self.vcsim_bin + ".build"
        env = dict(os.environ, GOPATH="/usr/share/gocode", GO111MODULE="off", GOFLAGS="")
        env.setdefault("GOCACHE", os.path.join(os.path.expanduser("~"), ".cache", "go-build"))
        res = subprocess.run(["go", "build", "-o", tmp, "."], check=False, cwd=VCSIM_SOURCE, env=env,
                             capture_output=True, text=True, timeout=600)
        if res.returncode != 0:
            raise LabError("go build failed:\n%s%s" % (res.stdout, res.stderr))
        os.replace(tmp, self.vcsim_bin)
        return True

    # ---- vcsim
    def _up_vcsim(self, site):
        pid = self.vcsim_pid(site)
        if pid and self.seeded(site, pid):
            return None
        if pid:
            log("vcsim-%s (pid %d) is running but not seeded: restarting it" % (site, pid))
            self._stop_vcsim(site)
        if port_open(self.port(site)):
            raise LabError("port %d (vcsim-%s) is in use by a process this lab did not start"
                           % (self.port(site), site))
        pid = self._start_vcsim(site)
        t = time.monotonic()
        self._seed(site)
        write_file(self.marker(site), json.dumps({
            "pid": pid, "starttime": proc_starttime(pid), "vm_count": self.vm_count,
            "seeded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seed_seconds": round(time.monotonic() - t, 2)}) + "\n", 0o600)
        return "started (pid %d) and seeded in %.2fs" % (pid, time.monotonic() - t)

    def _start_vcsim(self, site):
        urlfile = self.urlfile(site)
        remove_file(urlfile)
        cmd = [self.vcsim_bin, "-listen", "127.0.0.1:%d" % self.port(site),
               "-hosts", str(SITES[site]["hosts"]), "-urlfile", urlfile,
               "-username", VCSIM_USER, "-password", VCSIM_PASSWORD, "-delay", str(self.delay_ms)]
        logf = open(os.path.join(self.log_dir, "vcsim-%s.log" % site), "ab")
        with logf:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                    cwd=self.lab_dir, start_new_session=True, close_fds=True)
        write_file(self.pidfile("vcsim-" + site), "%d\n" % proc.pid, 0o600)
        deadline = time.monotonic() + READY_TIMEOUT
        delay = 0.05
        while True:
            if proc.poll() is not None:
                remove_file(self.pidfile("vcsim-" + site))
                raise LabError("vcsim-%s exited with %s; see %s" % (
                    site, proc.returncode, os.path.join(self.log_dir, "vcsim-%s.log" % site)))
            if os.path.exists(urlfile) and port_open(self.port(site)):
                return proc.pid
            if time.monotonic() > deadline:
                raise LabError("vcsim-%s not ready after %.0fs" % (site, READY_TIMEOUT))
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _stop_vcsim(self, site):
        pidfile = self.pidfile("vcsim-" + site)
        pid = read_pid(pidfile)
        stopped = None
        if pid and self._is_vcsim(pid, site):
            if not terminate(pid, lambda p: self._is_vcsim(p, site)):
                raise LabError("vcsim-%s (pid %d) did not stop" % (site, pid))
            stopped = pid
        for path in (pidfile, self.marker(site), self.urlfile(site)):
            remove_file(path)
        return stopped

    def _seed(self, site):
        from pyVim.connect import Disconnect
        # vcsim state is in memory: files left in the datastores by an earlier
        # process are orphans and would collide (FileAlreadyExists) with new VMs.
        for name in SITES[site]["datastores"]:
            clear_dir(self.datastore_dir(site, name))
        si = vsphere_connect(self.port(site))
        try:
            seeder = Seeder(self, site, si)
            seeder.network()
            seeder.datastores()
            if site == "primary":
                seeder.vms(topology.topology(self.vm_count))
        finally:
            Disconnect(si)

    # ---- PostgreSQL
    def _up_postgres(self):
        action = None
        if not self.postgres_pid():
            if not os.path.exists(os.path.join(self.pg_data, "PG_VERSION")):
                self._initdb()
                action = "initialised"
            else:
                self._write_pg_conf()
            if port_open(self.pg_port):
                raise LabError("port %d (postgres-primary) is in use by a process this lab did not start"
                               % self.pg_port)
            run_as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D", self.pg_data, "-l", self.pg_log,
                             "-w", "-t", str(int(READY_TIMEOUT)), "start"], cwd=self.pg_dir, timeout=120)
            action = (action + ", " if action else "") + "started (pid %s)" % self.postgres_pid()
        pid = self.postgres_pid()
        if not pid:
            raise LabError("postgres-primary did not start; see %s" % self.pg_log)
        write_file(self.pidfile("postgres-primary"), "%d\n" % pid, 0o600)
        if self._seed_postgres(fresh=bool(action and "initialised" in action)):
            action = (action + ", " if action else "") + "seeded"
        return action

    def _pg_conf(self):
        return "\n".join([
            "# continuity.recovery lab (written by tests/lab/labctl.py; included from postgresql.conf)",
            "listen_addresses = '127.0.0.1'",
            "port = %d" % self.pg_port,
            "unix_socket_directories = '%s'" % self.pg_socket_dir,
            "wal_level = replica",
            "max_wal_senders = 10",
            "max_replication_slots = 10",
            "max_slot_wal_keep_size = '1GB'",
            "wal_log_hints = on",
            "hot_standby = on",
            "password_encryption = 'scram-sha-256'",
            "archive_mode = on",
            "archive_command = 'test ! -f %s/%%f && cp %%p %s/%%f'" % (self.pg_archive, self.pg_archive),
            "shared_buffers = '32MB'",
            "max_connections = 50",
            "log_line_prefix = '%m [%p] %q%u@%d '",
            "log_timezone = 'UTC'",
            "timezone = 'UTC'",
            "",
        ])

    def _pg_hba(self):
        return "\n".join([
            "# continuity.recovery lab (written by tests/lab/labctl.py)",
            "# TYPE  DATABASE     USER      ADDRESS        METHOD",
            "local   all          postgres                 peer",
            "local   replication  postgres                 peer",
            "local   all          all                      scram-sha-256",
            "host    all          all       127.0.0.1/32   scram-sha-256",
            "host    replication  all       127.0.0.1/32   scram-sha-256",
            "",
        ])

    def _write_pg_conf(self):
        pw = pwd.getpwnam(PG_OS_USER)
        for name, text in (("lab.conf", self._pg_conf()), ("pg_hba.conf", self._pg_hba())):
            path = os.path.join(self.pg_data, name)
            write_file(path, text, 0o600)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def _initdb(self):
        if os.path.isdir(self.pg_data) and os.listdir(self.pg_data):
            raise LabError("%s is not empty but has no PG_VERSION: remove it or `down --purge`" % self.pg_data)
        log("initdb %s ..." % self.pg_data)
        run_as_postgres([os.path.join(PG_BIN, "initdb"), "-D", self.pg_data, "-k", "-U", "postgres",
                         "-E", "UTF8", "--locale=C.UTF-8", "--auth-local=peer",
                         "--auth-host=scram-sha-256"], cwd=self.pg_dir, timeout=300)
        conf = os.path.join(self.pg_data, "postgresql.conf")
        with open(conf, "a") as f:
            f.write("\n# continuity.recovery lab settings\ninclude 'lab.conf'\n")
        self._write_pg_conf()

    def _seed_postgres(self, fresh=False):
        """Roles, database and schema; returns True when something was created."""
        import psycopg
        if not fresh:
            try:
                with psycopg.connect(**self.pg_conninfo(), connect_timeout=10) as conn:
                    row = conn.execute(
                        "SELECT pg_is_in_recovery(), to_regclass('public.payments') IS NOT NULL").fetchone()
                    if row[0] or row[1]:
                        return False  # a standby now (failback tests) or already seeded: never touch data
            except psycopg.OperationalError:
                pass  # roles or database missing: bootstrap below
        psql = [os.path.join(PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.pg_socket_dir,
                "-p", str(self.pg_port), "-U", "postgres", "-d", "postgres", "-f", "-"]
        run_as_postgres(psql, cwd=self.pg_dir, input_text=BOOTSTRAP_SQL % {
            "admin": PG_ADMIN_USER, "admin_pw": PG_ADMIN_PASSWORD,
            "repl": PG_REPL_USER, "repl_pw": PG_REPL_PASSWORD, "db": PG_DATABASE})
        with psycopg.connect(**self.pg_conninfo(), connect_timeout=10) as conn:
            if conn.execute("SELECT to_regclass('public.payments') IS NULL").fetchone()[0]:
                with conn.transaction():
                    conn.execute(SCHEMA_SQL)
                    params = {"accounts": PG_ACCOUNTS, "payments": PG_PAYMENTS}
                    for statement in DATA_SQL:
                        conn.execute(statement, params)
                conn.execute("ANALYZE")
        return True

    def pg_conninfo(self):
        return {"host": "127.0.0.1", "port": self.pg_port, "user": PG_ADMIN_USER,
                "password": PG_ADMIN_PASSWORD, "dbname": PG_DATABASE}

    # ------------------------------------------------------------------- down
    def down(self, purge=False):
        t0 = time.monotonic()
        stopped = []
        if not os.path.isdir(self.lab_dir):
            log("lab down: %s does not exist, nothing to do" % self.lab_dir)
            return stopped
        if not os.path.exists(os.path.join(self.lab_dir, LAB_MARKER)):
            raise LabError("%s is not a lab directory (no %s): refusing to touch it" % (self.lab_dir, LAB_MARKER))
        with self.locked():
            for site in SITES:
                pid = self._stop_vcsim(site)
                if pid:
                    stopped.append("vcsim-%s (pid %d)" % (site, pid))
            # every PostgreSQL cluster of the lab (primary, and a standby or drill clone
            # created under LAB_DIR/pg by other tools), each by its own postmaster.pid
            for name in sorted(os.listdir(self.pg_dir)) if os.path.isdir(self.pg_dir) else []:
                data = os.path.join(self.pg_dir, name)
                pid = self.postgres_pid(data)
                if pid:
                    self._stop_postgres(data, pid)
                    stopped.append("postgres %s (pid %d)" % (name, pid))
            remove_file(self.pidfile("postgres-primary"))
        if purge:
            shutil.rmtree(self.lab_dir, onerror=_ignore_missing)
        for s in stopped:
            log("stopped: " + s)
        log("lab down: %s stopped=%d purged=%s elapsed=%.2fs" % (
            self.lab_dir, len(stopped), "true" if purge else "false", time.monotonic() - t0))
        return stopped

    def _stop_postgres(self, data, pid):
        res = run_as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D", data, "-m", "fast", "-w",
                               "-t", str(int(READY_TIMEOUT)), "stop"], cwd=self.pg_dir, timeout=120, check=False)
        if res.returncode != 0 or self._is_postgres(pid, data):
            if not terminate(pid, lambda p: self._is_postgres(p, data), timeout=STOP_TIMEOUT):
                raise LabError("postgres on %s (pid %d) did not stop" % (data, pid))

    # ------------------------------------------------------------------- status
    def status(self):
        comps = []
        for site in SITES:
            pid = self.vcsim_pid(site)
            comps.append({
                "name": "vcsim-%s" % site, "pid": pid, "alive": bool(pid),
                "seeded": bool(pid) and self.seeded(site, pid),
                "endpoint": "https://127.0.0.1:%d/sdk" % self.port(site), "required": True,
            })
        pid = self.postgres_pid()
        comps.append({"name": "postgres-primary", "pid": pid, "alive": bool(pid),
                      "endpoint": "postgresql://127.0.0.1:%d/%s" % (self.pg_port, PG_DATABASE),
                      "required": True})
        if os.path.isdir(self.pg_standby_data):
            pid = self.postgres_pid(self.pg_standby_data)
            comps.append({"name": "postgres-standby", "pid": pid, "alive": bool(pid),
                          "endpoint": "postgresql://127.0.0.1:%d/%s" % (self.pg_standby_port, PG_DATABASE),
                          "required": False})
        up = all(c["alive"] and c.get("seeded", True) for c in comps if c["required"])
        return {"lab_dir": self.lab_dir, "vm_count": self.vm_count, "port_offset": self.port_offset,
                "up": up, "components": comps}

    # ------------------------------------------------------------------- description
    def description(self):
        """The content of LAB_DIR/lab.json."""
        sites = {}
        for site, s in SITES.items():
            sites[site] = {
                "vcenter": {"hostname": "127.0.0.1", "port": self.port(site), "username": VCSIM_USER,
                            "password": VCSIM_PASSWORD, "validate_certs": False},
                "datacenter": DATACENTER,
                "cluster": CLUSTER,
                "hosts": self.host_names(site),
                "dvs": s["dvs"],
                "portgroups": list(s["portgroups"]),
                "datastores": {n: self.datastore_dir(site, n) for n in s["datastores"]},
                "nas": {n: {"remote_host": h, "remote_path": p} for n, (h, p) in s["datastores"].items()},
                "replica_dirs": {n: self.datastore_dir(site, n) for n in s["replica_dirs"]},
                "pidfile": self.pidfile("vcsim-" + site),
                "log": os.path.join(self.log_dir, "vcsim-%s.log" % site),
            }
        hosts = self.host_names("primary")
        vms = []
        for i, vm in enumerate(topology.topology(self.vm_count)):
            vms.append(dict(vm, host=hosts[i % len(hosts)]))
        pg_common = {"host": "127.0.0.1", "user": PG_ADMIN_USER, "password": PG_ADMIN_PASSWORD,
                     "database": PG_DATABASE, "bin_dir": PG_BIN, "replication_user": PG_REPL_USER,
                     "replication_password": PG_REPL_PASSWORD}
        return {
            "lab_dir": self.lab_dir,
            "vm_count": self.vm_count,
            "port_offset": self.port_offset,
            "delay_ms": self.delay_ms,
            "sites": sites,
            "network": {"name": "prod", "primary_subnet": topology.PRIMARY_SUBNET,
                        "recovery_subnet": topology.RECOVERY_SUBNET,
                        "recovery_gateway": topology.RECOVERY_GATEWAY, "dns_servers": topology.DNS_SERVERS,
                        "primary_gateway": "10.10.0.1", "primary_dns_servers": ["10.10.0.53"],
                        "drill": "DR-Bubble"},
            "vms": vms,
            "postgres": {
                "primary": dict(pg_common, port=self.pg_port, data_dir=self.pg_data,
                                socket_dir=self.pg_socket_dir, log_file=self.pg_log,
                                archive_dir=self.pg_archive,
                                pidfile=os.path.join(self.pg_data, "postmaster.pid"),
                                seed={"accounts": PG_ACCOUNTS, "payments": PG_PAYMENTS}),
                "standby": dict(pg_common, port=self.pg_standby_port, data_dir=self.pg_standby_data,
                                socket_dir=self.pg_socket_dir),
            },
        }

    @staticmethod
    def host_names(site):
        return ["%s_H%d" % (CLUSTER, i) for i in range(SITES[site]["hosts"])]

    # ------------------------------------------------------------------- plan
    def plan(self):
        """The recovery_plan for this lab (docs/plan.md)."""
        def vcenter(site):
            return {"hostname": "127.0.0.1", "port": self.port(site), "username": VCSIM_USER,
                    "password": VCSIM_PASSWORD, "validate_certs": False}
        db = {"user": PG_ADMIN_USER, "password": PG_ADMIN_PASSWORD, "database": PG_DATABASE}
        tiers = []
        for name, vms in topology.tiers(self.vm_count):
            tier = {"name": name, "vms": vms}
            if name == "data":
                tier["databases"] = ["paydb"]
            tiers.append(tier)
        return {"recovery_plan": {
            "name": "payments",
            "objectives": {"rpo_seconds": 60, "rto_seconds": 900, "max_buffer_fill_pct": 80},
            "sites": {
                "primary": {"vcenter": vcenter("primary"), "datacenter": DATACENTER, "cluster": CLUSTER},
                "recovery": {"vcenter": vcenter("recovery"), "datacenter": DATACENTER, "cluster": CLUSTER},
            },
            "networks": [{
                "name": "prod", "primary": "Prod-Net", "recovery": "DR-Prod", "drill": "DR-Bubble",
                "primary_subnet": topology.PRIMARY_SUBNET, "recovery_subnet": topology.RECOVERY_SUBNET,
                "recovery_gateway": topology.RECOVERY_GATEWAY, "dns_servers": list(topology.DNS_SERVERS),
                "primary_gateway": "10.10.0.1", "primary_dns_servers": ["10.10.0.53"],
            }],
            "datastores": [{
                "primary": "Prod-DS-01", "recovery": "Replica-DS-01", "replication": "vmstore",
                "mount": {"type": "nfs", "remote_host": "array-dr", "remote_path": "/exports/replica-ds-01",
                          "local_path": self.datastore_dir("recovery", "Replica-DS-01")},
            }],
            "replication": [
                {"name": "vmstore", "engine": "rsync",
                 "source": {"path": self.datastore_dir("primary", "Prod-DS-01")},
                 "target": {"path": self.datastore_dir("recovery", "Replica-DS-01"), "host": None},
                 "snapshots": 24},
                {"name": "paydb", "engine": "postgresql",
                 "primary": dict({"host": "127.0.0.1", "port": self.pg_port}, **db),
                 "standby": dict({"host": "127.0.0.1", "port": self.pg_standby_port}, **db),
                 "slot": "dr_paydb", "synchronous": False, "max_buffer": "1GB",
                 # the recovery site's WAL archive + base backups: point-in-time recovery (drill)
                 "archive": {"path": self.pg_recovery_archive, "host": None}},
            ],
            "tiers": tiers,
        }}


def clear_dir(path):
    """Remove everything inside path (not path itself)."""
    if not os.path.isdir(path):
        return
    for name in os.listdir(path):
        p = os.path.join(path, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)


class Seeder:
    """Seeds one freshly started vcsim over the vSphere API."""

    def __init__(self, lab, site, si):
        self.lab, self.site, self.si = lab, site, si
        self.spec = SITES[site]
        content = si.RetrieveContent()
        self.dc = find_child(content.rootFolder, DATACENTER)
        self.cluster = find_child(self.dc.hostFolder, CLUSTER)
        self.hosts = sorted(self.cluster.host, key=lambda h: h.name)
        if [h.name for h in self.hosts] != lab.host_names(site):
            raise LabError("vcsim-%s hosts are %s, expected %s" % (
                site, [h.name for h in self.hosts], lab.host_names(site)))
        self.dvs = None
        self.portgroups = {}

    def network(self):
        from pyVmomi import vim
        create = vim.DistributedVirtualSwitch.CreateSpec(
            configSpec=vim.dvs.VmwareDistributedVirtualSwitch.ConfigSpec(name=self.spec["dvs"]))
        self.dvs, = wait_tasks(self.si, [self.dc.networkFolder.CreateDVS_Task(spec=create)])
        # vcsim refuses NICs on hosts that are not members: add every cluster host
        wait_tasks(self.si, [self.dvs.ReconfigureDvs_Task(spec=vim.dvs.VmwareDistributedVirtualSwitch.ConfigSpec(
            configVersion=self.dvs.config.configVersion,
            host=[vim.dvs.HostMember.ConfigSpec(operation="add", host=h) for h in self.hosts]))])
        wait_tasks(self.si, [self.dvs.AddDVPortgroup_Task(spec=[
            vim.dvs.DistributedVirtualPortgroup.ConfigSpec(name=n, type="earlyBinding", numPorts=16,
                                                           autoExpand=True)
            for n in self.spec["portgroups"]])])
        self.portgroups = {pg.name: pg for pg in self.dvs.portgroup}

    def datastores(self):
        from pyVmomi import vim
        for name, (remote_host, remote_path) in self.spec["datastores"].items():
            spec = vim.host.NasVolume.Specification(
                remoteHost=remote_host, remotePath=remote_path, accessMode="readWrite", type="NFS",
                localPath=self.lab.datastore_dir(self.site, name))
            for h in self.hosts:
                ds = h.configManager.datastoreSystem.CreateNasDatastore(spec=spec)
            if ds.name != name:
                raise LabError("datastore came up as %r, expected %r" % (ds.name, name))

    def vms(self, vms):
        dvs_uuid = self.dvs.uuid
        folder, pool = self.dc.vmFolder, self.cluster.resourcePool
        total = 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=CREATE_WORKERS) as pool_exec:
            for start in range(0, len(vms), CREATE_BATCH):
                batch = vms[start:start + CREATE_BATCH]

                def create(item):
                    i, vm = item
                    spec = vm_config_spec(vm, dvs_uuid, self.portgroups[vm["portgroup"]].key)
                    return folder.CreateVM_Task(config=spec, pool=pool, host=self.hosts[i % len(self.hosts)])

                tasks = list(pool_exec.map(create, enumerate(batch, start)))
                created = wait_tasks(self.si, tasks)
                wait_tasks(self.si, [self.dc.PowerOnMultiVM_Task(vm=created)])
                total += len(created)
        if total != len(vms):
            raise LabError("created %d of %d VMs" % (total, len(vms)))


BOOTSTRAP_SQL = """
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %%I LOGIN SUPERUSER PASSWORD %%L', '%(admin)s', '%(admin_pw)s')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%(admin)s') \\gexec
SELECT format('CREATE ROLE %%I LOGIN REPLICATION PASSWORD %%L', '%(repl)s', '%(repl_pw)s')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%(repl)s') \\gexec
SELECT format('CREATE DATABASE %%I OWNER %%I', '%(db)s', '%(admin)s')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '%(db)s') \\gexec
"""

SCHEMA_SQL = """
CREATE TABLE accounts (
    id            bigint PRIMARY KEY,
    holder        text        NOT NULL,
    iban          text        NOT NULL UNIQUE,
    currency      char(3)     NOT NULL DEFAULT 'EUR',
    balance_cents bigint      NOT NULL,
    opened_at     timestamptz NOT NULL
);
CREATE TABLE payments (
    id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    from_account bigint      NOT NULL REFERENCES accounts (id),
    to_account   bigint      NOT NULL REFERENCES accounts (id),
    amount_cents bigint      NOT NULL CHECK (amount_cents > 0),
    status       text        NOT NULL CHECK (status IN ('booked', 'pending', 'rejected')),
    created_at   timestamptz NOT NULL,
    CHECK (from_account <> to_account)
);
CREATE INDEX payments_from_account_idx ON payments (from_account);
CREATE INDEX payments_to_account_idx ON payments (to_account);
CREATE INDEX payments_created_at_idx ON payments (created_at);
CREATE TABLE lab_info (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO lab_info VALUES ('schema_version', '1'), ('seeded_by', 'tests/lab/labctl.py');
"""

# Deterministic rows: the same lab always holds the same data (tests compute expectations).
DATA_SQL = ("""
INSERT INTO accounts (id, holder, iban, balance_cents, opened_at)
SELECT g, 'holder-' || lpad(g::text, 5, '0'), 'LAB' || lpad(g::text, 18, '0'),
       (g * 7919) %% 1000000, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 hour'
  FROM generate_series(1, %(accounts)s) AS g
""", """
INSERT INTO payments (from_account, to_account, amount_cents, status, created_at)
SELECT 1 + (g * 37) %% %(accounts)s, 1 + (g * 37 + 1 + g %% (%(accounts)s - 2)) %% %(accounts)s,
       100 + (g * 104729) %% 500000,
       CASE g %% 50 WHEN 0 THEN 'rejected' WHEN 1 THEN 'pending' ELSE 'booked' END,
       timestamptz '2026-02-01 00:00:00+00' + g * interval '1 minute'
  FROM generate_series(1, %(payments)s) AS g
""")


# --------------------------------------------------------------------------- CLI

def env_int(name, default):
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit("labctl: %s must be an integer, got %r" % (name, value))


def dump_plan(plan, fmt):
    if fmt == "json":
        return json.dumps(plan, indent=2) + "\n"
    import yaml

    class Dumper(yaml.SafeDumper):
        def increase_indent(self, flow=False, indentless=False):  # indented sequences (yamllint)
            return super().increase_indent(flow, False)

    def represent_list(dumper, data):  # lists of scalars inline: vms: [db01, db02]
        flow = all(isinstance(x, (str, int, float)) for x in data)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    Dumper.add_representer(list, represent_list)
    header = ("# Generated by `tests/lab/labctl.py plan` -- do not edit by hand.\n"
              "# The lab's recovery plan (lab-only credentials); tests/integration/test_lab.py\n"
              "# checks that this file equals the generator's output.\n")
    body = yaml.dump(plan, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=120)
    return "---\n" + header + body


def print_status(st, as_json):
    if as_json:
        print(json.dumps(st, indent=2))
        return
    state = "up" if st["up"] else "DOWN"
    print("lab %s (vm_count=%s port_offset=%s): %s" % (st["lab_dir"], st["vm_count"], st["port_offset"], state))
    for c in st["components"]:
        state = "up" if c["alive"] else "down"
        if c["alive"] and c.get("seeded") is False:
            state = "up (not seeded)"
        note = "" if c["required"] else "  (optional)"
        print("  %-18s pid=%-8s %-16s %s%s" % (c["name"], c["pid"] or "-", state, c["endpoint"], note))


def build_parser():
    p = argparse.ArgumentParser(prog="labctl.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--lab-dir", default=os.environ.get("LAB_DIR") or DEFAULT_LAB_DIR,
                        help="lab state directory (env LAB_DIR, default %(default)s)")
    # status/down use what LAB_DIR recorded at `up`; these only matter for a lab never started
    sizing = argparse.ArgumentParser(add_help=False)
    sizing.add_argument("--vm-count", type=int, default=env_int("LAB_VM_COUNT", DEFAULT_VM_COUNT),
                        help="VMs at the primary site (env LAB_VM_COUNT, default %(default)s)")
    sizing.add_argument("--port-offset", type=int, default=env_int("LAB_PORT_OFFSET", DEFAULT_PORT_OFFSET),
                        help="added to every port (env LAB_PORT_OFFSET, default %(default)s)")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", parents=[common, sizing], help="start the lab (idempotent)")
    up.add_argument("--delay-ms", type=int, default=env_int("LAB_DELAY_MS", DEFAULT_DELAY_MS),
                    help="SOAP latency of both vcsims in ms (env LAB_DELAY_MS, default %(default)s)")
    up.add_argument("--reseed", action="store_true",
                    help="restart both vcsims with a fresh inventory (undo what tests changed); PostgreSQL untouched")
    down = sub.add_parser("down", parents=[common, sizing], help="stop what `up` started")
    down.add_argument("--purge", action="store_true", help="also remove LAB_DIR")
    status = sub.add_parser("status", parents=[common, sizing], help="show components; exit 0 up, 3 down/partial")
    status.add_argument("--json", action="store_true")
    plan = sub.add_parser("plan", parents=[common, sizing], help="print the lab's recovery_plan")
    plan.add_argument("--format", choices=("yaml", "json"), default="yaml")
    plan.add_argument("--output", help="write to this file instead of stdout")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.command == "up":
            if args.vm_count < topology.MIN_VMS or args.vm_count > topology.max_vms():
                raise LabError("--vm-count must be between %d and %d" % (topology.MIN_VMS, topology.max_vms()))
            if args.port_offset < 0 or args.port_offset > 30000 or args.delay_ms < 0:
                raise LabError("--port-offset must be 0..30000 and --delay-ms >= 0")
            Lab(args.lab_dir, args.vm_count, args.port_offset, args.delay_ms).up(reseed=args.reseed)
            return 0
        if args.command == "down":
            Lab.from_recorded(args.lab_dir, args.vm_count, args.port_offset).down(purge=args.purge)
            return 0
        if args.command == "status":
            st = Lab.from_recorded(args.lab_dir, args.vm_count, args.port_offset).status()
            print_status(st, args.json)
            return 0 if st["up"] else EXIT_DOWN
        if args.command == "plan":
            text = dump_plan(Lab(args.lab_dir, args.vm_count, args.port_offset).plan(), args.format)
            if args.output:
                write_file(args.output, text, 0o644)
            else:
                sys.stdout.write(text)
            return 0
    except (LabError, ValueError) as e:
        print("labctl %s: error: %s" % (args.command, e), file=sys.stderr)
        return 1
    except OSError as e:
        if e.errno == errno.EACCES:
            print("labctl %s: permission denied: %s" % (args.command, e), file=sys.stderr)
            return 1
        raise
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

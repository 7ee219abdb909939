"""Shared pieces of the chaos tests: private pairs (ports), a write load, waits,
module playbooks. Built on tests/lab (standby.py, netns.py) and
tests/integration/playbook_runner.py.

Private PostgreSQL clusters of this suite use ports 35700-35719 + the lab's port
offset (PORTS below); namespaces are ``crl-ch<tag>-p`` / ``crl-ch<tag>-r``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time

import netns
import standby as sb
from playbook_runner import run_playbook

# offsets from 35700 (+ lab port offset); two ports per pair
PORTS = {"linkcut": 0, "overflow": 2, "soak": 4, "tls": 6, "tls-off": 8, "failback": 10}
SECRETS = (sb.ADMIN_PASSWORD, sb.REPL_PASSWORD)


def port(lab, name):
    return 35700 + PORTS[name] + int(lab["port_offset"])


class Writer(threading.Thread):
    """Commits ``batch`` rows at ``cluster`` every ``pause`` seconds until stopped.

    ``committed`` counts rows whose COMMIT returned; a failed statement is retried
    on a fresh connection (counted in ``errors``), so the load survives restarts.
    """

    def __init__(self, cluster, batch=100, pause=0.1, note_bytes=200):
        super().__init__(daemon=True)
        self.cluster, self.batch, self.pause, self.note_bytes = cluster, batch, pause, note_bytes
        self.stop_event = threading.Event()
        self.committed = 0
        self.errors = 0
        self.last_error = None

    def run(self):
        while not self.stop_event.is_set():
            try:
                with self.cluster.connect() as conn:
                    while not self.stop_event.is_set():
                        conn.execute("INSERT INTO payments (amount, note) SELECT 1.5, repeat('x', %d)"
                                     " FROM generate_series(1, %d)" % (self.note_bytes, self.batch))
                        self.committed += self.batch
                        time.sleep(self.pause)
            except Exception as exc:  # pylint: disable=broad-except
                self.errors += 1
                self.last_error = exc
                time.sleep(0.5)

    def stop(self):
        self.stop_event.set()
        self.join(60)


def wait_for(what, predicate, timeout=180, interval=0.5):
    """Poll ``predicate`` until true; returns the seconds waited. Raises AssertionError on timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def module_playbook(tmp_path, name, tasks, defaults=None, args=(), env=None):  # noqa: D401
    """Run a one-play playbook of module tasks on localhost; asserts no lab secret in its results."""
    path = tmp_path / ("%s.yml" % name)
    path.write_text(sb.playbook(tasks, defaults), encoding="utf-8")
    run = run_playbook(str(path), args=args, env=env)
    text = json.dumps(run.data)
    for secret in SECRETS:
        assert secret not in text, "secret in the results of %s" % name
    return run


def result(run, name):
    found = run.task_results(name)
    assert found, run.stdout[-3000:]
    return found[-1]


def sender(primary, app):
    """(state, replay lag bytes vs current) of the walsender of ``app`` at ``primary``, or None."""
    with primary.connect() as conn:
        return conn.execute("SELECT state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)"
                            " FROM pg_stat_replication WHERE application_name = %s", (app,)).fetchone()


def current_lsn(cluster):
    with cluster.connect() as conn:
        return conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]


def replayed_past(primary, app, target):
    with primary.connect() as conn:
        row = conn.execute("SELECT r.state, pg_wal_lsn_diff(r.replay_lsn, %s::pg_lsn)"
                           " FROM pg_stat_replication r WHERE application_name = %s", (target, app)).fetchone()
    return bool(row) and row[0] == "streaming" and row[1] is not None and row[1] >= 0


def slot_state(primary, slot):
    with primary.connect() as conn:
        row = conn.execute("SELECT wal_status, active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)"
                           " FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
    return row


@contextlib.contextmanager
def private_pair(lab, port_name, name, **init_primary):
    """A private primary ``name`` (initialised; ``init_primary`` goes to Cluster.init_primary) and an empty
    standby cluster ``<name>-standby`` on the two ports of ``port_name``; both destroyed afterwards."""
    base = port(lab, port_name)
    primary = sb.Cluster(lab["lab_dir"], name, base)
    standby = sb.Cluster(lab["lab_dir"], name + "-standby", base + 1)
    standby.destroy()
    try:
        primary.init_primary(**init_primary)
        yield primary, standby
    finally:
        standby.destroy()
        primary.destroy()


class LinkedPair:
    """A private primary/standby pair across a namespace link (netns.Link): the primary
    listens on 10.250.0.1 in ``crl-ch<tag>-p``, the standby streams from it in
    ``crl-ch<tag>-r``; modules reach both through their unix sockets."""

    def __init__(self, lab, tag, port_name, app, slot, extra_conf=None, max_buffer="256MB"):
        self.lab = lab
        self.link = netns.Link("ch" + tag)
        base = port(lab, port_name)
        self.primary = sb.Cluster(lab["lab_dir"], "ch-" + tag, base, listen=netns.PRIMARY_ADDR,
                                  netns=self.link.primary_ns)
        self.standby = sb.Cluster(lab["lab_dir"], "ch-" + tag + "-standby", base + 1, listen=netns.RECOVERY_ADDR,
                                  netns=self.link.recovery_ns)
        self.app, self.slot, self.extra_conf, self.max_buffer = app, slot, extra_conf or {}, max_buffer

    def create(self):
        self.link.create()
        self.standby.destroy()
        conf = {"wal_sender_timeout": "'3s'", "wal_receiver_timeout": "'3s'"}
        conf.update(self.extra_conf)
        self.primary.init_primary(extra_conf=conf)
        return self

    def destroy(self):
        try:
            self.standby.destroy()
            self.primary.destroy()
        finally:
            self.link.destroy()

    def __enter__(self):
        return self.create()

    def __exit__(self, *exc_info):
        self.destroy()

    def module_args(self):
        """Group defaults of the replication modules for this pair."""
        pair = sb.module_pair(self.primary, self.standby, self.app, self.slot, max_buffer=self.max_buffer)
        pair["primary"]["host"] = self.primary.socket_dir
        pair["standby"].update(host=self.standby.socket_dir, listen_addresses=netns.RECOVERY_ADDR,
                               command_prefix=self.link.exec_prefix("recovery"),
                               upstream_host=netns.PRIMARY_ADDR, upstream_port=self.primary.port)
        return pair

    def far_args(self):
        """The pair as seen from the primary site: the standby's network address (unreachable when cut)."""
        pair = self.module_args()
        return dict(pair, standby=dict(pair["standby"], host=netns.RECOVERY_ADDR))


PROTECT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "playbooks", "protect.yml")


def lab_plan(lab):
    """The chaos lab's recovery plan (``labctl.py plan``), as a fresh dict."""
    import copy
    return copy.deepcopy(lab["plan"])


def playbook(lab, path, **kwargs):
    """run_playbook against the chaos lab (LAB_DIR/LAB_PORT_OFFSET exported: inventories/lab's protect
    settings follow it); pass the lab's plan as extra vars."""
    env = dict(lab["env"])
    env.update(kwargs.pop("env", None) or {})
    return run_playbook(path, env=env, **kwargs)


def protect_vars(lab, tmp_path, primary, standby, name, slot, max_buffer, settings=None):
    """Extra vars running the protect role on one private PostgreSQL pair only (the lab plan with its
    replication section replaced; the rsync pair is declared, for the datastore reference, not protected)."""
    plan = lab_plan(lab)
    src, tgt = tmp_path / "vm-src", tmp_path / "vm-tgt"
    src.mkdir(exist_ok=True)
    endpoint = {"user": sb.ADMIN_USER, "password": sb.ADMIN_PASSWORD, "database": sb.DATABASE}
    plan["replication"] = [
        {"name": "vmstore", "engine": "rsync", "source": {"path": str(src)}, "target": {"path": str(tgt)}},
        {"name": name, "engine": "postgresql", "slot": slot, "max_buffer": max_buffer,
         "primary": dict(endpoint, host=primary.socket_dir, port=primary.port),
         "standby": dict(endpoint, host=standby.socket_dir, port=standby.port)},
    ]
    plan["tiers"][0]["databases"] = [name]
    pair_settings = {"primary": {"data_dir": primary.data_dir},
                     "standby": {"data_dir": standby.data_dir, "log_file": standby.log_file},
                     "replication_user": sb.REPL_USER, "replication_password": sb.REPL_PASSWORD}
    for key, value in (settings or {}).items():
        if isinstance(value, dict):
            pair_settings.setdefault(key, {}).update(value)
        else:
            pair_settings[key] = value
    return {"recovery_plan": plan, "protect_pair_settings": {name: pair_settings}, "protect_pairs": [name],
            "recovery_evidence_root": str(tmp_path / "evidence")}


def evidence_records(root):
    import glob
    out = []
    for path in glob.glob(os.path.join(root, "*", "*", "records.jsonl")):
        with open(path, encoding="utf-8") as handle:
            out += [dict(json.loads(line), _file=path) for line in handle if line.strip()]
    return out


MODULES = os.path.join(os.path.dirname(PROTECT), "..", "plugins", "modules")
COLLECTIONS = os.path.join(os.path.dirname(PROTECT), "..", ".build", "collections")


def run_module(module, args, tmp_dir, timeout=120):
    """Run a collection module the way Ansible does on a target (a fresh python process, args as JSON).

    Returns (result dict, max RSS of that process in KiB, seconds). The secrets of the lab never
    appear in the result (asserted)."""
    import subprocess
    import sys
    path = os.path.join(str(tmp_dir), "%s-args.json" % module)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    env = dict(os.environ, PYTHONPATH=os.path.abspath(COLLECTIONS))
    module_path = os.path.abspath(os.path.join(MODULES, module + ".py"))
    # the module's own peak RSS, written to stderr at exit (exit_json ends with sys.exit)
    wrapper = ("import atexit, resource, runpy, sys\n"
               "atexit.register(lambda: sys.stderr.write('\\nCHAOS_MAXRSS=%d\\n' % "
               "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
               "sys.argv = [sys.argv[1], sys.argv[2]]\n"
               "runpy.run_path(sys.argv[0], run_name='__main__')\n")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", wrapper, module_path, path], capture_output=True, env=env,
                          cwd="/", timeout=timeout, check=False)
    elapsed = time.monotonic() - started
    text = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    for secret in SECRETS:
        assert secret not in text and secret not in err, "secret in the output of %s" % module
    maxrss = [int(line.split("=", 1)[1]) for line in err.splitlines() if line.startswith("CHAOS_MAXRSS=")]
    try:
        data = json.loads(text)
    except ValueError:
        raise AssertionError("%s printed no JSON (exit %d): %s %s"
                             % (module, proc.returncode, text[-500:], err[-1500:])) from None
    return data, (maxrss[-1] if maxrss else None), elapsed


def rss_kib(pid, field="RssAnon"):
    """``field`` (RssAnon: private anonymous memory, what a leak grows) of a process, KiB; None if gone."""
    try:
        with open("/proc/%d/status" % pid, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Inspector:
    """The long-lived inspecting process of tests/chaos/inspector.py."""

    def __init__(self):
        import subprocess
        import sys
        env = dict(os.environ, PYTHONPATH=os.path.abspath(COLLECTIONS))
        self.proc = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "inspector.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd="/")

    def run(self, module, args):
        """(result, {rss_anon_kib, rss_kib}) of one run of ``module`` inside the inspector."""
        self.proc.stdin.write(json.dumps({"module": module, "args": args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the inspector exited (%s)" % self.proc.poll()
        for secret in SECRETS:
            assert secret not in line, "secret in the output of %s" % module
        answer = json.loads(line)
        return answer.pop("result"), answer

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(30)

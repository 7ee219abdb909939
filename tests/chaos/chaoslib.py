"""Shared pieces of the chaos tests: private pairs (ports), a write load, waits,
module playbooks. Built on tests/lab (standby.py, netns.py) and
tests/integration/playbook_runner.py.

Private PostgreSQL clusters of this suite use ports 35700-35719 + the lab's port
offset (PORTS below); namespaces are ``crl-ch<tag>-p`` / ``crl-ch<tag>-r``.
"""

from __future__ import annotations

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

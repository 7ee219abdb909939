"""Private PostgreSQL clusters for replication tests and benchmarks (real PostgreSQL 15).

A ``Cluster`` is one data directory under ``LAB_DIR/pg/<name>`` (so the lab's
``down`` also stops it, by its own postmaster.pid), run as the postgres user,
optionally inside a network namespace (``netns``). ``primary(...)`` creates a
fresh primary with the lab's roles (dr_admin, replicator) and a ``payments``-like
table; tests then drive the pair with the collection's modules.

Nothing here kills by name: a cluster is stopped with ``pg_ctl stop`` on its data
directory, then (only if needed) by the pid in its postmaster.pid after checking
/proc/<pid>/cmdline.

    .venv/bin/python tests/lab/standby.py status --lab-dir /var/lib/continuity-recovery-lab
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import subprocess
import time

PG_BIN = "/usr/lib/postgresql/15/bin"
PG_OS_USER = "postgres"
ADMIN_USER, ADMIN_PASSWORD = "dr_admin", "lab-db-secret"  # lab only
REPL_USER, REPL_PASSWORD = "replicator", "lab-repl-secret"  # lab only
DATABASE = "payments"
PREFIX = "t-"  # private clusters: LAB_DIR/pg/t-<name>


def run_as_postgres(cmd, input_text=None, timeout=120, check=True, netns=None):
    pw = pwd.getpwnam(PG_OS_USER)
    env = {"PATH": PG_BIN + ":/usr/sbin:/usr/bin:/sbin:/bin", "HOME": pw.pw_dir, "USER": PG_OS_USER,
           "LOGNAME": PG_OS_USER, "LC_ALL": "C.UTF-8", "PGTZ": "UTC"}
    kwargs = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
    if netns:
        # enter the namespace as root, then drop to postgres
        cmd = ["ip", "netns", "exec", netns, "runuser", "-u", PG_OS_USER, "--"] + cmd
        kwargs = {}
    res = subprocess.run(cmd, env=env, input=input_text, capture_output=True, text=True, timeout=timeout,
                         cwd="/", start_new_session=True, check=False, **kwargs)
    if check and res.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s%s" % (" ".join(cmd[:3]), res.returncode, res.stdout, res.stderr))
    return res


class Cluster:
    def __init__(self, lab_dir, name, port, listen="127.0.0.1", netns=None):
        self.lab_dir = lab_dir
        self.name = name
        self.port = port
        self.listen = listen
        self.netns = netns
        self.pg_dir = os.path.join(lab_dir, "pg")
        self.data_dir = os.path.join(self.pg_dir, PREFIX + name)
        self.socket_dir = os.path.join(self.pg_dir, "run")
        self.log_file = os.path.join(self.pg_dir, "log", PREFIX + name + ".log")
        self.archive_dir = os.path.join(self.pg_dir, "archive", PREFIX + name)

    # ---- description for modules and psycopg
    def endpoint(self, socket=False):
        return {"host": self.socket_dir if socket else self.listen.split(",")[0], "port": self.port,
                "user": ADMIN_USER, "password": ADMIN_PASSWORD, "database": DATABASE,
                "data_dir": self.data_dir, "bin_dir": PG_BIN, "log_file": self.log_file}

    def connect(self, socket=True, **kw):
        import psycopg
        ep = self.endpoint(socket)
        params = dict(host=ep["host"], port=ep["port"], user=ADMIN_USER, password=ADMIN_PASSWORD,
                      dbname=DATABASE, connect_timeout=5, autocommit=True)
        params.update(kw)
        return psycopg.connect(**params)

    # ---- lifecycle
    def pid(self):
        try:
            with open(os.path.join(self.data_dir, "postmaster.pid")) as f:
                pid = int(f.readline())
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read().split(b"\0")
            if b"-D" in cmd and os.path.realpath(cmd[cmd.index(b"-D") + 1].decode()) == os.path.realpath(self.data_dir):
                return pid
        except (OSError, ValueError):
            pass
        return None

    def running(self):
        return self.pid() is not None

    def start(self):
        os.makedirs(os.path.dirname(self.log_file), exist_ok=True)
        pw = pwd.getpwnam(PG_OS_USER)
        if not os.path.exists(self.log_file):
            open(self.log_file, "a").close()
        os.chown(self.log_file, pw.pw_uid, pw.pw_gid)
        run_as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data_dir, "-l", self.log_file, "-w",
                         "-t", "60", "start"], netns=self.netns)

    def stop(self, mode="fast"):
        pid = self.pid()
        if not pid:
            return
        res = run_as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data_dir, "-m", mode, "-w", "-t", "30",
                               "stop"], check=False)
        deadline = time.monotonic() + 10
        while self.pid() == pid and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.pid() == pid:
            os.kill(pid, signal.SIGKILL)
        del res

    def destroy(self):
        self.stop("immediate")
        for path in (self.data_dir, self.archive_dir):
            shutil.rmtree(path, ignore_errors=False) if os.path.isdir(path) else None
        if os.path.exists(self.log_file):
            os.unlink(self.log_file)

    def init_primary(self, extra_conf=None, wal_segsize=None):
        """initdb + the lab's settings and roles + a small payments table; started."""
        self.destroy()
        pw = pwd.getpwnam(PG_OS_USER)
        for d in (self.pg_dir, self.socket_dir, os.path.dirname(self.log_file), self.archive_dir):
            os.makedirs(d, exist_ok=True)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        cmd = [os.path.join(PG_BIN, "initdb"), "-D", self.data_dir, "-k", "-U", "postgres", "-E", "UTF8",
               "--locale=C.UTF-8", "--auth-local=peer", "--auth-host=scram-sha-256"]
        if wal_segsize:
            cmd.append("--wal-segsize=%d" % wal_segsize)
        run_as_postgres(cmd, timeout=300)
        conf = {
            "listen_addresses": "'%s'" % self.listen, "port": self.port,
            "unix_socket_directories": "'%s'" % self.socket_dir,
            "wal_level": "replica", "max_wal_senders": 10, "max_replication_slots": 10,
            "max_slot_wal_keep_size": "'1GB'", "wal_log_hints": "on", "hot_standby": "on",
            "password_encryption": "'scram-sha-256'", "archive_mode": "on",
            "archive_command": "'test ! -f %s/%%f && cp %%p %s/%%f'" % (self.archive_dir, self.archive_dir),
            "shared_buffers": "'32MB'", "max_connections": 30, "fsync": "off", "synchronous_commit": "off",
            "wal_retrieve_retry_interval": "'1s'", "wal_receiver_timeout": "'10s'", "wal_sender_timeout": "'10s'",
            "timezone": "'UTC'", "log_timezone": "'UTC'", "log_line_prefix": "'%m [%p] %q%u@%d '",
        }
        conf.update(extra_conf or {})
        with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as f:
            f.write("\n# continuity.recovery private test cluster\n")
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        hba = ["local all postgres peer", "local replication postgres peer",
               "local all all scram-sha-256", "local replication all scram-sha-256",
               "host all all 127.0.0.1/32 scram-sha-256", "host replication all 127.0.0.1/32 scram-sha-256",
               "host all all 10.250.0.0/30 scram-sha-256", "host replication all 10.250.0.0/30 scram-sha-256"]
        with open(os.path.join(self.data_dir, "pg_hba.conf"), "w") as f:
            f.write("\n".join(hba) + "\n")
        self.start()
        sql = (
            "CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s';\n"
            "CREATE ROLE %s LOGIN REPLICATION PASSWORD '%s';\n"
            "CREATE DATABASE %s OWNER %s;\n"
        ) % (ADMIN_USER, ADMIN_PASSWORD, REPL_USER, REPL_PASSWORD, DATABASE, ADMIN_USER)
        run_as_postgres([os.path.join(PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.socket_dir,
                         "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-f", "-"], input_text=sql,
                        netns=None)
        with self.connect() as conn:
            conn.execute("CREATE TABLE payments (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                         " amount numeric(12,2) NOT NULL, note text NOT NULL DEFAULT '')")
            conn.execute("INSERT INTO payments (amount) SELECT (g %% 997) + 0.5 FROM generate_series(1, %d) g" % 2000)
        return self


def fingerprint(conn, table="payments"):
    """(row count, md5 of every row in id order) - equal on both sides means nothing was lost."""
    row = conn.execute("SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY id), ''))"
                       " FROM %s t" % table).fetchone()
    return row[0], row[1]


def private_clusters(lab_dir):
    pg = os.path.join(lab_dir, "pg")
    return sorted(n[len(PREFIX):] for n in os.listdir(pg) if n.startswith(PREFIX)) if os.path.isdir(pg) else []


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["status", "destroy-all"])
    parser.add_argument("--lab-dir", default=os.environ.get("LAB_DIR", "/var/lib/continuity-recovery-lab"))
    args = parser.parse_args(argv)
    for name in private_clusters(args.lab_dir):
        cluster = Cluster(args.lab_dir, name, 0)
        if args.command == "destroy-all":
            cluster.destroy()
            print("destroyed", name)
        else:
            print(name, "pid=%s" % cluster.pid(), cluster.data_dir)


if __name__ == "__main__":
    main()


def playbook(tasks, group_defaults=None, name="replication test"):
    """YAML text of a one-play playbook on localhost; ``group_defaults`` go to
    module_defaults for group/continuity.recovery.replication (the pair, set once)."""
    import json
    play = {"name": name, "hosts": "localhost", "gather_facts": False, "tasks": tasks}
    if group_defaults:
        play["module_defaults"] = {"group/continuity.recovery.replication": group_defaults}
    return json.dumps([play], indent=1)  # JSON is YAML


def module_pair(primary, standby, name, slot, **extra):
    """replication-module arguments of a private pair (``primary``/``standby``: Cluster)."""
    args = {"name": name, "engine": "postgresql", "slot": slot, "primary": primary.endpoint(),
            "standby": standby.endpoint(), "replication_user": REPL_USER, "replication_password": REPL_PASSWORD,
            "timeout": 120}
    args.update(extra)
    return args

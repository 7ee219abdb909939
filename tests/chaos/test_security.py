"""Item 7: security.

- ``test_no_secret_anywhere_and_restrictive_modes``: baseline, protect and report
  (playbooks/security.yml: as the lifecycle runs them, one run directory, the timeline
  callback on) run on the chaos lab with ``-vvv`` and an Ansible log file; its stdout/stderr, the log, every evidence and report file and the
  lab's PostgreSQL logs written meanwhile are searched for every secret value of the
  plan and the protect settings (each ``*password*`` value, found by walking them) and
  for any DSN or conninfo carrying a password. Every evidence file is 0600, every
  evidence directory 0700.
- ``test_no_secret_in_the_whole_lifecycle``: the same scan over playbooks/lifecycle.yml
  (drill, planned takeover and failback included).
- ``test_validate_certs_is_true_by_default``: every module documenting validate_certs
  defaults it to true (ansible-doc), the shared argument spec does, the plan
  normalises an absent validate_certs to true, and site_info without validate_certs
  refuses the lab's self-signed vCenter.
- ``test_replication_can_require_tls_and_baseline_reports_it``: a private pair whose
  primary only accepts replication over TLS (hostssl; hostnossl rejected) is
  established with replication_ssl_mode=require; replication_info reports TLS in use,
  database_info reports the walreceiver requiring it, and the baseline role's record
  (databases.<pair>.primary.senders[].ssl) says so.
- ``test_required_tls_is_not_bypassed_when_seeding``: against a primary without TLS,
  replication_ssl_mode=require must fail before any data is copied (the seed's
  pg_basebackup gets the same sslmode; it did not before b8afbaf, found by this test).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import stat
import subprocess
import sys
import time

import pytest
import yaml

import chaoslib as cl
import standby as sb

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCAN_PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "security.yml")
# a DSN with a password (scheme://user:password@) or a conninfo with a non-empty password=
DSN_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^\s:/@'\"]+:(?!\*{3})[^\s@'\"]+@|password=(?!\*|'\*|''|\s)\S+")


def _secret_values(node, out):
    if isinstance(node, dict):
        for key, value in node.items():
            if "password" in str(key).lower() and isinstance(value, str) and value:
                out.add(value)
            else:
                _secret_values(value, out)
    elif isinstance(node, list):
        for value in node:
            _secret_values(value, out)
    return out


def _files(root):
    for base, dirs, files in os.walk(root):
        for name in dirs:
            yield os.path.join(base, name), True
        for name in files:
            yield os.path.join(base, name), False


class SecretLeak(AssertionError):
    """A secret value (or a password-bearing DSN) was found in output, logs, evidence or reports."""


def _task_of(text, index):
    """The task header (``TASK [...]``) printed last before ``index`` in playbook output."""
    start = text.rfind("TASK [", 0, index)
    return text[start:text.find("]", start) + 1] if start >= 0 else "?"


def _scan(lab, tmp_path, playbook, extra_vars):
    """Run ``playbook`` with -vvv and an Ansible log on the chaos lab's plan; search everything it wrote."""
    plan = cl.lab_plan(lab)
    with open(os.path.join(REPO, "inventories", "lab", "group_vars", "all", "protect.yml"), encoding="utf-8") as f:
        protect_settings = yaml.safe_load(f)["protect_pair_settings"]
    secrets = _secret_values(plan, set()) | _secret_values(protect_settings, set())
    assert {"lab-vcenter-secret", "lab-db-secret", "lab-repl-secret"} <= secrets, secrets
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps({"recovery_plan": plan}), encoding="utf-8")
    root = tmp_path / "evidence"
    log_path = tmp_path / "ansible.log"
    started = time.time()
    run = cl.playbook(lab, playbook, extra_vars=dict(extra_vars, recovery_evidence_root=str(root)),
                      args=["-e", "@" + str(plan_file), "-vvv"],
                      env={"ANSIBLE_LOG_PATH": str(log_path),
                           "ANSIBLE_CALLBACKS_ENABLED": "results_file,continuity.recovery.recovery_timeline"},
                      timeout=1500)
    assert run.rc == 0, run.stdout[-4000:]

    texts = {"ansible-playbook -vvv stdout": run.stdout, "ansible-playbook stderr": run.stderr}
    for path, is_dir in _files(str(root)):
        if not is_dir:
            with open(path, encoding="utf-8", errors="replace") as handle:
                texts[os.path.relpath(path, str(tmp_path))] = handle.read()
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        texts["ansible.log"] = handle.read()
    log_dir = os.path.join(lab["lab_dir"], "pg", "log")
    for name in sorted(os.listdir(log_dir)):
        path = os.path.join(log_dir, name)
        if os.path.getmtime(path) >= started - 1:
            with open(path, encoding="utf-8", errors="replace") as handle:
                texts["lab pg log " + name] = handle.read()
    hits = []
    for where, text in texts.items():
        for secret in secrets:
            index = text.find(secret)
            while index >= 0:
                hits.append("%s: the secret %s...%s in %s" % (where, secret[:2], secret[-2:], _task_of(text, index)))
                index = text.find(secret, index + 1)
        for match in DSN_WITH_PASSWORD.finditer(text):
            hits.append("%s: a password-bearing DSN/conninfo %r in %s" % (
                where, match.group(0)[:12] + "...", _task_of(text, match.start())))
    assert len(run.stdout) > 100000 and len(texts["ansible.log"]) > 10000     # -vvv really was verbose
    return {"secrets": secrets, "texts": texts, "hits": hits, "run": run, "root": root}


@pytest.mark.chaos_item("7")
def test_no_secret_anywhere_and_restrictive_modes(lab, figures, tmp_path):
    scan = _scan(lab, tmp_path, SCAN_PLAYBOOK, {"chaos_run_id": "security"})
    root, texts, hits = scan["root"], scan["texts"], scan["hits"]
    loose_files, loose_dirs, evidence_files = [], [], 0
    for path, is_dir in [(str(root), True)] + list(_files(str(root))):
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        if is_dir and mode != 0o700:
            loose_dirs.append("%s %o" % (os.path.relpath(path, str(root)), mode))
        elif not is_dir:
            evidence_files += 1
            if mode != 0o600:
                loose_files.append("%s %o" % (os.path.relpath(path, str(root)), mode))
    kinds = sorted({os.path.splitext(p)[1] for p, d in _files(str(root)) if not d})
    figures.set(secret_values=len(scan["secrets"]), files_scanned=len(texts) - 2,
                output_bytes=len(scan["run"].stdout), log_bytes=len(texts["ansible.log"]), secret_hits=len(hits),
                evidence_files=evidence_files, evidence_file_kinds=kinds, loose_files=len(loose_files),
                loose_dirs=len(loose_dirs))
    assert any(name.endswith("report.html") for name in texts) and any("records.jsonl" in n for n in texts)
    assert not hits, hits[:20]
    assert not loose_files and not loose_dirs, (loose_files[:10], loose_dirs[:10])


@pytest.mark.chaos_item("7")
def test_validate_certs_is_true_by_default(lab, figures, tmp_path):
    from ansible_collections.continuity.recovery.plugins.module_utils import plan as plan_mod
    from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.args import vsphere_argument_spec

    modules = sorted(n[:-3] for n in os.listdir(os.path.join(REPO, "plugins", "modules"))
                     if n.endswith(".py") and not n.startswith("_"))
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-doc"), "-j", "-t", "module"]
                         + ["continuity.recovery." + m for m in modules], capture_output=True, text=True,
                         check=True, timeout=300, env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg")))
    docs = json.loads(out.stdout)
    with_option = {name: d["doc"]["options"]["validate_certs"].get("default")
                   for name, d in docs.items() if "validate_certs" in (d["doc"].get("options") or {})}
    assert with_option and all(v is True for v in with_option.values()), with_option
    assert vsphere_argument_spec()["validate_certs"]["default"] is True

    raw = cl.lab_plan(lab)
    for site in raw["sites"].values():
        site["vcenter"].pop("validate_certs")
    normalised, problems = plan_mod.validate(raw)
    assert not problems and all(normalised["sites"][s]["vcenter"]["validate_certs"] is True
                                for s in ("primary", "recovery"))

    vc = lab["sites"]["primary"]["vcenter"]
    connection = {"hostname": vc["hostname"], "port": vc["port"], "username": vc["username"],
                  "password": vc["password"]}
    refused, _rss, _t = cl.run_module("site_info", dict(connection, datacenter="DC0"), tmp_path)
    accepted, _rss, _t = cl.run_module("site_info", dict(connection, datacenter="DC0", validate_certs=False),
                                       tmp_path)
    assert vc["password"] not in json.dumps(refused) + json.dumps(accepted)
    figures.set(validate_certs_true_default=len(with_option), validate_certs_modules=sorted(with_option),
                self_signed_vcenter_refused_by_default=bool(refused.get("failed")))
    assert refused.get("failed") and "certif" in refused["msg"].lower(), refused.get("msg")
    assert not accepted.get("failed"), accepted.get("msg")


def _certificate(directory):
    """A self-signed server certificate readable by the postgres user only."""
    os.makedirs(directory, exist_ok=True)
    crt, key = os.path.join(directory, "server.crt"), os.path.join(directory, "server.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-keyout", key, "-out", crt], check=True, capture_output=True, timeout=120)
    pw = pwd.getpwnam(sb.PG_OS_USER)
    for path in (directory, crt, key):
        os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(directory, 0o700)
    os.chmod(key, 0o600)
    return crt, key


def _tls_only_replication(cluster):
    """pg_hba: replication from 127.0.0.1 over TLS only."""
    hba = os.path.join(cluster.data_dir, "pg_hba.conf")
    with open(hba, encoding="utf-8") as handle:
        lines = [line for line in handle.read().splitlines() if "replication all 127.0.0.1/32" not in line]
    lines = ["hostssl replication all 127.0.0.1/32 scram-sha-256",
             "hostnossl replication all 127.0.0.1/32 reject"] + lines
    with open(hba, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    sb.run_as_postgres([os.path.join(sb.PG_BIN, "pg_ctl"), "-D", cluster.data_dir, "reload"])


def _find_senders(node):
    """Every ``databases.paydb.primary.senders`` list in a baseline evidence document."""
    if isinstance(node, dict):
        paydb = node.get("databases", {}).get("paydb") if isinstance(node.get("databases"), dict) else None
        if isinstance(paydb, dict) and isinstance(paydb.get("primary"), dict) and paydb["primary"].get("senders"):
            yield paydb["primary"]["senders"]
        for value in node.values():
            yield from _find_senders(value)
    elif isinstance(node, list):
        for value in node:
            yield from _find_senders(value)


@pytest.fixture
def tls_pair(lab):
    cert_dir = os.path.join(lab["lab_dir"], "pg", "ch-tls-cert")
    crt, key = _certificate(cert_dir)
    try:
        with cl.private_pair(lab, "tls", "ch-tls", extra_conf={
                "ssl": "on", "ssl_cert_file": "'%s'" % crt, "ssl_key_file": "'%s'" % key}) as (primary, standby):
            _tls_only_replication(primary)
            yield primary, standby
    finally:
        subprocess.run(["rm", "-rf", "--", cert_dir], check=False)


@pytest.mark.chaos_item("7")
def test_replication_can_require_tls_and_baseline_reports_it(lab, tls_pair, figures, tmp_path):
    primary, standby = tls_pair
    pair = sb.module_pair(primary, standby, "chtls", "dr_chtls", replication_ssl_mode="require")
    pair["primary"]["host"] = pair["standby"]["host"] = "127.0.0.1"
    run = cl.module_playbook(tmp_path, "tls", [
        {"name": "present", "continuity.recovery.replication": {"state": "present"}},
        {"name": "info", "continuity.recovery.replication_info": {}},
        {"name": "standby db", "continuity.recovery.database_info": {
            "login_host": "127.0.0.1", "login_port": standby.port, "login_user": sb.ADMIN_USER,
            "login_password": sb.ADMIN_PASSWORD, "login_db": sb.DATABASE}},
    ], pair, env=lab["env"])
    assert run.rc == 0, run.stdout[-4000:]
    info = cl.result(run, "info")
    receiver = cl.result(run, "standby db")["receiver"]

    plan = cl.lab_plan(lab)
    endpoint = {"host": "127.0.0.1", "user": sb.ADMIN_USER, "password": sb.ADMIN_PASSWORD, "database": sb.DATABASE}
    paydb = [p for p in plan["replication"] if p["name"] == "paydb"][0]
    paydb.update(primary=dict(endpoint, port=primary.port), standby=dict(endpoint, port=standby.port),
                 slot="dr_chtls")
    paydb.pop("archive", None)
    root = tmp_path / "evidence"
    baseline = cl.playbook(lab, os.path.join(REPO, "playbooks", "baseline.yml"),
                           extra_vars={"recovery_plan": plan, "recovery_evidence_root": str(root),
                                       "recovery_run_id": "tls", "baseline_allow_degraded": True})
    assert baseline.rc == 0, baseline.stdout[-4000:]
    recorded, where = None, []
    for path, is_dir in _files(str(root)):
        if is_dir or not path.endswith((".json", ".jsonl")):
            continue
        with open(path, encoding="utf-8") as handle:
            docs = [json.loads(line) for line in handle if line.strip()] if path.endswith(".jsonl") \
                else [json.load(handle)]
        for doc in docs:
            for rows in _find_senders(doc):
                recorded = [r.get("ssl") for r in rows]
                where.append(os.path.relpath(path, str(root)))
    figures.set(tls_required_streams_over_tls=bool(info["tls"] and info["tls"]["ssl"]),
                tls_version=(info["tls"] or {}).get("version"),
                walreceiver_requires_tls=receiver.get("ssl_required") if receiver else None,
                baseline_records_tls=recorded, baseline_tls_recorded_in=sorted(set(where)))
    assert info["link"]["state"] == "connected" and info["tls"]["ssl"] is True
    assert receiver and receiver["ssl_required"] is True
    assert recorded == [True], where


@pytest.fixture
def plain_pair(lab):
    with cl.private_pair(lab, "tls-off", "ch-plain") as pair:
        yield pair


@pytest.mark.chaos_item("7")
def test_required_tls_is_not_bypassed_when_seeding(lab, plain_pair, figures, tmp_path):
    primary, standby = plain_pair
    pair = sb.module_pair(primary, standby, "chplain", "dr_chplain", replication_ssl_mode="require", timeout=30)
    pair["primary"]["host"] = pair["standby"]["host"] = "127.0.0.1"
    run = cl.module_playbook(tmp_path, "plain", [
        {"name": "present", "continuity.recovery.replication": {"state": "present"}, "ignore_errors": True},
    ], pair, env=lab["env"])
    present = cl.result(run, "present")
    seeded = os.path.exists(os.path.join(standby.data_dir, "PG_VERSION"))
    figures.set(tls_required_against_plain_server_fails=bool(present.get("failed")),
                seed_copied_without_tls=seeded)
    assert present.get("failed"), "replication_ssl_mode=require against a server without TLS must fail"
    assert not seeded, "the base backup was copied over a connection without TLS"


@pytest.mark.chaos_item("7")
def test_no_secret_in_the_whole_lifecycle(lab, figures, tmp_path):
    """The whole lifecycle (baseline, protect, drill, takeover, failback, report) with -vvv: no secret anywhere.

    The failback role's table comparison once passed the database passwords as task environment, which
    -vvv prints in the EXEC line; it now reads them from a private password file."""
    scan = _scan(lab, tmp_path, os.path.join(REPO, "playbooks", "lifecycle.yml"),
                 {"recovery_run_id_override": "lifecycle"})
    figures.set(lifecycle_secret_hits=len(scan["hits"]),
                lifecycle_secret_hit_tasks=sorted({h.rsplit(" in ", 1)[1] for h in scan["hits"]}),
                lifecycle_output_bytes=len(scan["run"].stdout))
    if scan["hits"]:
        raise SecretLeak(scan["hits"][:20])

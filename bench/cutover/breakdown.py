"""bench/cutover/breakdown.py: where (a)'s time goes, and what the module parses against the floor.

Not a benchmark (run.py is): one instrumented run of each, on a fresh simulator, to
attribute the difference without relying on wall-clock ratios on a loaded machine.

1. (a) as run.py runs it (ansible-playbook bench/cutover/module.yml), with wrappers that
   time ansible-core's and the module's phases (``time.time()`` and ``process_time()``
   around a few functions; far lighter than cProfile) - printed as a timeline;
2. ``--soap``: host_cutover run directly (no ansible-playbook) and the floor, each under a
   counter of SOAP calls and XML elements parsed in responses, per method.

    .venv/bin/python bench/cutover/breakdown.py [--vms 500] [--soap]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import run as bench  # noqa: E402  (bench/cutover/run.py: simulator, seed, workload)

MARKS = r'''
import functools, json, os, time
def out(rec):
    with open(os.environ["BREAKDOWN_MARKS"], "a") as h:
        h.write(json.dumps(rec) + "\n")
def mark(name):
    out({"name": name, "t": time.time(), "cpu": time.process_time(), "pid": os.getpid()})
def wrap(owner, attr, label):
    orig = getattr(owner, attr)
    @functools.wraps(orig)
    def inner(*a, **k):
        t0, c0 = time.time(), time.process_time()
        try:
            return orig(*a, **k)
        finally:
            out({"name": label, "t0": t0, "t": time.time(), "cpu": time.process_time() - c0, "pid": os.getpid()})
    setattr(owner, attr, inner)
'''

CONTROLLER = r'''
import os, sys, time
T0 = time.time()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import breakdown_marks as m
m.out({"name": "controller: interpreter up", "t": T0, "pid": os.getpid()})
from ansible.executor import task_executor
from ansible.plugins import action
from ansible.plugins.strategy import StrategyBase
from ansible.executor.task_queue_manager import TaskQueueManager
from ansible.cli import CLI
from ansible.playbook.task import Task
import ansible.cli.playbook as cli
m.mark("controller: ansible imported")
m.wrap(CLI, "_play_prereqs", "controller: inventory and extra vars")
m.wrap(Task, "post_validate", "worker: template the task arguments")
m.wrap(action.ActionBase, "_configure_module", "worker: build the AnsiballZ payload")
m.wrap(action.ActionBase, "_parse_returned_data", "worker: parse the module result")
m.wrap(task_executor.TaskExecutor, "run", "worker: the task")
m.wrap(TaskQueueManager, "send_callback", "controller: callbacks")
sys.argv = ["ansible-playbook"] + sys.argv[1:]
try:
    cli.main()
except SystemExit:
    pass
m.mark("controller: end")
'''

MODULE = r'''#!PYTHON
import os, sys, time, runpy
T0 = time.time()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import breakdown_marks as m
m.out({"name": "module: interpreter up", "t": T0, "pid": os.getpid()})
path = sys.argv[1]
sys.argv = sys.argv[1:]
import ansible.module_utils.basic as basic
m.mark("module: ansible.module_utils.basic imported")
import pyVmomi  # noqa: F401
m.mark("module: pyVmomi imported")
sys.path.insert(0, COLLECTIONS)
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import module_base, executor, session
from ansible_collections.continuity.recovery.plugins.modules import host_cutover  # noqa: F401
m.mark("module: collection imported")
m.wrap(basic.AnsibleModule, "__init__", "module: AnsibleModule (argument validation)")
m.wrap(session.Session, "connect", "module: login")
m.wrap(executor, "SiteView", "module: read the target site")
m.wrap(executor.Cutover, "run", "module: the tiers (elapsed)")
m.wrap(basic.AnsibleModule, "_return_formatted", "module: exit_json (no_log masking, JSON)")
try:
    runpy.run_path(path, run_name="__main__")
finally:
    m.mark("module: end")
'''

SOAP = r'''
import json, os, runpy, sys, threading, collections
from pyVmomi import SoapAdapter
calls, elems, local = collections.Counter(), collections.Counter(), threading.local()
invoke = SoapAdapter.SoapStubAdapter.InvokeMethod
def counted(self, mo, info, args, outerStub=None):
    local.name = info.wsdlName
    calls[info.wsdlName] += 1
    return invoke(self, mo, info, args, outerStub)
SoapAdapter.SoapStubAdapter.InvokeMethod = counted
start = SoapAdapter.SoapDeserializer.StartElementHandler
def counting_start(self, tag, attr):
    elems[getattr(local, "name", "?")] += 1
    return start(self, tag, attr)
SoapAdapter.SoapDeserializer.StartElementHandler = counting_start
script = sys.argv[2]
out = sys.argv[1]
sys.argv = sys.argv[2:]
sys.path[0] = os.path.dirname(script)
try:
    runpy.run_path(script, run_name="__main__")
finally:
    with open(out, "w") as handle:
        json.dump({"calls": calls, "elems": elems}, handle)
'''


def write(path, text, mode=0o644):
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)


def print_marks(path, t_start):
    records = []
    with open(path) as handle:
        for line in handle:
            records.append(json.loads(line))
    records.sort(key=lambda r: r.get("t0", r["t"]))
    print("%8s %8s %7s %6s  %s" % ("from s", "to s", "wall s", "cpu s", "part"))
    for rec in records:
        if "t0" in rec:
            if rec["t"] - rec["t0"] < 0.005:
                continue  # the result poll loop's empty passes, empty callbacks
            row = (rec["t0"] - t_start, rec["t"] - t_start, rec["t"] - rec["t0"], rec["cpu"], rec["name"])
            print("%8.3f %8.3f %7.3f %6.3f  %s" % row)
        else:
            cpu = "%.3f" % rec["cpu"] if "cpu" in rec else ""
            print("%8.3f %8s %7s %6s  %s" % (rec["t"] - t_start, "", "", cpu, rec["name"]))


def with_sim(binary, work, port, replica, delay, fn):
    port = bench.free_port(port)
    sim = bench.Sim(binary, work, port, delay)
    try:
        bench.seed(port, replica)
        return fn(port)
    finally:
        sim.stop()


def module_args(port, tiers, max_parallel):
    return {"hostname": "127.0.0.1", "port": port, "username": bench.USER, "password": bench.PASSWORD,
            "validate_certs": False, "action": "takeover", "mode": "emergency", "datacenter": "DC0",
            "cluster": "DC0_C0", "tiers": [{"name": t, "vms": [v["name"] for v in vms]} for t, vms in tiers],
            "networks": [bench.NET], "storage_map": [{"primary": "Prod-DS-01", "recovery": bench.REPLICA}],
            "baseline": bench.baseline(tiers), "max_parallel": max_parallel}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=500)
    parser.add_argument("--delay-ms", type=int, default=20)
    parser.add_argument("--max-parallel", type=int, default=20)
    parser.add_argument("--work-dir", default="/var/lib/crl-bench-cutover/breakdown")
    parser.add_argument("--port", type=int, default=38930)
    parser.add_argument("--soap", action="store_true", help="also count SOAP calls/elements: module vs floor")
    args = parser.parse_args(argv)
    binary = os.path.join(os.environ.get("LAB_DIR", "/var/lib/continuity-recovery-lab"), "bin", "vcsim")
    work = args.work_dir
    os.makedirs(work, exist_ok=True)
    tiers = bench.workload(args.vms)
    replica = os.path.join(work, bench.REPLICA)
    bench.make_replica(replica, [vm["name"] for _unused, vms in tiers for vm in vms])
    collections = os.path.join(REPO, ".build", "collections")
    write(os.path.join(work, "breakdown_marks.py"), MARKS)
    write(os.path.join(work, "controller.py"), CONTROLLER)
    interpreter = os.path.join(work, "module_python")
    write(interpreter, MODULE.replace("PYTHON", sys.executable).replace("COLLECTIONS", repr(collections)), 0o755)
    write(os.path.join(work, "soapcount.py"), SOAP)
    print("load average at start: %s" % bench.load())

    def instrumented(port):
        marks = os.path.join(work, "marks.jsonl")
        if os.path.exists(marks):
            os.unlink(marks)
        vars_file = os.path.join(work, "vars.json")
        with open(vars_file, "w") as handle:
            json.dump(dict(module_args(port, tiers, args.max_parallel), vc_port=port,
                           ansible_python_interpreter=interpreter), handle)
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=collections,
                   BREAKDOWN_MARKS=marks)
        start = time.time()
        proc = subprocess.run([sys.executable, os.path.join(work, "controller.py"), os.path.join(HERE, "module.yml"),
                               "-i", "localhost,", "-e", "@" + vars_file], env=env, cwd=REPO, capture_output=True,
                              text=True, check=False)
        wall = time.time() - start
        if proc.returncode:
            raise SystemExit(proc.stdout[-3000:] + proc.stderr[-3000:])
        bench.check_result(port, tiers)
        print("(a) instrumented: %.2f s wall, %d VMs" % (wall, args.vms))
        print_marks(marks, start)

    with_sim(binary, work, args.port, replica, args.delay_ms, instrumented)

    if args.soap:
        def direct(port):
            args_file = os.path.join(work, "module-args.json")
            with open(args_file, "w") as handle:
                json.dump({"ANSIBLE_MODULE_ARGS": module_args(port, tiers, args.max_parallel)}, handle)
            out = os.path.join(work, "soap-module.json")
            proc = subprocess.run([sys.executable, os.path.join(work, "soapcount.py"), out,
                                   os.path.join(REPO, "plugins", "modules", "host_cutover.py"), args_file],
                                  env=dict(os.environ, PYTHONPATH=collections), capture_output=True, text=True,
                                  check=False)
            if proc.returncode:
                raise SystemExit(proc.stdout[-3000:] + proc.stderr[-3000:])
            print("module result: %d bytes (vms %d, invocation %d)" % (
                len(proc.stdout), len(json.dumps(json.loads(proc.stdout)["vms"])),
                len(json.dumps(json.loads(proc.stdout).get("invocation")))))
            with open(out) as handle:
                return json.load(handle)

        def floor(port):
            cfg = os.path.join(work, "floor.json")
            with open(cfg, "w") as handle:
                json.dump({"port": port, "user": bench.USER, "password": bench.PASSWORD,
                           "max_parallel": args.max_parallel, "tiers": tiers, "net": bench.NET}, handle)
            out = os.path.join(work, "soap-floor.json")
            subprocess.run([sys.executable, os.path.join(work, "soapcount.py"), out, os.path.join(HERE, "floor.py"), cfg],
                           check=True, capture_output=True)
            with open(out) as handle:
                return json.load(handle)
        mod = with_sim(binary, work, args.port, replica, args.delay_ms, direct)
        flo = with_sim(binary, work, args.port, replica, args.delay_ms, floor)
        names = sorted(set(mod["calls"]) | set(flo["calls"]),
                       key=lambda n: -(mod["elems"].get(n, 0) + flo["elems"].get(n, 0)))
        print("%-26s %10s %12s %10s %12s" % ("SOAP method", "module n", "elements", "floor n", "elements"))
        for name in names:
            print("%-26s %10d %12d %10d %12d" % (name, mod["calls"].get(name, 0), mod["elems"].get(name, 0),
                                                 flo["calls"].get(name, 0), flo["elems"].get(name, 0)))
        print("%-26s %10d %12d %10d %12d" % ("total", sum(mod["calls"].values()), sum(mod["elems"].values()),
                                             sum(flo["calls"].values()), sum(flo["elems"].values())))
    print("load average at end: %s" % bench.load())


if __name__ == "__main__":
    main()

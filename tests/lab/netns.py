"""A two-site link made of network namespaces: the link-cut test bed.

``Link(tag)`` creates two namespaces it owns, ``crl-<tag>-p`` (primary side) and
``crl-<tag>-r`` (recovery side), joined by a veth pair with addresses in
10.250.0.0/30 (10.250.0.1 primary side, 10.250.0.2 recovery side) that exist only
inside those namespaces. ``down()`` / ``up()`` set the recovery side's veth down /
up: a real link interruption, TCP sessions across it stall and time out.
``destroy()`` removes exactly the namespaces this object created (the veth goes
with them). Nothing in the root namespace is touched.

    .venv/bin/python tests/lab/netns.py status      # namespaces of this tool
    .venv/bin/python tests/lab/netns.py cleanup     # remove every crl-* namespace this tool left behind
"""

from __future__ import annotations

import argparse
import subprocess

PREFIX = "crl-"
PRIMARY_ADDR = "10.250.0.1"
RECOVERY_ADDR = "10.250.0.2"
PREFIX_LEN = 30


def ip(*args, check=True):
    res = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=30, check=False)
    if check and res.returncode != 0:
        raise RuntimeError("ip %s failed: %s" % (" ".join(args), res.stderr.strip()))
    return res


def namespaces():
    out = ip("netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


class Link:
    def __init__(self, tag):
        self.tag = tag
        self.primary_ns = "%s%s-p" % (PREFIX, tag)
        self.recovery_ns = "%s%s-r" % (PREFIX, tag)
        self.veth_p = ("crlp%s" % tag)[:15]
        self.veth_r = ("crlr%s" % tag)[:15]

    def create(self):
        self.destroy()
        for ns in (self.primary_ns, self.recovery_ns):
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("link", "add", self.veth_p, "netns", self.primary_ns, "type", "veth",
           "peer", "name", self.veth_r, "netns", self.recovery_ns)
        ip("-n", self.primary_ns, "addr", "add", "%s/%d" % (PRIMARY_ADDR, PREFIX_LEN), "dev", self.veth_p)
        ip("-n", self.recovery_ns, "addr", "add", "%s/%d" % (RECOVERY_ADDR, PREFIX_LEN), "dev", self.veth_r)
        ip("-n", self.primary_ns, "link", "set", self.veth_p, "up")
        ip("-n", self.recovery_ns, "link", "set", self.veth_r, "up")
        return self

    def down(self):
        ip("-n", self.recovery_ns, "link", "set", self.veth_r, "down")

    def up(self):
        ip("-n", self.recovery_ns, "link", "set", self.veth_r, "up")

    def is_up(self):
        out = ip("-n", self.recovery_ns, "link", "show", self.veth_r).stdout
        return "state UP" in out or ",UP" in out.split(">")[0]

    def exec_prefix(self, side):
        return ["ip", "netns", "exec", self.primary_ns if side == "primary" else self.recovery_ns]

    def destroy(self):
        present = namespaces()
        for ns in (self.recovery_ns, self.primary_ns):
            if ns in present:
                ip("netns", "del", ns)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["status", "cleanup"])
    args = parser.parse_args(argv)
    ours = [ns for ns in namespaces() if ns.startswith(PREFIX)]
    for ns in ours:
        if args.command == "cleanup":
            ip("netns", "del", ns)
            print("removed", ns)
        else:
            print(ns)


if __name__ == "__main__":
    main()

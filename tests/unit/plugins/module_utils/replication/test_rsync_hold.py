"""A held rsync pair may be used in place (the drill registers and snapshots the replica's VMs):
holding it first gives every replica file shared with a hard-link snapshot its own inode,
so writes at the replica never reach a point-in-time snapshot (real rsync)."""

from __future__ import annotations

import os
import shutil

import pytest

from ansible_collections.continuity.recovery.plugins.module_utils.replication.commands import Runner
from ansible_collections.continuity.recovery.plugins.module_utils.replication.rsync import RsyncDriver

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync")


def _pair(tmp_path, snapshots):
    src = tmp_path / "src"
    (src / "vm").mkdir(parents=True)
    (src / "vm" / "vmware.log").write_text("created\n")
    (src / "vm" / "vm-flat.vmdk").write_bytes(b"x" * 4096)
    return {"name": "vmstore", "engine": "rsync", "source": {"path": str(src)},
            "target": {"path": str(tmp_path / "tgt")}, "snapshots": snapshots}


def _driver(pair, check_mode=False):
    return RsyncDriver(pair, Runner(), timeout=60, check_mode=check_mode)


def _snapshot_files(tmp_path):
    snaps = tmp_path / ".tgt.snapshots"
    return [snaps / name / "vm" / "vmware.log" for name in sorted(os.listdir(snaps))]


def test_hold_protects_the_snapshots_from_writes_at_the_replica(tmp_path):
    pair = _pair(tmp_path, snapshots=2)
    _driver(pair).apply("present")
    (tmp_path / "src" / "vm" / "vmware.log").write_text("created\npowered on\n")
    assert _driver(pair).apply("synced").changed
    snap_log = _snapshot_files(tmp_path)[-1]
    live_log = tmp_path / "tgt" / "vm" / "vmware.log"
    assert os.stat(snap_log).st_ino == os.stat(live_log).st_ino      # hard-linked after the sync

    check = _driver(pair, check_mode=True).apply("paused")
    assert len(check.actions) == 2 and os.stat(snap_log).st_ino == os.stat(live_log).st_ino
    held = _driver(pair).apply("paused")
    assert held.actions[0] == "hold pair vmstore" and "own inode" in held.actions[1]
    assert os.stat(snap_log).st_ino != os.stat(live_log).st_ino
    with open(live_log, "a", encoding="utf-8") as handle:              # what registering the VM does
        handle.write("registered at the recovery site\n")
    assert snap_log.read_text() == "created\npowered on\n"
    assert live_log.read_text().endswith("registered at the recovery site\n")
    assert _driver(pair).apply("paused").actions == []                # idempotent
    assert _driver(pair).apply("resumed").actions == ["release pair vmstore"]


def test_hold_without_snapshots_only_holds(tmp_path):
    pair = _pair(tmp_path, snapshots=0)
    _driver(pair).apply("present")
    assert _driver(pair).apply("paused").actions == ["hold pair vmstore"]

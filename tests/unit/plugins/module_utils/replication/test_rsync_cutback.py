"""rsync driver: the cut back after a takeover (state=present on a reversed pair).

Runs the real rsync on temporary directories (a local program, no lab needed)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput
from ansible_collections.continuity.recovery.plugins.module_utils.replication.commands import Runner
from ansible_collections.continuity.recovery.plugins.module_utils.replication.rsync import RsyncDriver


def driver(tmp_path, check_mode=False, snapshots=2):
    pair = {"name": "vmstore", "engine": "rsync", "source": {"path": str(tmp_path / "src"), "host": None},
            "target": {"path": str(tmp_path / "tgt"), "host": None}, "snapshots": snapshots}
    return RsyncDriver(pair, Runner(), timeout=60, check_mode=check_mode)


def state(tmp_path):
    with open(tmp_path / ".src.continuity-rsync" / "state.json", encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture
def promoted(tmp_path):
    (tmp_path / "src" / "vm1").mkdir(parents=True)
    (tmp_path / "src" / "vm1" / "disk.vmdk").write_bytes(b"A" * 200000)
    (tmp_path / "src" / "vm1" / "vm1.vmx").write_text("displayName = vm1\n")
    driver(tmp_path).apply("present")
    driver(tmp_path).apply("promoted")
    return tmp_path


def test_cut_back_refused_when_never_reversed(promoted):
    (promoted / "tgt" / "vm1" / "written-at-recovery.log").write_text("takeover\n")
    with pytest.raises(InvalidInput, match="never reversed"):
        driver(promoted).apply("present")
    with pytest.raises(InvalidInput, match="never reversed"):
        driver(promoted, check_mode=True).apply("present")
    assert state(promoted)["authoritative"] == "target"
    assert not (promoted / "src" / "vm1" / "written-at-recovery.log").exists()


def test_cut_back_final_reverse_delta_then_forward(promoted):
    tgt, src = promoted / "tgt", promoted / "src"
    (tgt / "vm1" / "a.log").write_text("one\n")
    assert driver(promoted).apply("reversed").changed
    # written at the recovery site after the reverse delta, before the cut back
    (tgt / "vm1" / "b.log").write_text("two\n")
    with open(tgt / "vm1" / "disk.vmdk", "r+b") as handle:
        handle.seek(100000)
        handle.write(b"B" * 4096)
    snapshots_before = sorted(os.listdir(promoted / ".tgt.snapshots"))

    check = driver(promoted, check_mode=True).apply("present")
    assert check.changed and any(a.startswith("final reverse delta") for a in check.actions)
    assert any(a.startswith("cut back") for a in check.actions)
    assert state(promoted)["authoritative"] == "target" and not (src / "vm1" / "b.log").exists()

    out = driver(promoted).apply("present")
    assert out.changed
    assert [a.split(":")[0] for a in out.actions][:2] == ["final reverse delta", "cut back"]
    assert out.transfer["method"] == "rsync final reverse delta"
    assert out.details["cut_back"]["final_reverse_delta"] is True
    assert out.details["cut_back"]["forward_delta"] is False  # the trees are equal after the final reverse delta
    assert (src / "vm1" / "b.log").read_text() == "two\n"
    assert (src / "vm1" / "disk.vmdk").read_bytes() == (tgt / "vm1" / "disk.vmdk").read_bytes()
    st = state(promoted)
    assert st["authoritative"] == "source" and st["direction"] == "forward" and st["failed_back_at"]
    snapshots_after = sorted(os.listdir(promoted / ".tgt.snapshots"))
    assert any(a.startswith("snapshot ") for a in out.actions)
    assert snapshots_after[-1] not in snapshots_before and len(snapshots_after) == min(2, len(snapshots_before) + 1)
    # the new snapshot holds what the recovery site wrote (the point the pair was re-protected at)
    assert (promoted / ".tgt.snapshots" / snapshots_after[-1] / "vm1" / "b.log").read_text() == "two\n"
    info = driver(promoted).info()
    assert info["direction"] == "forward" and info["authoritative"] == "source"
    assert info["target"]["role"] == "replica"

    # idempotent, and forward replication works again
    assert driver(promoted).apply("present").changed is False
    (src / "vm1" / "c.log").write_text("back at the primary\n")
    synced = driver(promoted).apply("synced")
    assert synced.changed and (tgt / "vm1" / "c.log").read_text() == "back at the primary\n"
    with pytest.raises(InvalidInput, match="not promoted"):
        driver(promoted).apply("reversed")


def test_cut_back_without_changes_still_gives_authority_back(promoted):
    assert driver(promoted).apply("reversed").changed  # direction change only
    out = driver(promoted).apply("present")
    assert out.changed and out.details["cut_back"]["final_reverse_delta"] is False
    assert state(promoted)["authoritative"] == "source"


def test_after_cut_back_nothing_is_pending(promoted):
    """The reverse delta rewrote source files (their ctime is new): the forward comparison after the cut back
    found them equal, so buffer readings must not count them as pending."""
    (promoted / "tgt" / "vm1" / "a.log").write_text("one\n")
    driver(promoted).apply("reversed")
    driver(promoted).apply("present")
    info = driver(promoted).info()
    assert info["pending_files"] == 0 and info["lag"]["bytes"] == 0 and info["last_run"]["kind"] == "delta"
    # a sync that finds nothing records that it looked, and is not a change
    before = driver(promoted).info()["last_run"]["started_at"]
    out = driver(promoted).apply("synced")
    assert out.changed is False and out.actions == []
    assert driver(promoted).info()["last_run"]["started_at"] > before

"""Rollback journal: append-only events, done/pending queries, undo order, modes, redaction."""

from __future__ import annotations

import itertools
import json
import os
import stat

import pytest

from ansible_collections.continuity.recovery.plugins.module_utils import journal as jmod


@pytest.fixture
def journal(tmp_path):
    ticks = itertools.count()
    return jmod.Journal(str(tmp_path / "run"), clock=lambda: "2026-11-28T22:00:%02d.000Z" % next(ticks))


def test_empty_journal(journal):
    assert journal.events() == [] and journal.done() == [] and journal.pending() == [] and journal.to_undo() == []
    assert journal.summary() == {"started": 0, "done": 0, "failed": 0, "undone": 0}


def test_resume_skips_done_steps_and_finds_the_interrupted_one(journal):
    journal.start("promote:paydb", "promote", "pair:paydb", undo={"action": "demote", "pair": "paydb"})
    journal.finish("promote:paydb", data={"timeline": 2})
    journal.start("mount:Replica-DS-01", "mount", "recovery:Replica-DS-01", undo={"action": "unmount"})
    journal.finish("mount:Replica-DS-01")
    journal.start("power_on:db01", "power_on", "recovery:db01", undo={"action": "power_off"})
    # interrupted here: a rerun resumes
    again = jmod.Journal(journal.directory)
    assert again.done() == ["promote:paydb", "mount:Replica-DS-01"]
    assert again.is_done("promote:paydb") and not again.is_done("power_on:db01")
    assert again.pending() == ["power_on:db01"]
    assert again.summary() == {"started": 1, "done": 2, "failed": 0, "undone": 0}


def test_rollback_undoes_in_reverse_order_and_marks_undone(journal):
    for step in ("a", "b", "c"):
        journal.start(step, "act-" + step, "subject-" + step, undo={"action": "undo-" + step})
    journal.finish("a")
    journal.fail("b", data={"error": "timeout"})
    journal.finish("c")
    order = [e["step"] for e in journal.to_undo()]
    assert order == ["c", "b", "a"]
    assert journal.to_undo()[1]["status"] == "failed" and journal.to_undo()[1]["undo"] == {"action": "undo-b"}
    for event in journal.to_undo():
        journal.mark_undone(event["step"])
    assert journal.to_undo() == [] and journal.done() == [] and journal.pending() == []
    assert journal.summary()["undone"] == 3
    # a redo after a rollback is journaled again and keeps its first position
    journal.start("a", "act-a", "subject-a", undo={"action": "undo-a"})
    journal.finish("a")
    assert journal.done() == ["a"]


def test_append_only_file_0600_dir_0700_and_redacted(journal):
    journal.start("s", "connect", "db", undo={"action": "x", "password": "hunter2"},
                  data={"dsn": "host=db password=hunter2"})
    journal.finish("s")
    assert stat.S_IMODE(os.stat(journal.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(journal.directory).st_mode) == 0o700
    with open(journal.path, encoding="utf-8") as handle:
        text = handle.read()
    assert "hunter2" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert [e["status"] for e in lines] == ["started", "done"]
    assert lines[0]["schema"] == jmod.SCHEMA and lines[0]["ts"].endswith("Z")
    assert lines[1]["undo"]["action"] == "x"  # done carries the undo spec forward


def test_bad_input_is_refused(journal):
    with pytest.raises(jmod.JournalError):
        journal.start("", "x")
    with pytest.raises(jmod.JournalError):
        journal.start("s", "x", undo="power_off")
    with pytest.raises(jmod.JournalError, match="never started"):
        journal.finish("nope")


def test_a_torn_last_line_is_ignored_but_corruption_inside_is_not(journal):
    journal.start("a", "x")
    with open(journal.path, "a", encoding="utf-8") as handle:
        handle.write('{"step": "b", "sta')
    assert journal.pending() == ["a"]
    with open(journal.path, "a", encoding="utf-8") as handle:
        handle.write('\n{"step": "c"}\n')
    with pytest.raises(jmod.JournalError):
        journal.events()


def test_an_append_after_a_torn_line_ends_it_and_the_journal_stays_readable(journal):
    journal.start("a", "x")
    with open(journal.path, "a", encoding="utf-8") as handle:
        handle.write('{"step": "b", "sta')  # a crash in the middle of a write
    journal.finish("a")
    journal.start("c", "y")
    steps = [(e["step"], e["status"]) for e in journal.events()]
    assert steps == [("a", "started"), ("a", "done"), ("c", "started")]
    with open(journal.path, encoding="utf-8") as handle:
        assert handle.read().splitlines()[1] == '{"step": "b", "sta' + jmod.evidence.TORN_MARK
    assert journal.done() == ["a"] and journal.pending() == ["c"]


def test_a_line_that_lost_only_its_newline_is_kept(journal):
    journal.start("a", "x")
    with open(journal.path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"step": "a", "status": "done", "action": "x", "subject": None, "undo": None}))
    journal.start("b", "y")
    assert [(e["step"], e["status"]) for e in journal.events()] == [("a", "started"), ("a", "done"), ("b", "started")]


def test_started_events_are_fsynced_and_short_writes_are_completed(journal, monkeypatch):
    synced = []
    real_write, real_fsync = os.write, os.fsync
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:7]))  # at most 7 bytes a call
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    journal.start("a", "x", data={"long": "v" * 100})
    assert len(synced) == 1
    journal.finish("a")
    assert len(synced) == 1  # only "started" events are synced
    assert [e["status"] for e in journal.events()] == ["started", "done"]
    assert journal.events()[0]["data"] == {"long": "v" * 100}

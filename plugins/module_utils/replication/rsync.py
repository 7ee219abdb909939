# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rsync replication driver for datastores and file trees.

- present: the initial full copy (source -> target), then the pair is established.
- synced: an incremental delta, ``--no-whole-file`` (only changed blocks cross the
  link), followed by a point-in-time snapshot at the target when ``snapshots`` > 0: a
  tree of hard links, pruned to the newest N. With snapshots the target's changed files
  are rebuilt beside the old ones and renamed over them (a new inode: a file that
  changes after rsync compared it cannot reach a snapshot through a shared inode);
  without, they are rewritten in place (``--inplace``). Files whose attributes alone
  change are given their own inode first when a snapshot shares it.
- paused/resumed: hold / release (a held pair refuses synced).
- promoted: the target becomes authoritative (forward syncs are refused from then on).
- reversed: the delta in reverse (target -> source), again in place.
- present on a reversed pair (target authoritative, direction reverse): the cut back -
  a final reverse delta (nothing written at the recovery site is lost), then the source is
  authoritative again, direction forward, a forward delta and a snapshot. Refused while the
  target is authoritative and the pair was never reversed.
- absent: forget the pair (state and snapshots); replicated data is left in place.

State lives at the source side (``<parent>/.<name>.continuity-rsync/state.json``)
so buffer_info answers while the target is unreachable. Local paths, or
``host:path`` through rsync's remote shell for the source.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import time

from ansible_collections.continuity.recovery.plugins.module_utils.errors import (
    ConnectionFailure,
    InvalidInput,
    TaskFailed,
)
from ansible_collections.continuity.recovery.plugins.module_utils.evidence import utcnow
from ansible_collections.continuity.recovery.plugins.module_utils.replication import rsync_stats
from ansible_collections.continuity.recovery.plugins.module_utils.replication.base import Driver, empty_info

RSYNC = "rsync"
BASE_ARGS = ["-a", "--delete", "--stats", "--itemize-changes", "--numeric-ids", "--modify-window=-1"]
DELTA_ARGS = ["--inplace", "--no-whole-file"]
# into a target that snapshots share inodes with: never in place (a new inode per changed file)
SNAPSHOT_SAFE_DELTA_ARGS = ["--no-whole-file"]


def snapshot_name(now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S.%fZ")


class RsyncDriver(Driver):
    engine = "rsync"

    def __init__(self, pair, runner, **kwargs):
        super().__init__(pair, runner, **kwargs)
        for key in ("source", "target"):
            if not (pair.get(key) or {}).get("path"):
                raise InvalidInput("%s.path is required for engine rsync" % key)
            if (pair.get(key) or {}).get("host") and key == "target":
                raise InvalidInput("target.host: this version replicates into a local target only "
                                   "(run the module on the recovery-site host)")
        self.source = pair["source"]["path"].rstrip("/")
        self.target = pair["target"]["path"].rstrip("/")
        self.source_host = pair["source"].get("host")
        self.keep = int(pair.get("snapshots") or 0)
        parent, name = os.path.split(self.source)
        self.state_dir = pair.get("state_dir") or os.path.join(parent, ".%s.continuity-rsync" % name)
        tparent, tname = os.path.split(self.target)
        self.snapshot_dir = os.path.join(tparent, ".%s.snapshots" % tname)

    # ------------------------------------------------------------- state
    def _state_path(self):
        return os.path.join(self.state_dir, "state.json")

    def load(self):
        try:
            with open(self._state_path(), encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def save(self, state):
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        tmp = self._state_path() + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=1, sort_keys=True)
        os.replace(tmp, self._state_path())

    def _src(self):
        return ("%s:%s/" % (self.source_host, self.source)) if self.source_host else self.source + "/"

    def _rsync(self, src, dst, extra, dry_run=False):
        argv = [RSYNC] + BASE_ARGS + list(extra) + (["--dry-run"] if dry_run else []) + [src, dst]
        res = self.runner.run(argv, timeout=self.timeout, check=False)
        if res.returncode not in (0, 24):  # 24: files vanished during the transfer (live source)
            raise ConnectionFailure("rsync %s -> %s failed (exit %d): %s" % (
                src, dst, res.returncode, (res.stderr or "").strip().splitlines()[-1:] or ""),
                rc=res.returncode)
        return rsync_stats.parse(res.stdout)

    def _check_source(self):
        if not self.source_host and not os.path.isdir(self.source):
            raise ConnectionFailure("rsync source %s is not a directory (unreachable?)" % self.source)

    def _run_transfer(self, outcome, state, kind, src, dst, extra):
        """Dry-run, then (unless check mode) the real run; records stats in state."""
        checked_at = utcnow()
        preview = self._run_or_preview(src, dst, extra, dry=True)
        pending = rsync_stats.changes(preview)
        if not pending:
            if dst == self.target and not self.check_mode:
                # a forward comparison that found nothing is a sync as of its start: what was modified
                # before (ctime of a reverse delta, attribute-only changes) is no longer pending
                stats = dict(preview)
                stats.pop("items", None)
                state["last_run"] = {"at": utcnow(), "started_at": checked_at, "kind": kind, "stats": stats,
                                     "status": "ok", "changes": 0}
            return False
        outcome.act("%s: %d change(s), %d bytes of changed files (%s -> %s)" % (
            kind, len(pending), preview["transferred_file_size"], src.rstrip("/"), dst))
        outcome.details["pending_items"] = [i["path"] for i in pending[:50]]
        if self.check_mode:
            outcome.transfer = {"method": "rsync " + kind, "bytes_sent": None,
                                "bytes_changed_files": preview["transferred_file_size"]}
            return True
        if dst == self.target and self.keep:
            # changed files get a new inode from rsync itself (not in place); a change of attributes alone
            # is made on the inode, which a snapshot may share
            self._break_shared_inodes(rsync_stats.attribute_only_files(preview))
        started = utcnow()
        stats = self._rsync(src, dst, extra)
        stats.pop("items", None)
        state["last_run"] = {"at": utcnow(), "started_at": started, "kind": kind, "stats": stats,
                             "status": "ok"}
        outcome.transfer = {"method": "rsync " + kind, "bytes_sent": stats["bytes_sent"],
                            "bytes_total": stats["total_file_size"], "literal_data": stats["literal_data"],
                            "matched_data": stats["matched_data"],
                            "files_transferred": stats["files_transferred"]}
        return True

    def _run_or_preview(self, src, dst, extra, dry):
        remote = bool(self.source_host) and dst.startswith(self.source_host + ":")
        if not remote and not os.path.isdir(dst):
            return {"items": [{"change": "cd+++++++++", "path": "./"}], "transferred_file_size": 0}
        return self._rsync(src, dst, extra, dry_run=dry)

    def _forward_args(self):
        return SNAPSHOT_SAFE_DELTA_ARGS if self.keep else DELTA_ARGS

    def _break_shared_inodes(self, paths):
        """Give files shared with a snapshot (hard links) their own inode before they may change in place.

        A file that cannot be split fails the call: left shared, a write would change a snapshot.
        """
        for rel in paths:
            path = os.path.join(self.target, rel)
            try:
                if os.lstat(path).st_nlink <= 1:
                    continue
            except FileNotFoundError:
                continue  # gone since it was listed: nothing shared left
            tmp = path + ".continuity-cow"
            try:
                shutil.copy2(path, tmp)
                os.replace(tmp, path)
            except OSError as exc:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise TaskFailed("cannot give %s its own inode (a snapshot shares it and must not change): %s"
                                 % (path, exc)) from exc

    def _snapshots(self):
        if not os.path.isdir(self.snapshot_dir):
            return []
        return sorted(n for n in os.listdir(self.snapshot_dir) if not n.startswith("."))

    def _snapshot(self, outcome, state):
        """A hard-link snapshot of the target, then the oldest pruned to ``snapshots``; in check mode the same
        actions are reported (the snapshot under the name it would have now) and nothing is made or removed."""
        if not self.keep:
            return
        name = snapshot_name()
        outcome.act("snapshot %s (hard links)" % name)
        if not self.check_mode:
            os.makedirs(self.snapshot_dir, mode=0o700, exist_ok=True)
            self.runner.run(["cp", "-al", self.target, os.path.join(self.snapshot_dir, name)], timeout=self.timeout)
            state.setdefault("snapshots", []).append(name)
        existing = sorted(set(self._snapshots()) | {name})
        for old in existing[:-self.keep] if len(existing) > self.keep else []:
            outcome.act("prune snapshot %s (retention %d)" % (old, self.keep))
            if not self.check_mode:
                shutil.rmtree(os.path.join(self.snapshot_dir, old))
        if not self.check_mode:
            state["snapshots"] = self._snapshots()

    # ------------------------------------------------------------- states
    def state_present(self, outcome):
        self._check_source()
        state = self.load()
        if state and state.get("authoritative") == "target":
            self._cut_back(outcome, state)
            return
        if state and os.path.isdir(self.target):
            return
        state = state or {}
        outcome.act("initial full copy %s -> %s" % (self.source, self.target))
        if self.check_mode:
            self._snapshot(outcome, state)
            return
        os.makedirs(self.target, exist_ok=True)
        started = utcnow()
        stats = self._rsync(self._src(), self.target, ["--whole-file"])
        stats.pop("items", None)
        state.update(established_at=utcnow(), held=False, authoritative="source", direction="forward",
                     last_run={"at": utcnow(), "started_at": started, "kind": "full", "stats": stats, "status": "ok"})
        outcome.transfer = {"method": "rsync full", "bytes_sent": stats["bytes_sent"],
                            "bytes_total": stats["total_file_size"], "files_transferred": stats["files_transferred"]}
        self._snapshot(outcome, state)
        self.save(state)

    def _source_dst(self):
        return ("%s:%s" % (self.source_host, self.source)) if self.source_host else self.source

    def _cut_back(self, outcome, state):
        """Failback of a reversed pair: final reverse delta, authority back to the source, forward delta + snapshot."""
        name = self.pair["name"]
        if state.get("direction") != "reverse":
            raise InvalidInput(
                "the target of pair %s is authoritative (promoted) and the pair was never reversed: giving authority "
                "back to the source now would lose what was written at the recovery site; use state=reversed "
                "(the reverse delta) first, then state=present cuts back" % name)
        if not os.path.isdir(self.target):
            raise ConnectionFailure("rsync target %s is not a directory" % self.target)
        final = self._run_transfer(outcome, state, "final reverse delta", self.target + "/", self._source_dst(),
                                   DELTA_ARGS)
        reverse_transfer = outcome.transfer
        outcome.act("cut back: source %s authoritative again, direction forward (%s -> %s)" % (
            self.source, self.source, self.target))
        outcome.details["cut_back"] = {"final_reverse_delta": final, "final_reverse_transfer": reverse_transfer}
        if self.check_mode:
            # after the final reverse delta the source equals the target: the forward delta finds nothing, the
            # snapshot follows whatever it finds
            self._snapshot(outcome, state)
            return
        state.update(authoritative="source", direction="forward", held=False, failed_back_at=utcnow())
        self.save(state)  # the source is authoritative from here, whatever follows
        outcome.transfer = None
        forward = self._run_transfer(outcome, state, "delta", self._src(), self.target, self._forward_args())
        outcome.details["cut_back"].update(forward_delta=forward, forward_transfer=outcome.transfer)
        outcome.transfer = reverse_transfer or outcome.transfer
        self._snapshot(outcome, state)
        self.save(state)

    def _established(self):
        state = self.load()
        if not state:
            raise InvalidInput("pair %s is not established: use state=present first" % self.pair["name"])
        return state

    def state_paused(self, outcome):
        state = self._established()
        if not state.get("held"):
            outcome.act("hold pair %s" % self.pair["name"])
            shared = self.keep and os.path.isdir(self.snapshot_dir) and os.path.isdir(self.target)
            if shared:
                outcome.act("give replica files shared with a snapshot their own inode (the held replica may be "
                            "used in place, for example by a drill)")
            if not self.check_mode:
                if shared:
                    # a held replica is used in place (a drill registers and snapshots its VMs, vSphere writes
                    # their logs): snapshots share inodes with it and must never change
                    self._break_shared_inodes(_all_files(self.target))
                state["held"] = True
                self.save(state)

    def state_resumed(self, outcome):
        state = self._established()
        if state.get("held"):
            outcome.act("release pair %s" % self.pair["name"])
            if not self.check_mode:
                state["held"] = False
                self.save(state)

    def state_synced(self, outcome):
        self._check_source()
        state = self._established()
        if state.get("held"):
            raise InvalidInput("pair %s is held (paused): use state=resumed first" % self.pair["name"])
        if state.get("authoritative") == "target":
            raise InvalidInput("the target of pair %s is authoritative (promoted): a forward sync would overwrite "
                               "it; use state=reversed" % self.pair["name"])
        changed = self._run_transfer(outcome, state, "delta", self._src(), self.target, self._forward_args())
        if changed:
            self._snapshot(outcome, state)
        if not self.check_mode:
            self.save(state)  # last_run also records a delta that found nothing (not a change of the pair)

    def state_promoted(self, outcome):
        state = self._established()
        if state.get("authoritative") != "target":
            outcome.act("make target %s authoritative (forward replication stops)" % self.target)
            if not self.check_mode:
                if self.keep:
                    # writes at the recovery site must not reach the snapshots' shared inodes
                    self._break_shared_inodes(_all_files(self.target))
                state.update(authoritative="target", direction="none", promoted_at=utcnow(), held=False)
                self.save(state)

    def state_reversed(self, outcome):
        state = self._established()
        if state.get("authoritative") != "target":
            raise InvalidInput("pair %s is not promoted: reversing would overwrite the authoritative source"
                               % self.pair["name"])
        if not os.path.isdir(self.target):
            raise ConnectionFailure("rsync target %s is not a directory" % self.target)
        if state.get("direction") != "reverse":
            outcome.act("reverse direction: %s -> %s" % (self.target, self.source))
        changed = self._run_transfer(outcome, state, "reverse delta", self.target + "/", self._source_dst(), DELTA_ARGS)
        if not self.check_mode and (changed or state.get("direction") != "reverse"):
            state["direction"] = "reverse"
            self.save(state)

    def state_absent(self, outcome):
        for path, what in ((self.state_dir, "state"), (self.snapshot_dir, "snapshots")):
            if os.path.isdir(path):
                outcome.act("remove %s %s" % (what, path))
                if not self.check_mode:
                    shutil.rmtree(path)

    CANARY = ".continuity-recovery-canary"

    def canary(self, token):
        """Write ``token`` into a marker file at the source, replicate that file, read it at the target.

        The file is rewritten in place (the source directory's entries do not change after the first
        run); the probe is verification, not a change of the pair."""
        path = os.path.join(self.source, self.CANARY)
        started = time.monotonic()
        with open(path, "a+", encoding="utf-8") as handle:
            handle.seek(0)
            handle.truncate()
            handle.write(token + "\n")
        self.runner.run([RSYNC, "-a", "--inplace", path, os.path.join(self.target, self.CANARY)], timeout=self.timeout)
        try:
            with open(os.path.join(self.target, self.CANARY), encoding="utf-8") as handle:
                seen = handle.read().strip()
        except OSError:
            seen = None
        return {"marker": token, "written_at": utcnow(), "read_at_target": seen == token,
                "seconds": round(time.monotonic() - started, 3), "where": self.CANARY}

    # --------------------------------------------------------- inspection
    def info(self):
        info = empty_info(self.pair["name"], self.engine)
        state = self.load() or {}
        for key, path in (("source", self.source), ("target", self.target)):
            reachable = os.path.isdir(path) if (key == "target" or not self.source_host) else None
            info[key].update(endpoint=path, reachable=reachable,
                             role="source" if key == "source" else "replica")
        if state.get("authoritative") == "target":
            info["target"]["role"], info["source"]["role"] = "authoritative", "fenced"
        info["last_run"] = state.get("last_run")
        info["held"] = bool(state.get("held"))
        info["direction"] = state.get("direction", "forward") if state else "none"
        info["authoritative"] = state.get("authoritative", "source")
        info["established"] = bool(state)
        info["established_at"] = state.get("established_at")
        info["link"] = {"state": "connected" if info["target"]["reachable"] else "disconnected"}
        if os.path.isdir(self.snapshot_dir):
            info["snapshots"] = sorted(n for n in os.listdir(self.snapshot_dir) if not n.startswith("."))
        pending = self._pending_bytes(state)
        info["lag"] = {"bytes": pending["bytes"],
                       "seconds": _age(state.get("last_run", {}).get("started_at")) if pending["files"] else 0.0}
        info["pending_files"] = pending["files"]
        return info

    def _pending_bytes(self, state):
        """Bytes of source files modified since the last sync started (source side only)."""
        since = _epoch((state.get("last_run") or {}).get("started_at")) if state else None
        total = files = 0
        if self.source_host or not os.path.isdir(self.source):
            return {"bytes": None, "files": None}
        for root, _dirs, names in os.walk(self.source):
            for name in names:
                if name == self.CANARY and root == self.source:
                    continue  # the canary probe is replicated on its own
                try:
                    st = os.lstat(os.path.join(root, name))
                except OSError:
                    continue
                if since is None or st.st_mtime >= since or st.st_ctime >= since:
                    total += st.st_size
                    files += 1
        return {"bytes": total, "files": files}

    def buffer_readings(self, sample_seconds, link_memory=None):
        self._check_source()
        state = self.load() or {}
        first = self._pending_bytes(state)["bytes"]
        started = time.monotonic()
        if sample_seconds > 0:
            time.sleep(sample_seconds)
        pending = self._pending_bytes(state)
        elapsed = time.monotonic() - started
        link = "connected" if os.path.isdir(self.target) else "disconnected"
        since, since_source = (link_memory(link) if link_memory else (None, "unknown"))
        last = (state.get("last_run") or {}).get("started_at")
        return {
            "pair": self.pair["name"], "engine": self.engine, "link_state": link, "since": since,
            "since_source": since_source, "retained_bytes": pending["bytes"],
            "first_position": first, "last_position": pending["bytes"], "sample_seconds": elapsed,
            "capacity_sources": {"max_buffer": self.pair.get("max_buffer_bytes")},
            "safe_wal_size": None, "wal_status": None if state else "missing",
            "rpo_bytes": pending["bytes"], "rpo_seconds": _age(last) if pending["files"] else 0.0,
            "pending_files": pending["files"], "last_sync_started_at": last,
        }


def _all_files(root):
    for base, _dirs, names in os.walk(root):
        for name in names:
            yield os.path.relpath(os.path.join(base, name), root)


def _epoch(iso):
    if not iso:
        return None
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _age(iso):
    then = _epoch(iso)
    return None if then is None else round(time.time() - then, 1)

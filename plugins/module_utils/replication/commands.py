# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run local commands (pg_ctl, pg_basebackup, pg_rewind, rsync) and keep what ran.

Secrets are passed through the environment (PGPASSWORD), never in argv; every
argv is recorded in ``Runner.commands`` after masking ``password=...``.
Commands for a PostgreSQL data directory run as its OS user (``postgres``)
when the caller is root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess

from ansible_collections.continuity.recovery.plugins.module_utils.errors import TaskFailed, TaskTimeout
from ansible_collections.continuity.recovery.plugins.module_utils.evidence import redact


class Runner:
    def __init__(self):
        self.commands = []

    def run(self, argv, user=None, env=None, prefix=None, timeout=600, check=True, cwd=None):
        """Run ``argv`` (list); returns CompletedProcess (text). TaskFailed on a non-zero exit when ``check``."""
        argv = [str(a) for a in argv]
        switch = bool(user and os.geteuid() == 0 and user != "root")
        if prefix:
            # the prefix (e.g. ip netns exec NAME) runs as root; the program as ``user``
            runuser = shutil.which("runuser", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") or "runuser"
            argv = list(prefix) + ([runuser, "-u", user, "--"] if switch else []) + argv
            switch = False
        self.commands.append(redact(" ".join(argv)))
        kwargs = {}
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin", "LC_ALL": "C.UTF-8", "PGTZ": "UTC"}
        if switch or (user and prefix and os.geteuid() == 0 and user != "root"):
            pw = pwd.getpwnam(user)
            if switch:
                kwargs.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
            full_env.update(HOME=pw.pw_dir, USER=user, LOGNAME=user)
            cwd = cwd or (pw.pw_dir if os.path.isdir(pw.pw_dir) else "/")
        full_env.update(env or {})
        try:
            res = subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=timeout, check=False,
                                 cwd=cwd or "/", start_new_session=True, **kwargs)
        except subprocess.TimeoutExpired:
            raise TaskTimeout("%s did not finish within %ss" % (argv[0], timeout), command=self.commands[-1])
        except OSError as exc:
            raise TaskFailed("cannot run %s: %s" % (argv[0], exc), command=self.commands[-1])
        if check and res.returncode != 0:
            raise TaskFailed("%s failed (exit %d): %s" % (
                os.path.basename(argv[0]), res.returncode, _tail(res.stderr or res.stdout)),
                command=self.commands[-1], rc=res.returncode)
        return res


def _tail(text, lines=6):
    return "\n".join(redact((text or "").strip()).splitlines()[-lines:])

"""Run ``ansible-test sanity`` on a copy of the collection.

ansible-test insists on running from ``.../ansible_collections/<ns>/<name>/``
and lists the files to test with git. The repository root *is* the collection
but is not laid out that way, so this script:

1. syncs the collection's files (``git ls-files --cached --others
   --exclude-standard``: tracked plus untracked-not-ignored, as they are in the
   work tree) into ``.build/sanity/ansible_collections/continuity/recovery/``
   (stale files removed, unchanged files left alone);
2. ``git init``s the copy (ansible-test's git source provider needs a
   ``.git`` there, otherwise the enclosing repository's ``.gitignore`` of
   ``.build/`` would hide every file);
3. seeds ``~/.ansible/test/cache/get_pip_<version>.py`` with the offline
   stand-in (see ``get_pip_standin.py`` beside this file);
4. runs ``ansible-test sanity --local --python <X.Y>`` there, skipping the
   tests listed in ``SKIP`` (each with its reason) plus any given with
   ``--skip-test``; extra arguments after ``--`` go to ansible-test verbatim.

Exit code: ansible-test's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import get_pip_standin  # noqa: E402  pylint: disable=wrong-import-position

ROOT = os.path.dirname(os.path.dirname(HERE))
NAMESPACE, NAME = "continuity", "recovery"

# Sanity tests we cannot run on these machines, and why. Prefer a skip with a
# reason here over an entry in tests/sanity/ignore-*.txt: an ignore hides a
# finding in code; these are about the machine.
SKIP = {
    # Needs PowerShell (pwsh), which is not packaged for Debian 12 and the
    # collection ships no PowerShell code.
    "pslint": "no PowerShell on Debian 12; no .ps1/.psm1 in the collection",
}

# Directories that are never part of the copy even if not git-ignored.
NEVER = (".git/", "tests/output/")


def collection_files(root: str) -> list[str]:
    out = subprocess.run(
        ["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True, stdout=subprocess.PIPE,
    ).stdout.decode("utf-8")
    files = []
    for rel in sorted(set(filter(None, out.split("\0")))):
        if rel.startswith(NEVER):
            continue
        path = os.path.join(root, rel)
        # deleted-but-still-indexed files and directory symlinks are left out
        if os.path.islink(path) or os.path.isfile(path):
            files.append(rel)
    return files


def sync(root: str, dest: str, files: list[str]) -> tuple[int, int]:
    """Make ``dest`` hold exactly ``files`` (plus .git and tests/output). Returns (copied, removed)."""
    wanted = set(files)
    removed = 0
    if os.path.isdir(dest):
        for dirpath, dirnames, filenames in os.walk(dest, topdown=True):
            rel_dir = os.path.relpath(dirpath, dest)
            rel_dir = "" if rel_dir == "." else rel_dir + "/"
            dirnames[:] = [d for d in dirnames if (rel_dir + d + "/") not in NEVER]
            for fname in filenames:
                rel = rel_dir + fname
                if rel not in wanted:
                    os.unlink(os.path.join(dirpath, fname))
                    removed += 1
        # prune empty directories (bottom-up), keeping .git and tests/output
        for dirpath, _dirnames, _filenames in os.walk(dest, topdown=False):
            rel = os.path.relpath(dirpath, dest) + "/"
            if rel == "./" or rel.startswith(NEVER) or any(n.startswith(rel) for n in NEVER):
                continue
            if not os.listdir(dirpath):
                os.rmdir(dirpath)
    copied = 0
    for rel in files:
        src = os.path.join(root, rel)
        dst = os.path.join(dest, rel)
        if os.path.islink(src):
            target = os.readlink(src)
            if os.path.islink(dst) and os.readlink(dst) == target:
                continue
            if os.path.lexists(dst):
                os.unlink(dst)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.symlink(target, dst)
            copied += 1
            continue
        st = os.stat(src)
        if os.path.isfile(dst) and not os.path.islink(dst):
            dt = os.stat(dst)
            if dt.st_size == st.st_size and int(dt.st_mtime) == int(st.st_mtime) and dt.st_mode == st.st_mode:
                continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.lexists(dst):
            os.unlink(dst)
        shutil.copy2(src, dst)
        copied += 1
    return copied, removed


def git_init(dest: str) -> None:
    if os.path.isdir(os.path.join(dest, ".git")):
        return
    subprocess.run(["git", "init", "-q", dest], check=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description="ansible-test sanity on a copy of the collection")
    parser.add_argument("--root", default=ROOT, help="collection root (default: the repository)")
    parser.add_argument("--build-dir", default=os.path.join(ROOT, ".build", "sanity"))
    parser.add_argument("--python", default="%d.%d" % sys.version_info[:2])
    parser.add_argument("--ansible-test", default=None, help="ansible-test executable (default: beside this python)")
    parser.add_argument("--skip-test", action="append", default=[], help="another sanity test to skip")
    parser.add_argument("--test", action="append", default=[], help="run only this sanity test (repeatable)")
    parser.add_argument("--prepare-only", action="store_true", help="sync and seed, do not run ansible-test")
    args = parser.parse_args(argv)

    dest = os.path.join(args.build_dir, "ansible_collections", NAMESPACE, NAME)
    started = time.monotonic()
    files = collection_files(args.root)
    copied, removed = sync(args.root, dest, files)
    git_init(dest)
    print("sanity: %d files in %s (%d copied, %d removed)" % (len(files), os.path.relpath(dest, args.root), copied, removed))

    standin = get_pip_standin.write(
        get_pip_standin.ansible_test_pip_version(),
        os.path.expanduser("~/.ansible/test/cache"),
        get_pip_standin.default_cert(),
    )
    print("sanity: pip bootstrap for ansible-test venvs: %s" % standin)
    if args.prepare_only:
        return 0

    ansible_test = args.ansible_test or shutil.which("ansible-test", path=os.path.dirname(sys.executable)) or "ansible-test"
    cmd = [ansible_test, "sanity", "--local", "--python", args.python, "--color", "no"]
    for test in args.test:
        cmd += ["--test", test]
    if not args.test:
        for test, reason in sorted(SKIP.items()):
            print("sanity: skipping %s: %s" % (test, reason))
            cmd += ["--skip-test", test]
        for test in args.skip_test:
            print("sanity: skipping %s: requested" % test)
            cmd += ["--skip-test", test]
    cmd += passthrough
    print("sanity: %s" % " ".join(cmd))
    sys.stdout.flush()
    rc = subprocess.call(cmd, cwd=dest)
    print("sanity: ansible-test exited %d after %.0fs" % (rc, time.monotonic() - started))
    return rc


if __name__ == "__main__":
    sys.exit(main())

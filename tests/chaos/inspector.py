"""A long-lived inspecting process for the soak (item 8): runs collection modules'
``main()`` again and again in ONE python process, so a leak in the module code
(connections, cursors, caches, link memory) accumulates and shows in its memory.

Protocol: one JSON line per request on stdin, ``{"module": "buffer_info", "args": {...}}``;
one JSON line per answer on stdout, ``{"result": {...}, "rss_anon_kib": N, "rss_kib": N}``.
Each request sets the module arguments the way Ansible hands them over
(``ansible.module_utils.basic._ANSIBLE_ARGS``) and catches the ``SystemExit`` of
``exit_json``/``fail_json``; the module's stdout is captured.

    PYTHONPATH=.build/collections python tests/chaos/inspector.py
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import sys


def _memory():
    out = {}
    with open("/proc/self/status", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith(("RssAnon:", "VmRSS:")):
                key = "rss_anon_kib" if line.startswith("RssAnon") else "rss_kib"
                out[key] = int(line.split()[1])
    return out


def run(module_name, args):
    from ansible.module_utils import basic
    module = importlib.import_module("ansible_collections.continuity.recovery.plugins.modules." + module_name)
    # what ansible-core's direct-invocation path (_debugging.load_params) sets: the args and the JSON profile
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode("utf-8")  # pylint: disable=protected-access
    basic._ANSIBLE_PROFILE = "legacy"  # pylint: disable=protected-access
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        try:
            module.main()
        except SystemExit:
            pass
    text = captured.getvalue()
    return json.loads(text[text.index("{"):]) if "{" in text else {"failed": True, "msg": "no output"}


def main():
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            answer = {"result": run(request["module"], request["args"])}
        except Exception as exc:  # pylint: disable=broad-except
            answer = {"result": {"failed": True, "msg": "inspector: %r" % exc}}
        answer.update(_memory())
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()

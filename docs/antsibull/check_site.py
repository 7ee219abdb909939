"""After `make docs`: every module, plugin and role of the collection has its page.

antsibull-docs documents what ansible-doc lists; a plugin file ansible-doc does
not list (no documentation, or documentation that does not parse) would be left
out silently, and so would a role without meta/argument_specs.yml. This compares
the collection's files with ansible-doc's listing and the listing with the HTML
pages written; it prints what is missing and exits 1, else one summary line.

    python docs/antsibull/check_site.py .build/docs/html
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTION = "continuity.recovery"
# plugin directory -> ansible-doc type
PLUGIN_DIRS = {"modules": "module", "callback": "callback", "filter": "filter", "lookup": "lookup", "test": "test",
               "inventory": "inventory", "connection": "connection", "become": "become", "cache": "cache",
               "vars": "vars", "strategy": "strategy", "shell": "shell", "netconf": "netconf",
               "httpapi": "httpapi", "cliconf": "cliconf"}


def listed(plugin_type: str) -> dict:
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-doc"), "-t", plugin_type, "-l",
                           COLLECTION, "--json"], cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(proc.stdout or "{}")


def main(html: str) -> int:
    pages = os.path.join(html, "collections", "continuity", "recovery")
    problems, count = [], 0
    for directory, plugin_type in sorted(PLUGIN_DIRS.items()):
        path = os.path.join(ROOT, "plugins", directory)
        if not os.path.isdir(path):
            continue
        names = listed(plugin_type)
        if plugin_type in ("module", "callback", "lookup", "test", "inventory", "connection"):
            # one plugin per file (filter and test files may hold several: their .yml docs name them)
            on_disk = {os.path.splitext(f)[0] for f in os.listdir(path) if f.endswith(".py") and not f.startswith("_")}
            for name in sorted(on_disk - {n.rsplit(".", 1)[1] for n in names}):
                problems.append("plugins/%s/%s.py: not listed by ansible-doc -t %s (no or broken documentation)"
                                % (directory, name, plugin_type))
        for fqcn, summary in sorted(names.items()):
            short = fqcn.rsplit(".", 1)[1]
            if not summary or summary == "UNDOCUMENTED":
                problems.append("%s %s: no short_description" % (plugin_type, fqcn))
            if not os.path.isfile(os.path.join(pages, "%s_%s.html" % (short, plugin_type))):
                problems.append("%s %s: no page %s_%s.html" % (plugin_type, fqcn, short, plugin_type))
            count += 1
    roles = os.path.join(ROOT, "roles")
    for role in sorted(os.listdir(roles)) if os.path.isdir(roles) else []:
        if not os.path.isdir(os.path.join(roles, role, "tasks")):
            continue
        if not any(os.path.isfile(os.path.join(roles, role, "meta", "argument_specs" + ext)) for ext in (".yml", ".yaml")):
            problems.append("roles/%s: no meta/argument_specs.yml (the docs site has no page for it)" % role)
        elif not os.path.isfile(os.path.join(pages, "%s_role.html" % role)):
            problems.append("role %s.%s: no page %s_role.html" % (COLLECTION, role, role))
        count += 1
    for problem in problems:
        print("docs: " + problem, file=sys.stderr)
    if problems:
        return 1
    print("docs: %d modules, plugins and roles documented in %s" % (count, html))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "docs", "html")))

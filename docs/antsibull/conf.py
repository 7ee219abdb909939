# Sphinx configuration of the collection's documentation site (`make docs`).
#
# antsibull-docs writes the collection's RST into .build/docs/rst; sphinx-build
# renders it into .build/docs/html with this file (-c docs/antsibull), with -W:
# a warning fails the build.
#
# Offline: nothing is fetched. The RST that antsibull-docs generates refers to a
# few pages of the Ansible documentation (common return values, action and
# callback plugins, configuration settings). Upstream those resolve through
# intersphinx with the inventory downloaded from docs.ansible.com; here the
# inventory is written locally from ANSIBLE_DOCS_TARGETS below, so the same
# references resolve to the same docs.ansible.com pages without a download.
# A new reference the generated RST makes (a warning "undefined label" or
# "reference target not found") gets its line here.

from __future__ import annotations

import os
import zlib

project = "continuity.recovery"
copyright = "continuity.recovery engineers"  # pylint: disable=redefined-builtin
title = "continuity.recovery documentation"
html_short_title = "continuity.recovery"

extensions = ["sphinx.ext.intersphinx", "sphinx_antsibull_ext"]

root_doc = "index"
pygments_style = "ansible"
highlight_language = "YAML+Jinja"

html_theme = "sphinx_ansible_theme"
html_show_sphinx = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False
html_theme_options = {"display_version": False}

default_role = "any"

ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/devel/"
# (name, domain:role, uri relative to ANSIBLE_DOCS, display name)
ANSIBLE_DOCS_TARGETS = [
    ("common_return_values", "std:label", "reference_appendices/common_return_values.html#common-return-values",
     "Return Values"),
    ("action_plugins", "std:label", "plugins/action.html#action-plugins", "Action plugins"),
    ("callback_plugins", "std:label", "plugins/callback.html#callback-plugins", "Callback plugins"),
    ("filter_plugins", "std:label", "plugins/filter.html#filter-plugins", "Filter plugins"),
    ("ansible_configuration_settings", "std:label", "reference_appendices/config.html#ansible-configuration-settings",
     "Ansible Configuration Settings"),
    ("ANSIBLE_CALLBACKS_ENABLED", "std:envvar", "reference_appendices/config.html#envvar-ANSIBLE_CALLBACKS_ENABLED",
     "-"),
]


def _write_inventory(path: str) -> str:
    """An intersphinx inventory (format version 2) of ANSIBLE_DOCS_TARGETS at ``path``."""
    body = "".join("%s %s -1 %s %s\n" % entry for entry in ANSIBLE_DOCS_TARGETS)
    header = ("# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
              "# The remainder of this file is compressed using zlib.\n")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(header.encode("utf-8") + zlib.compress(body.encode("utf-8")))
    return path


# next to the generated RST (.build/docs/rst/..), never in the source tree
_HERE = os.path.dirname(os.path.abspath(__file__))
_BUILD_DIR = os.environ.get("DOCS_BUILD_DIR") or os.path.join(_HERE, "..", "..", ".build", "docs")
_INVENTORY = _write_inventory(os.path.join(os.path.abspath(_BUILD_DIR), "ansible_devel.inv"))
intersphinx_mapping = {"ansible_devel": (ANSIBLE_DOCS, _INVENTORY)}
intersphinx_disabled_reftypes = []
intersphinx_timeout = 1

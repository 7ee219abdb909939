# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The optional ``query`` (JMESPath) of every ``_info`` module."""

from __future__ import annotations

from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput

try:
    import jmespath

    HAS_JMESPATH = True
except ImportError:  # pragma: no cover
    HAS_JMESPATH = False


def apply_query(expression, data):
    """Evaluate a JMESPath ``expression`` over ``data``; InvalidInput on a bad expression."""
    if not HAS_JMESPATH:
        raise InvalidInput("query: the jmespath library is required for query")
    try:
        return jmespath.search(expression, data)
    except jmespath.exceptions.JMESPathError as exc:
        raise InvalidInput("query: invalid JMESPath expression %r: %s" % (expression, exc))

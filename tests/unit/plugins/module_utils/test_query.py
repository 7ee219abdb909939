"""The JMESPath ``query`` option shared by _info modules."""

from __future__ import annotations

import pytest

from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput
from ansible_collections.continuity.recovery.plugins.module_utils.query import apply_query


def test_query_selects():
    data = {"slots": [{"slot_name": "a", "wal_status": "lost"}, {"slot_name": "b", "wal_status": "reserved"}]}
    assert apply_query("slots[?wal_status=='lost'].slot_name", data) == ["a"]


def test_bad_expression_names_the_option():
    with pytest.raises(InvalidInput, match=r"^query: invalid JMESPath expression"):
        apply_query("slots[?", {})

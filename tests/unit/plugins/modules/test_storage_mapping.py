"""storage_mapping without a server: documented options equal the spec, input problems."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput
from ansible_collections.continuity.recovery.plugins.modules import storage_mapping as sm


class _Stub(sm.StorageMapping):
    def __init__(self):  # no AnsibleModule
        pass


def test_documented_options_match_the_spec():
    documented = yaml.safe_load(sm.DOCUMENTATION)["options"]
    spec = _Stub().module_spec()
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc["type"] == option["type"], name
        assert doc.get("default") == option.get("default"), name
        assert doc.get("choices") == option.get("choices"), name


def test_examples_and_return_are_yaml():
    assert isinstance(yaml.safe_load(sm.EXAMPLES), list)
    assert {"datastores", "problems", "vcenter_calls"} <= set(yaml.safe_load(sm.RETURN))


def test_fail_lists_problems():
    with pytest.raises(InvalidInput) as err:
        sm.fail(["storage_map[0].recovery: is required"])
    assert err.value.details["problems"] == ["storage_map[0].recovery: is required"]

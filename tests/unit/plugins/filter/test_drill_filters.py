"""drill_fingerprint / drill_compare filters: thin over module_utils.drill, clear errors on bad input."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.continuity.recovery.plugins.filter.drill import FilterModule

FILTERS = FilterModule().filters()


def test_round_trip():
    site = {"vms": [{"name": "web01", "power_state": "poweredOn", "nics": [], "disks": []}]}
    fp = FILTERS["drill_fingerprint"](site, {}, {}, ["web01"])
    assert FILTERS["drill_compare"](fp, fp)["unchanged"] is True


@pytest.mark.parametrize("args, message", [
    (("nope",), "site_info result"),
    (({}, ["x"]), "databases must be a dict"),
    (({}, {}, "x"), "replication must be a dict"),
    (({}, {}, {}, "web01"), "vms must be a list"),
])
def test_fingerprint_errors(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        FILTERS["drill_fingerprint"](*args)


def test_compare_errors():
    with pytest.raises(AnsibleFilterError, match="both fingerprints"):
        FILTERS["drill_compare"]({}, None)


@pytest.mark.parametrize("args", [
    ({"vms": [{"power_state": "poweredOn"}]},),            # a VM without its name
    ({"vms": "abc"},),
    ({}, {"paydb": "x"}),                                   # a database result that is not one
    ({"vms": [{"name": "a", "nics": ["x"]}]},),
])
def test_malformed_results_fail_clearly_not_with_a_traceback(args):
    with pytest.raises(AnsibleFilterError, match="drill_fingerprint: malformed input"):
        FILTERS["drill_fingerprint"](*args)


def test_baseline_record_malformed_input_fails_clearly():
    from ansible_collections.continuity.recovery.plugins.filter.baseline import baseline_record
    with pytest.raises(AnsibleFilterError, match="baseline_record: malformed input"):
        baseline_record({"abnormalities": ["ab"]}, {})

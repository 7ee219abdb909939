"""baseline_vms: the primary VM records of a baseline in each shape host_cutover's baseline option takes."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.continuity.recovery.plugins.filter.baseline import baseline_vms
from ansible_collections.continuity.recovery.plugins.module_utils import baseline

VMS = [{"name": "db01", "datastores": ["Prod-DS-01"]}, {"name": "app01"}, {"datastores": ["no name"]}, "junk"]


@pytest.mark.parametrize("shape", [
    VMS,
    {"vms": VMS, "changed": False},  # a site_info result
    {"sites": {"primary": {"vms": VMS}}},  # a baseline record
    {"record": {"sites": {"primary": {"vms": VMS}}}, "abnormalities": []},  # the baseline role's result
])
def test_every_shape_gives_the_named_records_in_order(shape):
    assert [vm["name"] for vm in baseline_vms(shape)] == ["db01", "app01"]
    # the module's option reads the same records
    assert list(baseline.vm_records(shape)) == ["db01", "app01"]
    assert baseline.vm_records_problem(shape) is None


def test_null_and_empty_give_no_records():
    assert baseline_vms(None) == [] and baseline_vms([]) == [] and baseline_vms({"vms": []}) == []


@pytest.mark.parametrize("value, words", [
    ("/srv/baseline.json", "must be a baseline record (the baseline role's result or its record), a site_info "
                           "result of the primary site, or a list of VM records, got str"),
    ({"primary": {"vms": VMS}}, "has no list of VMs at record.sites.primary.vms, sites.primary.vms or vms "
                                "(keys: primary)"),
    ({"vms": "db01"}, "has no list of VMs"),
    (5, "got int"),
])
def test_other_values_fail_saying_what_they_are(value, words):
    with pytest.raises(AnsibleFilterError, match="baseline_vms: the baseline") as info:
        baseline_vms(value)
    assert words in str(info.value)
    assert words in baseline.vm_records_problem(value)
    assert baseline.vm_records(value) == {}


def test_the_error_names_the_variable_and_strict_false_gives_nothing():
    with pytest.raises(AnsibleFilterError, match=r"^baseline_vms: failback_baseline must be a baseline record"):
        baseline_vms("/srv/baseline.json", "failback_baseline")
    assert baseline_vms({"primary": {}}, "the reference", strict=False) == []
    assert [vm["name"] for vm in baseline_vms({"vms": VMS}, strict=False)] == ["db01", "app01"]


def test_the_type_named_is_the_plain_one():
    class TaggedStr(str):  # what ansible-core 2.19 hands a filter for a string variable
        pass
    assert baseline.vm_records_problem(TaggedStr("/srv/baseline.json")).endswith("got str")
    assert baseline.vm_records_problem(True).endswith("got bool")

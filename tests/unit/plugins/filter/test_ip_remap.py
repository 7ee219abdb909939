# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ip_remap and ip_in_subnet filters, directly and through ansible-playbook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.continuity.recovery.plugins.filter import ip_remap as ip_remap_module
from ansible_collections.continuity.recovery.plugins.filter.ip_remap import FilterModule, ip_in_subnet, ip_remap

NETWORKS = [
    {"name": "prod", "primary_subnet": "10.10.0.0/20", "recovery_subnet": "10.20.0.0/20"},
    {"name": "dmz", "primary_subnet": "192.168.10.0/24", "recovery_subnet": "192.168.20.0/24"},
]
FILTER_DIR = Path(ip_remap_module.__file__).parent
COLLECTIONS_ROOT = Path(ip_remap_module.__file__).parents[5]


def test_filters_are_registered() -> None:
    assert FilterModule().filters() == {"ip_remap": ip_remap, "ip_in_subnet": ip_in_subnet}


@pytest.mark.parametrize("ip, networks, expected", [
    ("10.10.3.7", NETWORKS, "10.20.3.7"),
    ("192.168.10.15", NETWORKS, "192.168.20.15"),
    ("192.168.10.15", NETWORKS[1], "192.168.20.15"),
    ("10.10.3.7", iter(NETWORKS), "10.20.3.7"),
])
def test_ip_remap(ip: str, networks: Any, expected: str) -> None:
    assert ip_remap(ip, networks) == expected


@pytest.mark.parametrize("ip, networks, message", [
    ("172.16.0.1", NETWORKS,
     "ip_remap: IP 172.16.0.1 is inside no primary_subnet of the network map (10.10.0.0/20, 192.168.10.0/24)"),
    ("172.16.0.1", [], "ip_remap: IP 172.16.0.1 is inside no primary_subnet of the network map (none)"),
    ("10.10.0", NETWORKS, "ip_remap: '10.10.0' is not a valid IP address"),
    ("10.10.0.0", NETWORKS,
     "ip_remap: IP 10.10.0.0 is the network address of primary subnet 10.10.0.0/20, not a host address"),
    ("10.10.1.5", [{"primary_subnet": "10.10.0.0/20", "recovery_subnet": "10.20.0.0/24"}],
     "ip_remap: IP 10.10.1.5 is host 261 of 10.10.0.0/20, beyond recovery subnet 10.20.0.0/24 (256 addresses)"),
    ("10.10.1.5", [{"primary_subnet": "10.10.1.5/20", "recovery_subnet": "10.20.0.0/20"}],
     "ip_remap: 10.10.1.5/20 has host bits set: the network address is 10.10.0.0/20"),
    ("10.10.1.5", "10.10.0.0/20", "ip_remap: networks must be a list of network map entries, got str"),
    ("10.10.1.5", None, "ip_remap: networks must be a list of network map entries, got NoneType"),
    ("10.10.1.5", ["10.10.0.0/20"],
     "ip_remap: networks[0] must be a mapping with primary_subnet and recovery_subnet, got str"),
    ("10.10.1.5", [{"primary_subnet": "10.10.0.0/20"}], "ip_remap: networks[0] has no recovery_subnet"),
])
def test_ip_remap_errors(ip: Any, networks: Any, message: str) -> None:
    with pytest.raises(AnsibleFilterError) as caught:
        ip_remap(ip, networks)
    assert caught.value.message == message


@pytest.mark.parametrize("ip, cidr, expected", [
    ("10.20.0.1", "10.20.0.0/20", True),
    ("10.30.0.1", "10.20.0.0/20", False),
    ("2001:db8::1", "10.20.0.0/20", False),
])
def test_ip_in_subnet(ip: str, cidr: str, expected: bool) -> None:
    assert ip_in_subnet(ip, cidr) is expected


@pytest.mark.parametrize("ip, cidr, message", [
    ("10.20.0.1", "10.20.0.5/20", "ip_in_subnet: 10.20.0.5/20 has host bits set: the network address is 10.20.0.0/20"),
    ("10.20.0.1/20", "10.20.0.0/20", "ip_in_subnet: IP address '10.20.0.1/20' must be a plain address, "
                                     "without a prefix length"),
    (None, "10.20.0.0/20", "ip_in_subnet: IP address must be a string, got null"),
])
def test_ip_in_subnet_errors(ip: Any, cidr: Any, message: str) -> None:
    with pytest.raises(AnsibleFilterError) as caught:
        ip_in_subnet(ip, cidr)
    assert caught.value.message == message


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  connection: local
  vars:
    nets: [{primary_subnet: 10.10.0.0/20, recovery_subnet: 10.20.0.0/20}]
  tasks:
    - ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ {'remapped': ['10.10.3.7', '10.10.0.9'] | map('continuity.recovery.ip_remap', nets) | list,
                      'inside': '10.20.0.1' | continuity.recovery.ip_in_subnet('10.20.0.0/20')} | to_json }}"
        mode: "0600"
    - ansible.builtin.debug:
        msg: "{{ '172.16.0.1' | continuity.recovery.ip_remap(nets) }}"
"""


def test_filters_in_a_playbook(tmp_path: Path) -> None:
    playbook_bin = Path(sys.executable).parent / "ansible-playbook"
    if not playbook_bin.exists():
        pytest.skip("ansible-playbook is not installed beside this Python")
    (tmp_path / "play.yml").write_text(PLAYBOOK, encoding="utf-8")
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_ROOT), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"), "ANSIBLE_HOME": str(tmp_path / "home")}
    run = subprocess.run([str(playbook_bin), "-i", "localhost,", "-e", f"out={tmp_path / 'out.json'}",
                          "-e", f"ansible_python_interpreter={sys.executable}", str(tmp_path / "play.yml")],
                         env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert json.loads((tmp_path / "out.json").read_text()) == {"remapped": ["10.20.3.7", "10.20.0.9"], "inside": True}
    assert run.returncode == 2
    assert "ip_remap: IP 172.16.0.1 is inside no primary_subnet of the network map (10.10.0.0/20)" in run.stdout


@pytest.mark.parametrize("name, options", [("ip_remap", ["_input", "networks"]), ("ip_in_subnet", ["_input", "cidr"])])
def test_each_filter_has_complete_documentation(name: str, options: list[str]) -> None:
    doc = yaml.safe_load((FILTER_DIR / f"{name}.yml").read_text(encoding="utf-8"))
    assert set(doc) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}
    assert doc["DOCUMENTATION"]["name"] == name
    assert doc["DOCUMENTATION"]["positional"] == ", ".join(options)
    assert list(doc["DOCUMENTATION"]["options"]) == options
    assert f"continuity.recovery.{name}" in doc["EXAMPLES"]
    assert doc["RETURN"]["_value"]["type"]

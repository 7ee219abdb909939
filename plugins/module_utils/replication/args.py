# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument spec shared by replication, replication_info and buffer_info, and
the one place that turns module parameters into a driver."""

from __future__ import annotations

import os
import pwd

from ansible.module_utils.basic import env_fallback

from ansible_collections.continuity.recovery.plugins.module_utils.errors import InvalidInput
from ansible_collections.continuity.recovery.plugins.module_utils.replication import sizes
from ansible_collections.continuity.recovery.plugins.module_utils.replication.base import ENGINES
from ansible_collections.continuity.recovery.plugins.module_utils.replication.commands import Runner


def _endpoint_options():
    return dict(
        host=dict(type="str", required=True),
        port=dict(type="int", default=5432),
        user=dict(type="str"),
        password=dict(type="str", no_log=True),
        database=dict(type="str"),
        ssl_mode=dict(type="str", choices=["allow", "disable", "prefer", "require", "verify-ca", "verify-full"]),
        data_dir=dict(type="path"),
        bin_dir=dict(type="path"),
        os_user=dict(type="str", default="postgres"),
        log_file=dict(type="path"),
        listen_addresses=dict(type="str"),
        command_prefix=dict(type="list", elements="str"),
        upstream_host=dict(type="str"),
        upstream_port=dict(type="int"),
        archive_dir=dict(type="path"),
    )


def _location_options():
    return dict(path=dict(type="path", required=True), host=dict(type="str"))


def replication_argument_spec():
    return dict(
        name=dict(type="str", required=True),
        engine=dict(type="str", required=True, choices=list(ENGINES)),
        primary=dict(type="dict", options=_endpoint_options()),
        standby=dict(type="dict", options=_endpoint_options()),
        slot=dict(type="str"),
        synchronous=dict(type="bool", default=False),
        replication_user=dict(type="str", default="replicator", fallback=(env_fallback, ["PGREPLUSER"])),
        replication_password=dict(type="str", no_log=True, fallback=(env_fallback, ["PGREPLPASSWORD"])),
        replication_ssl_mode=dict(type="str", choices=["disable", "prefer", "require", "verify-ca", "verify-full"]),
        archive=dict(type="dict", options=_location_options()),
        source=dict(type="dict", options=_location_options()),
        target=dict(type="dict", options=_location_options()),
        snapshots=dict(type="int", default=0),
        max_buffer=dict(type="raw"),
        state_dir=dict(type="path"),
        timeout=dict(type="int", default=300),
        connect_timeout=dict(type="int", default=5),
    )


REQUIRED_IF = [
    ("engine", "postgresql", ("primary", "standby", "slot")),
    ("engine", "rsync", ("source", "target")),
]


def normalise(params):
    """Module params -> the driver's pair dict (max_buffer parsed)."""
    pair = {k: params.get(k) for k in replication_argument_spec()}
    try:
        pair["max_buffer_bytes"] = sizes.parse_size(params.get("max_buffer"))
    except InvalidInput as exc:
        raise InvalidInput("max_buffer: %s" % exc)
    if (pair.get("snapshots") or 0) < 0:
        raise InvalidInput("snapshots: must be 0 (none) or more, got %d" % pair["snapshots"])
    for side in ("primary", "standby"):
        if pair.get(side):
            pair[side] = dict(pair[side], name=side)
            user = pair[side].get("os_user")
            if pair["engine"] == "postgresql" and user and os.geteuid() == 0:
                try:
                    pwd.getpwnam(user)
                except KeyError:
                    raise InvalidInput("%s.os_user: no operating-system user %r on this host (the server programs "
                                       "run as it)" % (side, user)) from None
    return pair


def make_driver(params, check_mode=False):
    """The driver of the pair's engine (imports kept lazy: rsync needs no psycopg)."""
    pair = normalise(params)
    runner = Runner()
    if pair["engine"] == "postgresql":
        from ansible_collections.continuity.recovery.plugins.module_utils.replication.postgresql import (
            PostgresqlDriver,
        )
        return PostgresqlDriver(pair, runner, timeout=params["timeout"], check_mode=check_mode)
    from ansible_collections.continuity.recovery.plugins.module_utils.replication.rsync import RsyncDriver
    return RsyncDriver(pair, runner, timeout=params["timeout"], check_mode=check_mode)

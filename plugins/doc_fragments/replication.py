# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The replication pair options shared by replication, replication_info and buffer_info."""

    DOCUMENTATION = r"""
options:
  name:
    description: Name of the replication pair (the plan's C(replication[].name)).
    type: str
    required: true
  engine:
    description: The replication engine of the pair.
    type: str
    required: true
    choices: [postgresql, rsync]
  primary:
    description:
      - The primary (production) PostgreSQL server of a C(postgresql) pair.
      - Required when O(engine=postgresql).
    type: dict
    suboptions: &endpoint
      host:
        description: Host name, IP address or unix socket directory of the server.
        type: str
        required: true
      port:
        description: Port of the server.
        type: int
        default: 5432
      user:
        description: Role used for SQL (a superuser, or a role allowed to manage slots, promote and pg_rewind).
        type: str
      password:
        description: Password of O(primary.user); never logged or returned.
        type: str
      database:
        description: Database to connect to.
        type: str
      ssl_mode:
        description: libpq sslmode of the SQL connection.
        type: str
        choices: [allow, disable, prefer, require, verify-ca, verify-full]
      data_dir:
        description:
          - Data directory of this server on the host the module runs on. Required for the standby
            (seeding, starting) and for the old primary with O(ignore:state=reversed) (pg_rewind);
            with O(ignore:state=promoted) it lets the fence stop the old primary and leave a fence marker.
        type: path
      bin_dir:
        description: Directory of pg_ctl, pg_basebackup and pg_rewind (default the newest of C(/usr/lib/postgresql/*/bin)).
        type: path
      os_user:
        description: Operating-system user owning O(primary.data_dir); server programs run as this user.
        type: str
        default: postgres
      log_file:
        description: Server log of pg_ctl start (default C(<parent of data_dir>/log/<name>.log) or C(<data_dir>.log)).
        type: path
      listen_addresses:
        description: listen_addresses written for this server when it runs as a standby (default O(primary.host) when an address).
        type: str
      command_prefix:
        description:
          - Argument list put in front of every server program run for this side, for example
            C([ip, netns, exec, dr-site]) to run the standby in a network namespace.
        type: list
        elements: str
      upstream_host:
        description: How this server reaches its upstream when it runs as a standby, if different from the upstream's O(primary.host).
        type: str
      upstream_port:
        description: Port that goes with O(primary.upstream_host).
        type: int
      archive_dir:
        description:
          - The WAL archive this server's C(archive_command) writes to (local path). With O(ignore:state=reversed),
            pg_rewind reads the old primary's WAL it has already recycled from here (C(--restore-target-wal)).
        type: path
  standby:
    description:
      - The standby (recovery site) PostgreSQL server of a C(postgresql) pair; same suboptions as O(primary).
      - Required when O(engine=postgresql).
    type: dict
    suboptions: *endpoint
  slot:
    description: Physical replication slot of the pair on the primary. Required when O(engine=postgresql).
    type: str
  synchronous:
    description: Whether the plan asks for synchronous replication (recorded; this version streams asynchronously).
    type: bool
    default: false
  replication_user:
    description: Role with REPLICATION used by pg_basebackup and the standby's primary_conninfo.
    type: str
    default: replicator
  replication_password:
    description:
      - Password of O(replication_user); written only into the standby's own postgresql.auto.conf (0600), never returned.
      - If not set, the environment variable E(PGREPLPASSWORD) is used.
    type: str
  replication_ssl_mode:
    description: sslmode of the replication connection written into primary_conninfo.
    type: str
    choices: [disable, prefer, require, verify-ca, verify-full]
  archive:
    description:
      - WAL archive at the recovery site (continuous data protection). When set, the standby archives every WAL
        segment it receives into O(archive.path) (C(archive_mode=always)); point-in-time recovery uses it.
    type: dict
    suboptions: &location
      path:
        description: Absolute path.
        type: path
        required: true
      host:
        description: Host of the path (null = the host the module runs on).
        type: str
  source:
    description: The replicated tree of an C(rsync) pair. Required when O(engine=rsync).
    type: dict
    suboptions: *location
  target:
    description: The replica of an C(rsync) pair (local to the host the module runs on). Required when O(engine=rsync).
    type: dict
    suboptions: *location
  snapshots:
    description: Point-in-time snapshots (hard-link trees) kept beside the rsync target, newest N.
    type: int
    default: 0
  max_buffer:
    description:
      - The plan's cap on the buffer (retained WAL, or pending changed bytes for rsync), such as V(1GB), or bytes.
    type: raw
  state_dir:
    description: Where an rsync pair keeps its state (default C(<source parent>/.<source name>.continuity-rsync)).
    type: path
  timeout:
    description: Hard limit in seconds for each wait (streaming, catch-up, promotion) and each server program.
    type: int
    default: 300
  connect_timeout:
    description: Seconds to wait for a database connection.
    type: int
    default: 5
requirements:
  - psycopg >= 3 (engine postgresql)
  - PostgreSQL server programs on the host the module runs on (engine postgresql)
  - rsync (engine rsync)
"""

# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Connection options shared by every module of the postgresql action group."""

    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name or IP address of the PostgreSQL server.
      - If not set, the environment variable E(PGHOST) is used.
    type: str
    default: 127.0.0.1
    aliases: [host]
  login_port:
    description:
      - TCP port of the PostgreSQL server.
      - If not set, the environment variable E(PGPORT) is used.
    type: int
    default: 5432
    aliases: [port]
  login_user:
    description:
      - Role to connect as.
      - If not set, the environment variable E(PGUSER) is used.
    type: str
    default: postgres
    aliases: [user]
  login_password:
    description:
      - Password of O(login_user).
      - If not set, the environment variable E(PGPASSWORD) is used.
      - Never written to results or evidence.
    type: str
    aliases: [password]
  login_db:
    description:
      - Database to connect to.
      - If not set, the environment variable E(PGDATABASE) is used.
    type: str
    default: postgres
    aliases: [database, db]
  ssl_mode:
    description:
      - libpq C(sslmode) of the connection. Use V(verify-full) in production.
    type: str
    default: prefer
    choices: [allow, disable, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - Certificate authority file to verify the server's certificate with.
    type: path
    aliases: [ssl_rootcert]
  connect_timeout:
    description:
      - Seconds to wait for a connection before failing.
    type: int
    default: 10
requirements:
  - psycopg >= 3.1
notes:
  - Statements are parameterised; the module returns the SQL it executed in RV(ignore:queries), never parameters.
"""

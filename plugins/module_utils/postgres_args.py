# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one argument spec of the postgresql connection family.

Matches the doc fragment ``continuity.recovery.postgresql`` option for option.
"""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback


def postgresql_argument_spec():
    """The connection options every postgresql-group module accepts."""
    return dict(
        login_host=dict(type="str", default="127.0.0.1", aliases=["host"],
                        fallback=(env_fallback, ["PGHOST"])),
        login_port=dict(type="int", default=5432, aliases=["port"],
                        fallback=(env_fallback, ["PGPORT"])),
        login_user=dict(type="str", default="postgres", aliases=["user"],
                        fallback=(env_fallback, ["PGUSER"])),
        login_password=dict(type="str", no_log=True, aliases=["password"],
                            fallback=(env_fallback, ["PGPASSWORD"])),
        login_db=dict(type="str", default="postgres", aliases=["database", "db"],
                      fallback=(env_fallback, ["PGDATABASE"])),
        ssl_mode=dict(type="str", default="prefer",
                      choices=["allow", "disable", "prefer", "require", "verify-ca", "verify-full"]),
        ca_cert=dict(type="path", aliases=["ssl_rootcert"]),
        connect_timeout=dict(type="int", default=10),
    )

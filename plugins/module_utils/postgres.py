# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL client layer: one connection family, parameterised SQL only.

Never imports AnsibleModule. Every statement executed is kept in
``Client.queries`` (the SQL text, never the parameters) so modules can return
exactly what they ran. Errors are typed (see errors.py).
"""

from __future__ import annotations

from ansible_collections.continuity.recovery.plugins.module_utils.errors import (
    AuthenticationFailure,
    ConnectionFailure,
    DatabaseError,
)

try:
    import psycopg
    from psycopg.rows import dict_row

    HAS_PSYCOPG = True
    PSYCOPG_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module
    HAS_PSYCOPG = False
    PSYCOPG_IMPORT_ERROR = exc


def connection_params(params):
    """Map module parameters to libpq keywords (no None values)."""
    mapping = {
        "host": params.get("login_host"),
        "port": params.get("login_port"),
        "user": params.get("login_user"),
        "password": params.get("login_password"),
        "dbname": params.get("login_db"),
        "sslmode": params.get("ssl_mode"),
        "sslrootcert": params.get("ca_cert"),
        "connect_timeout": params.get("connect_timeout"),
        "application_name": "continuity.recovery",
    }
    return {k: v for k, v in mapping.items() if v not in (None, "")}


class Client:
    """A short-lived connection to one PostgreSQL server.

    Use as a context manager. ``autocommit`` is on: the read-only inspection
    statements need no transaction, and changing statements (slots, promote)
    must not be held open.
    """

    def __init__(self, **conninfo):
        if not HAS_PSYCOPG:
            raise ConnectionFailure("psycopg 3 is required: %s" % PSYCOPG_IMPORT_ERROR)
        self._conninfo = conninfo
        self.endpoint = "%s:%s" % (conninfo.get("host", "localhost"), conninfo.get("port", 5432))
        self.queries = []
        self.conn = None

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()

    def connect(self):
        try:
            self.conn = psycopg.connect(autocommit=True, row_factory=dict_row, **self._conninfo)
        except psycopg.OperationalError as exc:
            text = str(exc).strip()
            if "password authentication failed" in text or "no password supplied" in text:
                raise AuthenticationFailure(
                    "PostgreSQL at %s refused the credentials of user %r"
                    % (self.endpoint, self._conninfo.get("user")), endpoint=self.endpoint)
            raise ConnectionFailure(
                "cannot connect to PostgreSQL at %s: %s" % (self.endpoint, _first_line(text)),
                endpoint=self.endpoint)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def query(self, sql, params=None):
        """Run one parameterised statement; return its rows as dicts."""
        self.queries.append(sql)
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        except psycopg.Error as exc:
            raise DatabaseError("statement failed at %s: %s" % (self.endpoint, _first_line(str(exc))),
                                endpoint=self.endpoint, query=sql)

    def scalar(self, sql, params=None):
        rows = self.query(sql, params)
        if not rows:
            return None
        return next(iter(rows[0].values()))


def _first_line(text):
    return text.splitlines()[0] if text else text


def probe(conninfo):
    """Return ``(True, None)`` when the server answers, else ``(False, reason)``. Never raises."""
    try:
        with Client(**conninfo) as client:
            client.scalar("SELECT 1")
        return True, None
    except Exception as exc:  # any failure means "not reachable" for a probe
        return False, str(exc)

# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One authenticated vSphere API session, with a count of the SOAP calls it made.

``Session`` is a context manager around ``pyVim.connect.SmartConnect``. It raises
the collection's typed errors (never ``fail_json``): ``AuthenticationFailure``
when vCenter refuses the credentials, ``ConnectionFailure`` (naming host:port)
when it cannot be reached or is not a vSphere endpoint. A connect-time
``ConnectionFailure`` says why in ``details["reason"]``: ``unreachable`` (nothing
answered: connection refused, timeout, name not resolved, no route), ``tls``
(the TLS handshake or the certificate check failed) or ``protocol`` (something
answered, but not as a vCenter).

``Session.calls`` counts every SOAP request sent over the session: the two
``SmartConnect`` makes (RetrieveServiceContent and Login), every method and
property access made afterwards (the stub's ``InvokeMethod`` is wrapped) and the
Logout on close. Modules return it as ``vcenter_calls``; tests assert on it.
"""

from __future__ import annotations

import errno
import socket
import ssl
from http.client import HTTPException

from ansible_collections.continuity.recovery.plugins.module_utils.errors import (
    AuthenticationFailure,
    ConnectionFailure,
    NotFound,
)
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import inventory

try:
    from pyVim.connect import SmartConnect
    from pyVmomi import vim, vmodl

    HAS_PYVMOMI = True
    PYVMOMI_IMPORT_ERROR = None
except ImportError as _exc:  # pragma: no cover - exercised only without pyvmomi
    HAS_PYVMOMI = False
    PYVMOMI_IMPORT_ERROR = _exc
    SmartConnect = None
    vim = vmodl = None

DEFAULT_TIMEOUT = 60
"""Seconds a single HTTP request may take (connect and each SOAP call)."""

CONNECT_CALLS = 2
"""SOAP calls ``SmartConnect`` makes before the counter can be installed."""

UNREACHABLE = "unreachable"
"""``ConnectionFailure.details["reason"]`` when nothing answered at host:port."""

_UNREACHABLE_ERRNOS = frozenset(getattr(errno, name) for name in (
    "ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN") if hasattr(errno, name))


def connect_failure_reason(exc: BaseException) -> str:
    """``unreachable``, ``tls`` or ``protocol``: why a connection attempt failed (see the module docstring)."""
    if isinstance(exc, ssl.SSLError):  # certificate verification failures included
        return "tls"
    if isinstance(exc, (ConnectionRefusedError, TimeoutError, socket.gaierror, socket.herror)):
        return UNREACHABLE
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS:
        return UNREACHABLE
    return "protocol"


class Session:
    """A vSphere API session: ``with Session(host, user, pw) as s: s.content``.

    ``validate_certs`` defaults to true; ``None`` means "not said" and is the only
    value replaced by the default (an explicit ``False`` is never overridden).
    ``timeout`` bounds each HTTP request in seconds; keep it above the longest
    server-side wait a caller asks for (see ``tasks.wait_for_tasks``).
    """

    def __init__(self, hostname: str, username: str, password: str, port: int = 443,
                 validate_certs: bool | None = True, timeout: float = DEFAULT_TIMEOUT):
        if validate_certs is None:
            validate_certs = True
        self.hostname = hostname
        self.username = username
        self.password = password
        self.port = int(port)
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.calls = 0
        self.si = None
        self._content = None

    # -- lifecycle -----------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """``host:port`` of the vCenter, for messages."""
        return "%s:%d" % (self.hostname, self.port)

    def connect(self) -> "Session":
        """Log in; raise ``AuthenticationFailure`` or ``ConnectionFailure``."""
        if not HAS_PYVMOMI:
            raise ConnectionFailure("the pyvmomi library is required: %s" % PYVMOMI_IMPORT_ERROR,
                                    endpoint=self.endpoint)
        if not self.hostname:
            raise ConnectionFailure("no vCenter hostname given (option hostname or VMWARE_HOST)")
        try:
            self.si = SmartConnect(host=self.hostname, port=self.port, user=self.username,
                                   pwd=self.password, sslContext=self._ssl_context(),
                                   disableSslCertValidation=not self.validate_certs,
                                   httpConnectionTimeout=self.timeout)
        except vim.fault.InvalidLogin as exc:
            raise AuthenticationFailure("vCenter %s refused the login of %s: %s"
                                        % (self.endpoint, self.username, fault_message(exc)),
                                        endpoint=self.endpoint) from None
        except vim.fault.HostConnectFault as exc:
            raise ConnectionFailure("cannot connect to vCenter %s: %s"
                                    % (self.endpoint, fault_message(exc)),
                                    endpoint=self.endpoint, reason="protocol") from None
        except (OSError, HTTPException, ssl.SSLError) as exc:
            raise ConnectionFailure("cannot connect to vCenter %s: %s" % (self.endpoint, exc),
                                    endpoint=self.endpoint, reason=connect_failure_reason(exc)) from None
        except vmodl.MethodFault as exc:
            raise ConnectionFailure("vCenter %s failed the login: %s"
                                    % (self.endpoint, fault_message(exc)),
                                    endpoint=self.endpoint, reason="protocol") from None
        except Exception as exc:  # SmartConnect raises bare Exception for "not a VIM server"
            raise ConnectionFailure("cannot connect to vCenter %s: %s" % (self.endpoint, exc),
                                    endpoint=self.endpoint, reason="protocol") from None
        self.calls = CONNECT_CALLS
        self._install_counter()
        return self

    def close(self) -> None:
        """Log out (one SOAP call) and drop the HTTP connections; never raises."""
        if self.si is None:
            return
        si, self.si = self.si, None
        try:
            (self._content or si.RetrieveContent()).sessionManager.Logout()
        except Exception:  # pylint: disable=broad-except  # logout is best effort
            pass
        try:
            si._stub.DropConnections()  # pylint: disable=protected-access
        except Exception:  # pylint: disable=broad-except
            pass
        self._content = None

    def __enter__(self) -> "Session":
        return self.connect()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def _ssl_context(self):
        """A verifying context when validate_certs (pyVmomi skips checks on localhost otherwise)."""
        if self.validate_certs:
            return ssl.create_default_context()
        return None

    def _install_counter(self) -> None:
        """Wrap the stub's InvokeMethod so every SOAP request increments ``calls``."""
        stub = self.si._stub  # pylint: disable=protected-access
        invoke = stub.InvokeMethod

        def counting_invoke(*args, **kwargs):
            self.calls += 1
            return invoke(*args, **kwargs)

        stub.InvokeMethod = counting_invoke

    # -- access --------------------------------------------------------------------

    @property
    def content(self):
        """The ServiceContent (retrieved once per session)."""
        if self.si is None:
            raise ConnectionFailure("session to %s is not connected" % self.endpoint,
                                    endpoint=self.endpoint)
        if self._content is None:
            self._content = self.call(self.si.RetrieveContent)
        return self._content

    def call(self, method, *args, **kwargs):
        """Invoke a pyVmomi method, turning transport errors into ConnectionFailure.

        vSphere faults (``vmodl.MethodFault``) propagate unchanged: callers know
        which ones they expect.
        """
        try:
            return method(*args, **kwargs)
        except (OSError, HTTPException, socket.timeout) as exc:
            raise ConnectionFailure("lost the connection to vCenter %s: %s" % (self.endpoint, exc),
                                    endpoint=self.endpoint) from None

    def datacenter(self, name: str):
        """The datacenter called ``name`` (anywhere under the root folder); NotFound otherwise."""
        return self.find(vim.Datacenter, name, what="datacenter")

    def cluster(self, datacenter, name: str):
        """The cluster called ``name`` inside ``datacenter``; NotFound otherwise."""
        return self.find(vim.ClusterComputeResource, name, root=datacenter.hostFolder,
                         what="cluster")

    def find(self, obj_type, name: str, root=None, what: str | None = None):
        """The one object of ``obj_type`` called ``name`` under ``root`` (3 SOAP calls)."""
        rows = inventory.retrieve(self, obj_type, ["name"], root=root)
        matches = [row["obj"] for row in rows if row.get("name") == name]
        label = what or obj_type.__name__
        if not matches:
            raise NotFound("%s %r not found on vCenter %s" % (label, name, self.endpoint),
                           missing=[name], available=sorted(row.get("name") for row in rows))
        return matches[0]


def fault_text(fault) -> str:
    """``InsufficientResourcesFault: <message>`` of a (localized) method fault (the message alone when it is the name)."""
    inner = getattr(fault, "fault", None) or fault
    message = getattr(fault, "localizedMessage", None) or fault_message(inner)
    name = type(inner).__name__.rsplit(".", 1)[-1]
    return message if message == name else "%s: %s" % (name, message)


def fault_message(fault) -> str:
    """The human part of a vSphere fault (msg, else its localized message, else its type)."""
    message = getattr(fault, "msg", None)
    if message:
        return str(message)
    for item in getattr(fault, "faultMessage", None) or []:
        if getattr(item, "message", None):
            return str(item.message)
    return type(fault).__name__

"""session.Session without a server: typed connection errors, certificate handling, the call counter."""

from __future__ import annotations

import errno
import socket
import ssl
from types import SimpleNamespace

import pytest
from pyVmomi import vim

from ansible_collections.continuity.recovery.plugins.module_utils.errors import (
    AuthenticationFailure,
    ConnectionFailure,
    NotFound,
)
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere import session as session_mod


class FakeStub:
    def __init__(self):
        self.sent = []
        self.dropped = False

    def InvokeMethod(self, mo, info, args):
        self.sent.append(info)
        return info

    def DropConnections(self):
        self.dropped = True


class FakeSI:
    def __init__(self):
        self._stub = FakeStub()
        self.logged_out = False
        manager = SimpleNamespace(Logout=self._logout)
        self.content = SimpleNamespace(sessionManager=manager)

    def _logout(self):
        self._stub.InvokeMethod(None, "Logout", ())
        self.logged_out = True

    def RetrieveContent(self):
        self._stub.InvokeMethod(None, "RetrieveServiceContent", ())
        return self.content


@pytest.fixture
def connect_calls(monkeypatch):
    calls = []

    def fake_smart_connect(**kwargs):
        calls.append(kwargs)
        behaviour = kwargs["pwd"]
        if isinstance(behaviour, BaseException):
            raise behaviour
        return FakeSI()

    monkeypatch.setattr(session_mod, "SmartConnect", fake_smart_connect)
    return calls


def test_validate_certs_none_means_true_and_false_is_kept():
    assert session_mod.Session("vc", "u", "p", validate_certs=None).validate_certs is True
    assert session_mod.Session("vc", "u", "p", validate_certs=False).validate_certs is False
    assert session_mod.Session("vc", "u", "p").validate_certs is True


def test_certificate_options_reach_smart_connect(connect_calls):
    session_mod.Session("127.0.0.1", "u", "p", port=8443, validate_certs=True).connect()
    session_mod.Session("127.0.0.1", "u", "p", validate_certs=False).connect()
    verified, unverified = connect_calls
    # an explicit verifying context: pyVmomi would otherwise skip checks for localhost
    assert isinstance(verified["sslContext"], ssl.SSLContext)
    assert verified["sslContext"].verify_mode == ssl.CERT_REQUIRED
    assert verified["disableSslCertValidation"] is False and verified["port"] == 8443
    assert unverified["sslContext"] is None and unverified["disableSslCertValidation"] is True


@pytest.mark.parametrize("raised,expected,text", [
    (vim.fault.InvalidLogin(msg="Login failure"), AuthenticationFailure, "refused the login of u: Login failure"),
    (ConnectionRefusedError(111, "Connection refused"), ConnectionFailure, "cannot connect to vCenter vc:443"),
    (ssl.SSLCertVerificationError("certificate verify failed"), ConnectionFailure, "certificate verify failed"),
    (Exception("vc:443 is down or is not a VIM server"), ConnectionFailure, "is not a VIM server"),
    (vim.fault.HostConnectFault(msg="bad gateway"), ConnectionFailure, "bad gateway"),
])
def test_connection_errors_are_typed(connect_calls, raised, expected, text):
    with pytest.raises(expected) as err:
        session_mod.Session("vc", "u", raised).connect()
    assert text in str(err.value)
    assert err.value.details["endpoint"] == "vc:443"
    assert type(err.value).__name__ == expected.__name__  # not a subclass either


@pytest.mark.parametrize("raised,reason", [
    (ConnectionRefusedError(111, "Connection refused"), "unreachable"),
    (socket.timeout("timed out"), "unreachable"),
    (socket.gaierror(-2, "Name or service not known"), "unreachable"),
    (OSError(errno.EHOSTUNREACH, "No route to host"), "unreachable"),
    (ssl.SSLCertVerificationError("certificate verify failed: self-signed certificate"), "tls"),
    (ssl.SSLError("wrong version number"), "tls"),
    (ConnectionResetError(104, "reset by peer"), "protocol"),
    (Exception("vc:443 is down or is not a VIM server"), "protocol"),
    (vim.fault.HostConnectFault(msg="bad gateway"), "protocol"),
])
def test_connection_failures_say_whether_anything_answered(connect_calls, raised, reason):
    """Only ``unreachable`` means nobody answered (host_cutover's planned takeover relies on it)."""
    with pytest.raises(ConnectionFailure) as err:
        session_mod.Session("vc", "u", raised).connect()
    assert err.value.details["reason"] == reason


def test_calls_are_counted_from_login_to_logout(connect_calls):
    with session_mod.Session("vc", "u", "p") as session:
        assert session.calls == session_mod.CONNECT_CALLS
        session.content  # RetrieveServiceContent, once
        session.content
        assert session.calls == session_mod.CONNECT_CALLS + 1
        si = session.si
    assert si.logged_out and si._stub.dropped
    assert session.calls == session_mod.CONNECT_CALLS + 2
    assert session.si is None


def test_transport_errors_after_login_become_connection_failures(connect_calls):
    with session_mod.Session("vc", "u", "p") as session:
        def broken():
            raise ConnectionResetError(104, "reset")
        with pytest.raises(ConnectionFailure, match="lost the connection to vCenter vc:443"):
            session.call(broken)


def test_find_raises_not_found_with_the_available_names(monkeypatch, connect_calls):
    rows = [{"obj": "dc-1", "name": "DC0"}, {"obj": "dc-2", "name": "DC1"}]
    monkeypatch.setattr(session_mod.inventory, "retrieve", lambda *a, **k: rows)
    with session_mod.Session("vc", "u", "p") as session:
        assert session.datacenter("DC1") == "dc-2"
        with pytest.raises(NotFound) as err:
            session.datacenter("DC9")
    assert str(err.value) == "datacenter 'DC9' not found on vCenter vc:443"
    assert err.value.details == {"missing": ["DC9"], "available": ["DC0", "DC1"]}


def test_content_before_connect_is_an_error():
    with pytest.raises(ConnectionFailure, match="not connected"):
        session_mod.Session("vc", "u", "p").content  # pylint: disable=expression-not-assigned

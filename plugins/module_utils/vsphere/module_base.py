# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Base of every vsphere-group module: the only vSphere code that talks to AnsibleModule.

A module subclasses ``VsphereModule``, declares its own options in
``module_spec()`` and implements ``run(session) -> dict``. The base builds the
AnsibleModule (common connection spec + module spec, check mode supported),
opens and closes the ``Session``, turns any ``RecoveryError`` raised by the
client layer into one ``fail_json(msg, **details)``, applies the optional
JMESPath ``query`` and always returns ``vcenter_calls``.
"""

from __future__ import annotations

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.continuity.recovery.plugins.module_utils.errors import RecoveryError
from ansible_collections.continuity.recovery.plugins.module_utils.safe_module import SafeModule
from ansible_collections.continuity.recovery.plugins.module_utils.query import apply_query
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.args import (
    session_kwargs,
    vsphere_argument_spec,
)
from ansible_collections.continuity.recovery.plugins.module_utils.vsphere.session import (
    HAS_PYVMOMI,
    PYVMOMI_IMPORT_ERROR,
    Session,
    fault_message,
)

try:
    from pyVmomi import vmodl
except ImportError:  # pragma: no cover - reported through HAS_PYVMOMI
    vmodl = None

RESERVED_KEYS = frozenset(("msg", "failed", "changed", "invocation", "skipped", "warnings",
                           "deprecations", "exception", "vcenter_calls"))
"""Result keys a RecoveryError's details may not overwrite."""


class VsphereModule:
    """Thin module skeleton: ``MyModule().execute()`` is the whole of ``main()``."""

    def __init__(self, **module_kwargs):
        spec = vsphere_argument_spec()
        spec.update(self.module_spec())
        module_kwargs.setdefault("supports_check_mode", True)
        # SafeModule: secrets nested in dict options (a recovery plan's passwords) are masked
        # in results, failures, the invocation echo and logs, like no_log options
        self.module = SafeModule(argument_spec=spec, **module_kwargs)
        self.params = self.module.params

    # -- to implement --------------------------------------------------------------

    def module_spec(self) -> dict:
        """The module's own options (merged over the connection options)."""
        return {}

    def run(self, session: Session) -> dict:
        """Read (and, for changing modules, act); return the result dict."""
        raise NotImplementedError

    # -- provided ------------------------------------------------------------------

    def execute(self) -> None:
        """Open the session, run, apply ``query``, exit; fail cleanly on RecoveryError."""
        if not HAS_PYVMOMI:
            self.module.fail_json(msg=missing_required_lib("pyvmomi"),
                                  exception=str(PYVMOMI_IMPORT_ERROR))
        session = Session(timeout=self.http_timeout(), **session_kwargs(self.params))
        try:
            with session:
                result = self.run(session)
            result = self.with_query(result)
        except RecoveryError as exc:
            self.fail(exc, session)
        except vmodl.MethodFault as exc:  # a fault the client layer did not expect
            fault = type(exc).__name__
            message = "vCenter %s: %s: %s" % (session.endpoint, fault, fault_message(exc))
            self.fail(RecoveryError(message, fault=fault), session)
        result.setdefault("changed", False)
        result["vcenter_calls"] = session.calls
        self.module.exit_json(**result)

    def http_timeout(self) -> float:
        """Seconds an HTTP request may take; modules waiting on tasks may raise it."""
        return 60

    def with_query(self, result: dict) -> dict:
        """Add ``query_result`` when the module has a ``query`` option and it is set."""
        expression = self.params.get("query")
        if expression:
            result["query_result"] = apply_query(expression, result)
        return result

    def fail(self, exc: RecoveryError, session: Session) -> None:
        """fail_json with the error's message, its details and the calls made so far."""
        details = {key: value for key, value in exc.details.items() if key not in RESERVED_KEYS}
        details["error_type"] = type(exc).__name__
        self.module.fail_json(msg=str(exc), vcenter_calls=session.calls, **details)

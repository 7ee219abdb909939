# -*- coding: utf-8 -*-
# Copyright: continuity.recovery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors raised by the collection's client layers.

Clients (vSphere, PostgreSQL, replication engines) raise these and never call
``fail_json`` themselves; module bases turn them into one clear failure with
``details`` as extra result keys.
"""

from __future__ import annotations


class RecoveryError(Exception):
    """Base class: a message for people and a dict of machine-readable details."""

    def __init__(self, message, **details):
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self):
        return self.message


class ConnectionFailure(RecoveryError):
    """An endpoint (vCenter, database, replication target) could not be reached."""


class AuthenticationFailure(RecoveryError):
    """The endpoint answered but refused the credentials."""


class NotFound(RecoveryError):
    """A named object (VM, datastore, portgroup, slot...) does not exist where expected."""


class TaskFailed(RecoveryError):
    """A server-side task ended in error."""


class TaskTimeout(RecoveryError):
    """A wait passed its hard timeout; the work may still be running server-side."""


class DatabaseError(RecoveryError):
    """A database statement or connection failed after connecting."""


class InvalidInput(RecoveryError):
    """Input failed validation before anything was changed."""

"""Exceptions raised by distillguard.

    DistillGuardError
    ├── InputError            input data or files the user gave cannot be used
    │   └── SchemaError       a table breaks the traffic contract (missing column, wrong type)
    ├── ConfigError           a configuration, scenario or policy file is invalid
    ├── PolicyViolation       an outgoing intel bundle breaks the sharing policy
    └── AuditTamperedError    the hash-chained audit log does not verify

Every error carries ``source`` (a file, a row, a config key) when one is known, so the
CLI can tell the user exactly where to look.
"""

from __future__ import annotations


class DistillGuardError(Exception):
    """Base of every error distillguard raises on purpose."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class InputError(DistillGuardError):
    """Input files or tables that cannot be used as given."""


class SchemaError(InputError):
    """A table that breaks the traffic contract (docs/schema.md)."""


class ConfigError(DistillGuardError):
    """An invalid configuration, scenario or policy file."""


class PolicyViolation(DistillGuardError):
    """An outgoing bundle that the sharing policy refuses."""


class AuditTamperedError(DistillGuardError):
    """The audit log's hash chain is broken."""

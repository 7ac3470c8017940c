"""The assistant's exception tree.

Every error the assistant raises on purpose derives from ``AssistantError``.
Each class carries the exit code the CLI maps it to, in ``cli.main``, the one
place where exceptions become exit codes:

- ``UsageError`` (2): an invalid option or combination of options.
- ``InputError`` (3): bad user input, such as a CSV row, a date or a time zone.
- ``ConfigError`` (4): a missing or invalid configuration file or setting.
- ``AuthError`` (5): no usable Google token, or a revoked one.
- ``GmailError`` (6): Gmail, or the sandbox, failed or rejected a call.
- ``LedgerError`` (7): the ledger database is missing, locked or inconsistent.
- ``SandboxError`` (8): the local Gmail-compatible server could not start or load mail.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base of every error the assistant reports to the user."""

    exit_code = 1


class UsageError(AssistantError):
    exit_code = 2


class InputError(AssistantError):
    exit_code = 3


class ConfigError(AssistantError):
    exit_code = 4


class AuthError(AssistantError):
    exit_code = 5


class GmailError(AssistantError):
    """A Gmail API call failed; ``status`` is the HTTP status when there was one."""

    exit_code = 6

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.status = status
        self.reason = reason


class LedgerError(AssistantError):
    exit_code = 7


class SandboxError(AssistantError):
    exit_code = 8

"""Exit codes of CONTRACT.md and the errors that carry them. Standard library only."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    AUTH = 3
    REJECTED = 4
    RATE_LIMITED = 5
    NETWORK = 6
    INCOMPLETE = 7
    WAIT_TIMEOUT = 124
    SIGINT = 130
    SIGPIPE = 141
    SIGTERM = 143


class LlmcliError(Exception):
    """An error the user can act on: one line of message, an optional hint, an exit code."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str | None = None, exit_code: ExitCode | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(LlmcliError):
    exit_code = ExitCode.USAGE


class ConfigError(LlmcliError):
    exit_code = ExitCode.USAGE


class CredentialsError(LlmcliError):
    """A key that cannot be used (malformed), found before any request is made."""

    exit_code = ExitCode.AUTH


class OutputError(LlmcliError):
    """stdout (or another output) could not be written."""

    exit_code = ExitCode.INTERNAL


# --- errors raised by transports (both raise exactly these) -------------------------------


class TransportError(LlmcliError):
    """A request failed. `host` is always set; `status` and `server_message` when known."""

    def __init__(
        self,
        message: str,
        *,
        host: str = "",
        status: int | None = None,
        server_message: str | None = None,
        hint: str | None = None,
    ):
        super().__init__(message, hint)
        self.host = host
        self.status = status
        self.server_message = server_message


class AuthFailed(TransportError):
    exit_code = ExitCode.AUTH


class RequestRejected(TransportError):
    exit_code = ExitCode.REJECTED


class RateLimited(TransportError):
    exit_code = ExitCode.RATE_LIMITED


class NetworkFailed(TransportError):
    exit_code = ExitCode.NETWORK


class IncompleteAnswer(TransportError):
    """The answer began but did not end properly (cut, stalled, malformed, error event, empty).

    The partial text already delivered to the sink stays where it is; `reason` is the history status
    (`cut` or `error`) the answer should be stored with.
    """

    exit_code = ExitCode.INCOMPLETE

    def __init__(self, message: str, *, reason: str = "cut", **kw):
        super().__init__(message, **kw)
        self.reason = reason


# --- remote jobs (batches, fine-tuning) ---------------------------------------------------


class JobIncomplete(LlmcliError):
    """A remote job ended without doing all its work: some requests failed, or it failed, expired or
    was cancelled."""

    exit_code = ExitCode.INCOMPLETE


class JobRejected(LlmcliError):
    """The provider refused the job's input (a batch that failed validation)."""

    exit_code = ExitCode.REJECTED


class WaitTimedOut(LlmcliError):
    """--timeout-wait passed before the job ended; the job goes on."""

    exit_code = ExitCode.WAIT_TIMEOUT


class Interrupted(LlmcliError):
    """SIGINT or SIGTERM arrived; exit_code is 130 or 143."""

    def __init__(self, signum: int):
        code = ExitCode.SIGTERM if signum == 15 else ExitCode.SIGINT
        super().__init__("interrupted", exit_code=code)
        self.signum = signum


class OutputClosed(LlmcliError):
    """The reader of stdout went away (`| head -1`): quiet, exit 141."""

    exit_code = ExitCode.SIGPIPE

    def __init__(self) -> None:
        super().__init__("output closed")


class SchemaMismatch(LlmcliError):
    """`--schema`: the answer arrived whole but is not JSON the schema accepts (its text stays on stdout)."""

    exit_code = ExitCode.INCOMPLETE

"""What the `eyeflow` command reports when something goes wrong, and its exit code.

The client (`eyeflow_worker.client`) translates every HTTP failure once into an `EyeflowError`;
here such an error only gets the command's own hints (the environment variables to set, `make
up`), so the commands never look at a status code.
"""

from __future__ import annotations

from eyeflow_worker.client import (
    EyeflowError,
    GatewayError,
    InvalidRequest,
    NetworkError,
    Unauthenticated,
)


class CliError(Exception):
    """What the command reports on stderr before exiting with `exit_code`.

    `status` is the HTTP status (None for a network failure or a local problem), `fields` the
    request fields a 422 named, `retryable` whether trying again later may succeed."""

    def __init__(
        self,
        message: str,
        *,
        exit_code: int = 2,
        status: int | None = None,
        fields: tuple[str, ...] = (),
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status
        self.fields = fields
        self.retryable = retryable


def cli_error(error: EyeflowError) -> CliError:
    """The client's error as the command says it."""
    status = error.status if isinstance(error, GatewayError) else None
    fields = error.fields if isinstance(error, InvalidRequest) else ()
    message = error.message
    if isinstance(error, Unauthenticated):
        message = "token refused — set EYEFLOW_TOKEN (or --token)"
    elif isinstance(error, NetworkError) and error.reason == "connect":
        message += ": is the gateway up? (make up)"
    return CliError(message, status=status, fields=fields, retryable=error.retryable)

"""The client's one exception hierarchy. Every failure a caller can see is an `EyeflowError`:

    EyeflowError                      .message, .retryable
    ├── NetworkError                  no answer: cannot connect, timed out, connection broken
    ├── UnexpectedResponse            an answer that is not the JSON the contract promises
    ├── ResultUnavailable             a task's typed result was asked for, but it has none
    └── GatewayError                  the gateway answered an error status: .status, .detail
        ├── InvalidRequest            422: .issues (field, message, type), .fields
        ├── AuthError                 401/403
        │   ├── Unauthenticated       401: no token, or one the gateway does not know
        │   └── Forbidden             403: this token may not act for this tenant / do this
        ├── NotFound                  404 (another tenant's task is a 404 too)
        ├── Conflict                  409: .task, the task as it now stands when the body has it
        ├── PayloadTooLarge           413
        ├── RateLimited               429: .retry_after (seconds), retryable
        └── Unavailable               5xx: Redis/the broker unreachable (503), a proxy's 502/504;
                                      .retry_after, retryable

`retryable` says whether the same request may succeed later unchanged. No message, repr or
attribute carries the token: messages are built from the gateway's `detail` and the request's
description only, and the boundary (`boundary.py`) masks the token should an answer echo it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from eyeflow_worker.client.models import Task, TaskError


class EyeflowError(Exception):
    """Base of every error the client raises."""

    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class NetworkError(EyeflowError):
    """The gateway could not be reached or did not answer (nothing is known about the request:
    a submission may or may not have been accepted — resend it with the same Idempotency-Key)."""

    retryable = True

    def __init__(
        self, message: str, *, url: str, reason: Literal["connect", "timeout", "broken"]
    ) -> None:
        super().__init__(message)
        self.url = url
        self.reason = reason  # connect: nothing was sent; timeout, broken: it may have been

    @property
    def timed_out(self) -> bool:
        return self.reason == "timeout"


class UnexpectedResponse(EyeflowError):
    """The gateway answered, but not with what the contract describes (not JSON, another
    shape): a proxy in the way, or a gateway of another version."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class ResultUnavailable(EyeflowError):
    """A typed result was asked of a task that has none: it failed, was cancelled, is not done
    yet, or is of another kind. `error` is the task's own error when it failed."""

    def __init__(self, message: str, *, task: Task) -> None:
        super().__init__(message)
        self.task = task

    @property
    def error(self) -> TaskError | None:
        return self.task.error


class GatewayError(EyeflowError):
    """The gateway answered with an error status (the base of the per-status classes; a status
    without a class of its own, such as 500, is raised as this)."""

    def __init__(self, message: str, *, status: int, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail
        self.retryable = status >= 500


@dataclass(frozen=True)
class Issue:
    """One problem a 422 names: `field` is its location without the `body`/`query`/`header`
    prefix (`intents.3`, `mode`, `X-User-ID`), `location` the whole one."""

    field: str
    message: str
    type: str = ""
    location: tuple[str | int, ...] = ()


class InvalidRequest(GatewayError):
    """422: the request was refused as it stands; `issues` say where and why."""

    def __init__(self, message: str, *, issues: tuple[Issue, ...], detail: Any = None) -> None:
        super().__init__(message, status=422, detail=detail)
        self.issues = issues

    @property
    def fields(self) -> tuple[str, ...]:
        """The top-level request fields named (`intents`, `mode`, …), in order, once each."""
        return tuple(dict.fromkeys(issue.field.split(".")[0] for issue in self.issues))


class AuthError(GatewayError):
    """401 or 403."""


class Unauthenticated(AuthError):
    """401: no token, or one the gateway refuses (expired, badly signed, unknown)."""


class Forbidden(AuthError):
    """403: the token is valid but may not do this (another tenant, an operator action)."""


class NotFound(GatewayError):
    """404: no such task for this tenant, or a batch route asked of a task that is no batch."""


class Conflict(GatewayError):
    """409: the task had already finished (cancel), a batch still runs (retry), or an
    Idempotency-Key was reused with another body. `task` is the task as it now stands when the
    gateway sent it. One 409 is not final: the same Idempotency-Key while its first request is
    still being enqueued — the gateway sends `Retry-After` then, and the error is `retryable`
    (send the same request again after `retry_after` seconds)."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 409,
        detail: Any = None,
        task: Task | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, detail=detail)
        self.task = task
        self.retry_after = retry_after
        self.retryable = retry_after is not None


class PayloadTooLarge(GatewayError):
    """413: the body is over the gateway's MAX_BODY_BYTES."""


class _Throttled(GatewayError):
    def __init__(
        self, message: str, *, status: int, detail: Any = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status, detail=detail)
        self.retry_after = retry_after
        self.retryable = True


class RateLimited(_Throttled):
    """429: over the tenant's submission rate; nothing was enqueued. Retry after
    `retry_after` seconds (None when the gateway did not say)."""


class Unavailable(_Throttled):
    """5xx from the gateway's dependencies: Redis or the broker cannot be reached (503; nothing
    was enqueued), or a proxy in front of it failed (502, 504)."""

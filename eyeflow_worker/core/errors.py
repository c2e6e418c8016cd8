"""The fleet's own error hierarchy.

Third-party exceptions (SDKs, httpx, redis) are translated into these once, at the boundary
that talks to the third party. Every error carries a stable `code` (the one callers see in a
task's `error.code`), whether retrying could help, and how long to wait first when the other
side said so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eyeflow_worker.core.llm import RateLimitObservation


class EyeflowError(Exception):
    code: str = "internal_error"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


# --- providers -------------------------------------------------------------------------------


class ProviderError(EyeflowError):
    """Anything that went wrong talking to an LLM provider.

    `rate_limits`: what the error answer's rate-limit headers said (None when it had none, or
    there was no answer), for the fleet-wide limiter to learn from.
    """

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        retry_after: float | None = None,
        rate_limits: RateLimitObservation | None = None,
    ) -> None:
        super().__init__(message, details=details, retry_after=retry_after)
        self.rate_limits = rate_limits


class ProviderUnavailable(ProviderError):
    """The provider could not answer now (5xx, overloaded, connection refused): retry later."""

    code = "provider_unavailable"
    retryable = True


class ProviderRateLimited(ProviderUnavailable):
    code = "rate_limited"


class ProviderTimeout(ProviderUnavailable):
    code = "timeout"


class ProviderAuthError(ProviderError):
    """The credentials were refused (401/403): retrying with the same key cannot help."""

    code = "provider_auth_failed"


class ProviderRequestError(ProviderError):
    """The provider refused the request itself (400/404/422): a bug or a wrong model name."""

    code = "provider_bad_request"


class InvalidLLMOutput(EyeflowError):
    """The model answered, but not with something we can use, even after repair attempts."""

    code = "invalid_llm_output"


# --- configuration ---------------------------------------------------------------------------


class ConfigMissing(EyeflowError):
    """No LLM configuration exists for the tenant (never fetched, nothing to fall back on)."""

    code = "config_missing"


class ConfigInvalid(EyeflowError):
    code = "config_invalid"


class UpstreamUnavailable(EyeflowError):
    """NestJS could not be reached or answered 5xx."""

    code = "upstream_unavailable"
    retryable = True


# --- jobs -------------------------------------------------------------------------------------


class JobTimeout(EyeflowError):
    """The job ran past its own time limit (TASK_SOFT_TIME_LIMIT_SECONDS)."""

    code = "timeout"


class InvalidInput(EyeflowError):
    """Input that passed the gateway's schema but cannot be processed (e.g. a bad condition)."""

    code = "invalid_input"

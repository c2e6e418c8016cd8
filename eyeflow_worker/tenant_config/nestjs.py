"""The one HTTP client to NestJS: a tenant's default LLM configuration and aggregated context.

Every answer is translated here, once, into a value or one of the fleet's errors:

- no default configuration (404, empty body)   → `ConfigMissing`, saying how to create one;
- NestJS unreachable, timing out or 5xx         → `UpstreamUnavailable` (after bounded retries);
- a configuration that does not validate        → `ConfigInvalid`, naming the field(s).

API keys never appear in a message, a log line or an exception's details.
"""

from __future__ import annotations

import logging
import ssl
from functools import lru_cache
from typing import Annotated, Any

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from eyeflow_worker.core.catalogue_shapes import Loc, describe_loc, shape_problems
from eyeflow_worker.core.egress import EgressPolicy, llm_policy, url_shape_problem
from eyeflow_worker.core.errors import ConfigInvalid, ConfigMissing, UpstreamUnavailable
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import Settings

logger = logging.getLogger(__name__)

LLM_CONFIG_DEFAULT_PATH = "/api/llm-config/default"
# Keys a NestJS response envelope may carry beside `data` (`{"success": true, "data": {...}}`).
_ENVELOPE_KEYS = {"data", "success", "message", "statusCode", "timestamp"}

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _ApiConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    apiKey: str | None = None
    apiUrl: str | None = None

    @field_validator("apiUrl")
    @classmethod
    def _allowed_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        """An http(s) URL the egress policy (`LLM_ALLOWED_API_HOSTS`, given as the validation
        context) does not refuse outright; calls to it are checked again where they connect."""
        if value is None or value.strip() == "":
            return None
        value = value.strip()
        policy = (info.context or {}).get("egress")
        if isinstance(policy, EgressPolicy):
            problem = policy.url_problem(value)
        else:
            problem = url_shape_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value.rstrip("/")


class NestLLMConfig(BaseModel):
    """The seed's config object, as NestJS serves it (camelCase); unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    provider: NonEmpty
    model: NonEmpty
    temperature: float | None = Field(default=None, ge=0, le=2)
    maxTokens: int | None = Field(default=None, gt=0)
    isDefault: bool | None = None
    apiConfig: _ApiConfig | None = None

    def to_provider_config(self, settings: Settings) -> ProviderConfig:
        api = self.apiConfig or _ApiConfig()
        return ProviderConfig(
            provider=self.provider.lower(),
            model=self.model,
            temperature=settings.llm_temperature if self.temperature is None else self.temperature,
            max_tokens=settings.llm_max_tokens if self.maxTokens is None else self.maxTokens,
            api_key=SecretStr(api.apiKey) if api.apiKey else None,
            api_url=api.apiUrl,
            request_timeout_seconds=settings.llm_request_timeout_seconds,
        )


class _Transient(Exception):
    """A failure worth retrying: connection error, timeout or 5xx. `cause` is a short label with
    no URL and no tenant in it (an exception class, `timeout`, `HTTP 503`): what the fleet's
    /health may show about the failure (`core.fleet_health`)."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


class NestJSClient:
    """Talks to `settings.nestjs_server_url`; thread-safe, one connection pool per instance."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        backoff_seconds: float = 0.25,
    ) -> None:
        if not settings.nestjs_server_url:
            raise ConfigInvalid("NestJSClient needs NESTJS_SERVER_URL to be set")
        self.settings = settings
        self.base_url = settings.nestjs_server_url.rstrip("/")
        self._backoff = backoff_seconds
        self._client = httpx.Client(
            timeout=httpx.Timeout(settings.nestjs_timeout_seconds),
            headers={"Accept": "application/json", "User-Agent": "eyeflow-worker-fleet"},
            transport=transport,
            verify=_ssl_context(),
            # The operator's own server: outside the egress policy, but redirects stay off (httpx's
            # default, said out loud) — a fetch goes to NESTJS_SERVER_URL and nowhere else.
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    # --- public --------------------------------------------------------------------------------

    def fetch_llm_config(self, tenant: str) -> ProviderConfig:
        """The tenant's default LLM configuration (`GET /api/llm-config/default`)."""
        url = self.base_url + LLM_CONFIG_DEFAULT_PATH
        response = self._get(url, tenant, "LLM config")
        missing = ConfigMissing(
            f"No default LLM configuration found for tenant '{tenant}' in NestJS at {url}. "
            f"Fix: create one with POST {self.base_url}/api/llm-config (header X-User-ID: "
            f'{tenant}, body with "provider", "model", "isDefault": true and '
            '"apiConfig": {"apiKey": ...}), then call POST /config/refresh.',
            details={"tenant": tenant, "url": url},
        )
        if response.status_code == 404:
            raise missing
        body = _unwrap(self._json(response, url, tenant, "LLM configuration"))
        if body is None or body == {}:
            raise missing
        if not isinstance(body, dict):
            raise ConfigInvalid(
                f"Invalid LLM configuration from NestJS at {url} for tenant '{tenant}': expected "
                f"a JSON object, got {type(body).__name__}",
                details={"tenant": tenant, "fields": []},
            )
        try:
            parsed = NestLLMConfig.model_validate(
                body, context={"egress": llm_policy(self.settings)}
            )
        except ValidationError as exc:
            raise _invalid(exc, url, tenant) from None
        if parsed.isDefault is False:
            logger.warning(
                "NestJS returned a configuration not marked isDefault for tenant %r; using it",
                tenant,
            )
        config = parsed.to_provider_config(self.settings)
        logger.info(
            "Fetched LLM config for tenant %r from NestJS: provider=%s model=%s key=%s",
            tenant,
            config.provider,
            config.model,
            "set" if config.api_key is not None else "none",
        )
        return config

    def fetch_aggregated_context(self, tenant: str) -> dict[str, Any] | None:
        """The tenant's aggregated capability context, or None when NestJS has none (404/empty)."""
        path = self.settings.nestjs_context_path
        url = self.base_url + (path if path.startswith("/") else "/" + path)
        response = self._get(url, tenant, "aggregated context")
        if response.status_code == 404:
            return None
        limit = self.settings.max_catalogue_bytes
        if len(response.content) > limit:
            raise _invalid_context(
                url, path, tenant, [((), f"{len(response.content)} bytes, over "
                                         f"MAX_CATALOGUE_BYTES ({limit})")]
            )  # fmt: skip
        body = _unwrap(self._json(response, url, tenant, "aggregated context"))
        if body is None:
            return None
        problems = shape_problems(body)
        if problems or not isinstance(body, dict):
            raise _invalid_context(url, path, tenant, problems)
        logger.info("Fetched aggregated context for tenant %r (%d keys)", tenant, len(body))
        return body

    # --- plumbing ------------------------------------------------------------------------------

    def _headers(self, tenant: str) -> dict[str, str]:
        headers = {"X-User-ID": tenant}
        if self.settings.nestjs_service_token is not None:
            token = self.settings.nestjs_service_token.get_secret_value()
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _get(self, url: str, tenant: str, what: str) -> httpx.Response:
        """GET with bounded retries on transient failures; other 4xx than 404 are errors."""
        attempts = max(1, self.settings.nestjs_max_attempts)

        def attempt() -> httpx.Response:
            try:
                response = self._client.get(url, headers=self._headers(tenant))
            except httpx.TimeoutException as exc:
                timeout = self.settings.nestjs_timeout_seconds
                raise _Transient(
                    f"timed out after {timeout:g}s ({type(exc).__name__})", "timeout"
                ) from None
            except httpx.TransportError as exc:
                raise _Transient(f"{type(exc).__name__}: {exc}", type(exc).__name__) from None
            if response.status_code >= 500:
                raise _Transient(f"HTTP {response.status_code}", f"HTTP {response.status_code}")
            return response

        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=self._backoff, max=max(self._backoff * 8, 0.0)),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            response = retrying(attempt)
        except _Transient as exc:
            raise UpstreamUnavailable(
                f"Failed to fetch {what} from NestJS at {url}: {exc} "
                f"(tenant '{tenant}', {attempts} attempt{'s' if attempts > 1 else ''}). "
                "Check that NestJS is running and that NESTJS_SERVER_URL points to it.",
                details={"tenant": tenant, "url": url, "cause": exc.cause},
            ) from None
        if response.status_code in (401, 403):
            error = UpstreamUnavailable(
                f"NestJS at {url} refused the request for {what} (HTTP {response.status_code}, "
                f"tenant '{tenant}'): check NESTJS_SERVICE_TOKEN",
                details={
                    "tenant": tenant,
                    "url": url,
                    "status": response.status_code,
                    "cause": f"HTTP {response.status_code}",
                },
            )
            error.retryable = False
            raise error
        if response.status_code >= 400 and response.status_code != 404:
            error = UpstreamUnavailable(
                f"Failed to fetch {what} from NestJS at {url}: HTTP {response.status_code} "
                f"(tenant '{tenant}')",
                details={
                    "tenant": tenant,
                    "url": url,
                    "status": response.status_code,
                    "cause": f"HTTP {response.status_code}",
                },
            )
            error.retryable = False
            raise error
        return response

    @staticmethod
    def _json(response: httpx.Response, url: str, tenant: str, what: str) -> Any:
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise ConfigInvalid(
                f"Invalid {what} from NestJS at {url} for tenant '{tenant}': the body is not JSON",
                details={"tenant": tenant, "fields": ["<root>"]},
            ) from None


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """Built once per process: loading the CA bundle costs ~0.25 s per client otherwise."""
    return httpx.create_ssl_context()


def _unwrap(body: Any) -> Any:
    """Accept the object bare or in a NestJS envelope (`{"data": ...}`)."""
    if isinstance(body, dict) and "data" in body and set(body) <= _ENVELOPE_KEYS:
        return body["data"]
    return body


def _invalid(exc: ValidationError, url: str, tenant: str) -> ConfigInvalid:
    problems: list[str] = []
    fields: list[str] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        field = ".".join(str(part) for part in error["loc"]) or "<root>"
        fields.append(field)
        problems.append(f"{field}: {error['msg']}")
    return ConfigInvalid(
        f"Invalid LLM configuration from NestJS at {url} for tenant '{tenant}': "
        + "; ".join(problems)
        + ". Fix it in NestJS (PUT /api/llm-config/:id), then call POST /config/refresh.",
        details={"tenant": tenant, "fields": fields},
    )


def _invalid_context(
    url: str, path: str, tenant: str, problems: list[tuple[Loc, str]]
) -> ConfigInvalid:
    """An aggregated context no reading can use: the job fails `config_invalid` (never falls back
    to the built-in sample, never calls a provider), naming the NestJS path and the fields."""
    fields = [describe_loc(loc) for loc, _ in problems] or ["<root>"]
    what = "; ".join(f"{describe_loc(loc)}: {message}" for loc, message in problems)
    return ConfigInvalid(
        f"Invalid aggregated context from NestJS at {url} for tenant '{tenant}': "
        f"{what or 'expected a JSON object'}. Fix what NESTJS_CONTEXT_PATH ({path}) serves "
        "(the shapes: GET /schemas/aggregated-context), then call POST /cache/invalidate.",
        details={"tenant": tenant, "url": url, "path": path, "fields": fields},
    )

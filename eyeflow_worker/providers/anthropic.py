"""Anthropic Claude through the official SDK's Messages API.

The long, stable `system` prefix is sent as one text block marked `cache_control: ephemeral`,
so repeated jobs for a tenant read it from the prompt cache. The SDK's own retries are off (the
fleet's retry loop in `retry.py` decides). `temperature` is deliberately not sent: SDK 2.x speaks
API version 2026-10-21, which answers 400 to any sampling parameter (the SDK no longer even
accepts one). The call goes through `with_raw_response` so the answer's rate-limit headers reach
the fleet's limiter (as a `RateLimitObservation`, see `ratelimit_headers.py`).
"""

from __future__ import annotations

import time

import anthropic
import httpx2
from anthropic.types import CacheControlEphemeralParam, MessageParam
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming

from eyeflow_worker.core.egress import llm_policy, refusal_in
from eyeflow_worker.core.egress_transport import guarded_sdk_client
from eyeflow_worker.core.errors import ProviderAuthError, ProviderError
from eyeflow_worker.core.llm import (
    LLMRequest,
    LLMResponse,
    Message,
    RateLimitObservation,
    Usage,
)
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.providers.clients import cached_client, client_key
from eyeflow_worker.providers.http_errors import (
    connection_error,
    egress_refused,
    error_from_status,
    malformed_reason,
    malformed_response,
    missing_key_message,
    parse_response,
    redact,
    refuse_unusable_url,
    timeout_error,
    token_count,
)
from eyeflow_worker.providers.pricing import CacheTTL, cost_usd
from eyeflow_worker.providers.ratelimit_headers import parse_rate_limits

DEFAULT_BASE_URL = "https://api.anthropic.com"


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, config: ProviderConfig, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.base_url = config.api_url or DEFAULT_BASE_URL

    def complete(self, request: LLMRequest) -> LLMResponse:
        client = self._client()
        started = time.monotonic()
        error: ProviderError | None = None
        rate_limits: RateLimitObservation | None = None
        try:
            raw = client.messages.with_raw_response.create(**message_params(self.config, request))
            rate_limits = parse_rate_limits(raw.headers)
            message = raw.parse()
        except anthropic.AnthropicError as exc:
            interrupt = foreign_cause(exc)
            if interrupt is not None:
                raise interrupt from None
            error = self._translate(exc)
        except ValueError as exc:  # the SDK could not decode a 200 answer (invalid JSON)
            error = malformed_response(self.name, malformed_reason(exc, secret_of(self.config)))
        if error is not None:
            if error.rate_limits is None:
                error.rate_limits = rate_limits  # a 200 we could not decode still said them
            raise error  # outside the `except`: no SDK object (request, headers) rides along
        latency_ms = int((time.monotonic() - started) * 1000)
        return parse_response(
            self.name,
            lambda: self._response(message, latency_ms, rate_limits),
            secret_of(self.config),
        )

    def _response(
        self,
        message: anthropic.types.Message,
        latency_ms: int,
        rate_limits: RateLimitObservation | None,
    ) -> LLMResponse:
        return read_message(
            message,
            default_model=self.config.model,
            settings=self.settings,
            latency_ms=latency_ms,
            rate_limits=rate_limits,
        )

    def _client(self) -> anthropic.Anthropic:
        return make_client(self.config, self.base_url, self.settings)

    def _translate(self, exc: anthropic.AnthropicError) -> ProviderError:
        return translate_anthropic_error(
            exc, secret=secret_of(self.config), timeout_seconds=self.config.request_timeout_seconds
        )


def message_params(
    config: ProviderConfig, request: LLMRequest, *, cache_ttl: CacheTTL | None = None
) -> MessageCreateParamsNonStreaming:
    """The Messages API parameters for `request`: what a realtime call sends, and each request
    of a Message Batch (with `cache_ttl="1h"` there: a batch can take longer than 5 minutes to
    reach its later items, and the shared prefix should still be cached then)."""
    cache_control: CacheControlEphemeralParam = {"type": "ephemeral"}
    if cache_ttl is not None:
        cache_control["ttl"] = cache_ttl
    return {
        "model": config.model,
        "max_tokens": config.max_tokens,
        "system": [{"type": "text", "text": request.system, "cache_control": cache_control}],
        "messages": [_message(m) for m in request.messages],
    }


def read_message(
    message: anthropic.types.Message,
    *,
    default_model: str,
    settings: Settings,
    latency_ms: int,
    rate_limits: RateLimitObservation | None = None,
    batch: bool = False,
) -> LLMResponse:
    """The answer read from `message` (a realtime answer, or a batch result priced at the batch
    rate with 1-hour cache writes); what a malformed one raises is translated by the caller
    through `parse_response` (the SDK does not validate: any field may hold anything)."""
    if not isinstance(message.content, list):
        raise TypeError(f"content of type {type(message.content).__name__}")
    texts = [block.text for block in message.content if block.type == "text"]
    if not all(isinstance(text, str) for text in texts):
        raise TypeError("a text block without text")
    text = "".join(texts)
    raw = message.usage
    usage = Usage()
    if raw is not None:
        usage = Usage(
            input_tokens=token_count(raw.input_tokens),
            output_tokens=token_count(raw.output_tokens),
            cache_read_input_tokens=token_count(raw.cache_read_input_tokens),
            cache_creation_input_tokens=token_count(raw.cache_creation_input_tokens),
        )
    model = str(message.model or default_model)
    name = AnthropicProvider.name
    cost = (
        cost_usd(name, model, usage, settings, batch=True, cache_write_ttl="1h")
        if batch
        else cost_usd(name, model, usage, settings)
    )
    return LLMResponse(
        text=text,
        provider=name,
        model=model,
        usage=usage,
        latency_ms=latency_ms,
        cost_usd=cost,
        rate_limits=rate_limits,
    )


def make_client(config: ProviderConfig, base_url: str, settings: Settings) -> anthropic.Anthropic:
    """The (process-cached) SDK client for `config`: its own retries off, its connections
    through the egress guard (`LLM_ALLOWED_API_HOSTS`)."""
    api_key = config.api_key
    if api_key is None or not api_key.get_secret_value():
        name = AnthropicProvider.name
        raise ProviderAuthError(missing_key_message(name), details={"provider": name})
    refuse_unusable_url(AnthropicProvider.name, base_url)
    timeout = config.request_timeout_seconds
    policy = llm_policy(settings)
    key = client_key(AnthropicProvider.name, base_url, api_key, timeout, policy)
    return cached_client(
        key,
        lambda: anthropic.Anthropic(
            api_key=api_key.get_secret_value(),
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            http_client=guarded_sdk_client(policy, timeout=timeout),
        ),
    )


def translate_anthropic_error(
    exc: anthropic.AnthropicError, *, secret: str | None, timeout_seconds: float
) -> ProviderError:
    """The one place an Anthropic SDK exception becomes a fleet error."""
    provider = AnthropicProvider.name
    if isinstance(exc, anthropic.APITimeoutError):
        return timeout_error(provider, timeout_seconds)
    if isinstance(exc, anthropic.APIConnectionError):
        refusal = refusal_in(exc)
        if refusal is not None:
            return egress_refused(provider, refusal)
        return connection_error(provider, redact(str(exc), secret))
    if isinstance(exc, anthropic.APIStatusError):
        # The error object's own message only: a body that is no Anthropic error is not shown.
        message = exc.api_message if isinstance(exc.api_message, str) else None
        message = message or f"HTTP {exc.status_code}"
        return error_from_status(
            provider,
            exc.status_code,
            redact(message, secret),
            exc.response.headers,
            overloaded=exc.type == "overloaded_error",
        )
    return ProviderError(
        redact(f"{provider} client error: {type(exc).__name__}: {exc}", secret),
        details={"provider": provider},
    )


def foreign_cause(exc: anthropic.AnthropicError) -> BaseException | None:
    """What the SDK wrapped as a "connection error" when it was no network failure at all.

    The SDK turns *any* exception raised while sending into `APIConnectionError` — including
    Celery's `SoftTimeLimitExceeded` firing mid-request. That must reach the job as itself
    (a time-limit, not a retryable outage), so it is handed back unwrapped.
    """
    cause = exc.__cause__
    if not isinstance(exc, anthropic.APIConnectionError) or cause is None:
        return None
    if isinstance(cause, httpx2.HTTPError | OSError):
        return None
    return cause


def _message(message: Message) -> MessageParam:
    if message.role == "assistant":
        return {"role": "assistant", "content": message.content}
    return {"role": "user", "content": message.content}


def secret_of(config: ProviderConfig) -> str | None:
    return config.api_key.get_secret_value() if config.api_key is not None else None

"""Chat Completions through the official `openai` SDK: OpenAI itself, and any server speaking its
wire format (llama.cpp's `llama-server` subclasses this in `llamacpp.py`).

Structured output: the request's JSON schema goes out as `response_format` `json_schema`
(strict-mode converted for OpenAI, see `strict_schema.py`). When a server refuses that
(an error mentioning `response_format`/`json_schema`), the call is repeated at once with the
next, looser format, and the refusal is remembered for that server and model for the life of the
process. Likewise a model that does not support a custom `temperature` at all (OpenAI's
reasoning models: "Unsupported value ... Only the default (1) value is supported") is asked again
without one, once per process. A 400 that refuses the *value* (out of range for that server) is
not remembered — that is one tenant's configuration, not the model's — and fails the call with a
`ProviderRequestError` naming the field.

The call goes through `with_raw_response` so the answer's rate-limit headers reach the fleet's
limiter (as a `RateLimitObservation`, see `ratelimit_headers.py`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import openai
from openai.types.chat import ChatCompletion

from eyeflow_worker.core.egress import llm_policy, refusal_in
from eyeflow_worker.core.egress_transport import guarded_sdk_client
from eyeflow_worker.core.errors import ProviderAuthError, ProviderError, ProviderRequestError
from eyeflow_worker.core.llm import LLMRequest, LLMResponse, RateLimitObservation, Usage
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.provider_catalogue import PROVIDER_SPECS
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
from eyeflow_worker.providers.pricing import cost_usd
from eyeflow_worker.providers.ratelimit_headers import parse_rate_limits
from eyeflow_worker.providers.strict_schema import to_strict_schema

log = logging.getLogger(__name__)

SCHEMA_NAME = "workflow_rules"
# Sent when a keyless local server is used: the SDK refuses to build a client without a key.
_NO_KEY = "no-key-required"

Format = tuple[str, dict[str, Any]]
JSON_OBJECT: Format = ("json_object", {"type": "json_object"})

# How servers say a parameter is not supported at all (as opposed to a value out of range).
_UNSUPPORTED = re.compile(
    r"unsupported (parameter|value)|not supported|does not support|only the default"
    r"|unrecognized (request argument|parameter)|unknown (parameter|field)"
)

# (provider, base_url, model, what) refused by that server; shared by every job in the process.
_refused: set[tuple[str, str, str, str]] = set()
_refused_lock = threading.Lock()


class OpenAICompatibleProvider:
    """Shared Chat Completions logic; subclasses set the class attributes."""

    name: str
    default_base_url: ClassVar[str]
    max_tokens_param: ClassVar[str]

    def __init__(self, config: ProviderConfig, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.base_url = config.api_url or self.default_base_url

    # --- what differs between servers --------------------------------------------------------

    def response_formats(self, schema: Mapping[str, Any] | None) -> list[Format]:
        """(label, `response_format`) pairs to try, best first."""
        raise NotImplementedError

    # --- the request ---------------------------------------------------------------------------

    def usable_formats(self, request: LLMRequest) -> list[Format]:
        """The response formats to try for `request`, best first, minus those this server and
        model refused earlier in this process."""
        return [
            (label, fmt)
            for label, fmt in self.response_formats(request.json_schema)
            if not self._is_refused(f"format:{label}")
        ] or [JSON_OBJECT]

    def chat_params(
        self, request: LLMRequest, response_format: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The Chat Completions parameters for `request`: what a realtime call sends, and the
        `body` of each line of a Batch API input file. `response_format`: the best usable
        one when omitted."""
        if response_format is None:
            response_format = self.usable_formats(request)[0][1]
        messages: list[dict[str, str]] = [{"role": "system", "content": request.system}]
        messages += [{"role": m.role, "content": m.content} for m in request.messages]
        params: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            self.max_tokens_param: self.config.max_tokens,
            "response_format": response_format,
        }
        if not self._is_refused("temperature"):
            params["temperature"] = self.config.temperature
        return params

    # --- the call -----------------------------------------------------------------------------

    def complete(self, request: LLMRequest) -> LLMResponse:
        client = self._client()
        formats = self.usable_formats(request)
        started = time.monotonic()
        while True:
            params = self.chat_params(request, formats[0][1])
            error: ProviderError | None = None
            refused: str | None = None
            rate_limits: RateLimitObservation | None = None
            try:
                raw = client.chat.completions.with_raw_response.create(**params)
                rate_limits = parse_rate_limits(raw.headers)
                completion = raw.parse()
            except openai.OpenAIError as exc:
                refused = _refused_feature(exc, params, formats)
                if refused is None:
                    error = self._translate(exc)
                    if _temperature_refused(exc, params):
                        error = ProviderRequestError(
                            f"{self.name} refused temperature={self.config.temperature:g} for "
                            f"{self.config.model}: {error.message}",
                            details={**(error.details or {}), "field": "temperature"},
                        )
            except ValueError as exc:  # the SDK could not decode a 200 answer (invalid JSON)
                error = malformed_response(self.name, malformed_reason(exc, self._secret()))
            if error is not None:
                if error.rate_limits is None:
                    error.rate_limits = rate_limits  # a 200 we could not decode still said them
                raise error  # outside the `except`: no SDK object (request, headers) rides along
            if refused is None:
                break
            log.info(
                "%s (%s) refused %s; asking again without it", self.name, self.config.model, refused
            )
            self._remember(refused)
            if refused.startswith("format:"):
                formats.pop(0)
        latency_ms = int((time.monotonic() - started) * 1000)
        return parse_response(
            self.name,
            lambda: self._response(completion, latency_ms, rate_limits),
            self._secret(),
        )

    def _response(
        self,
        completion: ChatCompletion,
        latency_ms: int,
        rate_limits: RateLimitObservation | None,
        *,
        batch: bool = False,
    ) -> LLMResponse:
        """The answer read from `completion` (`batch`: a Batch API result, priced at the batch
        rate); what a malformed one raises is translated by `parse_response` (the SDK does not
        validate: any field may hold anything)."""
        if not isinstance(completion.choices, list) or not completion.choices:
            raise ValueError("no choices")
        message = completion.choices[0].message
        if message.content is None and message.refusal:
            raise ProviderRequestError(
                f"{self.name} refused to answer: {message.refusal}", details={"provider": self.name}
            )
        usage = Usage()
        if completion.usage is not None:
            details = completion.usage.prompt_tokens_details
            cached = token_count(details.cached_tokens) if details is not None else 0
            usage = Usage(
                input_tokens=max(0, token_count(completion.usage.prompt_tokens) - cached),
                output_tokens=token_count(completion.usage.completion_tokens),
                cache_read_input_tokens=cached,
            )
        model = str(completion.model or self.config.model)
        content = message.content
        if content is not None and not isinstance(content, str):
            raise TypeError(f"content of type {type(content).__name__}")
        return LLMResponse(
            text=content or "",
            provider=self.name,
            model=model,
            usage=usage,
            latency_ms=latency_ms,
            cost_usd=cost_usd(self.name, model, usage, self.settings, batch=batch),
            rate_limits=rate_limits,
        )

    def batch_response(self, completion: ChatCompletion) -> LLMResponse:
        """A Batch API result line's `body`, read like a realtime answer but at the batch rate;
        raises what `_response` raises (the caller translates)."""
        return self._response(completion, 0, None, batch=True)

    # --- refusals of optional request features ------------------------------------------------

    def _key(self, what: str) -> tuple[str, str, str, str]:
        return (self.name, self.base_url, self.config.model, what)

    def _is_refused(self, what: str) -> bool:
        return self._key(what) in _refused

    def _remember(self, what: str) -> None:
        with _refused_lock:
            _refused.add(self._key(what))

    # --- client and errors --------------------------------------------------------------------

    def _client(self) -> openai.OpenAI:
        api_key = self.config.api_key
        if api_key is None or not api_key.get_secret_value():
            if PROVIDER_SPECS[self.name].requires_api_key:
                raise ProviderAuthError(
                    missing_key_message(self.name), details={"provider": self.name}
                )
            api_key = None
        refuse_unusable_url(self.name, self.base_url)
        timeout = self.config.request_timeout_seconds
        raw_key = api_key.get_secret_value() if api_key is not None else _NO_KEY
        policy = llm_policy(self.settings)  # connections through the egress guard
        return cached_client(
            client_key(self.name, self.base_url, api_key, timeout, policy),
            lambda: openai.OpenAI(
                api_key=raw_key,
                base_url=self.base_url,
                timeout=timeout,
                max_retries=0,
                http_client=guarded_sdk_client(policy, timeout=timeout),
            ),
        )

    def _secret(self) -> str | None:
        return self.config.api_key.get_secret_value() if self.config.api_key else None

    def _translate(self, exc: openai.OpenAIError) -> ProviderError:
        return translate_openai_error(
            exc,
            provider=self.name,
            secret=self._secret(),
            timeout_seconds=self.config.request_timeout_seconds,
        )


def _refused_feature(
    exc: openai.OpenAIError, params: Mapping[str, Any], formats: list[Format]
) -> str | None:
    """Which optional feature the server refused, when that is what this error says."""
    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422, 500):
        return None
    text = f"{exc.message} {exc.param or ''}".lower()
    if len(formats) > 1 and ("response_format" in text or "json_schema" in text):
        return f"format:{formats[0][0]}"
    if _temperature_refused(exc, params) and _UNSUPPORTED.search(text):
        return "temperature"
    return None


def _temperature_refused(exc: openai.OpenAIError, params: Mapping[str, Any]) -> bool:
    """A 400 about the `temperature` we sent (unsupported, or a value out of range)."""
    if not isinstance(exc, openai.APIStatusError) or exc.status_code != 400:
        return False
    return "temperature" in params and "temperature" in f"{exc.message} {exc.param or ''}".lower()


def translate_openai_error(
    exc: openai.OpenAIError, *, provider: str, secret: str | None, timeout_seconds: float
) -> ProviderError:
    """The one place an `openai` SDK exception becomes a fleet error."""
    if isinstance(exc, openai.APITimeoutError):
        return timeout_error(provider, timeout_seconds)
    if isinstance(exc, openai.APIConnectionError):
        refusal = refusal_in(exc)
        if refusal is not None:
            return egress_refused(provider, refusal)
        return connection_error(provider, redact(str(exc), secret))
    if isinstance(exc, openai.APIStatusError):
        # The error object's own message only (the SDK hands over the body's `error` object, or
        # the body itself): a body that is no JSON error object is not shown.
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message.strip():
            message = f"HTTP {exc.status_code}"
        return error_from_status(
            provider, exc.status_code, redact(message, secret), exc.response.headers
        )
    return ProviderError(
        redact(f"{provider} client error: {type(exc).__name__}: {exc}", secret),
        details={"provider": provider},
    )


class OpenAIProvider(OpenAICompatibleProvider):
    name = "openai"
    default_base_url = "https://api.openai.com/v1"
    max_tokens_param = "max_completion_tokens"

    def response_formats(self, schema: Mapping[str, Any] | None) -> list[Format]:
        if schema is None:
            return [JSON_OBJECT]
        strict = to_strict_schema(schema)
        json_schema = {
            "name": SCHEMA_NAME,
            "schema": strict if strict is not None else dict(schema),
            "strict": strict is not None,
        }
        return [("json_schema", {"type": "json_schema", "json_schema": json_schema}), JSON_OBJECT]

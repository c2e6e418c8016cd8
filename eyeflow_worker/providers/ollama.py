"""Ollama through its HTTP API: `POST /api/chat`, non-streaming, with the JSON schema as `format`.

Ollama needs no key; one is sent as a bearer token only when configured (for an Ollama behind an
authenticating proxy).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import httpx

from eyeflow_worker.core.egress import llm_policy, refusal_in
from eyeflow_worker.core.egress_transport import guarded_client
from eyeflow_worker.core.errors import ProviderError
from eyeflow_worker.core.llm import LLMRequest, LLMResponse, Usage
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.providers.clients import cached_client, client_key
from eyeflow_worker.providers.http_errors import (
    connection_error,
    egress_refused,
    error_from_status,
    malformed_reason,
    malformed_response,
    parse_response,
    redact,
    refuse_unusable_url,
    timeout_error,
    token_count,
)
from eyeflow_worker.providers.pricing import cost_usd

DEFAULT_BASE_URL = "http://127.0.0.1:11434"


class OllamaProvider:
    name = "ollama"
    requires_api_key: ClassVar[bool] = False

    def __init__(self, config: ProviderConfig, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.base_url = (config.api_url or DEFAULT_BASE_URL).rstrip("/")

    def complete(self, request: LLMRequest) -> LLMResponse:
        body = {
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": request.system},
                *({"role": m.role, "content": m.content} for m in request.messages),
            ],
            "stream": False,
            "format": dict(request.json_schema) if request.json_schema is not None else "json",
            "options": {
                "temperature": self.config.temperature,
                "num_predict": self.config.max_tokens,
            },
        }
        started = time.monotonic()
        error: ProviderError | None = None
        data: Any = None
        try:
            response = self._client().post("/api/chat", json=body)
            if response.is_success:
                data = response.json()
            else:
                error = self._status_error(response)
        except httpx.TimeoutException:
            error = timeout_error(self.name, self.config.request_timeout_seconds)
        except httpx.HTTPError as exc:
            refusal = refusal_in(exc)
            # The class of failure only: the OS's words can name addresses behind the URL.
            error = (
                egress_refused(self.name, refusal)
                if refusal is not None
                else connection_error(self.name, type(exc).__name__)
            )
        except ValueError as exc:  # a 200 whose body is not JSON
            error = malformed_response(self.name, malformed_reason(exc, self._secret()))
        if error is not None:
            raise error  # outside the `except`: no httpx object (request, headers) rides along
        latency_ms = int((time.monotonic() - started) * 1000)
        return parse_response(self.name, lambda: self._response(data, latency_ms), self._secret())

    def _response(self, data: Any, latency_ms: int) -> LLMResponse:
        """The answer read from `/api/chat`'s JSON; a malformed one raises (see
        `parse_response`)."""
        if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
            raise ValueError("no message")
        usage = Usage(
            input_tokens=token_count(data.get("prompt_eval_count")),
            output_tokens=token_count(data.get("eval_count")),
        )
        model = str(data.get("model") or self.config.model)
        return LLMResponse(
            text=str(data["message"].get("content") or ""),
            provider=self.name,
            model=model,
            usage=usage,
            latency_ms=latency_ms,
            cost_usd=cost_usd(self.name, model, usage, self.settings),
        )

    def _status_error(self, response: httpx.Response) -> ProviderError:
        try:
            payload = response.json()
            message = payload.get("error") if isinstance(payload, dict) else None
        except ValueError:
            message = None
        if not isinstance(message, str) or not message.strip():
            # Ollama's own `{"error": …}` only: any other body is not shown.
            message = f"HTTP {response.status_code}"
        return error_from_status(
            self.name, response.status_code, redact(message, self._secret()), response.headers
        )

    def _client(self) -> httpx.Client:
        refuse_unusable_url(self.name, self.base_url)
        api_key = self.config.api_key
        timeout = self.config.request_timeout_seconds
        headers = {"Authorization": f"Bearer {api_key.get_secret_value()}"} if api_key else {}
        policy = llm_policy(self.settings)  # connections through the egress guard
        return cached_client(
            client_key(self.name, self.base_url, api_key, timeout, policy),
            lambda: guarded_client(
                policy, timeout=timeout, base_url=self.base_url, headers=headers
            ),
        )

    def _secret(self) -> str | None:
        return self.config.api_key.get_secret_value() if self.config.api_key else None

"""Fallback providers: when the configured provider fails, the next one in line answers.

Which fallbacks a job gets is decided in `core.provider_catalogue.fallback_configs`; the rules
(kept deliberately simple and safe):

- The chain is the tenant's configured provider, then `settings.llm_fallback_providers`
  (`LLM_FALLBACK_PROVIDERS=ollama,offline`) in order. Each link has its own retry loop; a link
  is abandoned when its retries are spent on an outage (unavailable, overloaded, rate limited,
  timed out: a retryable `ProviderError`), and the next link serves. The `LLMResponse` says
  which provider and model actually answered.
- Fallbacks serve provider outages only. A link that refuses the request for good — a refused
  key (401/403), a refused request (400/404/422) — ends the chain with its error: the fleet's
  own (paid) fallback credentials never serve a tenant whose key was revoked or whose requests
  are invalid; the tenant must fix its configuration.
- A fallback entry is only a provider *name*. It is built as
  `ProviderConfig(provider=name, model=DEFAULT_MODELS[name], api_key=None, api_url=None)` with
  the primary's temperature and token limit. It never inherits the primary's key or URL (that
  would send, say, an Anthropic key to OpenAI). Entries that need a key (anthropic, openai) take
  it, and optionally a URL and model, from the fleet's own `LLM_FALLBACK_CREDENTIALS`
  (`{"openai": {"api_key": "...", "model": "gpt-4.1-mini"}}`); without one they are skipped with
  a warning. Keyless ones (offline, ollama and llamacpp at their default local URLs) are used
  as they are. Unknown names and the primary's own name are skipped too.
- A caller holding complete fallback configurations (a tenant config that carries its own
  `fallbacks`, keys included) passes them to `registry.build_llm(..., fallbacks=[...])`; they
  replace the settings-derived list.
- With a job time limit, no further link is tried once it is spent: each link's retry loop
  checks the job's `Deadline` first and raises `JobTimeout` (not a `ProviderError`, so nothing
  in the chain swallows it).
- When every link fails, the primary's error is raised (it is the one the tenant can act on),
  with what each fallback said added to its `details["fallbacks"]`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from eyeflow_worker.core.errors import ProviderError
from eyeflow_worker.core.llm import LLMRequest, LLMResponse, Provider

log = logging.getLogger(__name__)


class FallbackChain:
    """A `Provider` that asks each of `links` in turn until one answers."""

    def __init__(self, links: Sequence[Provider]) -> None:
        if not links:
            raise ValueError("a fallback chain needs at least one provider")
        self.links = list(links)
        self.name = self.links[0].name

    def complete(self, request: LLMRequest) -> LLMResponse:
        failures: list[tuple[str, ProviderError]] = []
        for index, link in enumerate(self.links):
            try:
                return link.complete(request)
            except ProviderError as error:
                failures.append((link.name, error))
                if not error.retryable:
                    break  # not an outage: no fallback serves a refused key or request
                if index + 1 < len(self.links):
                    log.warning(
                        "%s failed (%s: %s); falling back to %s",
                        link.name,
                        error.code,
                        error.message,
                        self.links[index + 1].name,
                    )
        primary = failures[0][1]
        if len(failures) > 1 and (primary.details is None or isinstance(primary.details, dict)):
            primary.details = {
                **(primary.details or {}),
                "fallbacks": [
                    {"provider": name, "code": error.code, "message": error.message}
                    for name, error in failures[1:]
                ],
            }
        raise primary

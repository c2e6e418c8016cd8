"""The embedded offline provider: deterministic drafting from the capability catalogue.

It needs no key and no network, so a fresh checkout runs the whole pipeline. It is not an LLM
and never claims to be one: it reads the structured `inputs` of the request (never the prose
prompt), drafts or refines rules with fixed rules of thumb, answers with the JSON text (which
then goes through the same extraction and validation as any model's answer), reports zero
tokens and zero cost, and labels every document it produces as a deterministic draft.
"""

from __future__ import annotations

import json
import time
from typing import Any

from eyeflow_worker.core.catalogue_model import Catalogue
from eyeflow_worker.core.catalogue_reader import normalize_catalogue
from eyeflow_worker.core.errors import ProviderRequestError
from eyeflow_worker.core.llm import LLMRequest, LLMResponse, Usage
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.offline.drafting import draft_rules
from eyeflow_worker.offline.redrafting import refine_draft

_CANNOT_EVALUATE = (
    "The embedded offline provider cannot judge plain-English conditions; configure an LLM "
    "provider or write the condition as an expression."
)


class OfflineProvider:
    name = "offline"

    def __init__(self, config: ProviderConfig, settings: Settings) -> None:
        self._model = config.model
        del settings  # nothing to configure: no key, no network, no timeouts

    def complete(self, request: LLMRequest) -> LLMResponse:
        started = time.monotonic()
        if request.purpose == "evaluate":
            raise ProviderRequestError(_CANNOT_EVALUATE)
        document = self._draft(request)
        return LLMResponse(
            text=json.dumps(document, indent=2, ensure_ascii=False),
            provider=self.name,
            model=self._model,
            usage=Usage(),  # not a language model: no tokens were used
            latency_ms=int((time.monotonic() - started) * 1000),
            cost_usd=0.0,
        )

    def _draft(self, request: LLMRequest) -> dict[str, Any]:
        # Repair turns carry the same inputs; re-drafting from them is all this drafter can do.
        inputs = request.inputs
        given = inputs.get("catalogue")
        catalogue = given if isinstance(given, Catalogue) else normalize_catalogue(given)
        try:
            if request.purpose == "refine":
                current = inputs.get("current_rules")
                feedback = inputs.get("feedback")
                if not isinstance(current, dict) or not isinstance(feedback, str):
                    raise ProviderRequestError(
                        "The offline provider needs structured inputs 'current_rules' and "
                        "'feedback' to refine rules."
                    )
                return refine_draft(current, feedback, catalogue)
            intent = inputs.get("intent")
            if not isinstance(intent, str) or not intent.strip():
                raise ProviderRequestError(
                    "The offline provider needs the structured input 'intent' to draft rules."
                )
            return draft_rules(intent, catalogue)
        except ValueError as exc:  # e.g. a catalogue with no action types to draft with
            raise ProviderRequestError(f"The offline provider cannot draft rules: {exc}") from exc

"""The scripted model: a `Provider` that makes planned mistakes and follows repair messages.

Model of behaviour (deliberately a *weak* follower, so the figures are a lower bound):

- attempt 1: the correct document with the planned mistakes applied, optionally wrapped in
  prose or a code fence;
- each repair round: it reads the errors the loop sent (`request.inputs["errors"]`, else the
  bullet list of the last user message), looks only at the **first** error, and undoes the one
  remaining mistake that error points at — first by an exact token (the invented name, the
  missing `params.x`, the dropped variable, the unconverted literal…), else by the error's
  wording pointing at the mistake's slot (condition / action / shape words). If the first
  error points at none of its remaining mistakes it answers the same document again (counted
  as an `unmatched` round). It never fixes a mistake nobody told it about;
- the wrapper stays the same in every round (a model that likes fences keeps using them).

It also counts how many of the errors it was shown came from the faithfulness check rather
than the structural validator (errors the validator alone does not report for that document).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from quality_mistakes import SLOT_WORDS, Doc, Mistake, Plan, render

from eyeflow_worker.core.llm import LLMRequest, LLMResponse, Usage

_NUMERIC = re.compile(r"^-?\d+(?:\.\d+)?$")


def _mentions(error: str, token: str) -> bool:
    if _NUMERIC.match(token):  # "2" must not match "rules[2]" or "0.2"
        return re.search(rf"(?<![\w.\[]){re.escape(token)}(?![\w\]]|\.\d)", error) is not None
    return token.lower() in error.lower()


def pointed_at(error: str, remaining: list[Mistake]) -> Mistake | None:
    """The remaining mistake `error` names: by exact token first, then by slot wording."""
    for m in remaining:
        if any(_mentions(error, t) for t in m.tokens):
            return m
    lowered = error.lower()
    for m in remaining:
        if any(w in lowered for w in SLOT_WORDS[m.slot]):
            return m
    return None


def _errors_of(request: LLMRequest) -> list[str]:
    given = request.inputs.get("errors")
    if isinstance(given, list) and given:
        return [str(e) for e in given]
    last = request.messages[-1].content if request.messages else ""
    return [line[2:] for line in last.splitlines() if line.startswith("- ")]


@dataclass
class ScriptedModel:
    gold: Doc
    plan: Plan
    structural_errors: Callable[[Doc], tuple[str, ...]]  # the validator alone, for counting
    name: str = "scripted"
    model: str = "scripted-first-error-follower"
    calls: int = 0
    unmatched: int = 0
    faithfulness_errors_seen: int = 0
    fixed: list[str] = field(default_factory=list)
    remaining: list[Mistake] = field(init=False)
    last_doc: Doc = field(init=False)

    def __post_init__(self) -> None:
        self.remaining = list(self.plan.mistakes)
        self.last_doc = render(self.gold, tuple(self.remaining))

    def complete(self, request: LLMRequest) -> LLMResponse:
        if self.calls:
            self._follow(_errors_of(request))
        self.calls += 1
        self.last_doc = render(self.gold, tuple(self.remaining))
        return LLMResponse(
            text=self._wrap(json.dumps(self.last_doc, ensure_ascii=False)),
            provider=self.name,
            model=self.model,
            usage=Usage(800, 200),
            latency_ms=0,
            cost_usd=None,
        )

    def _follow(self, errors: list[str]) -> None:
        structural = set(self.structural_errors(self.last_doc))
        self.faithfulness_errors_seen += sum(e not in structural for e in errors)
        target = pointed_at(errors[0], self.remaining) if errors else None
        if target is None:
            self.unmatched += 1
            return
        self.remaining.remove(target)
        self.fixed.append(target.kind)

    def _wrap(self, text: str) -> str:
        if self.plan.wrapper == "prose":
            return f"Sure! Here are the workflow rules for your intent:\n{text}\nHope this helps."
        if self.plan.wrapper == "fence":
            return f"```json\n{text}\n```"
        return text

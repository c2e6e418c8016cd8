"""One intent through the validate-and-repair loop, with the faithfulness check on or off, and
the per-catalogue / overall figures of many such runs."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from quality_mistakes import CatalogueFacts, applicable, plan
from quality_model import ScriptedModel
from quality_product import (
    Case,
    Catalogue,
    Data,
    Hooks,
    faithfulness_problems,
    loop_catalogue,
    validator_errors,
)

from eyeflow_worker.core.errors import EyeflowError, InvalidLLMOutput
from eyeflow_worker.core.llm import LLMRequest, LLMResponse, Provider
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.providers.offline import OfflineProvider
from eyeflow_worker.rules import service
from eyeflow_worker.rules.prompt import build_generate_request
from eyeflow_worker.rules.repair import run_with_repair

MAX_REPAIRS = 2
_NAMED = ("channel", "team", "severity", "priority", "queue", "tier", "approver_role",
          "recipient", "level", "to", "template", "tag")  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    catalogue: str
    valid: bool
    attempts: int
    faithful: bool | None  # None: no checker
    correct: bool  # the bench's own judgement against the correct document
    why: str | None = None  # what differs from the correct document (None: nothing/unknown)
    unmatched: int = 0
    faithfulness_errors_seen: int = 0


class _IntentOutOfSight:
    """Faithfulness OFF: the loop reads the intent from `request.inputs["intent"]` and checks
    faithfulness when it finds one, so the request the loop sees carries none; this adapter
    gives it back to the provider (the offline drafter drafts from it)."""

    def __init__(self, inner: Provider, intent: str) -> None:
        self.inner = inner
        self.intent = intent
        self.name = inner.name

    def complete(self, request: LLMRequest) -> LLMResponse:
        return self.inner.complete(
            replace(request, inputs={**request.inputs, "intent": self.intent})
        )


def run_loop(llm: Provider, case: Case, context: Mapping[str, Any], *, check: bool) -> Any:
    """The final document and the attempts (raises what the loop raises).

    check=True is the product path, `generate_rules` (the loop checks faithfulness to the
    intent); check=False is the same loop on a request whose inputs hold no intent."""
    if check:
        result = service.generate_rules(llm, case.intent, context, max_repair_attempts=MAX_REPAIRS)
        return result["workflow_rules"], result["attempts"]
    catalogue = loop_catalogue(context)
    request = build_generate_request(case.intent, catalogue)
    outcome = run_with_repair(
        _IntentOutOfSight(llm, case.intent),
        replace(request, inputs={**request.inputs, "intent": None}),
        catalogue,
        max_repair_attempts=MAX_REPAIRS,
    )
    return outcome.rules.to_json_dict(), outcome.attempts


def _judge(
    llm: Provider, case: Case, raw: Mapping[str, Any], hooks: Hooks, check: bool
) -> tuple[dict[str, Any] | None, int, bool | None]:
    catalogue = loop_catalogue(raw)
    try:
        doc, attempts = run_loop(llm, case, raw, check=check)
    except InvalidLLMOutput as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        attempts = int(details.get("attempts", MAX_REPAIRS + 1))
        return None, attempts, None if hooks.faithfulness is None else False
    except EyeflowError:  # e.g. ConfigInvalid: the catalogue was refused before any call
        return None, 0, None if hooks.faithfulness is None else False
    problems = faithfulness_problems(hooks, case.intent, doc, catalogue)
    return doc, attempts, None if problems is None else not problems


def _norm(condition: str) -> str:
    text = re.sub(r"\s+", " ", condition.strip())
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    return text


def gold_mismatch(doc: Mapping[str, Any], gold: Mapping[str, Any]) -> str | None:
    """None when `doc` says what the correct document says: same trigger, same condition
    (modulo spacing/outer parentheses), same actions in order, same values for the parameters
    that name a channel/team/severity/etc.; else the first difference."""
    if doc.get("trigger") != gold["trigger"]:
        return "trigger"
    if len(doc.get("rules", [])) != 1:
        return "rule count"
    rule, want = doc["rules"][0], gold["rules"][0]
    if _norm(rule["condition"]) != _norm(want["condition"]):
        return "condition"
    got = [(a["action"], a.get("params", {})) for a in rule["then"]]
    exp = [(a["action"], a["params"]) for a in want["then"]]
    if [g[0] for g in got] != [e[0] for e in exp]:
        return "actions"
    for (_, g), (_, e) in zip(got, exp, strict=True):
        if any(g.get(k) != e[k] for k in e if k in _NAMED):
            return "named params"
    return None


def run_offline(data: Data, hooks: Hooks, *, check: bool) -> list[Outcome]:
    offline = OfflineProvider(
        ProviderConfig(provider="offline", model="eyeflow-offline-drafter-1"), Settings()
    )
    out = []
    for case in data.cases:
        doc, attempts, faithful = _judge(offline, case, data.raw[case.catalogue], hooks, check)
        why = "invalid" if doc is None else gold_mismatch(doc, case.rules)
        out.append(Outcome(case.catalogue, doc is not None, attempts, faithful, why is None, why))
    return out


def catalogue_facts(expected: Mapping[str, Any]) -> CatalogueFacts:
    """From the bench's own truth, not the reader: plans do not change with the reader."""
    enums = {
        f"{name}.{param}": values
        for name, spec in expected["actions"].items()
        for param, values in spec["enums"].items()
    }
    return CatalogueFacts(
        actions=set(expected["actions"]),
        variables=set(expected["variables"]),
        required={name: spec["required"] for name, spec in expected["actions"].items()},
        enums=enums,
    )


def scripted_models(data: Data, seed: int) -> list[Callable[[], ScriptedModel]]:
    """One factory per case (fresh model per run), mistakes planned once per seed."""
    rng = random.Random(seed)
    facts = {n: catalogue_facts(data.expected[n]) for n in data.raw}
    factories: list[Callable[[], ScriptedModel]] = []
    for case in data.cases:
        catalogue = loop_catalogue(data.raw[case.catalogue])
        options = applicable(case.rules, case.intent, case.unit_slip, facts[case.catalogue])
        chosen = plan(rng, options)

        def make(case: Case = case, chosen: Any = chosen, cat: Catalogue = catalogue) -> Any:
            return ScriptedModel(case.rules, chosen, lambda doc: validator_errors(doc, cat))

        factories.append(make)
    return factories


def run_scripted(
    data: Data, hooks: Hooks, factories: list[Callable[[], ScriptedModel]], *, check: bool
) -> list[Outcome]:
    out = []
    for case, make in zip(data.cases, factories, strict=True):
        model = make()
        doc, attempts, faithful = _judge(model, case, data.raw[case.catalogue], hooks, check)
        left = ", ".join(m.kind for m in model.remaining)
        why = f"invalid (mistakes left: {left or 'none'})" if doc is None else left or None
        out.append(
            Outcome(
                case.catalogue,
                doc is not None,
                attempts,
                faithful,
                doc is not None and not model.remaining,
                why,
                model.unmatched,
                model.faithfulness_errors_seen,
            )
        )
    return out


@dataclass(frozen=True)
class Figures:
    n: int
    first_pass: float
    valid: float
    faithful: float | None
    correct: float
    mean_attempts: float
    unmatched: int
    faithfulness_errors_seen: int


def figures(outcomes: Iterable[Outcome]) -> Figures:
    rows = list(outcomes)
    n = len(rows) or 1
    judged = [o.faithful for o in rows]
    faithful = (
        None
        if any(f is None for f in judged)
        else 100 * sum(o.valid and bool(o.faithful) for o in rows) / n
    )
    return Figures(
        n=len(rows),
        first_pass=100 * sum(o.valid and o.attempts == 1 for o in rows) / n,
        valid=100 * sum(o.valid for o in rows) / n,
        faithful=faithful,
        correct=100 * sum(o.correct for o in rows) / n,
        mean_attempts=sum(o.attempts for o in rows) / n,
        unmatched=sum(o.unmatched for o in rows),
        faithfulness_errors_seen=sum(o.faithfulness_errors_seen for o in rows),
    )

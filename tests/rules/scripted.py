"""A scripted `Provider` test double and a catalogue of typical LLM mistakes.

`ScriptedProvider` returns queued answers in order and records every request it received, so a
test can assert exactly what a repair turn showed the model. `MISTAKES` pairs a wrong answer
(with the error text the validator must report) with the corrected answer; the tests and
`bench/rules_fixtures.py` both use it. All of it is written against the built-in sample
catalogue.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from eyeflow_worker.core.llm import LLMRequest, LLMResponse, Usage


@dataclass
class ScriptedProvider:
    answers: list[str]
    usage: Usage = field(default_factory=lambda: Usage(100, 50, 1000, 0))
    cost_usd: float | None = 0.01
    name: str = "scripted"
    model: str = "scripted-model-1"
    requests: list[LLMRequest] = field(default_factory=list)

    def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        if not self.answers:
            raise AssertionError("ScriptedProvider ran out of answers")
        return LLMResponse(
            text=self.answers.pop(0),
            provider=self.name,
            model=self.model,
            usage=self.usage,
            latency_ms=5,
            cost_usd=self.cost_usd,
        )


def rules_doc(**overrides: Any) -> dict[str, Any]:
    """A valid document for the sample catalogue; keyword arguments replace top-level keys."""
    doc: dict[str, Any] = {
        "workflow_name": "database-memory-alert",
        "trigger": "ON_METRIC_UPDATE",
        "rules": [
            {
                "name": "check-memory",
                "condition": "($metrics.db_memory_percent > 85)",
                "then": [
                    {
                        "action": "SEND_WITH_ESCALATION",
                        "params": {
                            "team": "on-call",
                            "message": "DB memory high",
                            "severity": "high",
                        },
                    }
                ],
            }
        ],
    }
    doc.update(overrides)
    return doc


def with_action(action: dict[str, Any]) -> dict[str, Any]:
    doc = rules_doc()
    doc["rules"][0]["then"] = [action]
    return doc


def with_condition(condition: str) -> dict[str, Any]:
    doc = rules_doc()
    doc["rules"][0]["condition"] = condition
    return doc


GOOD = json.dumps(rules_doc())


@dataclass(frozen=True)
class Mistake:
    name: str
    bad_output: str
    error: str  # the exact error string the validator must report (or a unique part of it)
    fixed_output: str = GOOD


def _dup_rules() -> dict[str, Any]:
    doc = rules_doc()
    doc["rules"].append(dict(doc["rules"][0]))
    return doc


MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "unknown action",
        json.dumps(with_action({"action": "SEND_SMS", "params": {"to": "+1555"}})),
        "rules[0].then[0].action: unknown action 'SEND_SMS'",
    ),
    Mistake(
        "missing required param",
        json.dumps(
            with_action(
                {"action": "SEND_WITH_ESCALATION", "params": {"team": "ops", "message": "x"}}
            )
        ),
        "rules[0].then[0].params.severity: required parameter of SEND_WITH_ESCALATION is missing"
        " (expected string (one of 'low', 'medium', 'high', 'critical'))",
    ),
    Mistake(
        "wrong param type",
        json.dumps(
            with_action(
                {"action": "SCALE_SERVICE", "params": {"service": "web", "replicas": "three"}}
            )
        ),
        "rules[0].then[0].params.replicas: expected integer, got string 'three'",
    ),
    Mistake(
        "invented variable",
        json.dumps(with_condition("$metrics.database_ram > 85")),
        "rules[0].condition: unknown variable $metrics.database_ram;",
    ),
    Mistake(
        "bad condition syntax",
        json.dumps(with_condition("$metrics.db_memory_percent >> 85")),
        "rules[0].condition: invalid condition '$metrics.db_memory_percent >> 85': unexpected '>'",
    ),
    Mistake(
        "prose around the JSON (wrong trigger inside)",
        "Sure! Here are the rules you asked for:\n"
        + json.dumps(rules_doc(trigger="ON_MEMORY_HIGH"))
        + "\nLet me know if you need anything else.",
        "trigger: unknown trigger 'ON_MEMORY_HIGH';",
    ),
    Mistake(
        "code-fenced JSON with an unknown field",
        "```json\n" + json.dumps(rules_doc(priority="high")) + "\n```",
        "priority: unknown field (not allowed by the schema)",
    ),
    Mistake(
        "truncated JSON",
        GOOD[: len(GOOD) // 2],
        "The JSON object starting at line 1 column 1 is truncated",
    ),
    Mistake(
        "duplicate rule names",
        json.dumps(_dup_rules()),
        "rules[1].name: duplicate rule name 'check-memory' (also rules[0]);"
        " rule names must be unique",
    ),
    Mistake(
        "unknown trigger",
        json.dumps(rules_doc(trigger="WHEN_DB_MEMORY_HIGH")),
        "trigger: unknown trigger 'WHEN_DB_MEMORY_HIGH';",
    ),
    Mistake(
        "no JSON at all",
        "I'm sorry, I can't help with that.",
        "The answer contains no JSON object; expected a single JSON object.",
    ),
    Mistake(
        "missing rules",
        json.dumps({"workflow_name": "x", "trigger": "ON_WORKFLOW_START"}),
        "rules: required field is missing",
    ),
)


def answers(*texts: Iterable[str] | str) -> list[str]:
    out: list[str] = []
    for t in texts:
        out.extend([t] if isinstance(t, str) else t)
    return out

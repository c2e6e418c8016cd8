"""Prompts for generating and refining workflow rules.

Everything that does not depend on the request — instructions, the JSON Schema, the capability
catalogue in canonical order, worked examples — goes into `LLMRequest.system`, rendered
byte-identically for the same catalogue, so providers' prompt caches hit across jobs and across
generate/refine. The variable part (the intent, or the current rules and feedback) comes last,
in `messages`. `inputs` carries the same data in structured form for the offline drafter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from eyeflow_worker.core.catalogue_model import Catalogue
from eyeflow_worker.core.llm import LLMRequest, Message
from eyeflow_worker.core.workflow_rules import shared_json_schema

_INSTRUCTIONS = """\
You turn natural-language automation intents into Eyeflow workflow rules.

Answer with exactly one JSON object that conforms to the JSON Schema below, and nothing else:
no prose, no code fences, no comments.

Rules of the document:
- "trigger" must be one of the trigger names in the capability catalogue.
- Every "action" must be one of the action type names in the catalogue, spelled exactly.
- Give every required parameter of an action, with a value of the declared type (and one of
  the listed values when the parameter has an "enum"). Do not invent parameters when the
  action's "params_closed" is true.
- Rule names are unique, short and kebab-case; "workflow_name" is kebab-case.
- Use "retry" ({"max_attempts", "backoff_seconds"}) for actions that call external systems and
  "on_failure" ({"strategy": "continue" | "stop_workflow" | "run_actions", "actions": [...]})
  when a failure needs handling.
- Use "else" only when the intent asks for something to happen when the condition is false.

Condition language (the "condition" field):
- Variables are written $root.path, e.g. $metrics.cpu_percent; use only variables listed in
  the catalogue when it lists any.
- Comparisons: == != > >= < <=; text values in double quotes ("down"); numbers bare (85).
- Combine with AND, OR, NOT and parentheses. Also available: IN [..], CONTAINS, STARTS_WITH,
  ENDS_WITH, MATCHES "regex", EXISTS, IS NULL, true, false.
- Keep the intent's numbers, in the unit of the variable compared: "exceeds 85%" is > 85
  against a percent variable and > 0.85 against a fraction; 10 GB against an MB variable is
  10240; 2 seconds against an ms variable is 2000. "Exceeds/above/at least" is > or >=,
  "below/under/at most" is < or <=.
- Put the channel, team and severity the intent names into the action parameters that take
  them ("#db-alerts", "the dba team", "critical", "P1").
"""

# Format illustrations only: their names come from an imaginary catalogue, and the prompt says so.
_EXAMPLES: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "Page the on-call team when API latency stays above 500 ms",
        {
            "workflow_name": "api-latency-page",
            "trigger": "ON_METRIC_UPDATE",
            "rules": [
                {
                    "name": "latency-over-500ms",
                    "condition": "$metrics.latency_ms > 500",
                    "then": [
                        {
                            "action": "PAGE_TEAM",
                            "params": {"team": "on-call", "message": "API latency above 500 ms"},
                            "retry": {"max_attempts": 3, "backoff_seconds": 30},
                        }
                    ],
                }
            ],
        },
    ),
    (
        "When an order over $10,000 arrives, ask a manager to approve it; otherwise approve it",
        {
            "workflow_name": "large-order-approval",
            "trigger": "ON_ORDER_CREATED",
            "rules": [
                {
                    "name": "large-order",
                    "condition": "$order.amount > 10000",
                    "then": [
                        {
                            "action": "REQUEST_APPROVAL",
                            "params": {"approver_role": "manager"},
                            "on_failure": {
                                "strategy": "run_actions",
                                "actions": [
                                    {
                                        "action": "SEND_EMAIL",
                                        "params": {"to": "finance@example.com"},
                                    }
                                ],
                            },
                        }
                    ],
                    "else": [{"action": "APPROVE", "params": {}}],
                }
            ],
        },
    ),
)


def _dump(value: Any) -> str:
    # sort_keys + fixed separators: the same data always renders to the same bytes.
    return json.dumps(value, sort_keys=True, indent=1, ensure_ascii=False)


@lru_cache(maxsize=64)
def _system_prompt(catalogue_json: str) -> str:
    examples = "\n\n".join(
        f"Intent: {intent}\nAnswer:\n{json.dumps(answer, ensure_ascii=False)}"
        for intent, answer in _EXAMPLES
    )
    return (
        f"{_INSTRUCTIONS}\n"
        f"JSON Schema of the answer:\n{_dump(shared_json_schema())}\n\n"
        f"Capability catalogue (the only triggers, actions and variables you may use):\n"
        f"{catalogue_json}\n\n"
        "Format examples (their names come from a different catalogue; use only the names in "
        f"the catalogue above):\n\n{examples}\n"
    )


def system_prompt(catalogue: Catalogue) -> str:
    """The stable, cacheable prefix for this catalogue: identical bytes for identical catalogues."""
    return _system_prompt(catalogue.canonical_json)


def build_generate_request(intent: str, catalogue: Catalogue) -> LLMRequest:
    user = (
        "Task: generate workflow rules for this intent.\n"
        f"Intent: {intent.strip()}\n"
        "Answer with the JSON object only."
    )
    return LLMRequest(
        purpose="generate",
        system=system_prompt(catalogue),
        messages=(Message("user", user),),
        json_schema=shared_json_schema(),
        inputs=_inputs(intent=intent.strip(), catalogue=catalogue),
    )


def build_refine_request(
    current_rules: Mapping[str, Any], feedback: str, catalogue: Catalogue
) -> LLMRequest:
    user = (
        "Task: revise these workflow rules according to the feedback. Keep everything the "
        "feedback does not ask to change exactly as it is, including rule names. Apply each "
        "part of the feedback the catalogue can express; leave the rules as they are for a "
        "part it cannot (the caller is told which parts were not applied).\n"
        f"Current rules:\n{_dump(dict(current_rules))}\n"
        f"Feedback: {feedback.strip()}\n"
        "Answer with the complete revised JSON object only."
    )
    return LLMRequest(
        purpose="refine",
        system=system_prompt(catalogue),
        messages=(Message("user", user),),
        json_schema=shared_json_schema(),
        inputs=_inputs(
            catalogue=catalogue, current_rules=dict(current_rules), feedback=feedback.strip()
        ),
    )


def repair_messages(
    original: tuple[Message, ...], previous_output: str, errors: list[str]
) -> tuple[Message, ...]:
    """The conversation for a repair turn: the task, the model's answer, and what is wrong with it.

    Only the latest failed answer is shown (not every earlier one): it is what needs fixing, and
    keeping the conversation bounded keeps repair turns cheap.
    """
    listed = "\n".join(f"- {e}" for e in errors)
    user = (
        "Your answer is not valid. Fix every error below and answer again with the complete "
        f"corrected JSON object only.\nErrors:\n{listed}"
    )
    return (*original, Message("assistant", previous_output), Message("user", user))


def _inputs(
    *,
    catalogue: Catalogue,
    intent: str | None = None,
    current_rules: dict[str, Any] | None = None,
    feedback: str | None = None,
) -> dict[str, Any]:
    return {
        "intent": intent,
        # The object itself: the offline drafter works from it without normalising it again.
        "catalogue": catalogue,
        "current_rules": current_rules,
        "feedback": feedback,
    }

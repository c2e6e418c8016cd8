"""Validation of a workflow-rules document, in layers, as precise readable error strings.

The strings go back to the model verbatim in a repair turn, so each one names the exact place
(`rules[0].then[1].params.severity`), what is wrong, and what would be right (the known names,
the expected type). Layers: JSON Schema shape, then everything the capability catalogue says
(trigger, actions, parameters), then conditions (syntax, known variables, and declared variables
written without their `$`), then uniqueness, then — when the intent is given — faithfulness
to the intent (thresholds with their direction and unit, named channels, teams and severities;
see `rules/faithfulness.py`).
The later layers only run on a document that has the right shape.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from eyeflow_worker.core.catalogue_model import Capability, Catalogue, ParamSpec
from eyeflow_worker.core.workflow_rules import WorkflowRules
from eyeflow_worker.rules.conditions_adapter import check_condition
from eyeflow_worker.rules.faithfulness import check_faithfulness

# How many known names to list in one error before saying "…and N more".
_MAX_LISTED = 25


@dataclass(frozen=True)
class ValidationResult:
    rules: WorkflowRules | None
    errors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors and self.rules is not None


def validate_rules(data: Any, catalogue: Catalogue, intent: str | None = None) -> ValidationResult:
    """Check `data` (parsed JSON) against the schema and the catalogue, and — when `intent` is
    given — that the rules say what the intent says."""
    try:
        rules = WorkflowRules.model_validate(data)
    except ValidationError as exc:
        return ValidationResult(None, tuple(_schema_errors(exc)))
    errors = [
        *_trigger_errors(rules, catalogue),
        *_action_errors(rules, catalogue),
        *_condition_errors(rules, catalogue),
        *_name_errors(rules),
    ]
    if intent is not None and intent.strip():
        errors.extend(check_faithfulness(intent, rules, catalogue))
    return ValidationResult(rules, tuple(errors))


# --- layer 1: shape -----------------------------------------------------------------------


def _schema_errors(exc: ValidationError) -> Iterator[str]:
    for err in exc.errors(include_url=False):
        path = _path(err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (not allowed by the schema)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        yield f"{path}: {msg}" if path else msg


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# --- layer 2: catalogue -------------------------------------------------------------------


def _trigger_errors(rules: WorkflowRules, catalogue: Catalogue) -> Iterator[str]:
    known = catalogue.trigger_names
    if known and rules.trigger not in known:
        choices = _choices("triggers", rules.trigger, known)
        yield f"trigger: unknown trigger {rules.trigger!r}; {choices}"


def _action_errors(rules: WorkflowRules, catalogue: Catalogue) -> Iterator[str]:
    if not catalogue.action_types:
        return  # nothing declared: nothing to check against
    for where, action in rules.located_actions():
        spec = catalogue.action(action.action)
        if spec is None:
            choices = _choices("actions", action.action, catalogue.action_names)
            yield f"{where}.action: unknown action {action.action!r}; {choices}"
            continue
        yield from _param_errors(where, action.params, spec)


def _param_errors(where: str, params: Mapping[str, Any], spec: Capability) -> Iterator[str]:
    for p in spec.params:
        if p.required and p.name not in params:
            yield (
                f"{where}.params.{p.name}: required parameter of {spec.name} is missing"
                f" (expected {_describe(p)})"
            )
    for name, value in params.items():
        declared = spec.param(name)
        if declared is None:
            if spec.params_closed:
                known = ", ".join(q.name for q in spec.params) or "none"
                yield (
                    f"{where}.params.{name}: {spec.name} has no parameter {name!r};"
                    f" its parameters: {known}"
                )
            continue
        problem = _value_problem(value, declared)
        if problem:
            yield f"{where}.params.{name}: {problem}"


def _value_problem(value: Any, p: ParamSpec) -> str | None:
    if p.type is not None and not _has_type(value, p.type):
        return f"expected {_describe(p)}, got {_json_type(value)} {_short(value)}"
    if p.enum and value not in p.enum:
        return f"{_short(value)} is not one of {', '.join(_short(v) for v in p.enum)}"
    return None


def _has_type(value: Any, expected: str) -> bool:
    # bool is an int in Python but not a number in JSON; keep them apart.
    if expected == "string":
        return isinstance(value, str)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "array":
        return isinstance(value, list)
    if expected == "object":
        return isinstance(value, dict)
    return True


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _describe(p: ParamSpec) -> str:
    text = p.type or "a value"
    if p.enum:
        text += " (one of " + ", ".join(_short(v) for v in p.enum) + ")"
    return text


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else _json_type(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- layer 3: conditions ------------------------------------------------------------------


def _condition_errors(rules: WorkflowRules, catalogue: Catalogue) -> Iterator[str]:
    known = catalogue.variable_names
    for i, rule in enumerate(rules.rules):
        where = f"rules[{i}].condition"
        checked = check_condition(rule.condition)
        if checked.error is not None:
            yield f"{where}: {checked.error}"
            continue
        if not known:
            continue  # the catalogue declares no variables: any variable may exist
        for var in checked.variables:
            if not _variable_known(var, known):
                yield f"{where}: unknown variable {var}; {_choices('variables', var, known)}"
        # A declared variable written without its `$` is a bare word, i.e. a string: the
        # condition parses but compares with the text "metrics.cpu_percent" and never holds.
        for word in checked.bare_words:
            if _variable_known("$" + word, known):
                yield (
                    f"{where}: condition of rule {rule.name!r} uses {word!r} — did you mean"
                    f" ${word}? (without the $ it is the text {word!r}, not the variable)"
                )


def _variable_known(var: str, known: Sequence[str]) -> bool:
    # A declared object root ("$metrics") covers its fields ("$metrics.cpu"); a declared
    # field covers deeper access into its value ("$event.payload.id" under "$event.payload").
    return any(var == k or var.startswith(k + ".") or var.startswith(k + "[") for k in known)


# --- layer 4: names -----------------------------------------------------------------------


def _name_errors(rules: WorkflowRules) -> Iterator[str]:
    first: dict[str, int] = {}
    for i, rule in enumerate(rules.rules):
        if rule.name in first:
            yield (
                f"rules[{i}].name: duplicate rule name {rule.name!r}"
                f" (also rules[{first[rule.name]}]); rule names must be unique"
            )
        else:
            first[rule.name] = i


def _choices(kind: str, wrong: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(wrong, known, n=3, cutoff=0.5)
    listed = ", ".join(known[:_MAX_LISTED])
    if len(known) > _MAX_LISTED:
        listed += f", …and {len(known) - _MAX_LISTED} more"
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return f"{hint}known {kind}: {listed}"

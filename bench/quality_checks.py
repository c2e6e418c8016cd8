"""Checks of the product's parts against the bench's own truth, outside the loop:

- reader: does the catalogue the product reads from each payload hold what the payload says
  (`expected.json`: triggers, actions, required parameters, variables with type and unit)?
  plus the reader's own warnings (`read_catalogue(...).warnings`, when it exists);
- gold: does each intent's correct document validate, and does `check_faithfulness` accept it
  (a complaint about a correct document is a false alarm)?
- probe: for each semantic mistake that applies to an intent, is the correct document with
  only that mistake still structurally valid, and does `check_faithfulness` catch it?
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from quality_mistakes import SEMANTIC, applicable, render
from quality_product import (
    Catalogue,
    Data,
    Hooks,
    faithfulness_problems,
    normalize_catalogue,
    validator_errors,
)
from quality_runs import catalogue_facts


@dataclass
class ReaderReport:
    name: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] | None = None
    differs_from_normalize: bool = False


def _variable_problems(cat: Catalogue, expected: Mapping[str, Any]) -> list[str]:
    out = []
    for name, spec in expected["variables"].items():
        var = next((v for v in cat.variables if v.name == name), None)
        if var is None:
            out.append(f"variable {name} missing")
            continue
        if var.type != spec["type"]:
            out.append(f"variable {name}: type {var.type!r}, payload says {spec['type']!r}")
        unit = var.unit
        if spec["unit"] is not None and unit != spec["unit"]:
            out.append(f"variable {name}: unit {unit!r}, payload says {spec['unit']!r}")
    extra = sorted(set(cat.variable_names) - set(expected["variables"]))
    if extra:
        out.append(f"variables not in the payload: {', '.join(extra)}")
    return out


def _action_problems(cat: Catalogue, expected: Mapping[str, Any]) -> list[str]:
    out = []
    for name, spec in expected["actions"].items():
        action = cat.action(name)
        if action is None:
            out.append(f"action {name} missing")
            continue
        required = sorted(p.name for p in action.params if p.required)
        if required != spec["required"]:
            out.append(f"action {name}: required {required}, payload says {spec['required']}")
        for param in action.params:
            want = spec["types"].get(param.name)
            if want is not None and param.type != want:
                out.append(
                    f"action {name}.{param.name}: type {param.type!r}, payload says {want!r}"
                )
    extra = sorted(set(cat.action_names) - set(expected["actions"]))
    if extra:
        out.append(f"actions not in the payload: {', '.join(extra)}")
    return out


def check_reader(data: Data, hooks: Hooks) -> list[ReaderReport]:
    reports = []
    for name, raw in data.raw.items():
        expected = data.expected[name]
        cat, warnings = hooks.catalogue(raw)
        report = ReaderReport(name, warnings=warnings)
        report.differs_from_normalize = cat != normalize_catalogue(raw)
        if sorted(cat.trigger_names) != expected["triggers"]:
            report.problems.append(
                f"triggers {sorted(cat.trigger_names)}, payload says {expected['triggers']}"
            )
        report.problems += _action_problems(cat, expected)
        report.problems += _variable_problems(cat, expected)
        reports.append(report)
    return reports


@dataclass
class CheckerReport:
    gold_invalid: list[str] = field(default_factory=list)  # "intent: first error"
    false_alarms: list[str] = field(default_factory=list)  # "intent: first complaint"
    probes: Counter[str] = field(default_factory=Counter)  # kind -> probes run
    caught: Counter[str] = field(default_factory=Counter)  # kind -> caught by the checker
    misses: list[str] = field(default_factory=list)  # "kind: intent -> condition/params"
    available: bool = True


def _probe_text(doc: Mapping[str, Any]) -> str:
    rule = doc["rules"][0]
    return f"{rule['condition']} / {rule['then'][0]['params']}"


def check_gold_and_probe(data: Data, hooks: Hooks) -> CheckerReport:
    report = CheckerReport(available=hooks.faithfulness is not None)
    for case in data.cases:
        raw = data.raw[case.catalogue]
        cat, _ = hooks.catalogue(raw)
        errors = validator_errors(case.rules, cat)
        if errors:
            report.gold_invalid.append(f"[{case.catalogue}] {case.intent!r}: {errors[0]}")
            continue
        complaints = faithfulness_problems(hooks, case.intent, case.rules, cat)
        if complaints:
            report.false_alarms.append(f"[{case.catalogue}] {case.intent!r}: {complaints[0]}")
        facts = catalogue_facts(data.expected[case.catalogue])
        for mistake in applicable(case.rules, case.intent, case.unit_slip, facts):
            if mistake.kind not in SEMANTIC:
                continue
            doc = render(case.rules, (mistake,))
            if validator_errors(doc, cat) or complaints is None:
                continue
            report.probes[mistake.kind] += 1
            found = faithfulness_problems(hooks, case.intent, doc, cat) or []
            if set(found) - set(complaints):  # a complaint the correct document did not get
                report.caught[mistake.kind] += 1
            else:
                report.misses.append(f"{mistake.kind}: {case.intent!r} -> {_probe_text(doc)}")
    return report

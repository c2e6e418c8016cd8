"""The offline drafter's `refine`: apply feedback to existing rules where it can, deterministically.

The feedback is cut into clauses (`rules/feedback.split_feedback`: "use slack instead of email
and lower the threshold to 80%" is two) and each clause is applied on its own. Understood
requests: add retries ("add retry logic", "retry 5 times every 10 seconds"), failure handling
("continue on failure", "stop the workflow if it fails"), another action ("also email finance",
"add an incident ticket"), removing an action ("remove the SMS"), a new threshold ("change the
threshold to 90", "use 90 instead of 85"), a channel, severity or recipient the catalogue offers
(`refine_settings.py`), a new trigger or workflow name. A clause it cannot apply leaves the rules
as they are, and the workflow description says which clauses were not applied and why (the
result's `feedback_not_applied` says so for every provider: `rules/feedback_report.py`).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

from eyeflow_worker.core.catalogue_model import Catalogue
from eyeflow_worker.offline import text as tx
from eyeflow_worker.offline.drafting import DRAFT_LABEL, _score, fill_params
from eyeflow_worker.offline.refine_settings import (
    NotApplied,
    StepResult,
    change_channel,
    change_recipient,
    change_severity,
)
from eyeflow_worker.rules.feedback import split_feedback

Doc = dict[str, Any]
_NUMBER_LITERAL = re.compile(
    r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|(?<![\w$.])(\d+(?:\.\d+)?)(?![\w.])'
)


def refine_draft(current: Doc, feedback: str, catalogue: Catalogue) -> Doc:
    doc = copy.deepcopy(current)
    applied: list[str] = []
    skipped: list[str] = []
    for clause in split_feedback(feedback):
        done, reasons = _apply_clause(doc, clause, catalogue)
        applied += done
        if not done:
            reason = reasons[0] if reasons else "not understood by the offline drafter"
            skipped.append(f"{clause!r} ({reason})")
    if applied:
        note = (
            f"Refined deterministically by Eyeflow's embedded offline drafter (not an LLM): "
            f"{'; '.join(applied)}."
        )
        if skipped:
            note += f" Not applied: {'; '.join(skipped)}."
    else:
        note = (
            "The embedded offline drafter (not an LLM) could not apply this feedback "
            f"automatically; rules left unchanged: {feedback.strip()!r}"
            + (f" — {'; '.join(skipped)}." if skipped else ".")
        )
    base = doc.get("description")
    if not isinstance(base, str) or not base:
        base = DRAFT_LABEL
    doc["description"] = f"{base} {note}"
    return doc


def _apply_clause(doc: Doc, clause: str, catalogue: Catalogue) -> tuple[list[str], list[str]]:
    """Every step on one clause: (what the steps changed, why the steps that understood the
    clause could not apply it)."""
    done: list[str] = []
    reasons: list[str] = []
    for step in _STEPS:
        result: StepResult = step(doc, clause, catalogue)
        if isinstance(result, NotApplied):
            reasons.append(result.reason)
        elif result:
            done.append(result)
    return done, reasons


def _rules(doc: Doc) -> list[Doc]:
    rules = doc.get("rules")
    return [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []


def _all_actions(doc: Doc) -> list[Doc]:
    out: list[Doc] = []
    for rule in _rules(doc):
        for branch in ("then", "else"):
            actions = rule.get(branch)
            if isinstance(actions, list):
                out.extend(a for a in actions if isinstance(a, dict))
    return out


def _retry(doc: Doc, feedback: str, _catalogue: Catalogue) -> str | None:
    lowered = feedback.lower()
    if not re.search(r"\bretr(?:y|ies|ying)\b", lowered):
        return None
    times = re.search(r"(\d+)\s*(?:times|attempts|tries|retries)", lowered)
    attempts = min(10, max(1, int(times.group(1)))) if times else 3
    backoff = tx.duration_in(lowered, "s") or 30
    for action in _all_actions(doc):
        action["retry"] = {"max_attempts": attempts, "backoff_seconds": backoff}
    return f"retry policy ({attempts} attempts, {backoff}s backoff) added to every action"


def _on_failure(doc: Doc, feedback: str, _catalogue: Catalogue) -> str | None:
    lowered = feedback.lower()
    if not re.search(r"\b(fail|fails|failure|failed|error)\b", lowered):
        return None
    if re.search(r"\b(stop|abort|halt)\b", lowered):
        strategy = "stop_workflow"
    elif re.search(r"\b(continue|ignore|skip|carry on)\b", lowered):
        strategy = "continue"
    else:
        return None
    for action in _all_actions(doc):
        action["on_failure"] = {"strategy": strategy}
    return f"on_failure strategy {strategy!r} set on every action"


def _add_action(doc: Doc, feedback: str, catalogue: Catalogue) -> str | None:
    lowered = feedback.lower()
    if not re.search(r"\b(also|add|additionally|as well|plus|too)\b", lowered) or "retr" in lowered:
        return None
    wanted = [c for c in tx.concepts(feedback) if c in tx.ACTION_CONCEPTS]
    if not wanted or not catalogue.action_types:
        return None
    ranked = sorted(catalogue.action_types, key=lambda a: (-_score(a, wanted), a.name))
    if _score(ranked[0], wanted) <= 0:
        return None
    action = ranked[0]
    notes: list[str] = []
    params = fill_params(action, feedback, notes, catalogue.variable_names)
    for rule in _rules(doc):
        then = rule.setdefault("then", [])
        if isinstance(then, list):
            then.append({"action": action.name, "params": copy.deepcopy(params)})
    return f"action {action.name} added to every rule" + (f" ({'; '.join(notes)})" if notes else "")


def _remove_action(doc: Doc, feedback: str, _catalogue: Catalogue) -> str | None:
    lowered = feedback.lower()
    if not re.search(r"\b(remove|drop|delete|don't|do not|stop sending|no longer)\b", lowered):
        return None
    wanted = set(tx.concepts(feedback))
    removed: list[str] = []
    for rule in _rules(doc):
        then = rule.get("then")
        if not isinstance(then, list):
            continue
        keep = [a for a in then if not _names_concept(a, wanted)]
        if keep and len(keep) < len(then):  # never leave a rule with nothing to do
            removed += [str(a.get("action")) for a in then if a not in keep]
            rule["then"] = keep
    return f"removed {', '.join(removed)}" if removed else None


def _names_concept(action: Any, wanted: set[str]) -> bool:
    """True when `action`'s name carries one of the action concepts in `wanted`."""
    if not isinstance(action, dict):
        return False
    name = {tx.concept(w) for w in tx.words(str(action.get("action")))}
    return bool(name & wanted & set(tx.ACTION_CONCEPTS))


def _threshold(doc: Doc, feedback: str, _catalogue: Catalogue) -> str | None:
    lowered = feedback.lower()
    swap = re.search(r"(?:from\s+)?(\d+(?:\.\d+)?)\s*%?\s+to\s+(\d+(?:\.\d+)?)", lowered)
    instead = re.search(r"(\d+(?:\.\d+)?)\s*%?\s+instead of\s+(\d+(?:\.\d+)?)", lowered)
    target = re.search(r"(?:threshold|limit|to|at)\s+(\d+(?:\.\d+)?)", lowered)
    old: str | None = None
    if instead:
        new, old = instead.group(1), instead.group(2)
    elif swap and "from" in lowered:
        old, new = swap.group(1), swap.group(2)
    elif target and re.search(
        r"\b(threshold|limit|change|raise|lower|increase|decrease|set)\b", lowered
    ):
        new = target.group(1)
    else:
        return None
    changed = 0
    for rule in _rules(doc):
        condition = rule.get("condition")
        if not isinstance(condition, str):
            continue
        numbers = [m for m in _NUMBER_LITERAL.finditer(condition) if m.group(1)]
        targets = [m for m in numbers if old is None or float(m.group(1)) == float(old)]
        if old is None and len({m.group(1) for m in numbers}) != 1:
            continue  # several different numbers: which one is meant is a guess, so don't
        for m in reversed(targets):
            condition = (
                condition[: m.start(1)] + json.dumps(tx.number_value(new)) + condition[m.end(1) :]
            )
            changed += 1
        rule["condition"] = condition
    return f"threshold changed to {new} in {changed} condition(s)" if changed else None


def _trigger(doc: Doc, feedback: str, catalogue: Catalogue) -> str | None:
    if "trigger" not in feedback.lower() and not re.search(r"\bwhen\b|\bon\b", feedback.lower()):
        return None
    named = [t for t in catalogue.trigger_names if t.lower() in feedback.lower()]
    if not named or doc.get("trigger") == named[0]:
        return None
    doc["trigger"] = named[0]
    return f"trigger changed to {named[0]}"


def _rename(doc: Doc, feedback: str, _catalogue: Catalogue) -> str | None:
    match = re.search(
        r"\b(?:rename|call)\b.*?\b(?:to|it)\s+['\"]?([\w][\w -]*[\w])['\"]?", feedback, re.I
    )
    if not match:
        return None
    doc["workflow_name"] = tx.slug(match.group(1), max_words=8)
    return f"workflow renamed to {doc['workflow_name']!r}"


_STEPS: tuple[Callable[[Doc, str, Catalogue], StepResult], ...] = (
    _retry, _on_failure, _add_action, _remove_action, _threshold, change_channel,
    change_severity, change_recipient, _trigger, _rename,
)  # fmt: skip

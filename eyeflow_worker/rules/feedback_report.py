"""Which parts of refine feedback the refined rules reflect: `feedback_applied` and
`feedback_not_applied` in every refine result, whatever the provider.

Computed, like `changes`, by comparing the rules sent with the rules returned — never asked of
the model (its own account of what it did can be wrong, and the rules schema, which providers
answer in, has no place for it). The feedback is cut into clauses (`feedback.split_feedback`);
a clause counts as applied when some structural change (`diff.diff_rules`) carries it:

- a value the change brings in (or, for a clause that removes something, takes out) is a word or
  number of the clause — "slack" in the new `channel`, 80 in the new condition, "critical" in
  the new `severity`, "incident" in an added CREATE_INCIDENT; long free text (a message) does
  not count, it echoes the whole feedback;
- or a field the change touches is what the clause names — "retry" → a new `retry`, "threshold"
  or "limit" → a condition change, "trigger" → the trigger, "rename"/"name" → a name.

Any other clause is reported as not applied, with the reason: the catalogue offers no channel
the clause names, or no change in the refined rules corresponds to it. A heuristic by nature: it
can credit a clause with a change made for another, but never reports a clause applied when
nothing changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from eyeflow_worker.core.catalogue_model import Catalogue
from eyeflow_worker.rules.feedback import missing_channel_reason, split_feedback

Change = Mapping[str, Any]

_WORD: Final = re.compile(r"[a-z][a-z0-9]*")
_NUMBER: Final = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")
# Words that say how to change, not what: they match nothing on their own.
_IGNORED: Final = frozenset(
    {
        "a", "an", "the", "and", "or", "to", "of", "in", "on", "at", "by", "for", "from", "with",
        "it", "its", "them", "this", "that", "these", "those", "is", "be", "are", "instead",
        "rather", "than", "use", "using", "change", "set", "make", "please", "also", "then",
        "so", "should", "would", "all", "every", "each", "only", "just", "new", "old", "value",
        "percent", "pct", "lower", "raise", "increase", "decrease", "reduce", "add", "put",
        "want", "we", "i", "me", "my", "our", "us", "you", "your", "when", "if", "whenever",
    }
)  # fmt: skip
_REMOVING: Final = re.compile(
    r"\b(remove|drop|delete|don't|do not|no longer|stop sending|without)\b"
)
# Clause words → the change kinds (or changed fields) that carry them.
_FIELD_WORDS: Final[dict[str, tuple[str, ...]]] = {
    "threshold": ("rule_condition_changed",), "limit": ("rule_condition_changed",),
    "condition": ("rule_condition_changed",), "trigger": ("trigger_changed",),
    "rename": ("workflow_name_changed", "rule_renamed"),
    "name": ("workflow_name_changed", "rule_renamed"),
    "retry": ("retry",), "retries": ("retry",), "failure": ("on_failure",), "fail": ("on_failure",),
    "fails": ("on_failure",), "description": ("description_changed", "rule_description_changed"),
}  # fmt: skip
_FREE_TEXT_WORDS: Final = 4  # a string value of more words than this is prose, not a setting


def report_feedback(
    feedback: str, changes: Sequence[Change], catalogue: Catalogue
) -> dict[str, list[dict[str, Any]]]:
    """`{"feedback_applied": [{"clause", "changes"}], "feedback_not_applied": [{"clause",
    "reason"}]}`: every clause of `feedback` in exactly one list, in order."""
    evidence = [_Evidence(c) for c in changes if isinstance(c, Mapping)]
    applied: list[dict[str, Any]] = []
    not_applied: list[dict[str, Any]] = []
    for clause in split_feedback(feedback):
        # A channel the catalogue does not offer cannot have been applied, whatever else a
        # change shares with the clause ("send it to teams" and a new SEND_SLACK share "send").
        unavailable = missing_channel_reason(clause, catalogue)
        terms = _terms(clause)
        removing = _REMOVING.search(clause.lower()) is not None
        carried = [e.summary for e in evidence if e.carries(terms, removing)]
        if carried and unavailable is None:
            applied.append({"clause": clause, "changes": carried})
        else:
            reason = unavailable or "no change in the refined rules corresponds to it"
            not_applied.append({"clause": clause, "reason": reason})
    return {"feedback_applied": applied, "feedback_not_applied": not_applied}


class _Evidence:
    """What one change brings in, takes out and touches, as comparable terms."""

    def __init__(self, change: Change) -> None:
        self.kind = str(change.get("kind"))
        self.summary = str(change.get("summary") or self.kind)
        before, after = change.get("before"), change.get("after")
        old, new = set(_atoms(before)), set(_atoms(after))
        self.added = new - old
        self.removed = old - new
        self.fields = {self.kind} | _changed_keys(before, after)

    def carries(self, terms: set[str], removing: bool) -> bool:
        if self.kind == "description_changed" and "description" not in terms:
            return False  # the offline drafter's note, a model's rewording: not a request
        if terms & (self.removed if removing else self.added):
            return True
        wanted = {kind for t in terms for kind in _FIELD_WORDS.get(t, ())}
        return bool(wanted & self.fields)


def _terms(text: str) -> set[str]:
    lowered = text.lower()
    words = {_stem(w) for w in _WORD.findall(lowered) if w not in _IGNORED}
    return words | {_number(n) for n in _NUMBER.findall(lowered)}


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _number(raw: str) -> str:
    value = float(raw)
    return str(int(value)) if value.is_integer() else str(value)


def _atoms(value: Any) -> Iterator[str]:
    """The comparable terms of a JSON value: short strings' words, numbers, keys' words."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from (_stem(w) for w in _WORD.findall(str(key).lower().replace("_", " ")))
            yield from _atoms(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _atoms(item)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        yield _number(str(value))
    elif isinstance(value, str):
        lowered = value.lower()
        if len(lowered.split()) > _FREE_TEXT_WORDS and "$" not in lowered:
            return  # a message or a title: it repeats the feedback, it is not a setting
        yield from (_number(n) for n in _NUMBER.findall(lowered))
        yield from (_stem(w) for w in _WORD.findall(lowered.replace("_", " ")))


def _changed_keys(before: Any, after: Any) -> set[str]:
    """The keys whose values differ, at any depth (`retry`, `params`, `severity`)."""
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return set()
    out: set[str] = set()
    for key in set(before) | set(after):
        if before.get(key) != after.get(key):
            out.add(str(key))
            out |= _changed_keys(before.get(key), after.get(key))
    return out

"""What an intent says, for the faithfulness check: thresholds, and the channels, teams and
severities it names.

Deterministic reading of the intent's wording (this is the one place text is matched with
regular expressions; conditions are never read that way, they are parsed).

A **threshold** is a number with a comparison word right before it ("exceeds 85%", "below 10
GB", "more than 5 failed logins", "at least 3", "> 95%") or an "or more"/"or less" right after
it ("10 or more failed logins"). Numbers without such a word ("6 replicas", "for 60 minutes",
"within 3 days", "P1", "p95") are not thresholds. Words up: exceeds, above, over, more/greater/
higher/larger/longer/older than, reaches, hits, at least, no less/fewer than, not below; down:
below, under, less/lower/fewer/smaller/shorter/younger than, at most, no more than, does not
exceed, not above. Another negation in front ("never above 5") makes the number unreadable: it
is skipped. A duration right after another threshold, or after "for"/"in"/"within" ("above 80%
for more than 5 minutes") is a time window, not a threshold. Amounts: "10,000", "0.5", "$25k",
"2 thousand"; units: %, percent, pct, KB/MB/GB/TB, ms, seconds, minutes, hours, days, weeks,
years (and 30s, 2h, 1d). A rate ("50 requests per second") or a month is not read.
Nor, where the meaning is not a plain "act when X passes N", is anything read: an intent with a
contrary or exception clause ("unless", "except", "but not", "no longer", "do nothing",
"instead", "rather than") reports no thresholds at all (a plain "otherwise" is an else branch,
read as such by the check); a count of occurrences or of
things ("at most 3 times", "on more than 3 hosts"), a share of another number ("80% of the 500
limit") and a written fraction ("3/4") are skipped.

**Named things**: channels (slack, email, sms, pagerduty, webhook, and "#channel-names"),
teams ("the dba team", "our platform team", on-call), severities (critical, urgent, blocker,
P0–P5, sev1–sev5, "high priority"/"severity low", "a warning", "error level").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eyeflow_worker.rules.faithfulness_units import Unit, parse_unit

UP, DOWN = "up", "down"

_UP_PHRASES = (
    "greater than or equal to", "more than or equal to", "higher than or equal to",
    "greater than", "more than", "higher than", "larger than", "bigger than", "longer than",
    "older than", "in excess of", "exceeds", "exceeded", "exceeding", "exceed", "surpasses",
    "surpass", "above", "over", "reaches", "reached", "reaching", "reach", "hits", "hit",
    "at least", "no less than", "no fewer than", "not less than", "not fewer than", "not below",
    "not under", "tops", ">=", ">", "≥",
)  # fmt: skip
_DOWN_PHRASES = (
    "less than or equal to", "lower than or equal to", "fewer than or equal to", "less than",
    "lower than", "fewer than", "smaller than", "shorter than", "younger than", "below",
    "under", "beneath", "at most", "no more than", "not more than", "no greater than",
    "not greater than", "no higher than", "not higher than", "not above", "not over",
    "does not exceed", "doesn't exceed", "not exceed", "not exceeding", "<=", "<", "≤",
)  # fmt: skip
_DIRECTION = {p: UP for p in _UP_PHRASES} | {p: DOWN for p in _DOWN_PHRASES}
_NEGATED_PHRASE = re.compile(r"\b(?:not|no|doesn't)\b")
_NEGATIONS = frozenset(
    {"not", "no", "never", "isn't", "aren't", "doesn't", "don't", "won't", "wasn't", "hardly"}
)
_WINDOW_WORDS = frozenset({"for", "in", "within", "during", "lasting", "after", "over"})
# A clause that turns the action around: which side of the number acts is no longer plain.
_CONTRARY = re.compile(
    r"\b(?:unless|except|but\s+not|no\s+longer|do\s+nothing|instead|rather\s+than)\b",
    re.IGNORECASE,
)
# "on more than 3 hosts", "across over 5 regions": a count of things, not a measured value.
_COUNTING_BEFORE = frozenset({"on", "across", "among", "from"})
# After the amount: occurrences ("3 times"), a share of another number ("80% of the 500"), a
# written fraction ("3/4").
_NOT_A_VALUE_AFTER = re.compile(r"\s*(?:times?\b|of\b|/\s*\d)", re.IGNORECASE)


def _phrase_pattern(phrase: str) -> str:
    escaped = re.escape(phrase).replace(r"\ ", r"\s+")
    return escaped + r"(?![\w-])" if phrase[0].isalpha() else escaped


_PHRASES = "|".join(_phrase_pattern(p) for p in sorted(_DIRECTION, key=len, reverse=True))
_LONG_UNITS = (
    r"%|per\s?cent(?:age)?|pct|kb|kib|mb|mib|gb|gib|tb|tib|ms|msecs?|milliseconds?|seconds?"
    r"|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|years?|kilobytes?|megabytes?|gigabytes?"
    r"|terabytes?"
)
# After the amount: a rate ("50 requests per second", "10/min") or a unit we cannot convert
# exactly ("6 months"): the number cannot be read, so it is not checked.
_UNREADABLE_AFTER = re.compile(
    r"\s*(?:(?:[a-z-]+\s+){0,3}?(?:per|every|each|an?)\s+(?:sec|second|min|minute|hour|hr|day"
    r"|week|month|year)s?\b|/\s*[a-z]|months?\b|quarters?\b|fortnights?\b)",
    re.IGNORECASE,
)
_AMOUNT = (
    r"(?P<cur>[$€£])?(?P<num>(?<![\w.,])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|(?<![\w.])\.\d+)"
    r"(?![\d])(?:(?P<k>[kK])(?![\w])|\s*(?P<scale>thousand|million|billion)(?![\w]))?"
    rf"(?:\s*(?P<unit>{_LONG_UNITS})(?![\w])|(?P<short>[shd])(?![\w]))?"
)
_PREFIXED = re.compile(
    rf"(?<![\w-])(?P<phrase>{_PHRASES})\s*"
    rf"(?:(?:of|about|around|roughly|approximately|nearly)\s+)?{_AMOUNT}",
    re.IGNORECASE,
)
_POSTFIXED = re.compile(
    rf"{_AMOUNT}\s+(?:or|and)\s+(?P<post>more|higher|greater|above|over|up|larger|bigger"
    r"|longer|older|less|fewer|lower|below|under|smaller|shorter)(?![\w-])",
    re.IGNORECASE,
)
_POST_DOWN = frozenset({"less", "fewer", "lower", "below", "under", "smaller", "shorter"})
_SCALES = {"k": 1e3, "thousand": 1e3, "million": 1e6, "billion": 1e9}
_SHORT_UNITS = {"s": "seconds", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class Threshold:
    value: float
    unit: Unit | None
    direction: str  # UP or DOWN
    said: str  # the intent's own words: "exceeds 85%"
    amount: str  # the number as the intent wrote it: "85%"
    start: int
    end: int


@dataclass(frozen=True)
class Named:
    kind: str  # "channel", "team" or "severity"
    value: str  # lower-case: "slack", "#db-alerts", "on-call", "dba", "critical", "p1"
    said: str  # as written in the intent


@dataclass(frozen=True)
class IntentFacts:
    thresholds: tuple[Threshold, ...]
    named: tuple[Named, ...]


def read_intent(intent: str) -> IntentFacts:
    return IntentFacts(thresholds(intent), named_things(intent))


# --- thresholds ---------------------------------------------------------------------------


def thresholds(intent: str) -> tuple[Threshold, ...]:
    """Every threshold of the intent, in order; see the module docstring for what counts."""
    if _CONTRARY.search(intent):
        return ()
    found = [t for t in map(_prefixed, _PREFIXED.finditer(intent)) if t is not None]
    taken = [(t.start, t.end) for t in found]
    for m in _POSTFIXED.finditer(intent):
        t = _postfixed(m)
        if t is not None and not any(s < t.end and t.start < e for s, e in taken):
            found.append(t)
    found.sort(key=lambda t: t.start)
    return tuple(t for i, t in enumerate(found) if not _is_window(intent, t, found[:i]))


def _prefixed(m: re.Match[str]) -> Threshold | None:
    phrase = " ".join(m.group("phrase").lower().split())
    before = _word_before(m.string, m.start())
    if not _NEGATED_PHRASE.search(phrase) and before in _NEGATIONS:
        return None  # "never above 5": a negation we do not read
    if before in _COUNTING_BEFORE:
        return None
    return _threshold(m, _DIRECTION[phrase], m.start("phrase"))


def _postfixed(m: re.Match[str]) -> Threshold | None:
    direction = DOWN if m.group("post").lower() in _POST_DOWN else UP
    return _threshold(m, direction, m.start())


def _threshold(m: re.Match[str], direction: str, start: int) -> Threshold | None:
    end = m.end("unit") if m.group("unit") else m.end("short") if m.group("short") else None
    end = end or (m.end("k") if m.group("k") else m.end("scale") if m.group("scale") else None)
    end = end or m.end("num")
    if end < len(m.string) and m.string[end].isalpha():
        return None  # "5xx", "3rd", "5m": not a plain amount
    if _UNREADABLE_AFTER.match(m.string, end) or _NOT_A_VALUE_AFTER.match(m.string, end):
        return None
    value = float(m.group("num").replace(",", ""))
    scale = (m.group("k") or m.group("scale") or "").lower()
    value *= _SCALES.get(scale, 1.0)
    unit_text = m.group("unit") or _SHORT_UNITS.get((m.group("short") or "").lower())
    unit = parse_unit(" ".join(unit_text.lower().split())) if unit_text else None
    begin = m.start("cur") if m.group("cur") else m.start("num")
    return Threshold(
        value=value,
        unit=unit,
        direction=direction,
        said=" ".join(m.string[start : max(end, m.end())].split()),
        amount=m.string[begin:end].strip(),
        start=start,
        end=max(end, m.end()),
    )


def _word_before(text: str, index: int) -> str:
    words = text[:index].lower().split()
    return words[-1] if words else ""


def _is_window(intent: str, t: Threshold, before: list[Threshold]) -> bool:
    """A duration qualifying another threshold: "above 80% for 5 minutes", "in under 10 min"."""
    if t.unit is None or t.unit.family != "time":
        return False
    if _word_before(intent, t.start) in _WINDOW_WORDS:
        return True
    if not before:
        return False
    gap = intent[before[-1].end : t.start]
    return re.fullmatch(r"[\s,]*(?:for|during|in|within)?\s*", gap, re.IGNORECASE) is not None


# --- named channels, teams, severities ----------------------------------------------------

_CHANNEL_WORDS = re.compile(
    r"(?<![\w@.#-])(?P<word>slack|e-?mail|sms|pager\s?duty|webhook)s?(?![\w-])", re.IGNORECASE
)
_HASH_CHANNEL = re.compile(r"(?<![\w&#])#[A-Za-z][\w-]*\w")
_TEAM = re.compile(
    r"(?<![\w-])(?:the|a|an|our|my|your|their)\s+(?P<name>[a-z][\w-]*)\s+team(?![\w-])",
    re.IGNORECASE,
)
_ON_CALL = re.compile(r"(?<![\w-])on[-\s]?call(?![\w])", re.IGNORECASE)
_NOT_TEAM_NAMES = frozenset(
    {"whole", "entire", "same", "right", "relevant", "responsible", "appropriate", "other",
     "new", "my", "our", "your", "their", "on", "this", "that"}
)  # fmt: skip
_SEVERITY_WORD = re.compile(
    r"(?<![\w-])(?P<sev>critical|urgent|blocker|p[0-5]|sev-?[0-5])(?![\w-])", re.IGNORECASE
)
_LEVELS = r"high|medium|low|highest|lowest|major|minor|normal"
_SEVERITY_QUALIFIED = re.compile(
    rf"(?<![\w-])(?:(?P<a>{_LEVELS})[-\s]+(?:priority|severity|urgency)"
    rf"|(?:priority|severity|urgency)(?:\s+(?:of|is|=|:))?\s*(?P<b>{_LEVELS})"
    r"|(?:an?|as\s+an?)\s+(?P<c>warning)"
    r"|(?P<d>warning|info|error)[-\s]+(?:level|severity)"
    r"|(?:level|severity)\s+(?:of\s+)?(?P<e>warning|info|error))(?![\w-])",
    re.IGNORECASE,
)
_CHANNEL_CANONICAL = {"e-mail": "email", "pager duty": "pagerduty", "pagerduty": "pagerduty"}


def named_things(intent: str) -> tuple[Named, ...]:
    """The channels, teams and severities the intent names, in order, without duplicates."""
    found: list[tuple[int, Named]] = []
    for m in _CHANNEL_WORDS.finditer(intent):
        word = " ".join(m.group("word").lower().split())
        found.append((m.start(), Named("channel", _CHANNEL_CANONICAL.get(word, word), m.group())))
    for m in _HASH_CHANNEL.finditer(intent):
        found.append((m.start(), Named("channel", m.group().lower(), m.group())))
    for m in _TEAM.finditer(intent):
        name = m.group("name").lower()
        if name not in _NOT_TEAM_NAMES and not _ON_CALL.fullmatch(name):
            found.append((m.start("name"), Named("team", name, m.group("name"))))
    for m in _ON_CALL.finditer(intent):
        found.append((m.start(), Named("team", "on-call", m.group())))
    found.extend(_severities(intent))
    seen: dict[tuple[str, str], Named] = {}
    for _, item in sorted(found, key=lambda f: f[0]):
        seen.setdefault((item.kind, item.value), item)
    return tuple(seen.values())


def _severities(intent: str) -> list[tuple[int, Named]]:
    out: list[tuple[int, Named]] = []
    for m in _SEVERITY_WORD.finditer(intent):
        if _word_before(intent, m.start()) not in _NEGATIONS:
            value = m.group("sev").lower().replace("-", "")
            out.append((m.start(), Named("severity", value, m.group())))
    for m in _SEVERITY_QUALIFIED.finditer(intent):
        word = next(g for g in m.group("a", "b", "c", "d", "e") if g)
        out.append((m.start(), Named("severity", word.lower(), m.group().strip())))
    return out

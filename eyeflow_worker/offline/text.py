"""Small, deterministic text analysis for the offline drafter: tokens, concepts, numbers.

No model, no randomness: the same sentence always yields the same facts. Words are mapped to
coarse concepts ("page", "alert", "escalate" → notify) so that an intent and a catalogue entry
written with different words still meet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

# Words carrying no meaning for matching intents to catalogue entries.
STOPWORDS = frozenset(
    {
        "a", "an", "the", "and", "or", "but", "if", "when", "whenever", "while", "where",
        "which", "who", "whom", "that", "this", "these", "those", "is", "are", "was", "were",
        "be", "been", "being", "it", "its", "of", "to", "for", "in", "on", "at", "by", "with",
        "from", "as", "than", "then", "there", "their", "them", "they", "we", "our", "us",
        "you", "your", "i", "me", "my", "any", "all", "some", "each", "every", "please",
        "should", "would", "could", "can", "will", "do", "does", "did", "has", "have", "had",
        "not", "no", "so", "such", "also", "into", "onto", "about", "after", "before", "over",
        "under", "up", "out", "more", "less", "most", "least", "above", "below", "per", "via",
    }
)  # fmt: skip

# concept → words (already lower-case, compared after light stemming).
_CONCEPTS: dict[str, tuple[str, ...]] = {
    "notify": ("alert", "notify", "notification", "warn", "page", "paging", "escalate",
               "escalation", "tell", "inform", "ping", "message", "contact", "remind",
               "reminder"),
    # "send"/"post" say little about *what* to do; they count only when nothing else does.
    "send": ("send", "post", "forward", "share"),
    "email": ("email", "mail", "inbox"),
    "slack": ("slack", "chat", "teams"),
    "sms": ("sms", "text", "phone", "mobile"),
    "incident": ("incident", "ticket", "jira", "issue", "case"),
    "restart": ("restart", "reboot", "bounce", "recycle"),
    "scale": ("scale", "replica", "replicas", "autoscale", "capacity", "instances"),
    "block": ("block", "ban", "blacklist", "firewall", "blocklist"),
    "lock": ("lock", "suspend", "disable", "freeze", "deactivate"),
    "log": ("log", "audit", "record", "journal"),
    "approve": ("approve", "approval", "approver", "authorize", "authorise", "signoff"),
    "reject": ("reject", "deny", "decline", "refuse"),
    "schedule": ("schedule", "scheduled", "daily", "weekly", "monthly", "hourly", "nightly", "cron",
                 "book", "calendar", "meeting"),
    "assign": ("assign", "allocate", "buddy", "mentor"),
    "provision": ("provision", "account", "accounts", "access", "credential", "credentials",
                  "grant"),
    "equipment": ("laptop", "equipment", "device", "hardware", "badge"),
    "training": ("training", "course"),
    "warning": ("warning",),  # "log a warning": a level, not a request to notify anyone
    "payment": ("payment", "pay", "payout", "transfer", "wire"),
    "hold": ("hold", "pause", "flag", "quarantine"),
    "memory": ("memory", "mem", "ram"),
    "database": ("database", "db", "postgres", "mysql", "sql"),
    "cpu": ("cpu", "processor", "load"),
    "disk": ("disk", "storage", "volume"),
    "latency": ("latency", "response", "slow", "ms", "millisecond", "milliseconds"),
    "error": ("error", "errors", "5xx", "exception"),
    "login": ("login", "logins", "logon", "signin", "authentication"),
    "fail": ("fail", "failed", "failure", "failing", "unsuccessful"),
    "down": ("down", "offline", "unreachable", "unavailable", "outage", "dead"),
    "percent": ("percent", "%", "pct", "percentage"),
    "amount": ("amount", "total", "value", "sum", "cost", "price", "spend", "spending"),
    "expense": ("expense", "expenses", "reimbursement", "claim"),
    "invoice": ("invoice", "bill", "vendor", "supplier"),
    "employee": ("employee", "hire", "hired", "joiner", "joins", "join", "staff", "starter",
                 "newcomer"),
    "manager": ("manager", "supervisor", "lead", "boss"),
    "security": ("security", "suspicious", "attack", "intrusion", "ip"),
    "queue": ("queue", "backlog", "pending", "waiting"),
    "connection": ("connection", "connections", "connect"),
    "metric": ("metric", "metrics", "usage", "utilization", "utilisation"),
    "start": ("start", "started", "begin", "startup", "kickoff"),
    "days": ("day", "days"),
}  # fmt: skip

_WORD_TO_CONCEPT: dict[str, str] = {w: c for c, words in _CONCEPTS.items() for w in words}

# Concepts that name something to *do*; used to pick actions, one per concept mentioned.
ACTION_CONCEPTS = (
    "notify", "email", "slack", "sms", "incident", "restart", "scale", "block", "lock", "log",
    "approve", "reject", "schedule", "assign", "provision", "equipment", "training", "payment",
    "hold", "send",
)  # fmt: skip
WEAK_ACTION_CONCEPTS = frozenset({"send"})

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|%")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


_SUFFIXES = (
    ("ies", "y"), ("ied", "y"), ("sses", "ss"), ("ches", "ch"), ("shes", "sh"), ("xes", "x"),
    ("ing", ""), ("ed", ""), ("s", ""),
)  # fmt: skip


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """A deliberately crude stemmer: enough to meet "exceeds"/"exceed", "invoices"/"invoice"."""
    for suffix, keep in _SUFFIXES:
        if word.endswith(suffix) and not word.endswith("ss") and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + keep
    return word


def words(text: str) -> list[str]:
    """Lower-case words of `text`, splitting snake_case, kebab-case, camelCase and dotted paths."""
    spaced = _CAMEL.sub(" ", text)
    for sep in "_.$-":
        spaced = spaced.replace(sep, " ")
    return _TOKEN.findall(spaced.lower())


def concept(word: str) -> str:
    """The concept a word belongs to, or the word's stem when it belongs to none."""
    return _WORD_TO_CONCEPT.get(word) or _WORD_TO_CONCEPT.get(stem(word)) or stem(word)


def concepts(text: str) -> list[str]:
    """Meaningful concepts of `text`, in order of appearance, without duplicates."""
    out: list[str] = []
    for word in words(text):
        if word in STOPWORDS and word not in _WORD_TO_CONCEPT:
            continue
        c = concept(word)
        if c not in out:
            out.append(c)
    return out


def overlap(a: Iterable[str], b: Iterable[str]) -> int:
    return len(set(a) & set(b))


def slug(text: str, *, max_words: int = 6, max_len: int = 60) -> str:
    """kebab-case of the meaningful words of `text` (used for workflow and rule names)."""
    kept = [w for w in words(text) if w not in STOPWORDS and w != "%"][:max_words]
    out = "-".join(kept)[:max_len].strip("-")
    return out or "workflow"


# --- numbers ------------------------------------------------------------------------------

_NUMBER = (
    r"(?P<cur>[$€£])?\s*(?P<num>\d[\d,]*(?:\.\d+)?)\s*"
    r"(?P<unit>%|percent\b|per cent\b|pct\b|k\b|thousand\b|million\b|ms\b|milliseconds?\b"
    r"|seconds?\b|secs?\b|minutes?\b|mins?\b|hours?\b|hrs?\b|days?\b|weeks?\b|years?\b|kb\b"
    r"|gb\b|mb\b|tb\b)?"
)


@dataclass(frozen=True)
class Quantity:
    value: int | float
    unit: str | None  # "%", "ms", "s", "min", "h", "d", "w", "y", "kb", "mb", "gb", "tb" or None
    start: int
    end: int


_UNITS = {
    "%": "%", "percent": "%", "ms": "ms", "millisecond": "ms", "milliseconds": "ms",
    "second": "s", "seconds": "s", "sec": "s", "secs": "s", "minute": "min", "minutes": "min",
    "min": "min", "mins": "min", "hour": "h", "hours": "h", "day": "d", "days": "d",
    "gb": "gb", "mb": "mb", "kb": "kb", "tb": "tb", "pct": "%", "per cent": "%", "hr": "h",
    "hrs": "h", "week": "w", "weeks": "w", "year": "y", "years": "y",
}  # fmt: skip
_SCALES = {"k": 1000, "thousand": 1000, "million": 1_000_000}


def number_value(raw: str, unit: str | None = None) -> int | float:
    value = float(raw.replace(",", "")) * _SCALES.get(unit or "", 1)
    return int(value) if value.is_integer() else value


def quantity(match: re.Match[str]) -> Quantity:
    raw_unit = (match.group("unit") or "").lower()
    return Quantity(
        number_value(match.group("num"), raw_unit),
        _UNITS.get(raw_unit),
        match.start("num") if match.group("cur") is None else match.start("cur"),
        match.end(),
    )


def quantities(text: str) -> list[Quantity]:
    return [quantity(m) for m in re.finditer(_NUMBER, text.lower())]


def duration_in(text: str, unit: str) -> int | None:
    """The first duration mentioned in `text`, converted to `unit` ("s", "min", "h", "d")."""
    factors = {"s": 1, "min": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    for q in quantities(text):
        if q.unit in factors:
            seconds = float(q.value) * factors[q.unit]
            return max(1, round(seconds / factors[unit]))
    return None


# Words that open the condition part of an intent ("… when X", "if X, …").
_CLAUSE = re.compile(r"\b(?:when|whenever|if|once|after|where|whose|that|which)\b[^,;]*", re.I)


def split_intent(intent: str) -> tuple[str, str]:
    """(what to do, when to do it): the condition clause is cut out of the action text.

    "Notify finance when a payment is due" → ("Notify finance", "when a payment is due"), so a
    noun in the condition ("payment") is not mistaken for a request to make a payment.
    """
    match = _CLAUSE.search(intent)
    if match is None:
        return intent, ""
    clause = match.group()
    # "… if X goes above 5% and page the team": the clause ends where a new verb starts.
    for part in re.finditer(r"\s(?:and|or)\s+(\w+)", clause):
        if concept(part.group(1)) in ACTION_CONCEPTS:
            clause = clause[: part.start()]
            break
    end = match.start() + len(clause)
    return (intent[: match.start()] + intent[end:]).strip(), clause.strip()


def prefix_match(a: str, b: str) -> bool:
    """Same word up to inflection: "escalate"/"escalation", "approve"/"approval"."""
    n = min(len(a), len(b), 6)
    return n >= 5 and a[:n] == b[:n]

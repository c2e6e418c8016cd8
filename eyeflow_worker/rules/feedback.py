"""Refine feedback as separate requests, and the delivery channels a catalogue offers.

"Use slack instead of email and lower the threshold to 80%" is two requests; `split_feedback`
cuts it into clauses so each can be applied — and reported — on its own. Both the offline
drafter (which applies clauses) and `feedback_report` (which says, for any provider, which
clauses the refined rules reflect) work from the same clauses, so they agree on what was asked.

The cut is deliberately conservative: `;` and sentence ends always separate; a comma, `and` or
`then` separates only when the next word opens a new request (a verb such as "use", "lower",
"add", or "also"/"then"), so "retry 5 times, every 10 seconds" and "notify alice and bob" stay
whole.
"""

from __future__ import annotations

import re
from typing import Final

from eyeflow_worker.core.catalogue_model import Capability, Catalogue

# Words that open a request of their own after ",", "and" or "then".
_OPENERS: Final = frozenset(
    {
        "use", "switch", "change", "set", "lower", "raise", "increase", "decrease", "reduce",
        "make", "add", "also", "remove", "drop", "delete", "replace", "send", "notify", "alert",
        "page", "rename", "call", "retry", "stop", "continue", "include", "escalate", "open",
        "create", "restart", "scale", "block", "log", "only", "don't", "do", "move", "put",
        "mark", "trigger", "run", "cc", "update", "keep", "please", "then", "route",
        "assign", "give", "bump", "lift", "cut",
    }
)  # fmt: skip
_ALWAYS: Final = re.compile(r"\s*;\s*|(?<=[^\s\d.])\.(?=\s|$)\s*|\n+")
_MAYBE: Final = re.compile(r"\s*,\s*(?:and\s+|then\s+)?|\s+and\s+(?:then\s+)?|\s+then\s+", re.I)
_FIRST_WORD: Final = re.compile(r"[\w']+")
_EDGE: Final = re.compile(r"^[\s,;.:!-]+|[\s,;.:!-]+$")

# Delivery channels by the words that name them (the catalogue decides which exist). Words
# that are mostly something else in feedback ("text", "call", "push") are left out.
CHANNEL_WORDS: Final[dict[str, str]] = {
    "email": "email", "e-mail": "email", "mail": "email", "slack": "slack", "teams": "teams",
    "sms": "sms", "pagerduty": "pagerduty", "pager": "pagerduty", "opsgenie": "opsgenie",
    "webhook": "webhook", "discord": "discord", "telegram": "telegram", "whatsapp": "whatsapp",
    "phone": "phone",
}  # fmt: skip
# Parameters that choose the channel ("channel": "email" | "slack" | "sms").
CHANNEL_PARAMS: Final = frozenset({"channel", "channels", "medium", "via", "method", "transport"})


def split_feedback(feedback: str) -> list[str]:
    """The feedback's requests, in order, trimmed; never empty for non-blank feedback."""
    clauses: list[str] = []
    for sentence in _ALWAYS.split(feedback):
        start = 0
        for sep in _MAYBE.finditer(sentence):
            word = _FIRST_WORD.match(sentence, sep.end())
            opens = word is not None and word.group().lower() in _OPENERS
            if opens or "then" in sep.group().lower():
                clauses.append(sentence[start : sep.start()])
                start = sep.end()
        clauses.append(sentence[start:])
    cleaned = [_EDGE.sub("", c) for c in clauses]
    return [c for c in cleaned if c] or ([feedback.strip()] if feedback.strip() else [])


def channels_named(text: str) -> list[str]:
    """The channels `text` names, in order, without duplicates ("slack", "email")."""
    out: list[str] = []
    for word in re.findall(r"[a-z][a-z-]*", text.lower()):
        channel = CHANNEL_WORDS.get(word)
        if channel is not None and channel not in out:
            out.append(channel)
    return out


def action_channel(action: Capability) -> str | None:
    """The channel an action type is dedicated to (SEND_EMAIL → email), if its name says so."""
    for word in re.split(r"[^a-z]+", action.name.lower()):
        if word in CHANNEL_WORDS:
            return CHANNEL_WORDS[word]
    return None


def offered_channels(catalogue: Catalogue) -> list[str]:
    """Every channel the catalogue can deliver on: the values of a channel parameter's enum,
    and the channels of dedicated actions (SEND_EMAIL, POST_SLACK_MESSAGE)."""
    out: list[str] = []
    for action in catalogue.action_types:
        values = [
            str(v).lower()
            for p in action.params
            if p.name.lower() in CHANNEL_PARAMS
            for v in p.enum
        ]
        dedicated = action_channel(action)
        for channel in [*values, *([dedicated] if dedicated else [])]:
            if channel not in out:
                out.append(channel)
    return out


def missing_channel_reason(clause: str, catalogue: Catalogue) -> str | None:
    """Why a clause asking for a channel cannot be applied: the catalogue does not offer it."""
    offered = offered_channels(catalogue)
    for channel in channels_named(clause):
        if channel not in offered:
            listed = ", ".join(offered) if offered else "none"
            return f"the catalogue offers no {channel!r} channel (channels it offers: {listed})"
    return None

"""The batch bench's workload: the intents it submits and the digest it compares rules by.

The baseline loop, the fleet and the fake provider all draft from `make_intents(n)`, and rules
are compared by `digest`, so a baseline child can hand back N results as one JSON line.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from processes import ROOT

FIXTURES = ROOT / "tests" / "rules" / "fixtures" / "intents.json"
# Prefixes for the 2nd, 3rd, ... pass over the fixture intents (the 1st pass is verbatim).
PREFIXES = ("", "Please ", "In production, ", "For the EU region, ", "Overnight, ")
NUMBER = re.compile(
    r"(?<![A-Za-z\d])\d{1,3}(?:,\d{3})+(?![A-Za-z\d])|(?<![A-Za-z\d,])\d+(?![A-Za-z\d,])"
)


def make_intents(n: int) -> list[str]:
    """The fixture intents (all four catalogues' wording), cycled; from the second pass on each
    gets its thresholds nudged and a prefix, so no two passes send the same text."""
    base = [case["intent"] for case in json.loads(FIXTURES.read_text())]
    intents = []
    for i in range(n):
        text, round_ = base[i % len(base)], i // len(base)
        if round_:
            bump = 1 + (round_ - 1) % 9

            def nudge(match: re.Match[str], bump: int = bump) -> str:
                raw = match.group(0)
                value = int(raw.replace(",", "")) + bump
                return f"{value:,}" if "," in raw else str(value)

            text = NUMBER.sub(nudge, text)
            prefix = PREFIXES[round_ % len(PREFIXES)]
            if prefix:
                text = prefix + text[0].lower() + text[1:]
        intents.append(text)
    return intents


def digest(rules: Any) -> str:
    """A stable fingerprint of a rules document (key order does not count)."""
    return hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()

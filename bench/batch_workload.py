"""The batch bench's workload: the intents it submits and the digest it compares rules by.

The baseline loop, the fleet and the fake provider all draft from `make_intents(n)` (intents the
fake's answer, `drafted_answer`, is valid for), and rules are compared by `digest`, so a
baseline child can hand back N results as one JSON line.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from functools import cache
from typing import Any

from processes import ROOT

FIXTURES = ROOT / "tests" / "rules" / "fixtures" / "intents.json"
# Prefixes for the 2nd, 3rd, ... pass over the fixture intents (the 1st pass is verbatim).
PREFIXES = ("", "Please ", "In production, ", "For the EU region, ", "Overnight, ")
NUMBER = re.compile(
    r"(?<![A-Za-z\d])\d{1,3}(?:,\d{3})+(?![A-Za-z\d])|(?<![A-Za-z\d,])\d+(?![A-Za-z\d,])"
)


def make_intents(n: int) -> list[str]:
    """`n` intents of `candidate_intents` whose drafted answer is valid (`drafted_answer`), so a
    fake provider answering with it succeeds in one call for every item."""
    intents: list[str] = []
    size = n
    while len(intents) < n:
        size *= 2
        intents = [text for text in candidate_intents(size) if drafted_answer(text) is not None]
    return intents[:n]


@cache
def drafted_answer(intent: str) -> str | None:
    """What the benches' fake providers answer for `intent`: the embedded offline drafter's rules
    for the sample catalogue (what the fleet uses without NestJS), as JSON text — faithful to
    the intent by construction, so validation accepts it at once. None when the drafter's rules
    do not pass validation (its rules of thumb do not cover the wording)."""
    sys.path.insert(0, str(ROOT))
    from eyeflow_worker.core.errors import EyeflowError
    from eyeflow_worker.core.llm_config import ProviderConfig
    from eyeflow_worker.core.settings import Settings
    from eyeflow_worker.providers.offline import OfflineProvider
    from eyeflow_worker.rules.sample_catalogue import sample_catalogue
    from eyeflow_worker.rules.service import generate_rules

    drafter = OfflineProvider(ProviderConfig(provider="offline", model="bench"), Settings())
    try:
        result = generate_rules(drafter, intent, sample_catalogue(), max_repair_attempts=0)
    except EyeflowError:
        return None
    return json.dumps(result["workflow_rules"])


def candidate_intents(n: int) -> list[str]:
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

"""Write the quality benchmark's data files from the specs beside it.

    .venv/bin/python bench/quality_make_data.py

writes `bench/quality/catalogues/<name>.json` (the raw NestJS payloads, one shape each),
`bench/quality/expected.json` (what a correct reader finds in each) and
`bench/quality/intents.json` (every intent with its correct workflow-rules document). The JSON
files are checked in; rerun this after editing `quality_domains.py` or
`quality_intents_spec.py`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_domains import CATALOGUES
from quality_intents_spec import INTENTS, I

DATA = Path(__file__).resolve().parent / "quality"
_OP_WORDS = {">": "above", ">=": "at-least", "<": "below", "<=": "at-most", "==": "is", "!=": "not"}


def slug(text: str, max_words: int = 7) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words[:max_words])[:80] or "workflow"


def rule_name(condition: str) -> str:
    m = re.search(r"\$([\w.]+)\s*(>=|<=|==|!=|>|<)\s*(\"[^\"]*\"|[\d.]+)", condition)
    if m is None:
        return "rule-1"
    var, op, value = m.groups()
    leaf = var.split(".")[-1]
    return slug(f"{leaf} {_OP_WORDS[op]} {value.strip(chr(34))}", 8)


def rules_document(case: I) -> dict[str, Any]:
    return {
        "workflow_name": slug(case.intent),
        "trigger": case.trigger,
        "rules": [
            {
                "name": rule_name(case.condition),
                "condition": case.condition,
                "then": [dict(a) for a in case.actions],
            }
        ],
    }


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    for spec in CATALOGUES:
        _write(DATA / "catalogues" / f"{spec.name}.json", spec.render(spec))
    _write(DATA / "expected.json", {spec.name: spec.expected() for spec in CATALOGUES})
    names = {spec.name for spec in CATALOGUES}
    intents = []
    for case in INTENTS:
        if case.catalogue not in names:
            raise SystemExit(f"unknown catalogue {case.catalogue!r} for {case.intent!r}")
        for right, _wrong in case.slip:
            if right not in case.condition:
                raise SystemExit(f"slip literal {right!r} not in {case.condition!r}")
        entry: dict[str, Any] = {
            "catalogue": case.catalogue,
            "intent": case.intent,
            "rules": rules_document(case),
        }
        if case.slip:
            entry["unit_slip"] = [list(pair) for pair in case.slip]
        intents.append(entry)
    _write(DATA / "intents.json", intents)
    print(f"wrote {len(CATALOGUES)} catalogues and {len(intents)} intents under {DATA}")


if __name__ == "__main__":
    main()

"""Run every fixture intent through the offline drafter, and every scripted LLM mistake
through the repair loop; print first-time / after-repair / failed counts.

    .venv/bin/python bench/rules_fixtures.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eyeflow_worker.core.errors import InvalidLLMOutput
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.providers.offline import OfflineProvider
from eyeflow_worker.rules.service import generate_rules
from tests.rules.conftest import fixture_intents, raw_catalogue
from tests.rules.scripted import MISTAKES, ScriptedProvider

INTENT = "Alert the team when database memory exceeds 85%"


def main() -> None:
    offline = OfflineProvider(
        ProviderConfig(provider="offline", model="eyeflow-offline-drafter-1"), Settings()
    )
    first = repaired = failed = 0
    started = time.perf_counter()
    total = 0
    for case in fixture_intents():
        context = None if case["catalogue"] == "sample" else raw_catalogue(case["catalogue"])
        total += 1
        try:
            result = generate_rules(offline, case["intent"], context, max_repair_attempts=2)
        except InvalidLLMOutput as exc:
            failed += 1
            print(f"FAILED offline {case['intent']!r}: {exc.details['errors']}")
            continue
        first += result["attempts"] == 1
        repaired += result["attempts"] > 1
    offline_line = (
        f"offline drafter: first-time pass {first}/{total}, after repair {repaired}, "
        f"failed {failed}"
    )

    s_first = s_repaired = s_failed = 0
    for mistake in MISTAKES:
        for script in ([mistake.bad_output, mistake.fixed_output], [mistake.bad_output] * 3):
            llm = ScriptedProvider(list(script))
            try:
                result = generate_rules(
                    llm,
                    "Alert the team when database memory exceeds 85%",
                    None,
                    max_repair_attempts=2,
                )
            except InvalidLLMOutput:
                s_failed += 1
                continue
            s_first += result["attempts"] == 1
            s_repaired += result["attempts"] > 1
    s_total = 2 * len(MISTAKES)
    elapsed = time.perf_counter() - started
    print(offline_line)
    print(
        f"scripted mistakes ({len(MISTAKES)} kinds, corrected and never-corrected scripts): "
        f"first-time pass {s_first}/{s_total}, after repair {s_repaired}, failed {s_failed}"
    )
    print(
        f"all: first-time pass {first + s_first}/{total + s_total}, after repair "
        f"{repaired + s_repaired}, failed {failed + s_failed}  ({elapsed:.2f}s)"
    )


if __name__ == "__main__":
    main()

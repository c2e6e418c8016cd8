"""The batch bench's baseline: N intents through `generate_rules` in a plain single-threaded loop.

No queue, no Redis, no rate limiter: the provider from `build_llm`, as the original synchronous
service used it. It runs in a child process so its peak RSS can be read like a worker's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from batch_fake_ollama import InProcessFake
from batch_workload import digest, make_intents
from proc_stats import vm_hwm_kb
from processes import ROOT

# The child enters through the bench's own command line (its hidden --baseline-child flag), so
# it imports the same modules as the bench and its peak RSS is read on the same footing.
BENCH_SCRIPT = Path(__file__).with_name("batch_bench.py")


def baseline_child(n: int, timed: int, warmup: int) -> dict[str, Any]:
    """Runs in its own interpreter: warm up, time the loop over the first `timed` intents, return
    the figures (the command line prints them as one JSON line). When `timed` < n (latency
    scenario only), the expected rules for all n intents come from `InProcessFake`, and the timed
    items' rules are compared with them."""
    sys.path.insert(0, str(ROOT))
    from eyeflow_worker.core.llm_config import ProviderConfig
    from eyeflow_worker.core.settings import load_settings
    from eyeflow_worker.providers.registry import build_llm
    from eyeflow_worker.rules.service import generate_rules

    settings = load_settings()
    config = ProviderConfig(  # what TenantConfigStore serves without NestJS
        provider=settings.llm_provider.lower(),
        model=settings.llm_model,
        temperature=settings.llm_temperature,
        max_tokens=settings.llm_max_tokens,
        api_key=settings.llm_api_key,
        api_url=settings.llm_api_url,
        request_timeout_seconds=settings.llm_request_timeout_seconds,
    )
    llm = build_llm(config, settings)
    intents = make_intents(n)
    attempts = settings.rules_max_repair_attempts

    def draft_all(provider: Any, batch: list[str]) -> list[str | None]:
        digests: list[str | None] = []
        for intent in batch:
            try:
                result = generate_rules(provider, intent, None, max_repair_attempts=attempts)
            except Exception:  # counted, reported as failed
                digests.append(None)
            else:
                digests.append(digest(result["workflow_rules"]))
        return digests

    draft_all(llm, intents[:warmup])
    cpu_started = time.process_time()
    started = time.perf_counter()
    digests = draft_all(llm, intents[:timed])
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    rss_kb = vm_hwm_kb(os.getpid())
    mismatched = 0
    if timed < n:
        if config.provider != "ollama":
            raise SystemExit("a partly timed baseline needs the fake Ollama provider")
        expected = draft_all(InProcessFake(), intents)
        mismatched = sum(got != want for got, want in zip(digests, expected, strict=False))
        digests = expected
    return {
        "seconds": seconds,
        "cpu": cpu,
        "mismatched": mismatched,
        "digests": digests,
        "rss_kb": rss_kb,
    }


def run_baseline(n: int, timed: int, warmup: int, env: dict[str, str]) -> dict[str, Any]:
    """Runs `baseline_child` in a fresh interpreter with `env` and returns its figures."""
    out = subprocess.run(
        [sys.executable, str(BENCH_SCRIPT), "--baseline-child", str(n), str(timed), str(warmup)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result

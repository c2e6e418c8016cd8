"""What 1000 rules cost: `economy` (the provider's batch API) vs `realtime` vs the seed's way.

The same `--intents` intents (default 200, `make_intents`) and the same model
(`claude-sonnet-4-5`) run three ways against a loopback fake Anthropic (`economy_fake.py`,
served from a child process; a fresh one per run, so each run pays its own cache write):

  economy   a whole fleet (`operator_fleet.running_fleet`, LLM_PROVIDER=anthropic), one
            `POST /api/rules/generate-batch` with `mode: "economy"`: the task's `cost_usd`
            (batch rate) and `realtime_cost_usd` (the same usage at the realtime rate);
  realtime  the same with `mode: "realtime"`: the sum of the items' `cost_usd`;
  seed      the seed's way: sequential, synchronous, no caching — one Messages call per intent
            through the official `anthropic` SDK from this process, with the system prompt and
            user turn the fleet sends (`build_generate_request` on the sample catalogue) but no
            `cache_control`, priced with `pricing.cost_usd` on the reported usage.

The billing model (the fake's; the documented pricing applied to a *model* of the tokens, not a
measurement of Anthropic): tokens = ceil(characters / 4); a request whose system block carries
`cache_control` reports that block as `cache_creation_input_tokens` the first time the exact
prefix is seen within its TTL (5 min, or 1 h as the fleet's batches ask) and as
`cache_read_input_tokens` afterwards, the rest of the prompt as `input_tokens`; a request
without `cache_control` reports everything as `input_tokens`; output tokens from the answer's
length. Prices are the table's (`eyeflow_worker/providers/pricing.py`): realtime list price,
cache reads 0.1x input, 5-min writes 1.25x, 1-h writes 2x, batches 0.5x of all of it.
Concurrent realtime calls are metered in arrival order (the first one writes the cache, the
rest read it); Anthropic may miss the cache for calls that arrive before the write completes.

Printed per run: $ per 1000 rules (over the items that succeeded), the ratio to the seed, the
same figure priced by the bench from the fake's own token totals (a cross-check of what the
fleet recorded), items succeeded/failed, provider requests the fake received (Messages calls;
batch creates and the requests inside them), wall seconds, and two checks: 0 items lost (every
item is succeeded, or failed with an error code, none missing) and 0 requests billed twice (in
a run, no intent reached the fake more often than the workload holds it — `make_intents`
repeats a few texts — and no `custom_id` twice; the fake scripts no errors, so no follow-up
round is expected). Goal: economy <= 0.3x the seed. Exits 1 when a check fails.

Run: .venv/bin/python bench/economy_bench.py        # ~1 minute
     .venv/bin/python bench/economy_bench.py --intents 50 --latency-ms 0
(needs Redis on 127.0.0.1:6379; uses and flushes db 12)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from batch_workload import make_intents
from economy_fake import serve, stats_of
from fake_process import ChildFake, fake_in_child
from operator_fleet import batch_items, bench_env, running_fleet, submit_batch, wait_terminal
from processes import ROOT

sys.path.insert(0, str(ROOT))
from eyeflow_worker.core.llm import Usage
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.providers.pricing import cost_usd

MODEL = "claude-sonnet-4-5"
API_KEY = "sk-bench-not-a-real-key"
GOAL = 0.3


@dataclass
class Run:
    name: str
    cost: float  # USD, as the fleet (or the seed loop) priced it
    succeeded: int
    failed: int
    seconds: float
    fake: dict[str, int]
    lost: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def per_1000(self, cost: float | None = None) -> float:
        return 1000 * (self.cost if cost is None else cost) / max(1, self.succeeded)

    @property
    def billed_twice(self) -> int:
        return self.fake["messages_twice"] + self.fake["batch_twice"]

    def fake_billed(self, settings: Settings) -> float:
        """The fake's token totals priced per the table: what the provider would invoice."""

        def usage(where: str) -> Usage:
            f = self.fake
            return Usage(
                input_tokens=f[f"{where}_input_tokens"],
                output_tokens=f[f"{where}_output_tokens"],
                cache_read_input_tokens=f[f"{where}_cache_read_input_tokens"],
                cache_creation_input_tokens=f[f"{where}_cache_creation_input_tokens"],
            )

        realtime = cost_usd("anthropic", MODEL, usage("rt"), settings) or 0.0
        batch = cost_usd(
            "anthropic", MODEL, usage("batch"), settings, batch=True, cache_write_ttl="1h"
        )
        return realtime + (batch or 0.0)


def lost_items(items: list[dict[str, Any]], n: int) -> int:
    """Items missing, or neither succeeded nor failed with an error code."""
    by_index = {item["index"]: item for item in items}
    accounted = sum(
        1
        for index in range(n)
        if (item := by_index.get(index)) is not None
        and (
            item["status"] == "succeeded"
            or (item["status"] == "failed" and (item.get("error") or {}).get("code"))
        )
    )
    return n - accounted


def fleet_run(mode: str, intents: list[str], fake: ChildFake) -> Run:
    settings = {
        "LLM_PROVIDER": "anthropic",
        "LLM_MODEL": MODEL,
        "LLM_API_KEY": API_KEY,
        "LLM_API_URL": fake.url,
    }
    with running_fleet(bench_env(**settings), name="economy") as fleet:
        started = time.perf_counter()
        task_id = submit_batch(fleet.client, intents, mode=mode)
        task = wait_terminal(fleet.client, task_id)
        seconds = time.perf_counter() - started
        items = batch_items(fleet.client, task_id)
    counters = fake.stats()
    succeeded = sum(1 for i in items if i["status"] == "succeeded")
    failed = sum(1 for i in items if i["status"] == "failed")
    if failed:
        first = next(i for i in items if i["status"] == "failed")
        print(f"  {mode}: {failed} failed, first: {first.get('error')}")
    if task.get("mode") != mode:
        print(f"  {mode}: the task ran as {task.get('mode')!r}: {task.get('mode_reason')}")
    if mode == "economy":
        cost = float(task.get("cost_usd") or 0.0)
        extra = {
            "realtime_cost_usd": float(task.get("realtime_cost_usd") or 0.0),
            "provider_batches": len(task.get("provider_batches") or []),
        }
    else:
        cost = sum(float(i.get("cost_usd") or 0.0) for i in items)
        extra = {}
    unpriced = sum(1 for i in items if i["status"] == "succeeded" and i.get("cost_usd") is None)
    if unpriced:
        print(f"  {mode}: {unpriced} succeeded items carry no cost_usd")
    run = Run(mode, cost, succeeded, failed, seconds, counters, extra=extra)
    run.lost = lost_items(items, len(intents))
    return run


def seed_run(intents: list[str], fake: ChildFake, settings: Settings) -> Run:
    """One synchronous Messages call per intent, no `cache_control`: the seed's way."""
    import anthropic

    from eyeflow_worker.rules.catalogue import catalogue_for
    from eyeflow_worker.rules.prompt import build_generate_request

    catalogue = catalogue_for(None).catalogue
    client = anthropic.Anthropic(api_key=API_KEY, base_url=fake.url, max_retries=0, timeout=60)
    cost, succeeded, failed = 0.0, 0, 0
    started = time.perf_counter()
    for intent in intents:
        request = build_generate_request(intent, catalogue)
        with warnings.catch_warnings():  # SDK 2.x warns that claude-sonnet-4-5 is deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            message = client.messages.create(
                model=MODEL,
                max_tokens=4096,
                system=request.system,  # a plain string: no cache_control
                messages=[{"role": "user", "content": m.content} for m in request.messages],
            )
        u = message.usage
        usage = Usage(
            input_tokens=u.input_tokens,
            output_tokens=u.output_tokens,
            cache_read_input_tokens=u.cache_read_input_tokens or 0,
            cache_creation_input_tokens=u.cache_creation_input_tokens or 0,
        )
        cost += cost_usd("anthropic", MODEL, usage, settings) or 0.0
        text = "".join(b.text for b in message.content if b.type == "text")
        try:
            ok = bool(json.loads(text).get("rules"))
        except ValueError:
            ok = False
        succeeded += ok
        failed += not ok
    seconds = time.perf_counter() - started
    return Run("seed", cost, succeeded, failed, seconds, fake.stats())


def requests_of(run: Run) -> str:
    f = run.fake
    text = f"{f['messages_calls']} messages"
    if f["batch_creates"]:
        text += f" + {f['batch_requests']} in {f['batch_creates']} batch(es)"
    return text


def report(runs: list[Run], n: int, latency_ms: int, settings: Settings) -> bool:
    seed = next(r for r in runs if r.name == "seed")
    print(
        f"{n} intents, model {MODEL}, fake Anthropic (Messages latency {latency_ms} ms); "
        "usage modelled as characters/4 tokens, priced per pricing.py"
    )
    print(
        f"{'run':<9} {'$/1k rules':>10} {'vs seed':>8} {'fake $/1k':>9} {'ok':>4} {'fail':>4} "
        f"{'lost':>4} {'twice':>5} {'wall s':>7}  provider requests"
    )
    for r in runs:
        print(
            f"{r.name:<9} {r.per_1000():>10.4f} {r.per_1000() / seed.per_1000():>7.3f}x "
            f"{r.per_1000(r.fake_billed(settings)):>9.4f} {r.succeeded:>4} {r.failed:>4} "
            f"{r.lost:>4} {r.billed_twice:>5} {r.seconds:>7.1f}  {requests_of(r)}"
        )
    lost = sum(r.lost for r in runs)
    twice = sum(r.billed_twice for r in runs)
    failed = sum(r.succeeded != n for r in runs)
    ok = lost == 0 and twice == 0 and failed == 0
    economy = next((r for r in runs if r.name == "economy"), None)
    if economy is not None:
        realtime = economy.per_1000(economy.extra["realtime_cost_usd"])
        print(
            f"economy task: cost_usd {economy.cost:.4f} (batch rate), realtime_cost_usd "
            f"{economy.extra['realtime_cost_usd']:.4f} (= {realtime:.4f} $/1k rules), "
            f"{economy.extra['provider_batches']} provider batch(es), "
            f"{economy.fake['http_requests']} HTTP requests to the fake (creates, polls, results)"
        )
        ratio = economy.per_1000() / seed.per_1000()
        print(
            f"goal economy <= {GOAL}x seed: {ratio:.3f}x, {'met' if ratio <= GOAL else 'NOT met'}"
        )
        ok = ok and ratio <= GOAL
    print(
        f"checks: items lost {lost}, requests billed twice {twice}, "
        f"runs with an item not succeeded {failed}: {'ok' if ok else 'FAILED'}"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--intents", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=100, help="of a Messages call")
    parser.add_argument("--runs", default="economy,realtime,seed")
    args = parser.parse_args()
    intents = make_intents(args.intents)  # also drafts (and caches) the fake's answers
    settings = Settings()
    start = partial(serve, args.latency_ms / 1000, intents)
    runs: list[Run] = []
    for name in args.runs.split(","):
        with fake_in_child(start, stats_of) as fake:
            if name == "seed":
                runs.append(seed_run(intents, fake, settings))
            else:
                runs.append(fleet_run(name, intents, fake))
    if not any(r.name == "seed" for r in runs):
        raise SystemExit("the seed run is the reference: keep it in --runs")
    if not report(runs, args.intents, args.latency_ms, settings):
        raise SystemExit(1)


if __name__ == "__main__":
    main()

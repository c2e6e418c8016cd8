"""Economy batches under crashes: 0 items lost and 0 requests billed twice when the batch worker
is killed (SIGKILL, no warm shutdown) at the worst points of a provider batch's life.

Each scenario is one economy batch (`--intents`, default 120, `make_intents`) through a whole
fleet (`operator_fleet.running_fleet`: gateway, interactive worker, batch worker and beat, whose
economy sweep re-sends overdue submits and polls) against a fresh loopback fake of the
provider's batch API served from a child process (`economy_fake.py`: `ChaosAnthropic`, the
metered fake Anthropic of `economy_bench.py`; `DraftedOpenAI`, the OpenAI Files + Batch fake;
both answer every request with valid rules). The fake holds one reply so the bench can kill the
batch worker at a known point, then a fresh batch worker starts at once and the hold is released:

  create   the provider's `create` is received and the batch exists at the provider, but its
           reply is held: the worker dies before it can record the batch id (the recovery has to
           adopt that batch — Anthropic by creation window + request count, OpenAI by metadata —
           and not create and pay for a second one);
  collect  the results are being read: half of the results stream (Anthropic's JSONL results,
           OpenAI's output file) is sent, the rest held; the worker dies mid-collection (on
           Anthropic after storing the items of the half it read);
  ack      no hold: the bench watches the job record and kills the worker the moment the batch
           ends, i.e. right after collection, before the poll's message is acknowledged (printed:
           whether that message was in fact still un-acked), and waits until the poll chain left
           the sweep's index.

Printed per scenario: items total / succeeded / failed / lost (missing, or not succeeded and not
failed with an error code), provider batches created on the fake (and ended), requests billed
(every request of every batch the fake created: a real provider processes — and bills — a batch
whether or not anyone collects it), items billed twice (a `custom_id` in more than one batch;
no errors are scripted, so no follow-up round is expected), extra batches (created but not
recorded on the task), items stored and the job's messages in flight at the kill, seconds from
submission to the kill and from the kill to the batch's end (its `finished_at`), reconciliation
list calls, OpenAI file deletes, and the job's log lines (workers at INFO: each task received
and done, the sweep's re-sends). When a scenario fails, the fleet's record of it is printed.
Checks: lost == 0, billed twice == 0 and extra batches == 0 in every scenario; exits 1 otherwise.

Run: .venv/bin/python bench/economy_chaos.py            # both providers, 3 scenarios each
     .venv/bin/python bench/economy_chaos.py --providers anthropic --scenarios create
(needs Redis on 127.0.0.1:6379; uses and flushes db 12; a scenario takes its recovery time —
the lease on the dead worker's submit/poll, the sweep's overdue grace and its minute — so a run
takes several minutes per scenario; `--timeout` bounds each, default 8 min)
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import redis
from batch_workload import make_intents
from economy_bench import lost_items
from economy_fake import RELEASE_PATH, Hold, chaos_stats, serve_chaos
from fake_process import ChildFake, fake_in_child
from operator_fleet import (
    REDIS_URL,
    TERMINAL,
    Fleet,
    batch_items,
    bench_env,
    kill_worker,
    running_fleet,
    start_worker,
    submit_batch,
    task,
)

MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4o"}
API_KEY = "sk-bench-not-a-real-key"
JOB = "eyeflow:job:"
INDEXES = ("eyeflow:economy:polling", "eyeflow:economy:submitting")
HOLDS: dict[str, dict[str, Hold | None]] = {
    "create": {
        "anthropic": Hold("POST", r"/v1/messages/batches"),
        "openai": Hold("POST", r"/v1/batches"),
    },
    "collect": {
        "anthropic": Hold("GET", r"/v1/messages/batches/[^/]+/results", 0.5),
        "openai": Hold("GET", r"/v1/files/[^/]+/content", 0.5),
    },
    "ack": {"anthropic": None, "openai": None},
}
TRIGGER_SECONDS = 120.0  # submission to the crash point, at most
LOG_LINE = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): (\w+)/[^\]]*\] (.*)")


class NotReached(Exception):
    """The crash point was not reached: the scenario measured nothing."""


@dataclass
class Outcome:
    provider: str
    scenario: str
    total: int
    job: str = ""
    succeeded: int = 0
    failed: int = 0
    lost: int = 0
    status: str = "?"
    fake: dict[str, int] = field(default_factory=dict)
    recorded: list[str] = field(default_factory=list)  # the task's provider batch ids
    stored_at_kill: int = 0
    in_flight: list[str] = field(default_factory=list)
    killed_at: float = 0.0
    to_kill_s: float = 0.0
    recovery_s: float | None = None
    indexed_s: float | None = None  # kill → the job left the sweep's indexes (ack)
    costs: tuple[float, float] = (0.0, 0.0)  # the task's cost_usd, the sum of its items'
    notes: list[str] = field(default_factory=list)

    @property
    def twice(self) -> int:
        return self.fake.get("batch_twice", 0)

    @property
    def extra(self) -> int:
        return max(0, self.fake.get("batch_creates", 0) - len(self.recorded))

    @property
    def ok(self) -> bool:
        ended = self.status in TERMINAL
        return ended and self.lost == 0 and self.twice == 0 and self.extra == 0


# --- the crash points ---------------------------------------------------------------------------


def _until(check: Callable[[], bool], seconds: float, what: str, pause: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise NotReached(what)
        if pause:
            time.sleep(pause)


def reach_hold(fake: ChildFake, r: redis.Redis, job: str) -> None:
    """The fake holds its reply; when items are being stored meanwhile (the half of a results
    stream read), until no more are."""
    _until(lambda: fake.stats()["holding"] == 1, TRIGGER_SECONDS, "the held reply")
    last, since = -1, time.monotonic()
    while time.monotonic() - since < 1.5:
        stored = int(r.hlen(f"{JOB}{job}:items"))
        if stored != last:
            last, since = stored, time.monotonic()
        time.sleep(0.1)


def reach_end(fake: ChildFake, r: redis.Redis, job: str) -> None:
    """The batch's record turns terminal (read in a tight loop: the poll acks moments later)."""
    del fake
    key = f"{JOB}{job}"
    _until(lambda: r.hget(key, "status") in TERMINAL, TRIGGER_SECONDS, "the batch's end", 0)


# --- reading the fleet's state ------------------------------------------------------------------


def in_flight(r: redis.Redis, job: str) -> list[str]:
    """This job's messages taken by a worker and not acknowledged (kombu's `unacked` hash)."""
    found: list[str] = []
    for raw in r.hvals("unacked"):
        try:
            headers = json.loads(raw)[0].get("headers") or {}
        except (ValueError, IndexError, AttributeError):
            continue
        task_id = str(headers.get("id", ""))
        if task_id.startswith(job):
            name = str(headers.get("task", "?")).removeprefix("eyeflow.")
            found.append(f"{name} <job>{task_id.removeprefix(job)}")
    return sorted(found)


def epoch(stamp: str | None) -> float | None:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() if stamp else None


def wait_end(client: httpx.Client, job: str, deadline: float) -> dict[str, Any]:
    body = task(client, job)
    while body["status"] not in TERMINAL and time.time() < deadline:
        body = task(client, job, wait=min(30.0, max(1.0, deadline - time.time())))
    return body


def wait_unindexed(r: redis.Redis, job: str, deadline: float) -> bool:
    while any(r.zscore(index, job) is not None for index in INDEXES):
        if time.time() > deadline:
            return False
        time.sleep(1.0)
    return True


def job_log_lines(name: str, job: str, since: float, limit: int = 16) -> list[str]:
    """The fleet's log lines naming the job (tasks received and done, the sweep's re-sends,
    warnings), in time order, stamped in seconds from `since` (the kill)."""
    found: list[tuple[float, str]] = []
    for log in Path("/tmp").glob(f"eyeflow-{name}-bench-*.log"):
        source = log.stem.removeprefix(f"eyeflow-{name}-bench-")
        for line in log.read_text(errors="replace").splitlines():
            if job not in line:
                continue
            match = LOG_LINE.match(line.strip())
            if match is None:
                found.append((float("inf"), f"{source}: {line.strip()}"))
                continue
            at = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp() - since
            text = re.sub(r"succeeded in (\d+\.\d{2})\d*s: None", r"succeeded in \1s", match[3])
            found.append((at, f"{at:+7.1f}s {source} {match[2]}: {text}"))
    lines = [text.replace(job, "<job>")[:200] for _, text in sorted(found)]
    return lines[-limit:]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def dump_record(r: redis.Redis, body: dict[str, Any], job: str) -> None:
    """What the fleet recorded for a batch that did not end (or ended wrong)."""
    keep = ("status", "mode", "progress", "provider_batches", "error", "attempts")
    print("    task:", json.dumps({k: body.get(k) for k in keep})[:900])
    economy = r.hgetall(f"{JOB}{job}:economy")
    for name, value in sorted((_text(k), _text(v)) for k, v in economy.items()):
        if not name.startswith(("plan:", "cost:")):
            print(f"    economy {name}: {value[:200]}")
    for index in INDEXES:
        score = r.zscore(index, job)
        due = "-" if score is None else f"due {score - time.time():+.0f}s"
        print(f"    {index}: {due}")
    for lock in ("poll-lock", "submit-lock"):
        print(f"    {lock}: ttl {r.pttl(f'{JOB}{job}:economy:{lock}')} ms")


# --- one scenario -------------------------------------------------------------------------------


def run(provider: str, scenario: str, intents: list[str], timeout: float) -> Outcome:
    outcome = Outcome(provider, scenario, len(intents), lost=len(intents))  # until read back
    hold = HOLDS[scenario][provider]
    trigger = reach_end if hold is None else reach_hold
    with fake_in_child(partial(serve_chaos, provider, hold, intents), chaos_stats) as fake:
        url = fake.url + ("/v1" if provider == "openai" else "")
        env = bench_env(
            LLM_PROVIDER=provider, LLM_MODEL=MODELS[provider], LLM_API_KEY=API_KEY, LLM_API_URL=url
        )
        env["LOG_LEVEL"] = "INFO"  # the workers log each task received and done: the recovery
        name = f"chaos-{provider}-{scenario}"
        with running_fleet(env, name=name, beat=True) as fleet:
            r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
            body: dict[str, Any] = {}
            try:
                body = crash(fleet, fake, r, outcome, trigger, intents, timeout)
            except NotReached as exc:
                outcome.notes.append(f"crash point not reached: {exc}")
            time.sleep(1.0)  # a task's last calls (OpenAI's file deletes) and log lines, after
            outcome.fake = fake.stats()  # the batch was seen ending
            if body and not outcome.ok:
                print(f"  {provider}/{scenario}: the record at the end")
                dump_record(r, body, outcome.job)
            outcome.notes += job_log_lines(name, outcome.job, outcome.killed_at)
    return outcome


def crash(
    fleet: Fleet,
    fake: ChildFake,
    r: redis.Redis,
    outcome: Outcome,
    trigger: Callable[[ChildFake, redis.Redis, str], None],
    intents: list[str],
    timeout: float,
) -> dict[str, Any]:
    """Submit, kill the batch worker at the crash point, start a fresh one, release the hold,
    and wait for the batch's end; the task object at the end."""
    submitted = outcome.killed_at = time.time()  # the log's origin, until the kill
    job = outcome.job = submit_batch(fleet.client, intents, mode="economy")
    trigger(fake, r, job)
    outcome.stored_at_kill = int(r.hlen(f"{JOB}{job}:items"))
    killed = outcome.killed_at = kill_worker(fleet, "batch")
    outcome.to_kill_s = killed - submitted
    outcome.in_flight = in_flight(r, job)
    start_worker(fleet, "batch")
    httpx.post(fake.url + RELEASE_PATH, timeout=10)
    body = wait_end(fleet.client, job, killed + timeout)
    outcome.status = body["status"]
    ended = epoch(body.get("finished_at"))
    if body["status"] in TERMINAL and ended is not None:
        outcome.recovery_s = ended - killed
        if outcome.scenario == "ack" and wait_unindexed(r, job, killed + timeout):
            outcome.indexed_s = time.time() - killed
    items = batch_items(fleet.client, job)
    outcome.succeeded = sum(1 for i in items if i["status"] == "succeeded")
    outcome.failed = sum(1 for i in items if i["status"] == "failed")
    outcome.lost = lost_items(items, len(intents))
    outcome.recorded = [str(b.get("batch_id")) for b in body.get("provider_batches") or []]
    spent = sum(float(i.get("cost_usd") or 0.0) for i in items)
    outcome.costs = (float(body.get("cost_usd") or 0.0), spent)
    if outcome.failed:
        first = next(i for i in items if i["status"] == "failed")
        outcome.notes.append(f"first failed item: {json.dumps(first.get('error'))[:300]}")
    return body


# --- the report -----------------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def report(outcomes: list[Outcome], intents: int, timeout: float) -> bool:
    print(
        f"\n{intents} intents per batch, mode economy, batch worker SIGKILLed once per scenario "
        f"and restarted at once; beat sweeps every 60 s; timeout {timeout:.0f} s per scenario"
    )
    print(
        f"{'provider':<9} {'scenario':<8} {'items':>5} {'ok':>4} {'fail':>4} {'lost':>4} "
        f"{'batches':>7} {'ended':>5} {'billed':>6} {'twice':>5} {'extra':>5} {'stored':>6} "
        f"{'to kill s':>9} {'kill→end s':>10}  status"
    )
    for o in outcomes:
        f = o.fake
        print(
            f"{o.provider:<9} {o.scenario:<8} {o.total:>5} {o.succeeded:>4} {o.failed:>4} "
            f"{o.lost:>4} {f.get('batch_creates', 0):>7} {f.get('batches_ended', 0):>5} "
            f"{f.get('batch_requests', 0) + f.get('realtime_calls', 0):>6} {o.twice:>5} "
            f"{o.extra:>5} {o.stored_at_kill:>6} {o.to_kill_s:>9.1f} "
            f"{seconds(o.recovery_s):>10}  {o.status}{'' if o.ok else '  FAILED'}"
        )
    for o in outcomes:
        f = o.fake
        print(f"{o.provider}/{o.scenario}:")
        print(
            f"  in flight at the kill: {', '.join(o.in_flight) or 'none'}; task's provider "
            f"batches: {', '.join(o.recorded) or 'none'}; list calls {f.get('list_calls', 0)}, "
            f"realtime calls {f.get('realtime_calls', 0)}, file deletes {f.get('deletes', 0)}, "
            f"HTTP requests {f.get('http_requests', 0)}"
        )
        print(f"  cost_usd: task {o.costs[0]:.6f}, sum of its items {o.costs[1]:.6f}")
        if o.scenario == "ack":
            left = seconds(o.indexed_s)
            print(f"  poll chain out of the sweep's indexes {left} s after the kill")
        for note in o.notes:
            print(f"  {note}")
    lost = sum(o.lost for o in outcomes)
    twice = sum(o.twice + o.extra for o in outcomes)
    ok = all(o.ok for o in outcomes)
    print(
        f"checks: items lost {lost}, requests billed twice {twice} (items in two batches + extra "
        f"batches), scenarios failed {sum(not o.ok for o in outcomes)}: {'ok' if ok else 'FAILED'}"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--intents", type=int, default=120)
    parser.add_argument("--providers", default="anthropic,openai")
    parser.add_argument("--scenarios", default="create,collect,ack")
    parser.add_argument("--timeout", type=float, default=480.0, help="seconds after the kill")
    args = parser.parse_args()
    intents = make_intents(args.intents)  # drafts (and caches) the fakes' answers
    outcomes: list[Outcome] = []
    for provider in args.providers.split(","):
        for scenario in args.scenarios.split(","):
            started = time.perf_counter()
            outcome = run(provider, scenario, intents, args.timeout)
            print(
                f"  {provider}/{scenario}: {outcome.status}, kill→end "
                f"{seconds(outcome.recovery_s)} s ({time.perf_counter() - started:.0f} s wall)",
                flush=True,
            )
            outcomes.append(outcome)
    if not report(outcomes, args.intents, args.timeout):
        raise SystemExit(1)


if __name__ == "__main__":
    main()

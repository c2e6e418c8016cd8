"""Overnight-batch throughput: N intents through the fleet vs a plain in-process loop.

Two scenarios, each in the same run against the real Redis (database 12):

  offline  the embedded offline provider (~ms of CPU per item): what the fleet costs per item
  latency  a loopback fake Ollama `/api/chat` that sleeps --provider-latency-ms (default 300)
           before answering a valid rules document: what a real LLM provider looks like, where
           the batch worker's threads overlap the provider calls

In each scenario:
  baseline: the same N intents through `generate_rules` in a plain single-threaded loop (no
            queue, no Redis), in a child process so its peak RSS can be read like the workers'
  fleet:    a real gateway (uvicorn) + ONE batch worker (`python -m eyeflow_worker.worker batch`,
            threads pool, default concurrency): POST /api/rules/generate-batch with N intents,
            long-poll GET /api/tasks/{id}?wait=30 until terminal. Items/s from submit to
            terminal, time until the first page of results (offset 0, limit 100) is complete,
            peak RSS (VmHWM) of the worker(s) and of the gateway
  fleet x2: the same with two batch workers (skip with --no-two-workers)

Every fleet run is checked: the batch succeeded, all N items succeeded, paging through
/results returns N items in submission order with the submitted intents, and each item's
`workflow_rules` equal what the baseline drafted for that intent (the offline drafter and the
fake's answer are both deterministic per intent).

In the latency scenario the sequential baseline would take N x latency, so it is timed on the
first --latency-baseline-items intents only and its items/s extrapolated (the output says so);
the rules expected for all N intents are drafted in-process from the fake's exact answer, with
no HTTP hop and no sleep, and the timed items must have matched them.

Run: .venv/bin/python bench/batch_bench.py [--intents 2000]   (both scenarios; Redis database 12)
     .venv/bin/python bench/batch_bench.py --provider-latency-ms 300   (latency scenario only)
     .venv/bin/python bench/batch_bench.py --offline-only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import redis
from processes import free_port, gateway_command, spawn, stop, wait_until

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379/12"
FIXTURES = ROOT / "tests" / "rules" / "fixtures" / "intents.json"
TERMINAL = {"succeeded", "failed", "cancelled"}
FIRST_PAGE = 100
PAGE = 500
WARMUP_INTENTS = 32
# Prefixes for the 2nd, 3rd, ... pass over the fixture intents (the 1st pass is verbatim).
PREFIXES = ("", "Please ", "In production, ", "For the EU region, ", "Overnight, ")
LATENCY_WARMUP_INTENTS = 4  # the baseline's warm-up in the latency scenario (sequential sleeps)
INTENT_LINE = re.compile(r"^Intent: (.*)$", re.MULTILINE)  # the user turn of a generate request
NUMBER = re.compile(
    r"(?<![A-Za-z\d])\d{1,3}(?:,\d{3})+(?![A-Za-z\d])|(?<![A-Za-z\d,])\d+(?![A-Za-z\d,])"
)


# --- intents --------------------------------------------------------------------------------------


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
    return hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


# --- fake LLM provider (latency scenario) ---------------------------------------------------------


def answer_name(intent: str) -> str:
    """The fake's `workflow_name` for an intent: each item's rules then say which prompt they
    answered, so a mixed-up item cannot pass the digest check."""
    return "bench-" + hashlib.sha256(intent.strip().encode()).hexdigest()[:12]


def chat_answer(body: Any) -> dict[str, Any]:
    """The fake's Ollama `/api/chat` answer to a request body: a valid rules document for the
    sample catalogue (tests/reliability/holding_llm.py), named after the request's intent."""
    sys.path.insert(0, str(ROOT))
    from tests.reliability.holding_llm import ollama_answer

    messages = (body.get("messages") if isinstance(body, dict) else None) or [{}]
    found = INTENT_LINE.search(str(messages[-1].get("content", "")))
    return ollama_answer(answer_name(found.group(1) if found else ""))


class FakeOllama(ThreadingHTTPServer):
    """Loopback Ollama: `POST /api/chat` sleeps `latency_s`, then answers `chat_answer(body)`.
    One thread per connection, HTTP/1.1 keep-alive (no Nagle), a backlog deep enough for 64
    callers. The bench counts `calls` to see that every item took exactly one."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def __init__(self, latency_s: float) -> None:
        super().__init__(("127.0.0.1", 0), FakeOllamaHandler)
        self.latency_s = latency_s
        self.calls = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class FakeOllamaHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, a keep-alive connection waits for
    # the client's delayed ACK (~40 ms) before sending the body, which no real server adds.
    disable_nagle_algorithm = True
    server: FakeOllama

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path != "/api/chat":
            status, answer = 404, {"error": f"no route {self.path}"}
        else:
            with self.server.lock:
                self.server.calls += 1
            time.sleep(self.server.latency_s)
            status, answer = 200, chat_answer(json.loads(raw or b"{}"))
        data = json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the caller went away (a worker being stopped)


@contextmanager
def fake_ollama(latency_ms: int) -> Iterator[FakeOllama]:
    server = FakeOllama(latency_ms / 1000)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class InProcessFake:
    """The fake's answer without the HTTP hop and the sleep: drafts the expected rules."""

    name = "ollama"
    model = "llama3.1"

    def complete(self, request: Any) -> Any:
        from eyeflow_worker.providers.base import LLMResponse, Usage

        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        data = chat_answer({"messages": messages})
        usage = Usage(int(data["prompt_eval_count"]), int(data["eval_count"]))
        return LLMResponse(data["message"]["content"], self.name, data["model"], usage, 0, None)


# --- baseline (child process) ---------------------------------------------------------------------


def baseline_child(n: int, timed: int, warmup: int) -> None:
    """Runs in its own interpreter: warm up, time the loop over the first `timed` intents, print
    one JSON line. When `timed` < n (latency scenario only), the expected rules for all n intents
    come from `InProcessFake`, and the timed items' rules are compared with them."""
    sys.path.insert(0, str(ROOT))
    from eyeflow_worker.providers.base import ProviderConfig
    from eyeflow_worker.providers.registry import build_llm
    from eyeflow_worker.rules.service import generate_rules
    from eyeflow_worker.settings import get_settings

    settings = get_settings()
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
    result = {
        "seconds": seconds,
        "cpu": cpu,
        "mismatched": mismatched,
        "digests": digests,
        "rss_kb": rss_kb,
    }
    print(json.dumps(result))


def run_baseline(n: int, timed: int, warmup: int, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--baseline-child", str(n), str(timed), str(warmup)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# --- fleet ----------------------------------------------------------------------------------------


@dataclass
class FleetRun:
    workers: int
    seconds: float = 0.0
    submit_ms: float = 0.0
    first_page_s: float | None = None
    worker_rss_kb: list[int] = field(default_factory=list)
    gateway_rss_kb: int = 0
    worker_cpu_s: float = 0.0
    gateway_cpu_s: float = 0.0
    llm_calls: int | None = None  # calls the fake provider served in the timed window
    problems: list[str] = field(default_factory=list)


def worker_command(index: int) -> list[str]:
    """The first batch worker is exactly the documented command; a second one is the same argv
    (from `worker_argv`) under its own node name, so the two do not clash on the control bus."""
    if index == 0:
        return [sys.executable, "-m", "eyeflow_worker.worker", "batch"]
    sys.path.insert(0, str(ROOT))
    from eyeflow_worker.settings import Settings
    from eyeflow_worker.worker import worker_argv

    argv = worker_argv("batch", Settings())
    argv[argv.index("--hostname") + 1] = f"batch{index + 1}@%h"
    return [sys.executable, "-m", "celery", "-A", "eyeflow_worker.celery_app", *argv]


def wait_terminal(client: httpx.Client, task_id: str) -> dict[str, Any]:
    while True:
        response = client.get(f"/api/tasks/{task_id}", params={"wait": 30})
        response.raise_for_status()
        task: dict[str, Any] = response.json()
        if task["status"] in TERMINAL:
            return task


def submit(client: httpx.Client, intents: list[str]) -> str:
    response = client.post("/api/rules/generate-batch", json={"intents": intents})
    if response.status_code != 202:
        raise SystemExit(f"batch refused: {response.status_code} {response.text[:300]}")
    task_id: str = response.json()["task_id"]
    return task_id


def watch_first_page(
    base_url: str, task_id: str, started: float, size: int, done: threading.Event, out: FleetRun
) -> None:
    """Polls the first results page every 50 ms until every item on it has finished."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while not done.is_set():
            page = client.get(
                f"/api/tasks/{task_id}/results", params={"offset": 0, "limit": size}
            ).json()
            items = page.get("items", [])
            if len(items) == size and all(item["status"] != "queued" for item in items):
                out.first_page_s = time.perf_counter() - started
                return
            time.sleep(0.05)


def check_results(
    client: httpx.Client,
    task_id: str,
    task: dict[str, Any],
    intents: list[str],
    expected: list[str | None],
    out: FleetRun,
) -> None:
    n = len(intents)
    if task["status"] != "succeeded":
        out.problems.append(f"batch ended {task['status']}: {task.get('error')}")
    items: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = client.get(f"/api/tasks/{task_id}/results", params={"offset": offset, "limit": PAGE})
        page.raise_for_status()
        body = page.json()
        items.extend(body["items"])
        offset = body["next_offset"]
    if len(items) != n:
        out.problems.append(f"/results returned {len(items)} items, expected {n}")
    failed = [item for item in items if item["status"] != "succeeded"]
    if failed:
        out.problems.append(f"{len(failed)} items not succeeded, first: {failed[0]}")
    misordered = [i for i, item in enumerate(items) if item["index"] != i]
    if misordered:
        out.problems.append(f"{len(misordered)} items out of order, first at {misordered[0]}")
    wrong_intent = [i for i, item in enumerate(items[:n]) if item["intent"] != intents[i]]
    if wrong_intent:
        out.problems.append(f"{len(wrong_intent)} items with another intent")
    differing = [
        i
        for i, item in enumerate(items[:n])
        if item["status"] == "succeeded" and digest(item["workflow_rules"]) != expected[i]
    ]
    if differing:
        out.problems.append(f"{len(differing)} items' rules differ from the baseline's")


def run_fleet(
    workers: int,
    intents: list[str],
    expected: list[str | None],
    env: dict[str, str],
    llm_calls: Callable[[], int] | None = None,
) -> FleetRun:
    out = FleetRun(workers)
    redis.Redis.from_url(REDIS_URL).flushdb()
    port = free_port()
    gateway = spawn(gateway_command(port), env, Path("/tmp/eyeflow-batch-bench-gateway.log"))
    processes = [gateway]
    try:
        for index in range(workers):
            processes.append(
                spawn(
                    worker_command(index),
                    env,
                    Path(f"/tmp/eyeflow-batch-bench-worker{index + 1}.log"),
                )
            )
        base_url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base_url, timeout=45) as client:
            wait_until(
                lambda: client.get("/health").json()["workers"]["online"] >= workers, processes
            )
            # Warm-up: first imports, connections and per-process caches, as in the baseline.
            warm = wait_terminal(client, submit(client, intents[: WARMUP_INTENTS * workers]))
            if warm["status"] != "succeeded":
                raise SystemExit(f"warm-up batch ended {warm['status']}: {warm.get('error')}")

            done = threading.Event()
            cpu_before = [cpu_seconds(p.pid) for p in processes]
            calls_before = llm_calls() if llm_calls else 0
            started = time.perf_counter()
            task_id = submit(client, intents)
            out.submit_ms = (time.perf_counter() - started) * 1000
            watcher = threading.Thread(
                target=watch_first_page,
                args=(base_url, task_id, started, min(FIRST_PAGE, len(intents)), done, out),
                daemon=True,
            )
            watcher.start()
            task = wait_terminal(client, task_id)
            out.seconds = time.perf_counter() - started
            if llm_calls:
                out.llm_calls = llm_calls() - calls_before
            cpu = [cpu_seconds(p.pid) - b for p, b in zip(processes, cpu_before, strict=True)]
            out.gateway_cpu_s, out.worker_cpu_s = cpu[0], sum(cpu[1:])
            done.set()
            watcher.join(timeout=30)

            out.worker_rss_kb = [vm_hwm_kb(p.pid) for p in processes[1:]]
            out.gateway_rss_kb = vm_hwm_kb(gateway.pid)
            check_results(client, task_id, task, intents, expected, out)
    finally:
        stop(processes)
    return out


# --- report ---------------------------------------------------------------------------------------


def mib(kb: int) -> str:
    return f"{kb / 1024:.0f}"


def fleet_label(run: FleetRun) -> str:
    return f"fleet: gateway + {run.workers} batch worker{'s' if run.workers > 1 else ''}"


@dataclass(frozen=True)
class Scenario:
    intents: int
    latency_ms: int | None  # None: the embedded offline provider
    baseline_items: int  # how many of the intents the baseline loop times
    warmup: int  # baseline warm-up intents


def bench_env(provider: dict[str, str]) -> dict[str, str]:
    """The environment of every bench process (and of this one: worker_command() builds Settings
    from it): the shell's, without NestJS, auth, broker overrides, keys, fallbacks or rate limits,
    plus db 12 and the scenario's provider."""
    env = dict(os.environ)
    for name in (
        "NESTJS_SERVER_URL",
        "GATEWAY_API_TOKEN",
        "BROKER_URL",
        "RESULT_BACKEND_URL",
        "LLM_API_KEY",
        "LLM_API_URL",
        "LLM_FALLBACK_PROVIDERS",
        "LLM_RATE_LIMIT_RPM",
        "LLM_RATE_LIMITS",
    ):
        env.pop(name, None)
    env.update(REDIS_URL=REDIS_URL, PYTHONPATH=str(ROOT), LOG_LEVEL="WARNING", **provider)
    os.environ.clear()
    os.environ.update(env)
    return env


def run_scenario(scenario: Scenario, args: argparse.Namespace) -> bool:
    """Runs one scenario and prints its tables; False when a correctness check failed."""
    if scenario.latency_ms is None:
        env = bench_env({"LLM_PROVIDER": "offline", "LLM_MODEL": "eyeflow-offline-drafter-1"})
        return measure(scenario, args, env, None)
    with fake_ollama(scenario.latency_ms) as fake:
        env = bench_env(
            {"LLM_PROVIDER": "ollama", "LLM_MODEL": "llama3.1", "LLM_API_URL": fake.url}
        )
        return measure(scenario, args, env, fake)


def measure(
    scenario: Scenario,
    args: argparse.Namespace,
    env: dict[str, str],
    fake: FakeOllama | None,
) -> bool:
    n, timed = scenario.intents, min(scenario.baseline_items, scenario.intents)
    intents = make_intents(n)
    load = os.getloadavg()[0]
    calls = (lambda: fake.calls) if fake is not None else None
    # The baseline runs before and after the fleet runs; its figure is the mean of the two, so
    # drift on the machine during the run shows (and is averaged) rather than hidden.
    before = run_baseline(n, timed, scenario.warmup, env)
    expected: list[str | None] = before["digests"]
    baseline_failed = sum(d is None for d in expected)
    runs = [run_fleet(1, intents, expected, env, calls)]
    if not args.no_two_workers:
        runs.append(run_fleet(2, intents, expected, env, calls))
    after = run_baseline(n, timed, scenario.warmup, env)
    if after["digests"] != expected:
        raise SystemExit("the baseline's rules were not deterministic across baseline runs")
    base_rate = 2 * timed / (before["seconds"] + after["seconds"])
    base_cpu_ms = (before["cpu"] + after["cpu"]) * 1000 / (2 * timed)
    base_rss = mib(max(before["rss_kb"], after["rss_kb"]))

    from eyeflow_worker.settings import Settings

    threads = Settings().worker_concurrency_batch
    if fake is None:
        provider = "offline provider"
    else:
        provider = f"fake Ollama /api/chat (loopback) answering after {scenario.latency_ms} ms"
    print(
        f"overnight batch, {n} intents ({len(set(intents))} distinct), {provider}, "
        f"batch workers: threads pool x {threads}, {os.cpu_count()} CPUs, "
        f"load avg at start {load:.2f}"
    )
    label = "baseline: generate_rules loop, 1 thread"
    base_total = f"{n / base_rate:.2f}" + ("*" if timed < n else "")
    print(
        f"\n{'path':<42} {'items/s':>8} {'vs base':>8} {'total s':>8} {'1st page s':>10} "
        f"{'submit ms':>9}"
    )
    print(f"{label:<42} {base_rate:>8.1f} {1:>7.2f}x {base_total:>8} {'-':>10} {'-':>9}")
    for run in runs:
        rate = n / run.seconds
        first = f"{run.first_page_s:.2f}" if run.first_page_s is not None else "n/a"
        print(
            f"{fleet_label(run):<42} {rate:>8.1f} {rate / base_rate:>7.2f}x {run.seconds:>8.2f} "
            f"{first:>10} {run.submit_ms:>9.0f}"
        )
    print(
        f"(baseline before / after the fleet runs: {timed / before['seconds']:.1f} / "
        f"{timed / after['seconds']:.1f} items/s)"
    )
    if timed < n:
        print(
            f"(* baseline timed on the first {timed} of the {n} intents, one provider call at a "
            f"time; items/s measured on those, total s extrapolated to {n})"
        )
    print(
        f"\n{'path':<42} {'CPU ms/item':>11} {'gw CPU ms/item':>14} {'peak RSS MiB':>13} "
        f"{'gw peak RSS MiB':>15}"
    )
    print(f"{label:<42} {base_cpu_ms:>11.2f} {'-':>14} {base_rss:>13} {'-':>15}")
    for run in runs:
        rss = "+".join(mib(kb) for kb in run.worker_rss_kb)
        print(
            f"{fleet_label(run):<42} {run.worker_cpu_s * 1000 / n:>11.2f} "
            f"{run.gateway_cpu_s * 1000 / n:>14.2f} {rss:>13} {mib(run.gateway_rss_kb):>15}"
        )
    problems = [f"{run.workers} worker(s): {p}" for run in runs for p in run.problems]
    for run in runs:
        if run.llm_calls is not None and run.llm_calls != n:
            problems.append(
                f"{run.workers} worker(s): the fake served {run.llm_calls} calls for {n} items "
                "(retries or repair turns would distort the figure)"
            )
    mismatched = before["mismatched"] + after["mismatched"]
    if mismatched:
        problems.insert(0, f"baseline: {mismatched} timed items differ from the expected rules")
    if baseline_failed:
        problems.insert(0, f"baseline: {baseline_failed} intents failed")
    if problems:
        print("CORRECTNESS PROBLEMS:")
        for problem in problems:
            print(f"  {problem}")
        return False
    what = "the baseline's" if fake is None else "the fake's answers drafted in-process"
    one_call = "" if fake is None else ", one provider call per item"
    print(
        f"correctness: every run {n}/{n} succeeded{one_call}; /results paged ({PAGE}/page) "
        f"returned {n} items in order, intents and rules identical to {what}"
    )
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--intents", type=int, default=2000, help="offline scenario (2000)")
    parser.add_argument(
        "--provider-latency-ms",
        type=int,
        help="run only the latency scenario, with this provider latency (default: both "
        "scenarios, 300 ms)",
    )
    parser.add_argument("--offline-only", action="store_true", help="only the offline scenario")
    parser.add_argument(
        "--latency-intents", type=int, default=400, help="latency scenario intents (400)"
    )
    parser.add_argument(
        "--latency-baseline-items",
        type=int,
        default=50,
        help="latency scenario: intents the sequential baseline times (50; extrapolated)",
    )
    parser.add_argument("--no-two-workers", action="store_true", help="skip the 2-worker runs")
    parser.add_argument("--baseline-child", type=int, nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_child is not None:
        baseline_child(*args.baseline_child)
        return
    if args.offline_only and args.provider_latency_ms is not None:
        raise SystemExit("--offline-only and --provider-latency-ms exclude each other")
    for name in ("intents", "latency_intents"):
        if not 1 <= getattr(args, name) <= 5000:
            raise SystemExit(f"--{name.replace('_', '-')} must be 1..5000 (MAX_BATCH_INTENTS)")
    if args.latency_baseline_items < 1:
        raise SystemExit("--latency-baseline-items must be at least 1")

    scenarios = []
    if args.provider_latency_ms is None:
        scenarios.append(Scenario(args.intents, None, args.intents, WARMUP_INTENTS))
    if not args.offline_only:
        latency = 300 if args.provider_latency_ms is None else args.provider_latency_ms
        scenarios.append(
            Scenario(
                args.latency_intents,
                latency,
                args.latency_baseline_items,
                LATENCY_WARMUP_INTENTS,
            )
        )
    ok = True
    for number, scenario in enumerate(scenarios):
        if number:
            print("\n")
        ok = run_scenario(scenario, args) and ok
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""Where one submission's and one job's time goes, in-process, ours vs the hand-rolled route.

  gateway   `--jobs` sequential `POST` of a trivial `evaluate` (no `?wait`) through the ASGI app
            (httpx's ASGI transport, no socket), ours and `handrolled_app.app`; sync routes and
            dependencies run inline (FastAPI's thread-pool hop patched out) so that one
            pyinstrument profile of the event loop's thread sees all of it. Also the wall time
            per request with the hop left in place.
  worker    `--jobs` of our `evaluate` task and of the hand-rolled one, each run by Celery's
            tracer in this thread (`Task.apply`: prerun/postrun signals, the task body, the
            result or record writes) — what a worker's pool thread does per job, minus the
            consumer's pick-up and ack, which both pay alike.

Run: EYEFLOW_BENCH_REDIS=redis://127.0.0.1:6407/13 .venv/bin/python bench/hotpath_profile.py
     [--jobs 500] [--what gateway,worker] [--html /tmp/profile]
(flushes the database it is pointed at; default db 13 of 127.0.0.1:6379)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("EYEFLOW_BENCH_REDIS", "redis://127.0.0.1:6379/13")
os.environ.update(
    REDIS_URL=REDIS_URL,
    LOG_LEVEL="WARNING",
    TENANT_SUBMIT_RATE_PER_MINUTE="60000000",
    TENANT_SUBMIT_BURST="1000000",
)
for name in ("NESTJS_SERVER_URL", "GATEWAY_API_TOKEN", "BROKER_URL", "RESULT_BACKEND_URL"):
    os.environ.pop(name, None)
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

EVALUATE = {"condition": "1 < 2", "context": {}}


def _inline_threadpool() -> None:
    """FastAPI's sync routes and dependencies, run in the calling thread (profiled)."""
    import fastapi.dependencies.utils as dep_utils
    import fastapi.routing as routing

    async def inline(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    routing.run_in_threadpool = inline  # type: ignore[assignment]
    dep_utils.run_in_threadpool = inline  # type: ignore[assignment]


async def _post_many(app: Any, path: str, jobs: int) -> float:
    transport = httpx.ASGITransport(app=app)
    # ASGITransport runs no lifespan; ours opens its asyncio Redis client in it.
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gw") as client,
    ):
        for _ in range(20):
            await client.post(path, json=EVALUATE)
        started = time.perf_counter()
        for _ in range(jobs):
            response = await client.post(path, json=EVALUATE)
            assert response.status_code == 202, response.text[:200]
        return (time.perf_counter() - started) / jobs


def _apps() -> dict[str, tuple[Any, str]]:
    from api_gateway.main import create_app
    from bench.handrolled_app import app as handrolled
    from eyeflow_worker.core.settings import load_settings

    return {
        "ours": (create_app(load_settings()), "/api/conditions/evaluate"),
        "hand-rolled": (handrolled, "/evaluate"),
    }


def gateway(jobs: int, html: str | None) -> None:
    apps = _apps()
    print(f"\ngateway, per submission (ms), {jobs} sequential, in-process")
    for name, (app, path) in apps.items():
        hop = asyncio.run(_post_many(app, path, jobs))
        print(f"{name:<12} with the thread hop {hop * 1000:6.3f}")
    _inline_threadpool()
    for name, (app, path) in apps.items():
        profiler = Profiler(interval=0.0002)
        profiler.start()
        inline = asyncio.run(_post_many(app, path, jobs))
        profiler.stop()
        print(f"{name:<12} inline             {inline * 1000:6.3f}")
        _report(profiler, f"gateway-{name}", html)


def worker(jobs: int, html: str | None) -> None:
    from api_gateway.state import build_state
    from bench.handrolled_app import celery as handrolled_celery
    from bench.handrolled_app import evaluate as handrolled_evaluate
    from eyeflow_worker.core.settings import load_settings
    from eyeflow_worker.tasks.interactive import evaluate

    state = build_state(load_settings())
    # Its worker stores each result (SETEX + PUBLISH): so does its tracer here.
    handrolled_celery.conf.task_store_eager_result = True

    def submitted() -> list[str]:
        async def submit_all() -> list[str]:
            await state.records.open()  # as the gateway's lifespan does, on this loop
            try:
                return [
                    (
                        await state.submitter.submit(
                            tenant="bench", kind="evaluate", payload=dict(EVALUATE),
                            webhook_url=None,
                        )
                    ).job_id
                    for _ in range(jobs)
                ]  # fmt: skip
            finally:
                await state.records.aclose()

        return asyncio.run(submit_all())

    runs: dict[str, Callable[[str], None]] = {
        "ours": lambda job_id: evaluate.apply(args=[job_id, "bench"], task_id=job_id).get(),
        "hand-rolled": lambda job_id: handrolled_evaluate.apply(
            args=[EVALUATE["condition"], EVALUATE["context"]], task_id=job_id
        ).get(),
    }
    print(f"\nworker, per job (ms), {jobs} sequential, Celery's tracer in this thread")
    for name, run in runs.items():
        ids = submitted() if name == "ours" else [str(uuid.uuid4()) for _ in range(jobs)]
        for job_id in ids[:20]:
            run(job_id)
        half = 20 + (jobs - 20) // 2
        started = time.perf_counter()
        for job_id in ids[20:half]:
            run(job_id)
        plain = (time.perf_counter() - started) / (half - 20)
        profiler = Profiler(interval=0.0002)
        profiler.start()
        started = time.perf_counter()
        for job_id in ids[half:]:
            run(job_id)
        profiled = (time.perf_counter() - started) / (jobs - half)
        profiler.stop()
        print(f"{name:<12} {plain * 1000:6.3f} unprofiled, {profiled * 1000:6.3f} profiled")
        _report(profiler, f"worker-{name}", html)


def _report(profiler: Profiler, name: str, html: str | None) -> None:
    if html:
        Path(f"{html}-{name}.html").write_text(profiler.output_html())
        Path(f"{html}-{name}.txt").write_text(profiler.output_text(show_all=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--what", default="gateway,worker")
    parser.add_argument("--html", default=None, help="write profiles to <prefix>-<name>.{html,txt}")
    args = parser.parse_args()
    redis.Redis.from_url(REDIS_URL).flushdb()
    what = set(args.what.split(","))
    if "worker" in what:
        worker(args.jobs, args.html)
    if "gateway" in what:
        gateway(args.jobs, args.html)
    redis.Redis.from_url(REDIS_URL).flushdb()


if __name__ == "__main__":
    main()

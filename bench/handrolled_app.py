"""The two baselines of `hotpath_bench.py`, configured exactly like the fleet (same broker, same
Celery settings from `celeryconfig.py`):

- bare Celery: `noop.apply_async(queue=...).get()`, no HTTP at all;
- the hand-rolled route: what a team would write by hand — a FastAPI app whose
  `POST /evaluate` validates the body with pydantic, enqueues a Celery task that evaluates the
  condition (the same deterministic evaluator the fleet runs) and, with `?wait=S`, blocks on
  its `AsyncResult.get(timeout=S)`: 200 with the result, else 202 with the task id. No tenancy,
  no record, no idempotency, no rate limit, no webhook, no lease.

Both on kombu's own Redis transport, unless `BENCH_BASELINE_TRANSPORT=fleet` gives them the
fleet's (`eyeflow_worker/core/kombu_redis.py`, which `create_celery_app` installs for ours).

Worker: `celery -A bench.handrolled_app:celery worker -P threads -c 16 -Q bench.noop,...`
(both tasks store their result, `ignore_result=False`: `get()` reads it).
Route:  `uvicorn bench.handrolled_app:app`
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from celeryconfig import celery_config
from eyeflow_worker.core.kombu_redis import TRANSPORT_PATH
from eyeflow_worker.core.settings import load_settings
from eyeflow_worker.evaluation import evaluate_deterministically

NOOP_QUEUE = "bench.noop"
EVALUATE_QUEUE = "bench.handrolled"

celery = Celery("bench-handrolled")
celery.conf.update(celery_config(load_settings()))
if os.environ.get("BENCH_BASELINE_TRANSPORT") == "fleet":  # hotpath_bench --baseline-transport
    celery.conf.broker_transport = TRANSPORT_PATH


@celery.task(name="bench.noop", ignore_result=False)
def noop() -> str:
    return "ok"


@celery.task(name="bench.handrolled_evaluate", ignore_result=False)
def evaluate(condition: str, context: dict[str, Any]) -> dict[str, Any]:
    return evaluate_deterministically(condition, context)


class EvaluateBody(BaseModel):
    condition: str
    context: dict[str, Any]


app = FastAPI()


@app.post("/evaluate")
def submit(body: EvaluateBody, wait: float | None = None) -> JSONResponse:
    result = evaluate.apply_async(args=[body.condition, body.context], queue=EVALUATE_QUEUE)
    if wait:
        try:
            value = result.get(timeout=wait)
        except CeleryTimeout:
            pass
        else:
            return JSONResponse({"task_id": result.id, "status": "succeeded", "result": value})
    return JSONResponse({"task_id": result.id, "status": "queued"}, status_code=202)

"""A bare Celery app with one no-op task, configured exactly like the fleet (same broker, same
reliability settings) but for storing its result (`ignore_result=False`: `get()` reads it; the fleet
stores none, its records are the results): the baseline the gateway round trip is compared with."""

from __future__ import annotations

from celery import Celery

from celeryconfig import celery_config
from eyeflow_worker.core.settings import load_settings

app = Celery("bench-noop")
app.conf.update(celery_config(load_settings()))


@app.task(name="bench.noop", ignore_result=False)
def noop() -> str:
    return "ok"

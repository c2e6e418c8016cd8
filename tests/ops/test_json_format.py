"""The JSON line itself: its keys, an exception as `exc_info` text, the bound fields, and a
binding that stays in the thread (or task) that made it. On a logger of its own: the process's
root logger is left as the test run configured it."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from eyeflow_worker.core import log_context
from eyeflow_worker.core.celery_log_context import WorkerLogContextFilter, task_fields
from eyeflow_worker.core.logging_setup import json_formatter
from eyeflow_worker.core.routing import Tasks


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    # This thread's context as a job's would start: nothing bound (a test run elsewhere in this
    # process may have bound fields in the main thread).
    token = log_context.bind()
    log_context.clear()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(WorkerLogContextFilter())
    logger = logging.getLogger("tests.ops.json_format")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    log_context.reset(token)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_has_ts_level_logger_message_and_an_exception_as_text(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("job failed")
    (line,) = _lines(stream)
    assert line["level"] == "ERROR"
    assert line["logger"] == "tests.ops.json_format"
    assert line["message"] == "job failed"
    assert line["ts"].endswith("+00:00")
    assert "Traceback" in line["exc_info"]
    assert "ValueError: boom" in line["exc_info"]


def test_bound_fields_reach_the_lines_of_their_thread_only(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    fields = task_fields(Tasks.BATCH_ITEM, ["job-1", "acme", 3, 1], celery_id="c-1", retries=0)
    started, release = threading.Event(), threading.Event()

    def job() -> None:
        with log_context.bound(**fields):
            started.set()
            release.wait(5)
            logger.info("in the job")

    worker = threading.Thread(target=job)
    worker.start()
    started.wait(5)
    logger.info("beside the job")  # another thread, while the job's binding is live
    release.set()
    worker.join(5)
    beside, inside = _lines(stream)
    assert beside["message"] == "beside the job"
    assert "task_id" not in beside
    assert inside["task_id"] == "job-1"
    assert inside["tenant"] == "acme"
    assert inside["kind"] == "batch"
    assert inside["item"] == 3
    assert inside["attempt"] == 2  # the item's run 1 is its second attempt


def test_celerys_received_line_is_named_from_the_arguments_it_carries(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    data = {"id": "job-2", "name": Tasks.REFINE, "args": "['job-2', 'acme']", "kwargs": "{}"}
    logger.info("Task eyeflow.refine[job-2] received", extra={"data": data})
    (line,) = _lines(stream)
    assert line["task_id"] == "job-2"
    assert line["tenant"] == "acme"
    assert line["kind"] == "refine"
    assert line["attempt"] is None  # not known before the job starts

"""OpenAI's Batch API through the real SDK against a loopback fake of Files + Batches: the
multipart upload, each line's body the realtime call's params, poll, output AND error files
(also for expired and cancelled batches), the early 404, reconciliation by metadata, pricing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from eyeflow_worker.core.batch_api import BatchAPI, BatchRequest, ProviderBatch
from eyeflow_worker.core.errors import (
    ProviderAuthError,
    ProviderRequestError,
    ProviderUnavailable,
)
from eyeflow_worker.core.llm import Message
from eyeflow_worker.providers import openai_batches
from eyeflow_worker.providers.openai_batches import OpenAIBatches
from eyeflow_worker.providers.openai_compat import OpenAIProvider
from eyeflow_worker.providers.pricing import cost_usd
from tests.fakes.batches_base import FakeBatch
from tests.fakes.llm_servers import FakeLLMServer
from tests.fakes.openai_batches_server import OpenAIBatchesServer
from tests.providers.conftest import WIRES, make_request, make_settings

SETTINGS = make_settings()


@pytest.fixture(scope="module")
def _module_fake() -> Iterator[OpenAIBatchesServer]:
    with OpenAIBatchesServer() as fake:
        yield fake


@pytest.fixture
def fake(_module_fake: OpenAIBatchesServer) -> OpenAIBatchesServer:
    _module_fake.reset()
    return _module_fake


@pytest.fixture
def api(fake: OpenAIBatchesServer, server: FakeLLMServer) -> OpenAIBatches:
    config = WIRES["openai"].config(server, api_url=fake.url + "/v1")
    return OpenAIBatches(config, SETTINGS)


def items(*ids: str) -> list[BatchRequest]:
    request = make_request()
    return [
        BatchRequest(i, replace(request, messages=(Message("user", f"intent {i}"),))) for i in ids
    ]


def test_it_is_a_batch_api(api: OpenAIBatches) -> None:
    implementation: BatchAPI = api
    assert implementation.provider == "openai"


def test_submit_uploads_a_jsonl_of_the_realtime_params_and_creates_the_batch(
    api: OpenAIBatches, fake: OpenAIBatchesServer, server: FakeLLMServer
) -> None:
    request = make_request()
    server.script(WIRES["openai"].ok("{}"))
    OpenAIProvider(WIRES["openai"].config(server), SETTINGS).complete(request)
    realtime = server.requests[-1].body

    batch = api.submit([BatchRequest("job-1:0", request)], {"eyeflow_intent": "i-1"})

    assert fake.uploads == [{"purpose": "batch"}]
    (input_file,) = [f for f in fake.files.values() if f["purpose"] == "batch"]
    (line,) = [json.loads(raw) for raw in input_file["content"].decode().splitlines()]
    assert line == {
        "custom_id": "job-1:0",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": realtime,
    }
    assert realtime["response_format"]["type"] == "json_schema"
    assert batch.metadata == {"eyeflow_intent": "i-1"}
    assert fake.batches[batch.batch_id].metadata == {"eyeflow_intent": "i-1"}
    assert batch.request_count == 1
    assert batch.batch_id.startswith("batch_")


def test_polls_until_completed_then_reads_both_files_by_custom_id(
    api: OpenAIBatches, fake: OpenAIBatchesServer
) -> None:
    fake.ends_after_polls = 2
    fake.outcomes.update({"b": "errored", "c": "invalid_request"})
    batch = api.submit(items("a", "b", "c", "d"), {})

    first = api.state(batch)
    assert first.status == "in_progress"
    assert first.counts.processing == 4
    ended = api.state(batch)
    assert ended.status == "ended"
    assert ended.provider_status == "completed"
    assert ended.results_available
    assert (ended.counts.succeeded, ended.counts.errored, ended.counts.processing) == (2, 2, 0)

    outcomes = list(api.outcomes(batch))
    assert [o.custom_id for o in outcomes] == ["d", "a", "c", "b"]  # each file reversed
    by_id = {o.custom_id: o for o in outcomes}
    assert by_id["a"].kind == by_id["d"].kind == "succeeded"
    assert by_id["a"].response is not None
    assert by_id["a"].response.text.startswith("{")
    assert by_id["b"].kind == "errored"
    assert by_id["b"].retryable
    assert by_id["c"].kind == "invalid_request"
    assert not by_id["c"].retryable
    assert "response_format" in (by_id["c"].error_message or "")
    contents = [p for p in fake.paths if p[1].endswith("/content")]
    assert len(contents) == 2  # the output file and the error file


def test_an_expired_batch_keeps_its_partial_results(
    api: OpenAIBatches, fake: OpenAIBatchesServer
) -> None:
    fake.outcomes.update({"b": "expired", "c": "expired"})
    batch = api.submit(items("a", "b", "c"), {})
    state = api.state(batch)
    assert state.status == "expired"
    assert state.terminal
    assert (state.counts.succeeded, state.counts.expired) == (1, 2)
    kinds = {o.custom_id: (o.kind, o.retryable) for o in api.outcomes(batch)}
    assert kinds == {"a": ("succeeded", False), "b": ("expired", True), "c": ("expired", True)}


def test_a_cancelled_batch_keeps_its_partial_results(
    api: OpenAIBatches, fake: OpenAIBatchesServer
) -> None:
    fake.ends_after_polls = 10
    fake.cancel_keeps = 1
    fake.cancelling_polls = 1
    batch = api.submit(items("a", "b"), {})
    assert api.cancel(batch).status == "cancelling"
    with pytest.raises(ProviderUnavailable, match="still cancelling"):
        api.outcomes(batch)
    state = api.state(batch)
    assert state.status == "cancelled"
    assert state.counts.cancelled == 1
    kinds = {o.custom_id: o.kind for o in api.outcomes(batch)}
    assert kinds == {"a": "succeeded", "b": "cancelled"}


def test_completed_without_result_files_yet_is_retryable(
    api: OpenAIBatches, fake: OpenAIBatchesServer
) -> None:
    fake.no_results_polls = 1
    batch = api.submit(items("a"), {})
    with pytest.raises(ProviderUnavailable, match="not there yet") as raised:
        api.outcomes(batch)
    assert raised.value.retryable
    assert [o.kind for o in api.outcomes(batch)] == ["succeeded"]


def test_an_early_404_is_retryable_and_a_late_one_permanent(
    api: OpenAIBatches, fake: OpenAIBatchesServer
) -> None:
    fake.not_found_polls = 1
    batch = api.submit(items("a"), {})
    with pytest.raises(ProviderUnavailable) as raised:
        api.state(batch)
    assert raised.value.retryable
    assert api.state(batch).status == "ended"
    gone = ProviderBatch("openai", "batch_gone", time.time() - 3600, 1)
    with pytest.raises(ProviderRequestError):
        api.state(gone)


def test_find_reconciles_by_metadata_across_pages(
    api: OpenAIBatches, fake: OpenAIBatchesServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_batches, "_LIST_PAGE_SIZE", 2)
    now = time.time()
    old = api.submit(items("a"), {"eyeflow_intent": "i-9"})
    fake.batches[old.batch_id].created_at = now - 7200  # before the window
    wanted = api.submit(items("a", "b"), {"eyeflow_intent": "i-9"})
    for n in range(3):
        api.submit(items("a"), {"eyeflow_intent": f"other-{n}"})

    found = api.find("eyeflow_intent", "i-9", now - 600)

    assert [b.batch_id for b in found] == [wanted.batch_id]
    assert found[0].metadata == {"eyeflow_intent": "i-9"}
    assert found[0].request_count == 2
    assert api.find("eyeflow_intent", "i-9", now - 600, request_count=3) == []


def test_a_failed_batch_says_why(
    api: OpenAIBatches, fake: OpenAIBatchesServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = api.submit(items("a"), {})
    wire = fake.wire_batch

    def failed(b: FakeBatch) -> dict[str, Any]:
        body = wire(b)
        body["status"] = "failed"
        body["errors"] = {"object": "list", "data": [{"code": "x", "message": "bad line 1"}]}
        return body

    monkeypatch.setattr(fake, "wire_batch", failed)
    state = api.state(batch)
    assert state.status == "failed"
    assert state.error_message == "bad line 1"
    with pytest.raises(ProviderRequestError, match="bad line 1"):
        api.outcomes(batch)


def test_outcomes_are_priced_at_the_batch_rate(
    api: OpenAIBatches, fake: OpenAIBatchesServer
) -> None:
    fake.usage = {"input_tokens": 1000, "output_tokens": 500, "cache_read_input_tokens": 4000}
    (outcome,) = api.outcomes(api.submit(items("a"), {}))
    assert outcome.response is not None
    assert outcome.response.usage.cache_read_input_tokens == 4000
    realtime = cost_usd("openai", outcome.response.model, outcome.response.usage, SETTINGS)
    assert realtime is not None
    assert outcome.realtime_cost_usd == realtime
    assert outcome.response.cost_usd == pytest.approx(realtime / 2, abs=1e-8)
    # gpt-4o: $2.50 in, $10 out, $1.25 cached; all halved.
    assert outcome.response.cost_usd == pytest.approx((1000 * 2.5 + 500 * 10 + 4000 * 1.25) / 2e6)


def test_sdk_errors_are_translated_at_the_boundary(server: FakeLLMServer) -> None:
    unreachable = WIRES["openai"].config(server, api_url="http://127.0.0.1:9/v1")
    with pytest.raises(ProviderUnavailable) as raised:
        OpenAIBatches(unreachable, SETTINGS).submit(items("a"), {})
    assert raised.value.retryable
    assert raised.value.__context__ is None  # no SDK object rides along
    keyless = WIRES["openai"].config(server, api_key=None)
    with pytest.raises(ProviderAuthError):
        OpenAIBatches(keyless, SETTINGS).submit(items("a"), {})


def test_release_deletes_the_input_output_and_error_files(
    api: OpenAIBatches, fake: OpenAIBatchesServer
) -> None:
    fake.outcomes.update({"b": "errored"})
    batch = api.submit(items("a", "b"), {})
    api.state(batch)
    list(api.outcomes(batch))
    assert {f["purpose"] for f in fake.files.values()} == {"batch", "batch_output"}
    assert len(fake.files) == 3  # input, output, error

    api.release(batch)

    assert fake.files == {}
    deletes = [p for p in fake.paths if p[0] == "DELETE"]
    assert len(deletes) == 3


def test_release_tolerates_files_already_gone(
    api: OpenAIBatches, fake: OpenAIBatchesServer
) -> None:
    batch = api.submit(items("a"), {})
    api.state(batch)
    list(api.outcomes(batch))
    fake.files.clear()  # deleted by someone else (or by an earlier release that crashed)

    api.release(batch)  # logs, never raises

    assert len([p for p in fake.paths if p[0] == "DELETE"]) == 2  # input and output

"""Anthropic's Message Batches through the real SDK against a loopback fake of the API:
submit (the realtime call's params), poll, outcomes by custom_id in any order, the early 404,
"ended but no results yet", cancel, reconciliation by time window and count, batch pricing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from eyeflow_worker.core.batch_api import BatchAPI, BatchRequest, ProviderBatch
from eyeflow_worker.core.errors import (
    ProviderAuthError,
    ProviderRequestError,
    ProviderUnavailable,
)
from eyeflow_worker.core.llm import Message
from eyeflow_worker.providers import anthropic_batches
from eyeflow_worker.providers.anthropic import AnthropicProvider
from eyeflow_worker.providers.anthropic_batches import (
    SAFE_CUSTOM_ID,
    AnthropicBatches,
    custom_id_for,
    item_id_for,
)
from eyeflow_worker.providers.pricing import cost_usd
from tests.fakes.anthropic_batches_server import AnthropicBatchesServer
from tests.fakes.llm_servers import FakeLLMServer
from tests.providers.conftest import WIRES, make_request, make_settings

SETTINGS = make_settings()


@pytest.fixture(scope="module")
def _module_fake() -> Iterator[AnthropicBatchesServer]:
    with AnthropicBatchesServer() as fake:
        yield fake


@pytest.fixture
def fake(_module_fake: AnthropicBatchesServer) -> AnthropicBatchesServer:
    _module_fake.reset()
    return _module_fake


@pytest.fixture
def api(fake: AnthropicBatchesServer, server: FakeLLMServer) -> AnthropicBatches:
    config = WIRES["anthropic"].config(server, api_url=fake.url)
    return AnthropicBatches(config, SETTINGS)


def items(*ids: str) -> list[BatchRequest]:
    request = make_request()
    return [
        BatchRequest(i, replace(request, messages=(Message("user", f"intent {i}"),))) for i in ids
    ]


def test_it_is_a_batch_api(api: AnthropicBatches) -> None:
    implementation: BatchAPI = api
    assert implementation.provider == "anthropic"


def test_each_request_carries_the_realtime_params_with_a_one_hour_cache(
    api: AnthropicBatches, fake: AnthropicBatchesServer, server: FakeLLMServer
) -> None:
    request = make_request()
    server.script(WIRES["anthropic"].ok("{}"))
    AnthropicProvider(WIRES["anthropic"].config(server), SETTINGS).complete(request)
    realtime = server.requests[-1].body

    batch = api.submit([BatchRequest("item-1", request)], {"job": "j1"})

    sent = fake.batches[batch.batch_id].items[0]
    assert sent.custom_id == "item-1"
    expected = dict(realtime)
    expected["system"] = [
        {**realtime["system"][0], "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ]
    assert sent.params == expected
    assert realtime["system"][0]["cache_control"] == {"type": "ephemeral"}  # realtime unchanged
    assert batch.request_count == 1
    assert batch.metadata == {"job": "j1"}
    assert abs(batch.created_at - time.time()) < 5


def test_polls_until_ended_then_reads_every_outcome_by_custom_id(
    api: AnthropicBatches, fake: AnthropicBatchesServer
) -> None:
    fake.ends_after_polls = 3
    fake.outcomes.update({"b": "errored", "c": "expired", "d": "invalid_request"})
    batch = api.submit(items("a", "b", "c", "d"), {})

    first = api.state(batch)
    assert first.status == "in_progress"
    assert first.counts.processing == 4
    assert not first.results_available
    assert not first.terminal
    with pytest.raises(ProviderUnavailable, match="still in_progress") as not_yet:
        api.outcomes(batch)  # the second poll: not ended yet
    ended = api.state(batch)
    assert ended.status == "ended"
    assert ended.results_available
    assert ended.terminal
    assert (ended.counts.succeeded, ended.counts.errored, ended.counts.expired) == (1, 2, 1)
    assert not_yet.value.retryable

    outcomes = list(api.outcomes(batch))
    assert [o.custom_id for o in outcomes] == ["d", "c", "b", "a"]  # the fake's order
    by_id = {o.custom_id: o for o in outcomes}
    assert by_id["a"].kind == "succeeded"
    assert by_id["a"].response is not None
    assert by_id["a"].response.text.startswith('{"workflow_name"')
    assert by_id["b"].kind == "errored"
    assert by_id["b"].retryable
    assert by_id["c"].kind == "expired"
    assert by_id["c"].retryable
    assert by_id["d"].kind == "invalid_request"
    assert not by_id["d"].retryable
    assert "max_tokens" in (by_id["d"].error_message or "")


def test_unsafe_item_ids_travel_as_safe_custom_ids_and_come_back(
    api: AnthropicBatches, fake: AnthropicBatchesServer
) -> None:
    long_id = "job:" + "x" * 80
    ids = ["job-7:0", "job-7:1", "x-looks-encoded", long_id, "intent é"]
    fake.ends_after_polls = 0
    batch = api.submit(items(*ids), {})

    sent = [item.custom_id for item in fake.batches[batch.batch_id].items]
    assert all(SAFE_CUSTOM_ID.match(cid) for cid in sent)
    assert len(set(sent)) == len(ids)
    assert set(batch.aliases) == {custom_id_for(long_id)}  # only the hashed one needs a table
    assert {o.custom_id for o in api.outcomes(batch)} == set(ids)


def test_custom_id_mapping_is_reversible() -> None:
    for item_id in ["plain_id-1", "job:1", "x-abc", "h-abc", "ünï", "a" * 64]:
        assert item_id_for(custom_id_for(item_id)) == item_id
    assert custom_id_for("plain_id-1") == "plain_id-1"
    hashed = custom_id_for("z:" * 40)
    assert hashed.startswith("h-")
    assert len(hashed) <= 64
    assert item_id_for(hashed, {hashed: "z:" * 40}) == "z:" * 40


def test_ended_but_no_results_file_yet_is_retryable(
    api: AnthropicBatches, fake: AnthropicBatchesServer
) -> None:
    fake.no_results_polls = 2
    batch = api.submit(items("a"), {})
    assert api.state(batch).status == "ended"
    with pytest.raises(ProviderUnavailable, match="no results file yet") as raised:
        list(api.outcomes(batch))
    assert raised.value.retryable
    assert [o.kind for o in api.outcomes(batch)] == ["succeeded"]


def test_an_early_404_is_retryable(api: AnthropicBatches, fake: AnthropicBatchesServer) -> None:
    fake.not_found_polls = 2
    batch = api.submit(items("a"), {})
    for _ in range(2):
        with pytest.raises(ProviderUnavailable) as raised:
            api.state(batch)
        assert raised.value.retryable
        assert raised.value.retry_after
    assert api.state(batch).status == "ended"


def test_a_404_for_an_old_batch_is_permanent(api: AnthropicBatches) -> None:
    gone = ProviderBatch("anthropic", "msgbatch_gone", time.time() - 3600, 1)
    with pytest.raises(ProviderRequestError) as raised:
        api.state(gone)
    assert not raised.value.retryable


def test_cancel_keeps_the_results_already_made(
    api: AnthropicBatches, fake: AnthropicBatchesServer
) -> None:
    fake.ends_after_polls = 10
    fake.cancel_keeps = 1
    batch = api.submit(items("a", "b", "c"), {})
    assert api.cancel(batch).status == "cancelling"
    state = api.state(batch)
    assert state.status == "cancelled"
    assert state.counts.cancelled == 2
    kinds = {o.custom_id: (o.kind, o.retryable) for o in api.outcomes(batch)}
    assert kinds == {
        "a": ("succeeded", False),
        "b": ("cancelled", False),
        "c": ("cancelled", False),
    }


def test_find_matches_the_creation_window_and_request_count_across_pages(
    api: AnthropicBatches, fake: AnthropicBatchesServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(anthropic_batches, "_LIST_PAGE_SIZE", 2)
    now = time.time()
    old = api.submit(items("a", "b"), {})
    fake.batches[old.batch_id].created_at = now - 7200  # before the window
    wanted = api.submit(items("a", "b"), {})
    fake.batches[wanted.batch_id].created_at = now - 60
    for n in range(3):  # newer batches of another size, filling the first pages
        api.submit(items(*[f"x{n}-{i}" for i in range(3)]), {})

    found = api.find("job", "ignored", now - 600, request_count=2)

    assert [b.batch_id for b in found] == [wanted.batch_id]
    assert found[0].request_count == 2
    assert ("GET", "/v1/messages/batches") in fake.paths
    assert api.find("job", "ignored", now - 600, request_count=2, created_before=now - 120) == []


def test_outcomes_are_priced_at_the_batch_rate(
    api: AnthropicBatches, fake: AnthropicBatchesServer
) -> None:
    fake.usage = {
        "input_tokens": 1000,
        "output_tokens": 500,
        "cache_read_input_tokens": 20_000,
        "cache_creation_input_tokens": 0,
    }
    fake.ends_after_polls = 0
    batch = api.submit(items("a"), {})
    (outcome,) = api.outcomes(batch)
    assert outcome.response is not None
    realtime = cost_usd("anthropic", "claude-sonnet-4-6", outcome.response.usage, SETTINGS)
    assert realtime is not None
    assert outcome.realtime_cost_usd == realtime
    assert outcome.response.cost_usd == pytest.approx(realtime / 2, abs=1e-8)
    # claude-sonnet-4-6: $3 in, $15 out, $0.30 cache read; all halved.
    assert outcome.response.cost_usd == pytest.approx((1000 * 3 + 500 * 15 + 20_000 * 0.3) / 2e6)


def test_one_hour_cache_writes_are_priced_as_such(
    api: AnthropicBatches, fake: AnthropicBatchesServer
) -> None:
    fake.usage = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 10_000}
    fake.ends_after_polls = 0
    (outcome,) = api.outcomes(api.submit(items("a"), {}))
    assert outcome.response is not None
    # 1-hour writes bill at 2x input ($6/M for Sonnet), halved by the batch discount.
    assert outcome.response.cost_usd == pytest.approx(10_000 * 6.0 / 2e6)


def test_an_empty_or_duplicated_batch_is_refused_before_any_call(
    api: AnthropicBatches, fake: AnthropicBatchesServer
) -> None:
    with pytest.raises(ProviderRequestError):
        api.submit([], {})
    with pytest.raises(ProviderRequestError, match="twice"):
        api.submit(items("a", "a"), {})
    assert fake.paths == []


def test_sdk_errors_are_translated_at_the_boundary(server: FakeLLMServer) -> None:
    unreachable = WIRES["anthropic"].config(server, api_url="http://127.0.0.1:9")
    with pytest.raises(ProviderUnavailable) as raised:
        AnthropicBatches(unreachable, SETTINGS).submit(items("a"), {})
    assert raised.value.retryable
    assert raised.value.__context__ is None  # no SDK object rides along
    keyless = WIRES["anthropic"].config(server, api_key=None)
    with pytest.raises(ProviderAuthError):
        AnthropicBatches(keyless, SETTINGS).submit(items("a"), {})

"""Bad input is a 422 naming the field, before anything is written: lone surrogates and
non-finite numbers anywhere in a body (nested free-form objects and keys included), bodies too
deep or with too many values (the bound in the message) — never a 500, never a job, and the
Idempotency-Key of a refused request is free for the corrected one."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from api_gateway.enqueue import Submitter
from eyeflow_worker.core.job_accept import Acceptor
from eyeflow_worker.core.records import JobStore
from eyeflow_worker.core.records_async import AsyncRecords
from tests.api_gateway.submit_helpers import Gateway, connect, gateway, settings
from tests.rules.scripted import rules_doc

GENERATE, BATCH = "/api/rules/generate", "/api/rules/generate-batch"
REFINE, EVALUATE = "/api/rules/refine", "/api/conditions/evaluate"
RULES = json.dumps(rules_doc())

VALID = {
    GENERATE: {"user_intent": "Alert me"},
    BATCH: {"intents": ["Alert me", "Page me"]},
    REFINE: {"current_rules": rules_doc(), "feedback": "more"},
    EVALUATE: {"condition": "$a > 1", "context": {"a": 2}},
}


@pytest.fixture
def gw() -> Any:
    with gateway() as here:
        yield here


def _in_context(value: str) -> str:
    return f'{{"condition": "$a > 1", "context": {{"a": {value}}}}}'


# (path, raw body, where the 422 points, error type)
SURROGATE, NOT_FINITE = "string_unicode", "finite_number"
UNSTORABLE = [
    (BATCH, r'{"intents": ["fine", "bad \ud800"]}', ["intents", 1], "string_unicode"),
    (GENERATE, r'{"user_intent": "\udfff alert"}', ["user_intent"], "string_unicode"),
    (REFINE, f'{{"current_rules": {RULES}, "feedback": "\\ud83d"}}', ["feedback"], SURROGATE),
    (EVALUATE, r'{"condition": "$a > 1 \udc00", "context": {}}', ["condition"], "string_unicode"),
    (
        EVALUATE,
        r'{"condition": "$a > 1", "context": {"a": {"b": ["x", "\ud800"]}}}',
        ["context", "a", "b", 1],
        "string_unicode",
    ),
    (
        GENERATE,
        r'{"user_intent": "ok", "aggregated_context": {"variables": {"\udc00": 1}}}',
        ["aggregated_context", "variables", "\\udc00"],
        "string_unicode",
    ),
    # A surrogate encoded as bytes (ED A0 80), not as an escape.
    (BATCH, b'{"intents": ["ok \xed\xa0\x80"]}', ["intents", 0], "string_unicode"),
    (
        REFINE,
        f'{{"current_rules": {RULES[:-1]}, "score": NaN}}, "feedback": "more"}}',
        ["current_rules", "score"],
        "finite_number",
    ),
    (EVALUATE, _in_context("Infinity"), ["context", "a"], NOT_FINITE),
    (EVALUATE, _in_context("[-Infinity]"), ["context", "a", 0], NOT_FINITE),
    (EVALUATE, _in_context("1e999"), ["context", "a"], NOT_FINITE),
    (BATCH, '{"intents": ["ok"], "deadline": NaN}', ["deadline"], "finite_number"),
    (
        GENERATE,
        '{"user_intent": "ok", "aggregated_context": {"variables": [{"max": -1e400}]}}',
        ["aggregated_context", "variables", 0, "max"],
        "finite_number",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("path", "raw", "loc", "kind"), UNSTORABLE)
def test_unstorable_values_are_a_422_at_their_place_and_the_key_stays_free(
    gw: Gateway, path: str, raw: str | bytes, loc: list[str | int], kind: str
) -> None:
    body = raw if isinstance(raw, bytes) else raw.encode()
    refused = gw.post(path, raw=body, **{"Idempotency-Key": "k-1"})

    assert refused.status_code == 422, refused.text
    (error,) = refused.json()["detail"]
    assert error["loc"] == ["body", *loc]
    assert error["type"] == kind
    assert "input" not in error
    assert gw.sent == []  # nothing was enqueued (nor, before it, recorded)
    # The corrected request under the same key is a new job, not "still being processed".
    accepted = gw.post(path, VALID[path], **{"Idempotency-Key": "k-1"})
    assert accepted.status_code == 202, accepted.text
    assert gw.sent == [accepted.json()["task_id"]]


def test_every_unstorable_value_is_reported(gw: Gateway) -> None:
    raw = r'{"condition": "$a > 1", "context": {"a": NaN, "b": "\ud800", "c": [1, Infinity]}}'
    answer = gw.post(EVALUATE, raw=raw.encode())
    assert answer.status_code == 422
    assert [error["loc"] for error in answer.json()["detail"]] == [
        ["body", "context", "a"], ["body", "context", "b"], ["body", "context", "c", 1],
    ]  # fmt: skip


def test_surrogate_pairs_and_non_ascii_text_are_accepted(gw: Gateway) -> None:
    raw = r'{"condition": "$a == \"\ud83d\ude00 café\"", "context": {"a": "\ud83d\ude00 café"}}'
    assert gw.post(EVALUATE, raw=raw.encode()).status_code == 202


def _nested(levels: int) -> str:
    """A value `levels` levels deep below the field: {"k": {"k": ... 1}}."""
    return '{"k": ' * levels + "1" + "}" * levels


DEEP = {"deep": "NEST"}


@pytest.mark.parametrize(
    ("path", "field", "body"),
    [
        (GENERATE, "aggregated_context", {"user_intent": "x", "aggregated_context": DEEP}),
        (REFINE, "current_rules", {"feedback": "x", "current_rules": rules_doc(meta="NEST")}),
        (EVALUATE, "context", {"condition": "$a > 1", "context": DEEP}),
    ],
)  # fmt: skip
def test_nesting_is_bounded_in_every_free_form_field(
    gw: Gateway, path: str, field: str, body: dict[str, Any]
) -> None:
    def nested(levels: int) -> bytes:
        return json.dumps(body).replace('"NEST"', _nested(levels)).encode()

    # The field's value is level 0, "deep" level 1: 31 more levels reach level 32, the bound.
    assert gw.post(path, raw=nested(31)).status_code == 202
    refused = gw.post(path, raw=nested(32))
    assert refused.status_code == 422, refused.text
    (error,) = refused.json()["detail"]
    assert error["loc"] == ["body", field]
    assert error["msg"] == "nested deeper than 32 levels (MAX_JSON_DEPTH)"


def test_a_lower_depth_bound_is_the_apps_own() -> None:
    with gateway(max_json_depth=4) as gw:
        refused = gw.post(EVALUATE, raw=b'{"condition": "$a", "context": {"a": [[[[[1]]]]]}}')
        assert refused.status_code == 422
        assert "nested deeper than 4 levels" in refused.json()["detail"][0]["msg"]
        accepted = gw.post(EVALUATE, raw=b'{"condition": "$a", "context": {"a": [[[1]]]}}')
        assert accepted.status_code == 202


def test_the_values_in_a_body_are_bounded_with_the_bound_in_the_422() -> None:
    with gateway(max_json_elements=50) as gw:
        # The body object, the condition, the context and its 47 values: 50 in all.
        at_bound = {"condition": "$a > 1", "context": {f"v{i}": i for i in range(47)}}
        assert gw.post(EVALUATE, at_bound).status_code == 202
        over = {"condition": "$a > 1", "context": {f"v{i}": i for i in range(48)}}
        refused = gw.post(EVALUATE, over)
        assert refused.status_code == 422
        (error,) = refused.json()["detail"]
        assert error["loc"] == ["body", "context"]
        assert error["msg"] == "the request body holds more than 50 JSON values (MAX_JSON_ELEMENTS)"
        assert error["type"] == "json_too_many_values"


@pytest.mark.parametrize("path", [GENERATE, BATCH, REFINE])
def test_a_mebibyte_of_empty_lists_is_refused_before_it_is_parsed(gw: Gateway, path: str) -> None:
    lists = b"[" + b",".join([b"[]"] * 350_000) + b"]"
    raw = VALID[path] | {"aggregated_context": {"variables": "LISTS"}}
    body = json.dumps(raw).encode().replace(b'"LISTS"', lists)
    refused = gw.post(path, raw=body)
    assert refused.status_code == 422
    (error,) = refused.json()["detail"]
    assert error["loc"] == ["body", "aggregated_context"]
    assert "more than 100000 JSON values (MAX_JSON_ELEMENTS)" in error["msg"]


def test_half_a_million_levels_is_a_422_not_a_parser_crash(gw: Gateway) -> None:
    deep = b"[" * 500_000 + b"]" * 500_000
    refused = gw.post(EVALUATE, raw=b'{"condition": "$a", "context": {"a": ' + deep + b"}}")
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "context"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"user_intent": "\xff"}', "not UTF-8 text"),
        (b'{"user_intent": ' + b"1" * 5000 + b"}", "a number with more than 4300 digits"),
    ],
)
def test_bodies_json_cannot_read_are_a_422(gw: Gateway, raw: bytes, message: str) -> None:
    refused = gw.post(GENERATE, raw=raw)
    assert refused.status_code == 422
    assert message in refused.json()["detail"][0]["msg"]


def test_blank_text_is_refused_where_the_schema_says_so(gw: Gateway) -> None:
    for path, body, loc in [
        (BATCH, {"intents": ["ok", " \t "]}, ["body", "intents", 1]),
        (GENERATE, {"user_intent": "\n"}, ["body", "user_intent"]),
        (REFINE, {"current_rules": rules_doc(), "feedback": "  "}, ["body", "feedback"]),
        (EVALUATE, {"condition": " ", "context": {}}, ["body", "condition"]),
    ]:
        refused = gw.post(path, body)
        assert refused.status_code == 422, path
        assert refused.json()["detail"][0]["loc"] == loc


class _BrokenStore(JobStore):
    """A record write failing with something other than a Redis error (a bug), after the
    Idempotency-Key's pending claim was written with it."""

    def accept(self, job: Any, **options: Any) -> Any:
        super().accept(job, **options)
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")


def test_an_unexpected_failure_while_enqueueing_frees_the_idempotency_key() -> None:
    client = connect()
    tenant = "t-broken-store"
    # Its message would be sent after the record (a broker other than the records' Redis).
    separate = settings(broker_url="amqp://guest:guest@127.0.0.1:5672//")
    records = AsyncRecords(separate, Acceptor(client, 60))  # unused on another broker
    submitter = Submitter(client, _BrokenStore(client, 60), records, object(), separate)  # type: ignore[arg-type]
    try:
        with pytest.raises(UnicodeEncodeError):
            asyncio.run(submitter.submit(
                tenant=tenant, kind="generate", payload={"user_intent": "x"}, webhook_url=None,
                idempotency_key="k", fingerprint_body={"user_intent": "x"},
            ))  # fmt: skip
        assert list(client.scan_iter(match=f"eyeflow:idempotency:{tenant}:*")) == []
    finally:
        for key in client.scan_iter(match=f"eyeflow:idempotency:{tenant}:*"):
            client.delete(key)
        client.close()

"""The OpenAPI states what the validators enforce: a value valid by the published schema is
never refused by the gateway for an unstated rule.

Checked by property, against the schema `/openapi.json` serves (with its settings' limits), for
the fields whose checks are code rather than pydantic constraints: the capability catalogue's
shape, the rules document `refine` takes, the webhook URL's shape and the `X-User-ID` header.
Hypothesis draws values near the rules (the section and envelope names, strategies, URL parts);
each one the schema accepts must be accepted by the check, and for the catalogue and the rules
the reverse too where the schema is exact.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from api_gateway.auth import TENANT_PATTERN
from api_gateway.schemas import RefineRequest
from eyeflow_worker.core.catalogue_shapes import SECTION_KEYS, WRAPPER_KEYS, shape_problems
from eyeflow_worker.core.egress import url_shape_problem
from tests.api_gateway.submit_helpers import gateway

_EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def served_document() -> dict[str, Any]:
    """The document as served (the gateway's lifespan runs: its limits stated). Read once, and
    not a fixture: Hypothesis would print it with every example it reports."""
    with gateway() as gw:
        served: dict[str, Any] = gw.http.get("/openapi.json").json()
    return served


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A validator of `schema` whose `#/components/...` references resolve in `document`."""
    rooted = {**schema, "components": document["components"]}
    return jsonschema.Draft202012Validator(rooted)


def _property(document: dict[str, Any], model: str, field: str) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"][model]["properties"][field]
    return found


def _ecma_search(pattern: str, text: str) -> bool:
    """JSON Schema's `pattern` (ECMA-262) in Python: there `$` matches only at the very end,
    where Python's also matches before a final newline. (The patterns here use no literal $.)"""
    return re.search(pattern.replace("$", r"\Z"), text) is not None


_SECTIONS = [key for keys in SECTION_KEYS.values() for key in keys]
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3))


def _catalogue_level(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    sections = st.dictionaries(
        st.sampled_from(_SECTIONS),
        st.one_of(_json_leaf, st.lists(_json_leaf, max_size=2), st.just({"a": 1})),
        max_size=3,
    )
    wrappers = st.dictionaries(st.sampled_from(WRAPPER_KEYS), inner, max_size=2)
    others = st.dictionaries(st.text(max_size=4), _json_leaf, max_size=2)
    return st.tuples(sections, wrappers, others).map(
        lambda parts: {**parts[2], **parts[1], **parts[0]}
    )


_catalogues = st.recursive(
    st.one_of(_json_leaf, st.just({})), lambda inner: _catalogue_level(inner), max_leaves=12
)


@_EXAMPLES
@given(catalogue=_catalogue_level(_catalogues))
def test_a_catalogue_valid_by_the_schema_is_readable(
    catalogue: dict[str, Any],
) -> None:
    document = served_document()
    schema = _property(document, "GenerateRequest", "aggregated_context")
    if _validator(document, schema).is_valid(catalogue):
        assert shape_problems(catalogue) == [], catalogue


def test_the_catalogue_schema_refuses_what_the_reader_refuses() -> None:
    document = served_document()
    validator = _validator(document, _property(document, "GenerateRequest", "aggregated_context"))
    for refused in (
        {"variables": "cpu"},
        {"action_types": 3},
        {"data": {"capabilities": {"triggers": True}}},
    ):
        assert shape_problems(refused) != []
        assert not validator.is_valid(refused), refused
    assert validator.is_valid({"data": {"variables": [{"name": "$cpu"}]}, "id": 7})
    assert validator.is_valid(None)


# Mostly valid documents, wrong in one place at a time (an action's retry out of range, an
# on_failure whose actions do not match its strategy, an empty list, an unknown strategy):
# where the schema and the validator could disagree.
_names = st.sampled_from(["a", "cpu-high", "notify"])
_fallback = st.fixed_dictionaries({"action": _names}, optional={"params": st.just({"k": 1})})
_on_failure = st.fixed_dictionaries(
    {"strategy": st.sampled_from(["continue", "stop_workflow", "run_actions", "other"])},
    optional={"actions": st.lists(_fallback, max_size=2)},
)
_action = st.fixed_dictionaries(
    {"action": st.one_of(_names, _names, _names, st.just(""))},
    optional={
        "params": st.just({}),
        "retry": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {"max_attempts": st.integers(0, 11), "backoff_seconds": st.integers(-1, 3601)}
            ),
        ),
        "on_failure": st.one_of(st.none(), _on_failure),
    },
)
_actions = st.one_of(st.lists(_action, min_size=1, max_size=2), st.just([]))
_rule = st.fixed_dictionaries(
    {"name": _names, "condition": _names, "then": _actions},
    optional={"else": st.one_of(st.none(), _actions), "description": st.none()},
)
_documents = st.fixed_dictionaries(
    {
        "workflow_name": _names,
        "trigger": _names,
        "rules": st.one_of(st.lists(_rule, min_size=1, max_size=2), st.just([])),
    },
    optional={"id": st.integers(), "createdAt": st.text(max_size=3), "color": st.just("red")},
)


@_EXAMPLES
@given(rules=_documents)
def test_a_rules_document_valid_by_the_schema_is_accepted_for_refine(
    rules: dict[str, Any],
) -> None:
    document = served_document()
    valid_by_schema = _validator(document, _property(document, "RefineRequest", "current_rules"))
    try:
        RefineRequest.model_validate({"current_rules": rules, "feedback": "use slack"})
        accepted = True
    except ValidationError:
        accepted = False
    # Exact both ways: every rule of the document is in the schema (OnFailure's included).
    assert valid_by_schema.is_valid(rules) == accepted, rules


_hosts = st.one_of(
    st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,5}[a-z0-9])?(\.[a-z]{1,4}){0,2}\Z"),
    st.sampled_from(["[2001:db8::1]", "[::ffff:1.2.3.4]", "8.8.8.8", "é.com", "a..b", "-x"]),
)
_urls = st.builds(
    lambda scheme, host, port, rest: f"{scheme}://{host}{port}{rest}",
    st.sampled_from(["http", "https", "HTTPS", "ftp", ""]),
    _hosts,
    st.sampled_from(["", ":443", ":0", ":65535", ":65536", ":x"]),
    st.sampled_from(["", "/", "/hooks?a=1", "#f", " /x"]),
)


@_EXAMPLES
@given(url=st.one_of(_urls, st.text(max_size=12)))
def test_a_webhook_url_matching_the_stated_pattern_has_a_valid_shape(
    url: str,
) -> None:
    document = served_document()
    stated = _property(document, "GenerateRequest", "webhook_url")  # pattern beside the anyOf
    if _ecma_search(stated["pattern"], url):
        assert url_shape_problem(url) is None, url


@_EXAMPLES
@given(data=st.data())
def test_every_url_the_stated_pattern_generates_has_a_valid_shape(data: st.DataObject) -> None:
    """Drawn from the pattern itself: whatever it admits, the gateway's check admits."""
    stated = _property(served_document(), "GenerateRequest", "webhook_url")
    url = data.draw(st.from_regex(stated["pattern"].replace("$", r"\Z")))
    assert url_shape_problem(url) is None, url


@_EXAMPLES
@given(
    tenant=st.one_of(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:@-]{0,130}\Z"), st.text(max_size=8))
)
def test_an_x_user_id_matching_the_stated_pattern_is_a_tenant(
    tenant: str,
) -> None:
    document = served_document()
    header = next(
        parameter
        for parameter in document["paths"]["/api/rules/generate"]["post"]["parameters"]
        if parameter["name"] == "X-User-ID"
    )
    if _ecma_search(header["schema"]["pattern"], tenant):
        assert tenant == "" or TENANT_PATTERN.match(tenant) is not None, tenant


@_EXAMPLES
@given(on_failure=_on_failure)
def test_the_schema_states_which_on_failure_actions_each_strategy_takes(
    on_failure: dict[str, Any],
) -> None:
    """One rule, one action, only its `on_failure` varying: the cross-field rule (run_actions
    needs actions, the others take none) is in the schema exactly."""
    document = served_document()
    valid_by_schema = _validator(document, _property(document, "RefineRequest", "current_rules"))
    action = {"action": "notify", "on_failure": on_failure}
    rules = {
        "workflow_name": "w",
        "trigger": "t",
        "rules": [{"name": "r", "condition": "c", "then": [action]}],
    }
    try:
        RefineRequest.model_validate({"current_rules": rules, "feedback": "use slack"})
        accepted = True
    except ValidationError:
        accepted = False
    assert valid_by_schema.is_valid(rules) == accepted, on_failure

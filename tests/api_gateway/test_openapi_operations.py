"""Every operation has a hand-named id and a tag, and lists the status codes it can answer with
their error models: a generated client gets readable method names and typed errors."""

from __future__ import annotations

import re
from typing import Any

from tests.api_gateway.auth_helpers import secured
from tests.api_gateway.submit_helpers import gateway

SUBMISSIONS = {
    "/api/rules/generate",
    "/api/rules/generate-batch",
    "/api/rules/refine",
    "/api/conditions/evaluate",
}
OPEN_PATHS = {"/health"}
# Routes whose tenant comes from the caller (deps.TenantDep / cache.scope): they can answer 403.
TENANT_SCOPED_PREFIXES = ("/api/", "/providers", "/cache/", "/config/")
TASK_PATHS = {"/api/tasks/{task_id}", "/api/tasks/{task_id}/results", "/api/tasks/{task_id}/retry"}
_CAMEL = re.compile(r"[a-z]+(?:[A-Z][a-z]+)+")


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    ]


def _secured_spec() -> dict[str, Any]:
    with secured() as gw:
        spec: dict[str, Any] = gw.http.get("/openapi.json").json()
    return spec


def test_every_operation_has_a_hand_named_unique_id_and_a_tag() -> None:
    with gateway() as gw:
        spec = gw.http.get("/openapi.json").json()
    ids = [operation.get("operationId", "") for _, _, operation in _operations(spec)]
    for path, method, operation in _operations(spec):
        name = operation.get("operationId", "")
        # FastAPI's generated ids look like `read_task_api_tasks__task_id__get`.
        assert _CAMEL.fullmatch(name), f"{method} {path}: operationId {name!r} is not hand-named"
        assert len(operation.get("tags", [])) == 1, f"{method} {path}: one tag"
        assert operation.get("summary"), f"{method} {path}: a summary"
    assert len(ids) == len(set(ids)), "operation ids are unique"
    assert {"submitGenerate", "submitBatch", "getTask", "listBatchResults", "cancelTask"} <= set(
        ids
    )
    declared = {tag["name"] for tag in spec["tags"]}
    assert {tag for _, _, op in _operations(spec) for tag in op["tags"]} <= declared


def test_each_route_lists_the_codes_it_can_answer() -> None:
    spec = _secured_spec()
    for path, method, operation in _operations(spec):
        codes = set(operation["responses"])
        where = f"{method} {path}"
        if path in OPEN_PATHS:
            assert "401" not in codes, where
            continue
        assert "401" in codes, f"{where}: every credentialed route can refuse the caller"
        if path.startswith(TENANT_SCOPED_PREFIXES):
            assert "403" in codes, where
        if path in SUBMISSIONS:
            assert {"202", "200", "409", "413", "422", "429", "503"} <= codes, where
        if path in TASK_PATHS:
            assert {"404", "503"} <= codes, where
    assert {"200", "503"} <= set(spec["paths"]["/health"]["get"]["responses"])
    assert "409" in spec["paths"]["/api/tasks/{task_id}"]["delete"]["responses"]
    assert "409" in spec["paths"]["/api/tasks/{task_id}/retry"]["post"]["responses"]


def test_every_error_answer_names_its_model() -> None:
    spec = _secured_spec()
    for path, method, operation in _operations(spec):
        for code, response in operation["responses"].items():
            if not code.startswith(("4", "503")):
                continue
            # (/metrics answers text: FastAPI files its error models under that media type.)
            schemas = [media.get("schema", {}) for media in response.get("content", {}).values()]
            assert any("$ref" in schema for schema in schemas), f"{method} {path} {code}"


def test_an_open_gateway_promises_no_auth_refusal() -> None:
    with gateway() as gw:
        spec = gw.http.get("/openapi.json").json()
    for path, method, operation in _operations(spec):
        assert "401" not in operation["responses"], f"{method} {path}"


def test_health_states_its_report_and_its_503() -> None:
    spec = _secured_spec()
    responses = spec["paths"]["/health"]["get"]["responses"]
    for code in ("200", "503"):
        schema = responses[code]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/HealthReport")
    report = spec["components"]["schemas"]["HealthReport"]
    assert report["properties"]["status"]["enum"] == ["healthy", "degraded", "unhealthy"]

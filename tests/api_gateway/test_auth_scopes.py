"""Acting across tenants is the operator's alone: `?all=true` on the cache routes and /metrics
(whose gauges name every tenant) need OPERATOR_API_TOKEN — 403 for the service token and for
tenant tokens — and a refresh of every tenant is handed to a worker (202), never run in the
gateway. Tenants cannot see or name each other; an open gateway (dev) stays open; the OpenAPI
document has the bearer scheme when there is a credential to check."""

from __future__ import annotations

from typing import Any

from api_gateway.routes.cache import REFRESH_ALL_KEY
from eyeflow_worker.core.routing import Tasks
from tests.api_gateway.auth_helpers import (
    OPERATOR,
    SERVICE,
    bearer,
    secured,
    tenant_name,
    token,
)
from tests.api_gateway.submit_helpers import connect

OPERATOR_ONLY = [
    ("POST", "/config/refresh?all=true"),
    ("POST", "/cache/invalidate?all=true"),
    ("GET", "/metrics"),
]


def test_operator_wide_actions_refuse_the_service_and_tenant_tokens() -> None:
    acme = tenant_name()
    with secured(acme) as gw:
        for method, path in OPERATOR_ONLY:
            assert gw.request(method, path, {}).status_code == 401, path
            for credential in (bearer(SERVICE), bearer(SERVICE, acme), bearer(token(acme))):
                answer = gw.request(method, path, credential)
                assert answer.status_code == 403, (path, credential)
                assert "OPERATOR_API_TOKEN" in answer.json()["detail"]
        assert gw.sent == []


def test_the_operator_refreshes_every_tenant_on_a_worker_at_most_once_a_minute() -> None:
    with secured() as gw:
        first = gw.request("POST", "/config/refresh?all=true", bearer(OPERATOR))
        assert first.status_code == 202
        body = first.json()
        assert body == {
            "queued": True,
            "scope": "all",
            "source": "environment",
            "task_id": body["task_id"],
        }
        (sent,) = gw.sent
        assert sent.name == Tasks.CONFIG_REFRESH_DUE
        assert sent.kwargs["queue"] == "eyeflow.maintenance"
        assert sent.kwargs["task_id"] == body["task_id"]
        # A horizon past any TTL: every known tenant is due.
        assert sent.kwargs["kwargs"]["horizon_seconds"] >= 365 * 24 * 3600
        again = gw.request("POST", "/config/refresh?all=true", bearer(OPERATOR))
        assert again.status_code == 202
        assert again.json()["queued"] is False
        assert again.json()["task_id"] == body["task_id"]
        assert len(gw.sent) == 1
        connect().delete(REFRESH_ALL_KEY)
        assert gw.request("POST", "/config/refresh?all=true", bearer(OPERATOR)).json()["queued"]
        assert len(gw.sent) == 2


def test_a_broker_that_refuses_the_refresh_frees_the_claim() -> None:
    from kombu.exceptions import OperationalError

    with secured() as gw:
        celery = gw.http.app.state.gateway.celery  # type: ignore[attr-defined]
        celery.send_task.side_effect = OperationalError("broker down")
        answer = gw.request("POST", "/config/refresh?all=true", bearer(OPERATOR))
        assert answer.status_code == 503
        assert connect().get(REFRESH_ALL_KEY) is None


def test_the_operator_invalidates_every_tenant_and_reads_metrics() -> None:
    with secured() as gw:
        dropped = gw.request("POST", "/cache/invalidate?all=true", bearer(OPERATOR))
        assert dropped.status_code == 200
        assert dropped.json() == {"invalidated": 0, "scope": "all"}
        metrics = gw.request("GET", "/metrics", bearer(OPERATOR))
        assert metrics.status_code == 200
        assert "eyeflow_queue_depth" in metrics.text
        # The operator token also acts for a tenant it names (it is the operator's fleet).
        acme = tenant_name()
        gw.tenants.add(acme)
        assert gw.request("GET", "/cache/status", bearer(OPERATOR, acme)).json()["tenant"] == acme


def test_tenants_see_only_themselves() -> None:
    acme, globex = tenant_name(), tenant_name()
    with secured(acme, globex) as gw:
        mine = gw.request("POST", "/config/refresh", bearer(token(acme)))
        assert mine.status_code == 200
        assert list(mine.json()["tenants"]) == [acme]
        assert globex not in mine.text
        for method, path in (
            ("GET", "/cache/status"),
            ("POST", "/config/refresh"),
            ("POST", "/cache/invalidate"),
            ("GET", "/providers"),
        ):
            other = gw.request(method, path, bearer(token(acme), globex))
            assert other.status_code == 403, path
            assert globex not in other.text
            assert acme not in other.text
        invalidated = gw.request("POST", "/cache/invalidate", bearer(token(acme)))
        assert invalidated.json() == {"invalidated": 0, "scope": acme}
        # `all=false` is the caller's own scope, as without the parameter.
        own = gw.request("POST", "/cache/invalidate?all=false", bearer(token(acme)))
        assert own.json()["scope"] == acme


def test_an_open_gateway_stays_open_and_states_no_scheme() -> None:
    with secured(gateway_api_token=None, operator_api_token=None, gateway_jwt_secret=None) as gw:
        for method, path in OPERATOR_ONLY:
            assert gw.request(method, path, {}).status_code in (200, 202), path
        assert gw.generate({"X-User-ID": "anyone"}).status_code == 202
        gw.tenants.add("anyone")
        spec = gw.request("GET", "/openapi.json", {}).json()
        assert "securitySchemes" not in spec.get("components", {})
        assert all("security" not in op for ops in spec["paths"].values() for op in ops.values())


def _operations(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }


def test_openapi_has_the_bearer_scheme_on_every_route_but_health() -> None:
    with secured() as gw:
        spec = gw.request("GET", "/openapi.json", {}).json()
        schemes = spec["components"]["securitySchemes"]
        assert set(schemes) == {"serviceToken", "tenantToken"}
        for scheme in schemes.values():
            assert scheme["type"] == "http"
            assert scheme["scheme"].lower() == "bearer"
        assert "OPERATOR_API_TOKEN" in schemes["serviceToken"]["description"]
        assert schemes["tenantToken"]["bearerFormat"] == "JWT"
        assert "`tenant`" in schemes["tenantToken"]["description"]
        operations = _operations(spec)
        assert "security" not in operations["GET /health"]
        for name, operation in operations.items():
            if name != "GET /health":  # either scheme (OpenAPI: alternatives)
                assert operation.get("security") == [{"serviceToken": []}, {"tenantToken": []}]
        # X-User-ID is documented; Authorization is the scheme's, not a parameter.
        params = {p["name"] for p in operations["POST /api/rules/generate"]["parameters"]}
        assert "X-User-ID" in params
        assert "authorization" not in {name.lower() for name in params}
        assert gw.request("GET", "/docs", {}).status_code == 200
        assert gw.request("GET", "/health", {}).status_code in (200, 503)

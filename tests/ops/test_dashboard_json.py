"""The Grafana dashboard is a dashboard Grafana 10+ imports, on a Prometheus data source chosen
at import (`${DS_PROMETHEUS}`), and every series it queries is one the code declares. (That a
running fleet exports them is `test_fleet_observability.py`'s.)"""

from __future__ import annotations

import re
from typing import Any

from eyeflow_worker.core import metrics
from tests.ops.dashboard import ROOT, expressions, load, metric_names, panels

DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}


def _declared_series() -> set[str]:
    """Every series name the code declares, as Prometheus exposes them: counters with `_total`,
    histograms' three series, and the gauges the gateway's collector builds."""
    names = {f"{name}_total" for name in metrics._COUNTERS}
    for name in metrics._HISTOGRAMS:
        names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    ops_source = (ROOT / "api_gateway" / "routes" / "ops.py").read_text()
    gauges = set(re.findall(r'GaugeMetricFamily\(\s*"(eyeflow_[a-z0-9_]+)"', ops_source))
    assert {"eyeflow_queue_depth", "eyeflow_batch_items_pending"} <= gauges
    return names | gauges


def test_it_is_a_dashboard_with_a_uid_unique_panel_ids_and_a_prometheus_variable() -> None:
    dashboard = load()
    assert re.fullmatch(r"[a-z0-9-]{1,40}", dashboard["uid"])
    assert dashboard["title"]
    assert dashboard["schemaVersion"] >= 36  # Grafana 10's are 37-39
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids))
    assert all(isinstance(i, int) for i in ids)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert variables["tenant"]["datasource"] == DATASOURCE


def test_every_panel_queries_the_prometheus_variable_and_fits_the_grid() -> None:
    drawn = [panel for panel in panels(load()) if panel["type"] != "row"]
    assert len(drawn) >= 12
    cells: set[tuple[int, int]] = set()
    for panel in drawn:
        assert panel["title"]
        assert panel["datasource"] == DATASOURCE, panel["title"]
        targets: list[dict[str, Any]] = panel["targets"]
        assert targets, panel["title"]
        assert len({t["refId"] for t in targets}) == len(targets), panel["title"]
        for target in targets:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert target["expr"].strip(), panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert 0 < grid["w"] <= 24 - grid["x"], panel["title"]
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area


def test_the_queries_are_balanced_promql_over_declared_series_only() -> None:
    dashboard = load()
    for expr in expressions(dashboard):
        assert expr.count("(") == expr.count(")"), expr
        assert expr.count("[") == expr.count("]"), expr
        assert expr.count("{") == expr.count("}"), expr
    used = metric_names(dashboard)
    assert used - _declared_series() == set(), "the dashboard queries series nobody exports"


def test_the_dashboard_covers_what_operations_watch() -> None:
    used = metric_names(load())
    for series in (
        "eyeflow_queue_depth",
        "eyeflow_jobs_total",
        "eyeflow_job_queue_wait_seconds_bucket",
        "eyeflow_job_run_seconds_bucket",
        "eyeflow_provider_latency_seconds_bucket",
        "eyeflow_provider_rate_limited_total",
        "eyeflow_tenant_tokens_total",
        "eyeflow_tenant_cost_microusd_total",
        "eyeflow_batch_items_pending",
        "eyeflow_batch_items_in_flight",
        "eyeflow_batch_items_total",
    ):
        assert series in used, series

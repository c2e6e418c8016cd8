"""Reading the Grafana dashboard in `ops/grafana/`: its panels, their PromQL, the metric names."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "ops" / "grafana" / "eyeflow-dashboard.json"

# Every series the fleet exports is named eyeflow_…; PromQL functions and labels are not.
_METRIC = re.compile(r"\beyeflow_[a-z0-9_]+\b")


def load() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def expressions(dashboard: dict[str, Any]) -> list[str]:
    """The PromQL of every panel's targets and of the query variables."""
    found = [target["expr"] for panel in panels(dashboard) for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            found.append(query["query"] if isinstance(query, dict) else query)
    return found


def metric_names(dashboard: dict[str, Any]) -> set[str]:
    return {name for expr in expressions(dashboard) for name in _METRIC.findall(expr)}

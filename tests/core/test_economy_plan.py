"""Economy mode's pure decisions: the mode a batch runs in, and splitting within limits."""

from __future__ import annotations

from eyeflow_worker.core.economy_plan import BatchLimits, limits_for, resolve_mode, split


def test_auto_is_economy_only_with_a_batch_api_and_enough_items() -> None:
    assert resolve_mode("auto", "anthropic", True, 50, 50)[0] == "economy"
    assert resolve_mode("auto", "anthropic", True, 49, 50)[0] == "realtime"
    assert resolve_mode("auto", "ollama", False, 500, 50)[0] == "realtime"
    mode, reason = resolve_mode("economy", "offline", False, 5, 50)
    assert mode == "realtime"
    assert "no batch API" in reason
    assert resolve_mode("economy", "openai", True, 1, 50)[0] == "economy"
    assert resolve_mode("realtime", "openai", True, 500, 50)[0] == "realtime"


def test_split_by_count_and_by_estimated_bytes() -> None:
    assert split([(i, 1) for i in range(5)], BatchLimits(2, 10**9)) == [[0, 1], [2, 3], [4]]
    # 80 % of 100 bytes: at most two items of 30 bytes per part.
    assert split([(i, 30) for i in range(5)], BatchLimits(100, 100)) == [[0, 1], [2, 3], [4]]
    assert split([], BatchLimits(2, 10)) == []
    assert limits_for("anthropic").max_requests == 100_000
    assert limits_for("openai").max_requests == 50_000

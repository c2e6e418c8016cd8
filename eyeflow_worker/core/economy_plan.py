"""Economy batches, the pure decisions: which mode a batch runs in, and how its open items are
split into provider batches that stay within each provider's limits.

Nothing here touches Redis or a provider; `tasks/economy.py` calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

Mode = Literal["realtime", "economy"]

# How many rounds an item may take: the first provider batch, then this many follow-up
# batches for the items that expired or errored retryably; after that they fail.
MAX_FOLLOW_UP_ROUNDS: Final = 2


@dataclass(frozen=True)
class BatchLimits:
    max_requests: int
    max_bytes: int


# The providers' documented limits per batch. Bytes are estimated (the prompt's size plus an
# allowance for the JSON around it), so the split keeps a margin below the real limit.
PROVIDER_LIMITS: Final[dict[str, BatchLimits]] = {
    "anthropic": BatchLimits(100_000, 256 * 1024 * 1024),
    "openai": BatchLimits(50_000, 200 * 1024 * 1024),
}
_DEFAULT_LIMITS = BatchLimits(50_000, 200 * 1024 * 1024)
_BYTES_MARGIN = 0.8


def limits_for(provider: str) -> BatchLimits:
    return PROVIDER_LIMITS.get(provider.lower(), _DEFAULT_LIMITS)


def resolve_mode(
    requested: str, provider: str, has_batch_api: bool, items: int, min_items: int
) -> tuple[Mode, str]:
    """The mode a batch runs in, and why (shown as the task's `mode_reason`)."""
    if requested == "realtime":
        return "realtime", "requested"
    if not has_batch_api:
        return "realtime", f"provider {provider!r} has no batch API; running realtime"
    if requested == "economy":
        return "economy", f"requested; {provider} batch API"
    if items < min_items:
        return "realtime", f"auto: {items} items, below BATCH_API_MIN_ITEMS ({min_items})"
    return "economy", f"auto: {items} items on {provider}, which has a batch API"


def split(sizes: Sequence[tuple[int, int]], limits: BatchLimits) -> list[list[int]]:
    """`(index, estimated request bytes)` pairs, in order → the item indexes of each provider
    batch: at most `max_requests` each and, by estimate, well below `max_bytes`."""
    budget = int(limits.max_bytes * _BYTES_MARGIN)
    parts: list[list[int]] = []
    current: list[int] = []
    used = 0
    for index, size in sizes:
        if current and (len(current) >= limits.max_requests or used + size > budget):
            parts.append(current)
            current, used = [], 0
        current.append(index)
        used += size
    if current:
        parts.append(current)
    return parts

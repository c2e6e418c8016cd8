"""The schemas callers build against: the canonical aggregated context (capability catalogue)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from eyeflow_worker.core.catalogue_model import aggregated_context_schema

router = APIRouter(prefix="/schemas")


@router.get("/aggregated-context")
def aggregated_context() -> dict[str, Any]:
    """JSON Schema of the canonical aggregated context: what `aggregated_context` (and the NestJS
    context endpoint) should send. Other shapes are read too (listed in the README, "The
    capability catalogue"); every one is read into exactly this, and what could not be read is
    reported in the job result's `catalogue_warnings`."""
    return aggregated_context_schema()

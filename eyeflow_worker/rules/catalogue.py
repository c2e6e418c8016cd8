"""The catalogue a rules job works with: read once per process, and refused when it cannot
ground any rule.

The model and the reader live in core (`core/catalogue_model.py`, `core/catalogue_reader.py`):
the gateway publishes the model's schema and `tenant_config` reports a cached context's
warnings, and neither may import `rules`. What is here is what only rules jobs need.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from eyeflow_worker.core.catalogue_cache import cached_reading
from eyeflow_worker.core.catalogue_checks import value_type_named
from eyeflow_worker.core.catalogue_model import CatalogueReading
from eyeflow_worker.core.catalogue_reader import read_catalogue
from eyeflow_worker.core.errors import ConfigInvalid
from eyeflow_worker.rules.sample_catalogue import sample_catalogue


def catalogue_for(context: Mapping[str, Any] | None) -> CatalogueReading:
    """The reading of `context` (None: the built-in sample), read once per process."""
    if context is None:
        return _sample()
    return cached_reading(context)


@lru_cache(maxsize=1)
def _sample() -> CatalogueReading:
    return read_catalogue(sample_catalogue())


def grounding_problems(reading: CatalogueReading) -> list[str]:
    """Why no rule could be grounded in this catalogue (empty: some can).

    - no action types: a rule must do something, and there is nothing to do it with (and
      validation could not check any action against the catalogue);
    - variables declared, every one named like a value type (`$number`, `$string`): the
      catalogue's names were not where we read them, so any condition would refer to
      variables that exist in no event — rules that validate and never fire.
    """
    catalogue = reading.catalogue
    problems: list[str] = []
    if not catalogue.action_types:
        problems.append("the catalogue declares no action types, so a rule has nothing to do")
    misnamed = value_type_named(catalogue)
    if catalogue.variables and len(misnamed) == len(catalogue.variables):
        problems.append(
            f"every variable is named like a value type ({', '.join(misnamed)}), so no "
            "condition could refer to real data"
        )
    return problems


def require_grounded(reading: CatalogueReading) -> None:
    """Raise `ConfigInvalid` (before any provider call) when no rule could be grounded."""
    problems = grounding_problems(reading)
    if problems:
        raise ConfigInvalid(
            "The capability catalogue cannot ground any rule: "
            + "; ".join(problems)
            + ". Fix the aggregated context (see GET /schemas/aggregated-context).",
            details={"problems": problems, "catalogue_warnings": list(reading.warnings)},
        )

"""Whatever JSON arrives, reading never raises, and what it reads is the model and reads back as
itself (a catalogue the reader accepted never trips the model's own invariants)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eyeflow_worker.core.catalogue_model import Catalogue
from eyeflow_worker.core.catalogue_reader import normalize_catalogue, read_catalogue

# Keys the reader looks at, so that random documents hit its rules rather than `extra` only.
KEYS = st.sampled_from(
    ["name", "path", "id", "key", "code", "type", "dataType", "description", "params",
     "parameters", "properties", "required", "additionalProperties", "enum", "unit", "extra",
     "variables", "actions", "action_types", "triggers", "conditionTypes", "data",
     "capabilities", "metrics", "params_closed", "isRequired", "number", "$cpu", "", " "]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5),
    st.sampled_from(["number", "string", "int", "SEND_EMAIL", "", " ", "$cpu > 1",
                     "3f2a9c1e-7b4d-4e2a-9f10-5c6d7e8f9a0b", "object"]),
)  # fmt: skip
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, JSON, max_size=6) | JSON)
def test_reading_anything_never_raises_and_round_trips(raw: Any) -> None:
    reading = read_catalogue(raw)
    catalogue = reading.catalogue
    assert all(isinstance(w, str) and w for w in reading.warnings)
    assert normalize_catalogue(catalogue.to_dict()) == catalogue
    assert Catalogue.model_validate(catalogue.to_dict()) == catalogue

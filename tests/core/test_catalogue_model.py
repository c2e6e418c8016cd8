"""The catalogue model: frozen pydantic, canonical by construction, its own published schema; and
the MAX_CATALOGUE_BYTES setting documented as it is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from eyeflow_worker.core.catalogue_model import (
    VALUE_TYPES,
    Capability,
    Catalogue,
    aggregated_context_schema,
)
from eyeflow_worker.core.catalogue_reader import normalize_catalogue
from eyeflow_worker.core.settings import Settings
from tests.rules.conftest import raw_catalogue

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ("sample", "infra_monitoring", "finance_approvals", "hr_onboarding")


@pytest.mark.parametrize("name", FIXTURES)
def test_every_reading_validates_against_the_model_and_round_trips(name: str) -> None:
    catalogue = normalize_catalogue(raw_catalogue(name))
    assert Catalogue.model_validate(catalogue.to_dict()) == catalogue
    assert normalize_catalogue(catalogue.to_dict()) == catalogue
    assert Catalogue.model_validate_json(catalogue.canonical_json) == catalogue


def test_models_are_frozen() -> None:
    catalogue = normalize_catalogue(raw_catalogue("sample"))
    with pytest.raises(ValidationError):
        catalogue.action_types = ()  # type: ignore[misc]
    with pytest.raises(ValidationError):
        catalogue.action_types[0].name = "OTHER"  # type: ignore[misc]


def test_canonical_json_is_cached_and_does_not_affect_equality() -> None:
    a = normalize_catalogue(raw_catalogue("sample"))
    b = normalize_catalogue(raw_catalogue("sample"))
    assert a.canonical_json is a.canonical_json
    assert a == b  # b has not computed it


def test_the_model_holds_the_canonical_form() -> None:
    with pytest.raises(ValidationError, match="unique and sorted"):
        Catalogue(action_types=(Capability(name="B"), Capability(name="A")))
    with pytest.raises(ValidationError, match="must start with"):
        Catalogue(variables=(Capability(name="cpu"),))
    with pytest.raises(ValidationError, match="must be one of"):
        Capability(name="$x", type="email")
    with pytest.raises(ValidationError):
        Catalogue.model_validate({"action_types": [{"name": "A", "surprise": 1}]})


def test_published_schema_describes_the_canonical_form() -> None:
    schema = aggregated_context_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(schema["properties"]) == {
        "condition_types", "action_types", "triggers", "variables", "extra"
    }  # fmt: skip
    param = schema["$defs"]["ParamSpec"]["properties"]
    assert "declared_type" in param
    assert "raw_type" not in param
    type_schema = schema["$defs"]["Capability"]["properties"]["type"]["anyOf"][0]
    assert type_schema["enum"] == list(VALUE_TYPES)


def test_max_catalogue_bytes_default_matches_env_example() -> None:
    documented = re.search(
        r"^# MAX_CATALOGUE_BYTES=(\d+)", (ROOT / ".env.example").read_text(), re.M
    )
    assert documented is not None
    default = Settings(_env_file=None).max_catalogue_bytes  # type: ignore[call-arg]
    assert int(documented.group(1)) == default == 1024 * 1024
    with pytest.raises(ValidationError):
        Settings(_env_file=None, max_catalogue_bytes=0)  # type: ignore[call-arg]

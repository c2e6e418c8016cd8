"""The capability catalogue: the one model of a tenant's aggregated context.

NestJS sends the catalogue in many shapes; `core/catalogue_reader.py` reads each of them into
this model, and everything downstream (the prompt, validation, the offline drafter) sees only
this. The models are frozen pydantic models, so that the same definition is both what the code
holds and the JSON Schema the gateway publishes (`GET /schemas/aggregated-context`): the
canonical form, `Catalogue.to_dict()`, validates against `Catalogue` and reads back unchanged.

A model in core (not in rules) because the gateway publishes it and `tenant_config` reports
the warnings of a cached context, and neither may import `rules`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

# The value types parameters and variables are checked against; other spellings NestJS uses
# ("int", "email", "text"…) are mapped onto these by the reader.
VALUE_TYPES = ("string", "number", "integer", "boolean", "array", "object")


def _canonical_value_type(value: str) -> str:
    if value not in VALUE_TYPES:
        raise ValueError(f"must be one of {', '.join(VALUE_TYPES)}")
    return value


# A `str` to the code that compares with it, one of VALUE_TYPES to validation and the schema.
ValueType = Annotated[
    str,
    AfterValidator(_canonical_value_type),
    WithJsonSchema({"type": "string", "enum": list(VALUE_TYPES)}),
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ParamSpec(BaseModel):
    """One parameter of an action type."""

    model_config = _FROZEN

    name: str = Field(min_length=1)
    type: ValueType | None = Field(
        default=None, description="Canonical value type; null when unknown (not type-checked)."
    )
    required: bool = False
    description: str | None = None
    enum: tuple[Any, ...] = Field(default=(), description="The allowed values, when declared.")
    # As NestJS wrote the type ("email", "int"), lower-cased. Published as `declared_type`.
    raw_type: str | None = Field(
        default=None,
        validation_alias=AliasChoices("declared_type", "raw_type"),
        serialization_alias="declared_type",
        description="The type as the catalogue declared it, when it differs from `type`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _declared_type_defaults_to_type(cls, data: Any) -> Any:
        # `to_dict()` omits declared_type when it equals type; reading it back restores it.
        if (
            isinstance(data, dict)
            and data.get("type") is not None
            and data.get("declared_type") is None
            and data.get("raw_type") is None
        ):
            return {**data, "raw_type": data["type"]}
        return data

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "required": self.required}
        if self.type is not None:
            out["type"] = self.type
        if self.raw_type is not None and self.raw_type != self.type:
            out["declared_type"] = self.raw_type
        if self.description:
            out["description"] = self.description
        if self.enum:
            out["enum"] = list(self.enum)
        return out


class Capability(BaseModel):
    """One named entry: a condition type, action type, trigger or variable."""

    model_config = _FROZEN

    name: str = Field(min_length=1, description="Variables are named `$path.to.value`.")
    description: str | None = None
    params: tuple[ParamSpec, ...] = Field(default=(), description="Action types: parameters.")
    params_closed: bool = Field(
        default=False,
        description="True when the parameters were declared and nothing allows others.",
    )
    type: ValueType | None = Field(default=None, description="Variables: the value type.")
    enum: tuple[Any, ...] = Field(default=(), description="Variables: the allowed values.")
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="Fields the reader does not interpret, kept and shown to the model.",
    )
    unit: str | None = Field(
        default=None,
        description='Variables: the unit the value is measured in ("percent", "GB", "ms"…).',
    )

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.type is not None:
            out["type"] = self.type
        if self.enum:
            out["enum"] = list(self.enum)
        if self.unit is not None:
            out["unit"] = self.unit
        if self.params or self.params_closed:
            out["params"] = [p.to_dict() for p in self.params]
            out["params_closed"] = self.params_closed
        if self.extra:
            out["extra"] = dict(self.extra)
        return out


class Catalogue(BaseModel):
    """The canonical catalogue: every section sorted by name, names unique, variables `$`-named.

    Sorted and unique so that the prompt rendered from it is byte-identical whatever order
    NestJS used (the provider's prompt cache depends on it)."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="AggregatedContext")

    condition_types: tuple[Capability, ...] = ()
    action_types: tuple[Capability, ...] = ()
    triggers: tuple[Capability, ...] = ()
    variables: tuple[Capability, ...] = ()
    extra: dict[str, Any] = Field(
        default_factory=dict, description="Top-level fields that are not a section, kept as sent."
    )

    @model_validator(mode="after")
    def _canonical(self) -> Catalogue:
        for section in ("condition_types", "action_types", "triggers", "variables"):
            names = [c.name for c in getattr(self, section)]
            if names != sorted(set(names)):
                raise ValueError(f"{section}: names must be unique and sorted")
        bare = [v.name for v in self.variables if not v.name.startswith("$")]
        if bare:
            raise ValueError(f"variables: names must start with '$' ({', '.join(bare)})")
        return self

    def action(self, name: str) -> Capability | None:
        return next((a for a in self.action_types if a.name == name), None)

    @property
    def action_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.action_types)

    @property
    def trigger_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.triggers)

    @property
    def variable_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    @cached_property
    def canonical_json(self) -> str:
        """`to_dict()` rendered canonically (sorted keys, fixed layout): the same catalogue always
        gives the same bytes. Computed once per catalogue object (catalogues are immutable)."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=1, ensure_ascii=False)

    def to_dict(self) -> dict[str, Any]:
        """Canonical plain-data form; `normalize_catalogue(c.to_dict()) == c` and
        `Catalogue.model_validate(c.to_dict()) == c`."""
        out: dict[str, Any] = {
            "condition_types": [c.to_dict() for c in self.condition_types],
            "action_types": [a.to_dict() for a in self.action_types],
            "triggers": [t.to_dict() for t in self.triggers],
            "variables": [v.to_dict() for v in self.variables],
        }
        if self.extra:
            out["extra"] = dict(self.extra)
        return out


@dataclass(frozen=True)
class CatalogueReading:
    """What reading a raw catalogue gave: the catalogue, and what the reader had to say about it
    (skipped entries, dropped duplicates, misnamed variables, empty sections…)."""

    catalogue: Catalogue
    warnings: tuple[str, ...] = ()


def aggregated_context_schema() -> dict[str, Any]:
    """The JSON Schema of the canonical aggregated context (published by the gateway)."""
    schema = Catalogue.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["description"] = (
        "The canonical capability catalogue (Catalogue.to_dict()). The worker also reads the "
        "other shapes listed in the README ('The capability catalogue'); whatever the shape, "
        "it is read into exactly this."
    )
    return schema

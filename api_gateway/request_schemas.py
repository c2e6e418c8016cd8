"""JSON Schema for what the request validators check in code, so the OpenAPI states it.

Two fields are typed `dict[str, Any]` in the request models because the gateway must keep what
it was sent as sent (NestJS metadata beside the rules, a catalogue in any of the shapes NestJS
produces), and their checks are validators. A generated client or a fuzzer reading the schema
would otherwise see "any object" and send documents the server refuses. These fragments say
what the validators enforce — for the catalogue a little more (see `catalogue_fragment`), never
less: a body valid by the schema is not refused for an unstated rule.

The catalogue's schema replaces the field type's own (`WithJsonSchema`); the rules document's
is a model's, referenced (`SchemaOf`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from eyeflow_worker.core.catalogue_shapes import SECTION_KEYS, WRAPPER_KEYS
from eyeflow_worker.core.workflow_rules import WorkflowRules

# `OnFailure`'s model validator, which pydantic's schema does not carry: run_actions needs
# actions, the other strategies take none. Not in the model's own schema: that one is also the
# providers' structured-output schema, and OpenAI's strict mode refuses `if`.
ON_FAILURE_RULE: dict[str, Any] = {
    "if": {"properties": {"strategy": {"const": "run_actions"}}},
    "then": {"required": ["actions"], "properties": {"actions": {"minItems": 1}}},
    "else": {"properties": {"actions": {"maxItems": 0}}},
}
# unwrap() descends at most this many wrappers (`catalogue_shapes._MAX_WRAPPERS`).
_WRAPPER_LEVELS = 4


class RulesDocument(WorkflowRules):
    """A workflow rules document as `refine` takes it: the rules schema, strict inside, with
    other top-level keys (NestJS metadata such as `id`, `createdAt`) allowed and kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class SchemaOf:
    """`Annotated[dict[str, Any], SchemaOf(Model)]`: the field is kept as the dict it was sent
    as, and the OpenAPI states `Model`'s schema for it — by reference, so its parts share the
    components the responses use (`Rule`, `Action`, …) instead of copies with clashing names."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model

    def __get_pydantic_json_schema__(
        self, _core: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(self.model.__pydantic_core_schema__)


def _any_of_keys(keys: Iterable[str]) -> str:
    return "^(" + "|".join(re.escape(key) for key in keys) + ")$"


_SECTION_NAMES = _any_of_keys(key for keys in SECTION_KEYS.values() for key in keys)
_WRAPPER_NAMES = _any_of_keys(WRAPPER_KEYS)


def _catalogue_level(levels: int) -> dict[str, Any]:
    """One level of the catalogue: its sections, and (while `levels` lasts) the envelopes that
    may hold the next level. Keys are matched by pattern, so the schema grows with the depth
    only, not with the number of names."""
    section = {"anyOf": [{"type": "array"}, {"type": "object"}, {"type": "null"}]}
    patterns: dict[str, Any] = {_SECTION_NAMES: section}
    if levels > 0:
        patterns[_WRAPPER_NAMES] = {
            "anyOf": [_catalogue_level(levels - 1), {"not": {"type": "object"}}]
        }
    return {"type": "object", "patternProperties": patterns, "additionalProperties": True}


def catalogue_schema() -> dict[str, Any]:
    """`aggregated_context`: an object whose sections (under any of the names they are sent
    by, at the top or inside up to four envelopes such as `data`/`capabilities`) are lists or
    objects — what `catalogue_shapes.shape_problems` refuses otherwise. Slightly stricter than
    the check, which looks only at the level holding the sections: here every level must hold."""
    return _catalogue_level(_WRAPPER_LEVELS)


_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
# A DNS name whose last label starts with a letter (an all-digit one would be read as an IPv4
# address, and `999.1.1.1` is none), or a dotted-quad IPv4 address.
_HOST = rf"(({_LABEL}\.)*[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?|{_OCTET}(\.{_OCTET}){{3}})"
# What `egress.url_shape_problem` accepts, as a pattern: http(s) in any case, a host with no
# credentials, a numeric port, then a path, query or fragment of visible ASCII. Stricter than
# the check — internationalised names must be sent as punycode, and IPv6 literals are not
# stated (valid ones are accepted) — never looser. The address policy (public unless listed in
# WEBHOOK_ALLOWED_HOSTS) is the field's description: it depends on the operator's list.
WEBHOOK_URL_PATTERN = rf"^[Hh][Tt][Tt][Pp][Ss]?://{_HOST}(:{_PORT})?([/?#][!-~]*)?$"

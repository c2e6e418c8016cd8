"""llama.cpp's `llama-server` through its OpenAI-compatible `/v1/chat/completions`.

Everything but the defaults is shared with OpenAI (`openai_compat.py`). The schema goes out
unchanged (llama.cpp compiles it to a grammar, so no strict-mode rewriting is needed) as
`json_schema`; servers too old for that get `json_object` with a `schema`, then plain
`json_object`. A key is sent only when one is configured (`llama-server --api-key`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eyeflow_worker.providers.openai_compat import (
    JSON_OBJECT,
    SCHEMA_NAME,
    Format,
    OpenAICompatibleProvider,
)


class LlamaCppProvider(OpenAICompatibleProvider):
    name = "llamacpp"
    default_base_url = "http://127.0.0.1:8080/v1"
    max_tokens_param = "max_tokens"

    def response_formats(self, schema: Mapping[str, Any] | None) -> list[Format]:
        if schema is None:
            return [JSON_OBJECT]
        return [
            (
                "json_schema",
                {
                    "type": "json_schema",
                    "json_schema": {"name": SCHEMA_NAME, "schema": dict(schema)},
                },
            ),
            ("json_object_schema", {"type": "json_object", "schema": dict(schema)}),
            JSON_OBJECT,
        ]

"""The README's examples as data: the code block under each `<!-- example: NAME -->`, the output
shown under `<!-- output: NAME -->`, and how an actual output is held against a shown one.

A shown output is a stream of JSON documents (as `jq` prints them) where `…` stands for what
varies or was cut:
- a line that is only `…` stands for any number of documents (the polls while a batch ran);
- an array element `"…"` stands for any number of elements;
- inside a string, `<8 hex digits>-…` stands for a whole UUID (a task id cut short) and any other
  `…` for any text.
Everything else must be exactly as shown: the same keys (no more, no fewer), the same values —
except the paths a test names as varying (a count that depends on timing), whose type alone is
compared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ELLIPSIS = "…"
_MARKED_BLOCK = re.compile(
    r"<!-- (?P<role>example|output): (?P<name>[a-z-]+) -->\n```(?P<lang>\w+)\n(?P<body>.*?)\n```",
    re.DOTALL,
)
_UUID_CUT = re.compile(r"[0-9a-f]{8}-" + ELLIPSIS)


class _Elided:
    """A `…` line: any number of documents."""


ELIDED = _Elided()


@dataclass(frozen=True)
class Block:
    lang: str
    body: str


@dataclass(frozen=True)
class Examples:
    code: dict[str, Block]
    shown: dict[str, Block]


def read_examples(readme: Path) -> Examples:
    code: dict[str, Block] = {}
    shown: dict[str, Block] = {}
    for match in _MARKED_BLOCK.finditer(readme.read_text()):
        blocks = code if match["role"] == "example" else shown
        assert match["name"] not in blocks, f"two README blocks marked {match['name']}"
        blocks[match["name"]] = Block(match["lang"], match["body"])
    return Examples(code, shown)


def parse_stream(text: str) -> list[Any]:
    """The JSON documents of `text` in order; a line that is only `…` reads as ELIDED."""
    decoder = json.JSONDecoder()
    documents: list[Any] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return documents
        if text.startswith(ELLIPSIS, position):
            documents.append(ELIDED)
            position += len(ELLIPSIS)
            continue
        document, position = decoder.raw_decode(text, position)
        documents.append(document)


def _string_pattern(shown: str) -> re.Pattern[str]:
    parts: list[str] = []
    for piece in re.split(f"({_UUID_CUT.pattern})", shown):
        if _UUID_CUT.fullmatch(piece):
            parts.append(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
        else:
            parts.append(".*".join(re.escape(p) for p in piece.split(ELLIPSIS)))
    return re.compile("".join(parts), re.DOTALL)


def mismatches(shown: Any, actual: Any, varying: frozenset[str], path: str = "") -> list[str]:
    """Where `actual` differs from `shown` (empty when it matches), by dotted path."""
    where = path or "<document>"
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        if set(shown) != set(actual):
            return [f"{where}: keys {sorted(actual)}, the README shows {sorted(shown)}"]
        found: list[str] = []
        for key, value in shown.items():
            found += mismatches(value, actual[key], varying, f"{path}.{key}" if path else key)
        return found
    if isinstance(shown, list):
        if not isinstance(actual, list):
            return [f"{where}: expected an array, got {actual!r}"]
        if _glob(shown, actual, lambda s, a: not mismatches(s, a, varying, f"{path}[]")):
            return []
        return [f"{where}: {actual!r} does not match {shown!r}"]
    if path in varying:
        same_type = type(shown) is type(actual)
        return [] if same_type else [f"{where}: {actual!r} is not a {type(shown).__name__}"]
    if isinstance(shown, str) and ELLIPSIS in shown:
        matched = isinstance(actual, str) and _string_pattern(shown).fullmatch(actual)
        return [] if matched else [f"{where}: {actual!r} does not match {shown!r}"]
    if type(shown) is not type(actual) or shown != actual:
        return [f"{where}: {actual!r}, the README shows {shown!r}"]
    return []


def _glob(shown: list[Any], actual: list[Any], same: Callable[[Any, Any], bool]) -> bool:
    """`shown` against `actual`, ELIDED / "…" elements matching any run of elements."""
    if not shown:
        return not actual
    head, rest = shown[0], shown[1:]
    if head is ELIDED or head == ELLIPSIS:
        return any(_glob(rest, actual[i:], same) for i in range(len(actual) + 1))
    return bool(actual) and bool(same(head, actual[0])) and _glob(rest, actual[1:], same)


def stream_mismatches(shown_text: str, actual_text: str, varying: frozenset[str]) -> list[str]:
    """The shown stream against the actual one: documents in order, `…` lines as elisions."""
    shown = parse_stream(shown_text)
    actual = parse_stream(actual_text)
    if _glob(shown, actual, lambda s, a: not mismatches(s, a, varying)):
        return []
    report = [f"the README shows {len(shown)} documents (… lines included), {len(actual)} printed"]
    for document in shown:
        if document is ELIDED or any(not mismatches(document, a, varying) for a in actual):
            continue
        # The printed document closest to it says what differs.
        candidates: list[list[str]] = [mismatches(document, a, varying) for a in actual]
        closest = min(candidates, key=len, default=["nothing was printed"])
        report += closest
    return [*report, f"printed:\n{actual_text}"]

"""Find the JSON object in a model's answer, however it was wrapped.

Models put JSON in code fences, after a sentence of explanation, or before a paragraph of
commentary. We accept all of that, but we never repair the JSON itself (no trailing-comma or
quote fixing): malformed or cut-off JSON is reported precisely so the repair loop can show the
model what went wrong.

Depth is bounded: Python's JSON decoder recurses, so a deeply nested (or maliciously cut-off)
answer would raise `RecursionError` past the repair loop, and a document nested just below that
limit would break later serialisation. Anything deeper than `MAX_DEPTH` is an `ExtractionError`
("nested too deeply") instead; a real workflow-rules document is about eight levels deep.
NaN, Infinity and numbers beyond a float (1e999) are `ExtractionError`s too: Python would
accept them, validation would pass, and they would come out as null.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|javascript|js)?[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)


class _NonFinite(ValueError):
    """NaN, Infinity, -Infinity, or a number too large for a float (e.g. 1e999)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _reject_constant(name: str) -> Any:
    raise _NonFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFinite(text)
    return value


def _bounded_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        raise _NonFinite(text[:20] + "…") from None


# Python's decoder accepts NaN and Infinity (not JSON) and turns 1e999 into inf; all of them
# would pass validation and then come out as null. They are errors the model must fix. (An
# integer of thousands of digits would raise a bare ValueError: the same.)
_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_bounded_int
)
# Arrays and objects, counted from the outermost one (the document itself is depth 1).
MAX_DEPTH = 64
_NON_FINITE = (
    "Invalid JSON: {text} is not a JSON number (JSON has no NaN or Infinity, and numbers must "
    "fit a 64-bit float). Write a finite number, or null where a value is unknown."
)
_TOO_DEEP = (
    f"The JSON is nested too deeply (more than {MAX_DEPTH} levels of objects and arrays); "
    "a workflow-rules document needs far fewer. Answer again with a flat, complete JSON object."
)


class ExtractionError(ValueError):
    """The output holds no usable JSON object; `message` says why in model-readable words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def extract_json_object(text: str) -> dict[str, Any]:
    """The first complete JSON object in `text`, or `ExtractionError` saying what is wrong."""
    if not text or not text.strip():
        raise ExtractionError("The answer was empty; expected a single JSON object.")
    # Fenced blocks first: when the model used a fence, that is where it meant the answer to be.
    for block in _FENCE.findall(text):
        if block.strip():
            return _first_object(block)
    return _first_object(text)


def _first_object(text: str) -> dict[str, Any]:
    # The decoder is called from this function itself, not from a helper: it recurses, and a
    # deeper caller would make it hit the recursion limit (→ "nested too deeply") sooner.
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = _DECODER.decode(stripped)
        except RecursionError:
            raise ExtractionError(_TOO_DEEP) from None
        except (json.JSONDecodeError, _NonFinite):
            value = None
        if isinstance(value, list):
            raise ExtractionError(
                "The answer is a JSON array; expected one JSON object with the keys "
                "workflow_name, trigger and rules."
            )
    first_error: str | None = None
    for match in re.finditer(r"\{", text):
        start = match.start()
        try:
            value, _end = _DECODER.raw_decode(text, start)
        except RecursionError:
            raise ExtractionError(_TOO_DEEP) from None
        except _NonFinite as exc:
            raise ExtractionError(_NON_FINITE.format(text=exc.text)) from None
        except json.JSONDecodeError as exc:
            problem = _decode_problem(text, start, exc)
            if first_error is None:
                first_error = problem
            continue
        if isinstance(value, dict):
            return _accepted(value, first_error)
    if first_error is not None:
        raise ExtractionError(first_error)
    raise ExtractionError("The answer contains no JSON object; expected a single JSON object.")


def _decode_problem(text: str, start: int, exc: json.JSONDecodeError) -> str | None:
    """What is wrong with the malformed JSON at `start`, in the model's words; None when the
    brace is just prose ("use {placeholders}"). Raises `ExtractionError` for a truncated
    object: the output was cut off, so no later brace can be the answer."""
    if not _looks_like_json_start(text, start):
        return None
    if _unclosed(text, start):
        line, col = _line_col(text, start)
        raise ExtractionError(
            f"The JSON object starting at line {line} column {col} is truncated: the "
            "output ended before it was closed. Answer again with the complete JSON "
            "object (keep it shorter if needed)."
        ) from exc
    return f"Invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."


def _accepted(value: dict[str, Any], first_error: str | None) -> dict[str, Any]:
    """The first object decoded, unless it cannot be the answer."""
    if first_error is not None:
        # A nested object decoded after the outer one failed: that is a fragment of a
        # malformed document, not the answer.
        raise ExtractionError(first_error)
    if _too_deep(value):
        raise ExtractionError(_TOO_DEEP)
    return value


def _too_deep(value: Any) -> bool:
    """True when `value` nests arrays/objects more than MAX_DEPTH levels (iterative)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = current.values() if isinstance(current, dict) else current
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def _looks_like_json_start(text: str, start: int) -> bool:
    rest = text[start + 1 :].lstrip()
    return rest[:1] in ('"', "}") or rest[:1] == ""


def _unclosed(text: str, start: int) -> bool:
    """True when the brackets opened at `start` are still open at the end of the text."""
    depth = 0
    in_string = escaped = False
    for ch in text[start:]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return False
    return depth > 0


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1

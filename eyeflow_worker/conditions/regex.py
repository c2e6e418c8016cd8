"""MATCHES patterns: compiled with RE2 (linear-time matching, no backtracking), cached."""

from __future__ import annotations

import functools
from typing import Any

import re2

from .limits import MAX_REGEX_LENGTH, REGEX_CACHE_SIZE, REGEX_MAX_MEMORY


class PatternError(ValueError):
    """A pattern that is too long or that RE2 rejects; the message says why."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would otherwise print every bad pattern to stderr
    options.max_mem = REGEX_MAX_MEMORY
    return options


_OPTIONS = _options()


@functools.lru_cache(maxsize=REGEX_CACHE_SIZE)
def compile_pattern(pattern: str) -> Any:
    """Compile `pattern` or raise PatternError (length limit or invalid syntax)."""
    if len(pattern) > MAX_REGEX_LENGTH:
        raise PatternError(
            f"regular expression is {len(pattern)} characters long (limit {MAX_REGEX_LENGTH})"
        )
    try:
        return re2.compile(pattern, _OPTIONS)
    except UnicodeError:
        raise PatternError("invalid regular expression: not valid Unicode") from None
    except Exception as exc:  # re2.error
        reason = exc.args[0] if exc.args else type(exc).__name__
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(f"invalid regular expression: {reason}") from None

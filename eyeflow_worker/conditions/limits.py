"""Safety limits of the condition language, in one place so docs and tests can quote them."""

from __future__ import annotations

from typing import Final

#: Longest accepted condition text, in characters.
MAX_EXPRESSION_LENGTH: Final = 4096
#: Deepest accepted nesting: each '(', '[', function call and prefix operator is one level.
MAX_NESTING_DEPTH: Final = 64
#: Longest accepted regular expression pattern (for MATCHES), in characters.
MAX_REGEX_LENGTH: Final = 512
#: Memory budget handed to RE2 for one compiled pattern, in bytes.
REGEX_MAX_MEMORY: Final = 2 << 20
#: Integer arithmetic whose result would exceed this many bits is an evaluation error.
MAX_INT_BITS: Final = 16384
#: Strings longer than this are never treated as numbers.
MAX_NUMERIC_STRING_LENGTH: Final = 100
#: How deep list/object equality descends before giving up (the test is then false).
MAX_COMPARE_DEPTH: Final = 32
#: Explanation bounds.
MAX_VALUE_CHARS: Final = 40
MAX_SOURCE_CHARS: Final = 60
MAX_EXPLANATION_CHARS: Final = 1000
#: How many compiled conditions / dynamic regexes are kept.
CONDITION_CACHE_SIZE: Final = 2048
REGEX_CACHE_SIZE: Final = 256

"""Variable lookup: following a `$path` through the context, and the closures that do it.

Looking variables up is most of the work of evaluating a typical condition, so short all-key
paths get unrolled closures that read plain dicts directly, and fall back to the general
`resolve` for anything else (lists, other mappings, missing keys, values to normalize).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from .closures import Fn
from .lexer import PathSegment
from .nodes import Variable
from .trace import Trace, add_missing
from .values import MISSING, EvalError, is_list, is_object, normalize

#: Value types `normalize` returns unchanged: the fast getters can hand these out as they are.
_PLAIN = frozenset({str, int, float, bool, type(None), dict, list})


def resolve(context: Any, path: tuple[PathSegment, ...]) -> Any:
    """Follow `path` through mappings and lists; MISSING where it does not resolve.

    Only mapping keys and list indexes are followed (never attributes); a mapping's
    `__missing__` (defaultdict) is never triggered.
    """
    current = context
    try:
        for segment in path:
            if type(current) is dict:
                found = current.get(segment, MISSING)
                if found is MISSING and type(segment) is int:
                    found = current.get(str(segment), MISSING)
                current = found
            elif type(segment) is int and is_list(current):
                try:
                    current = current[segment]
                except IndexError:
                    return MISSING
            elif is_object(current):
                if segment in current:
                    current = current[segment]
                elif type(segment) is int and str(segment) in current:
                    current = current[str(segment)]
                else:
                    return MISSING
            else:
                return MISSING
            if current is MISSING:
                return MISSING
    except Exception as exc:
        return EvalError(f"could not read the value ({type(exc).__name__})")
    return normalize(current)


def compile_variable(node: Variable) -> Fn:
    path = node.path
    slow = _build_resolver(path, node.source)
    if not all(type(segment) is str for segment in path):
        return slow
    build_getter = _DICT_GETTERS.get(len(path))
    if build_getter is None:
        return slow
    return build_getter(path, slow)


def _build_resolver(path: tuple[PathSegment, ...], source: str) -> Fn:
    """The general lookup (`resolve`), which also reports the variable when it is missing."""

    def slow(context: Any, tracer: Trace | None) -> Any:
        value = resolve(context, path)
        if value is MISSING and tracer is not None:
            add_missing(tracer, source)
        return value

    return slow


# The unrolled getters: plain dicts all the way down and a plain value at the end are read
# directly; anything else goes to `slow`. `plain` is a local so that the closures read it from
# a cell rather than from the module's globals.


def _build_get1(path: tuple[PathSegment, ...], slow: Fn) -> Fn:
    (key,) = path
    plain = _PLAIN

    def get1(context: Any, tracer: Trace | None) -> Any:
        if type(context) is dict:
            value = context.get(key, MISSING)
            if type(value) in plain:
                return value
        return slow(context, tracer)

    return get1


def _build_get2(path: tuple[PathSegment, ...], slow: Fn) -> Fn:
    key0, key1 = path
    plain = _PLAIN

    def get2(context: Any, tracer: Trace | None) -> Any:
        if type(context) is dict:
            inner = context.get(key0)
            if type(inner) is dict:
                value = inner.get(key1, MISSING)
                if type(value) in plain:
                    return value
        return slow(context, tracer)

    return get2


def _build_get3(path: tuple[PathSegment, ...], slow: Fn) -> Fn:
    key0, key1, key2 = path
    plain = _PLAIN

    def get3(context: Any, tracer: Trace | None) -> Any:
        if type(context) is dict:
            inner = context.get(key0)
            if type(inner) is dict:
                inner = inner.get(key1)
                if type(inner) is dict:
                    value = inner.get(key2, MISSING)
                    if type(value) in plain:
                        return value
        return slow(context, tracer)

    return get3


#: Getter builders for all-key paths, by path length; longer paths use `resolve`.
_DICT_GETTERS: Final[dict[int, Callable[[tuple[PathSegment, ...], Fn], Fn]]] = {
    1: _build_get1,
    2: _build_get2,
    3: _build_get3,
}

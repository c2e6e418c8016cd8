"""Units for the faithfulness check: what a variable is measured in, and converting into it.

Three families, converted only within a family: shares (percent, fraction), data sizes (KB,
MB, GB, TB — both the 1024 and the 1000 steps are accepted) and durations (ms, seconds,
minutes, hours, days, weeks, years of 365 days). A variable's unit is the one the catalogue
states (`Capability.unit`); when the catalogue states none, a unit evident in the last segment
of the variable's name is used (`_percent`, `_pct`, `_fraction`, `_ms`, `_seconds`, `_minutes`,
`_hours`, `_days`, `_weeks`, `_years`, `_kb`, `_mb`, `_gb`, `_tb`, or a segment that is the
unit itself, `$cpu.percent`). Anything else is unknown, and an unknown unit never makes an
error: the check accepts every reading then.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from eyeflow_worker.core.catalogue_model import Catalogue


@dataclass(frozen=True)
class Unit:
    name: str  # canonical: "percent", "fraction", "GB", "ms", "seconds", …
    family: str  # "share", "data" or "time"
    # Size of one of this unit in its family's base unit, per counting system (data sizes have
    # two: 1024 steps and 1000 steps; the others have one).
    factors: tuple[float, ...]


_KIB, _KB = 1024.0, 1000.0
UNITS: dict[str, Unit] = {
    u.name: u
    for u in (
        Unit("percent", "share", (1.0,)),
        Unit("fraction", "share", (100.0,)),
        Unit("KB", "data", (_KIB, _KB)),
        Unit("MB", "data", (_KIB**2, _KB**2)),
        Unit("GB", "data", (_KIB**3, _KB**3)),
        Unit("TB", "data", (_KIB**4, _KB**4)),
        Unit("ms", "time", (0.001,)),
        Unit("seconds", "time", (1.0,)),
        Unit("minutes", "time", (60.0,)),
        Unit("hours", "time", (3600.0,)),
        Unit("days", "time", (86400.0,)),
        Unit("weeks", "time", (7 * 86400.0,)),
        Unit("years", "time", (365 * 86400.0,)),
    )
}

# Spellings (lower-case) of each unit, as catalogues and intents write them.
_SPELLINGS: dict[str, tuple[str, ...]] = {
    "percent": ("%", "percent", "percentage", "pct", "per cent", "percentage points"),
    "fraction": ("fraction", "ratio", "0-1", "0..1", "[0,1]", "share (0-1)"),
    "KB": ("kb", "kib", "kilobyte", "kilobytes"),
    "MB": ("mb", "mib", "megabyte", "megabytes"),
    "GB": ("gb", "gib", "gigabyte", "gigabytes"),
    "TB": ("tb", "tib", "terabyte", "terabytes"),
    "ms": ("ms", "msec", "msecs", "millisecond", "milliseconds"),
    "seconds": ("s", "sec", "secs", "second", "seconds"),
    "minutes": ("min", "mins", "minute", "minutes"),
    "hours": ("h", "hr", "hrs", "hour", "hours"),
    "days": ("d", "day", "days"),
    "weeks": ("w", "wk", "wks", "week", "weeks"),
    "years": ("y", "yr", "yrs", "year", "years"),
}
_BY_SPELLING: dict[str, str] = {
    spelling: name for name, spellings in _SPELLINGS.items() for spelling in spellings
}

# Name suffixes that state a unit (the last path segment ends with "_<suffix>" or is it).
_NAME_SUFFIXES: dict[str, str] = {
    "percent": "percent", "pct": "percent", "fraction": "fraction", "ms": "ms",
    "seconds": "seconds", "secs": "seconds", "sec": "seconds", "minutes": "minutes",
    "mins": "minutes", "hours": "hours", "days": "days", "weeks": "weeks", "years": "years",
    "kb": "KB", "mb": "MB", "gb": "GB",
    "tb": "TB",
}  # fmt: skip
_LAST_SEGMENT = re.compile(r"[A-Za-z0-9_]+$")


def parse_unit(text: str | None) -> Unit | None:
    """The unit `text` names ("GB", "percent", "minutes"…), or None when it names none we know."""
    if not text:
        return None
    name = _BY_SPELLING.get(text.strip().lower())
    return UNITS[name] if name else None


def name_unit(variable: str) -> Unit | None:
    """The unit evident in a variable's name: `$metrics.disk_free_gb` → GB."""
    match = _LAST_SEGMENT.search(variable)
    if match is None:
        return None
    segment = match.group().lower()
    suffix = segment.rsplit("_", 1)[-1]
    name = _NAME_SUFFIXES.get(suffix)
    return UNITS[name] if name else None


def variable_unit(variable: str, catalogue: Catalogue) -> Unit | None:
    """What `variable` is measured in: the catalogue's stated unit, else its name's suffix.

    A unit the catalogue states but we do not know ("USD", "count") is unknown: the name is not
    consulted then, the catalogue has spoken.
    """
    declared = next((v for v in catalogue.variables if v.name == variable), None)
    if declared is not None and declared.unit:
        return parse_unit(declared.unit)
    return name_unit(variable)


def convert(value: float, source: Unit, target: Unit) -> tuple[float, ...]:
    """`value` in `source` expressed in `target` (same family), one value per counting system."""
    out: list[float] = []
    for i in range(max(len(source.factors), len(target.factors))):
        sf = source.factors[min(i, len(source.factors) - 1)]
        tf = target.factors[min(i, len(target.factors) - 1)]
        converted = value * sf / tf
        if not any(same_number(converted, seen) for seen in out):
            out.append(converted)
    return tuple(out)


def every_reading(value: float, source: Unit | None) -> tuple[float, ...]:
    """`value` as written, and converted into every unit of its family."""
    out = [value]
    if source is not None:
        for unit in UNITS.values():
            if unit.family == source.family:
                out.extend(v for v in convert(value, source, unit) if not contains(out, v))
    return tuple(out)


def same_number(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def contains(values: Iterable[float], value: float) -> bool:
    return any(same_number(v, value) for v in values)


def show_number(value: float) -> str:
    """A number as a condition would write it: 85, 0.85, 10240."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.10g}"


def describe_unit(unit: Unit) -> str:
    """How a message says what a variable is measured in."""
    if unit.name == "fraction":
        return "a fraction"
    return f"in {unit.name}"

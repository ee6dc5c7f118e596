"""How report values are written: numbers with their yardsticks, never a Python repr.

Every function here takes plain JSON values (what :mod:`govkit.reports.evidence`
collects) and returns text; :func:`filters` hands them to Jinja2.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

#: Characters of one free-text field shown in a PDF; the full text is in the attached evidence.
CLIP_AT = 4000
CLIP_MARK = "[truncated: {shown:,} of {total:,} characters shown; the full text is in the attached evidence.json]"

PROPORTION = "proportion"
COUNT = "count"
#: Metric name -> unit.  Anything not listed is a proportion unless it is a count below.
UNITS: dict[str, str] = {
    "epsilon_lower_bound": "ε (privacy loss)",
    "eps": "ε (L∞, image 0–1)",
    "passed": "1 = test passed",
    "imbalance_ratio": "ratio",
}
COUNTS = frozenset(
    {
        "n",
        "n_patients",
        "patient_overlap",
        "duplicates",
        "near_duplicates",
        "min_class_n",
        "min_subgroup_n",
        "max_open",
        "n_findings",
        "open_incidents",
    }
)


def unit(metric: str | None) -> str:
    if not metric:
        return ""
    if metric in COUNTS:
        return COUNT
    return UNITS.get(metric, PROPORTION)


def number(value: Any, digits: int = 3) -> str:
    """A number as a person reads it: integers (counts) without decimals, NaN and None as a dash."""
    if value is None or isinstance(value, bool):
        return "—" if value is None else ("yes" if value else "no")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if math.isfinite(value) else "—"
    return str(value)


def text(value: Any) -> str:
    """Any JSON value as prose: lists joined, mappings as ``key = value``, empty as a dash."""
    if isinstance(value, (list, tuple, set)):
        return ", ".join(text(v) for v in value) if value else "none"
    if isinstance(value, Mapping):
        return "; ".join(f"{k} = {text(v)}" for k, v in sorted(value.items())) if value else "—"
    if isinstance(value, str):
        return value or "—"
    return number(value)


def threshold(bounds: Any, metric: str | None = None) -> str:
    """``{"min": 0.9}`` -> ``≥ 0.900``; role or field lists -> ``required: a, b``."""
    if isinstance(bounds, Mapping) and {"min", "max"} & set(bounds):
        as_count = unit(metric) == COUNT or all(
            isinstance(bounds.get(k), int) and not isinstance(bounds.get(k), bool)
            for k in ("min", "max")
            if bounds.get(k) is not None
        )
        fmt = (lambda v: f"{int(v):,}") if as_count else number
        parts = []
        if bounds.get("min") is not None:
            parts.append(f"≥ {fmt(bounds['min'])}")
        if bounds.get("max") is not None:
            parts.append(f"≤ {fmt(bounds['max'])}")
        return " and ".join(parts)
    if isinstance(bounds, (list, tuple)):
        return "required: " + text(list(bounds))
    return text(bounds) if bounds is not None else "—"


def compared(bounds: Any, recorded: Mapping | None = None) -> str:
    """Which figure a metric gate compared: the 95% CI bound by default (``min`` its lower, ``max`` its upper
    bound), the point estimate when the requirement says ``on: point``; with the figure when it is on record."""
    if not isinstance(bounds, Mapping) or not {"min", "max"} & set(bounds):
        return "value"
    if bounds.get("on") == "point":
        return "point estimate" + (f" {number(recorded['value'])}" if recorded else "")
    parts = []
    for key, name, field in (("min", "CI lower bound", "ci_low"), ("max", "CI upper bound", "ci_high")):
        if bounds.get(key) is not None:
            parts.append(name + (f" {number(recorded[field])}" if recorded and recorded.get(field) is not None else ""))
    return " and ".join(parts)


def clip(value: Any, limit: int = CLIP_AT) -> str:
    """Free text for the PDF: cut visibly at ``limit`` characters, pointing to the attached evidence."""
    s = text(value) if not isinstance(value, str) else value
    if len(s) <= limit:
        return s
    return s[:limit] + " … " + CLIP_MARK.format(shown=limit, total=len(s))


def age(then: str | None, now: dt.datetime) -> str:
    """Age of a record relative to the registry state the report shows."""
    if not then:
        return "—"
    stamp = dt.datetime.fromisoformat(then)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    days = (now - stamp).total_seconds() / 86400
    if days < 1:
        return "less than a day"
    return f"{int(days):,} day" + ("" if int(days) == 1 else "s")


def params(p: Mapping | None) -> str:
    """Metric selectors as ``group = site, eps = 0.0039``: numbers exactly as recorded."""
    if not p:
        return "overall"
    return ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {text(v)}" for k, v in sorted(p.items()))


def stamp(value: str | None) -> str:
    """An ISO-8601 time to the second, with its zone: ``2026-12-01 21:48:16 +00:00``."""
    if not value:
        return "—"
    t = dt.datetime.fromisoformat(value)
    zone = t.strftime("%z")
    return t.strftime("%Y-%m-%d %H:%M:%S") + (f" {zone[:3]}:{zone[3:]}" if zone else " (no zone recorded)")


def filters() -> dict:
    return {
        "num": number,
        "txt": text,
        "threshold": threshold,
        "clip": clip,
        "params": params,
        "unit": unit,
        "stamp": stamp,
    }

"""Dates as people write them: the one set of date patterns for text and pixels.

Two uses, one definition:

* :data:`ANY_DATE` finds *any* date (numeric with ``.``, ``/`` or ``-`` in
  any day/month/year order, month names and abbreviations, ordinals, DICOM
  ``DA``/``DT`` compact forms).  The text cleaner's pattern fallback and the
  burned-in text matcher (:mod:`govkit.deid.pixels.redact`) both use it.
* :func:`date_pattern` finds *the given* dates (a patient's birth date, the
  study date) in every common format: day/month and month/day orders, 2- and
  4-digit years, with or without leading zeros, month names and
  abbreviations (``14MAR1952``, ``March 14th, 1952``, ``14th of March
  1952``), ISO 8601 and DICOM DT values with a time (``1952-03-14T08:30``,
  ``19520314083000``).  It runs on folded text
  (:func:`govkit.deid.text.identifiers.fold`: NFKC + casefold).
  :func:`date_forms` lists literal forms of a date for fuzzy matching of OCR
  text, from the same month names.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
#: Abbreviations in use besides the first three letters.
EXTRA_ABBREVIATIONS = {9: ("sept",), 6: ("june",), 7: ("july",)}
ORDINAL = r"(?:st|nd|rd|th)?"
_MONTH_ANY = "|".join(sorted(set(MONTH_NAMES) | {n[:3] for n in MONTH_NAMES} | {"sept"}, key=len, reverse=True))
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_TIME = r"(?:(?:t|\s{1,2})\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
_DT_TIME = r"(?:\d{2}){0,3}(?:\.\d{1,6})?(?:[+-]\d{4})?"

#: Any date; used by the text cleaner's fallback and by the burned-in text matcher.
ANY_DATE: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"(?<![\d.])(?:\d{{4}}[./-]{_MONTH}[./-]{_DAY}|{_DAY}[./-]{_DAY}[./-](?:\d{{4}}|\d{{2}}))(?!\d|\.\d)",
        r"(?<!\d)\d{1,2}-[a-z]{3}-\d{2,4}(?!\d)",  # 14-MAR-1952, and month abbreviations OCR misread
        rf"(?<!\d)\d{{1,2}}{ORDINAL}[\s./-]*(?:of\s+)?(?:{_MONTH_ANY})\.?[\s.,/-]*\d{{2,4}}(?!\d)",
        rf"(?<![a-z])(?:{_MONTH_ANY})\.?[\s./-]*\d{{1,2}}{ORDINAL},?[\s./-]*\d{{2,4}}(?!\d)",
        r"(?<!\d)(?:1[89]|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?:\d{2}){0,3}(?:\.\d{1,6})?(?!\d)",
    )
)


def _month_names(m: int) -> list[str]:
    full = MONTH_NAMES[m - 1]
    return sorted({full, full[:3], *EXTRA_ABBREVIATIONS.get(m, ())}, key=len, reverse=True)


def date_regex(d: dt.date) -> str:
    """A regular expression (for folded text) matching ``d`` in every common format."""
    y4, y2 = f"{d.year:04d}", f"{d.year % 100:02d}"
    year = f"(?:{y4}|{y2})"
    month = f"0?{d.month}" if d.month < 10 else f"{d.month}"
    day = f"0?{d.day}" if d.day < 10 else f"{d.day}"
    name = "(?:" + "|".join(_month_names(d.month)) + r")\.?"
    sep = r"[./-]"
    loose = r"[\s./,-]*"
    alternatives = [
        rf"{y4}{d.month:02d}{d.day:02d}{_DT_TIME}",  # DA / DT
        rf"{y4}{sep}{month}{sep}{day}",  # ISO 8601, 1952/3/14
        rf"{day}{sep}{month}{sep}{year}",  # 14.3.1952, 14/03/52
        rf"{month}{sep}{day}{sep}{year}",  # 3-14-52, 03/14/1952
        rf"{day}{ORDINAL}{loose}(?:of\s+)?{name}{loose}{year}",  # 14MAR1952, 14th of March, 1952
        rf"{name}{loose}{day}{ORDINAL}{loose}{year}",  # March 14th, 1952
        rf"{y4}{loose}{name}{loose}{day}{ORDINAL}",  # 1952 Mar 14
    ]
    return "(?:" + "|".join(alternatives) + ")"


def month_year_regex(d: dt.date) -> str:
    """``d``'s month and year without the day (``03/1952``, ``3/52``, ``March 1952``,
    ``1952-03``): under HIPAA every element of a birth date but the year is PHI."""
    y4, y2 = f"{d.year:04d}", f"{d.year % 100:02d}"
    month = f"0?{d.month}" if d.month < 10 else f"{d.month}"
    name = "(?:" + "|".join(_month_names(d.month)) + r")\.?"
    return (
        rf"(?:{month}[./-](?:{y4}|{y2})|{y4}[./-]{month}|{name}[\s.,/-]*(?:{y4}|'?{y2})"
        rf"|{y4}[\s.,/-]*{name})"
    )


def date_pattern(dates: Iterable[dt.date], months: Iterable[dt.date] = ()) -> re.Pattern[str] | None:
    """One pattern for all ``dates`` (and the month and year of ``months``), on word
    boundaries, a time of day allowed after them."""
    parts = [date_regex(d) for d in sorted(set(dates))]
    parts += [month_year_regex(d) for d in sorted(set(months))]
    if not parts:
        return None
    return re.compile(rf"(?<![0-9a-z])(?:{'|'.join(parts)}){_TIME}(?![0-9a-z])")


def date_forms(d: dt.date) -> set[str]:
    """Literal forms of ``d`` (for fuzzy matching of OCR text, where a regex cannot bend)."""
    y, m, day = d.year, d.month, d.day
    mon = MONTH_NAMES[m - 1]
    forms = {f"{y:04d}{m:02d}{day:02d}"}
    for yy in (f"{y:04d}", f"{y % 100:02d}"):
        for dd, mm in ((f"{day:02d}", f"{m:02d}"), (f"{day}", f"{m}")):
            for s in "./-":
                forms |= {f"{dd}{s}{mm}{s}{yy}", f"{mm}{s}{dd}{s}{yy}"}
            forms |= {f"{dd}-{mon[:3].upper()}-{yy}", f"{dd} {mon[:3].upper()} {yy}", f"{dd}{mon[:3].upper()}{yy}"}
    for s in "./-":
        forms.add(f"{y:04d}{s}{m:02d}{s}{day:02d}")
    forms |= {f"{mon.title()} {day}, {y:04d}", f"{day} {mon.title()} {y:04d}"}
    return forms

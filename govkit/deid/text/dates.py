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
import unicodedata
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
#: Month names and abbreviations in German, French, Spanish, Italian, Portuguese and Dutch
#: (CLDR's wide and abbreviated forms), folded; forms without diacritics are added below.
FOREIGN_MONTHS = (
    ("januar", "jänner", "janvier", "janv", "enero", "ene", "gennaio", "gen", "janeiro", "januari"),
    ("februar", "feber", "février", "févr", "fév", "febrero", "febbraio", "fevereiro", "fev", "februari"),
    ("märz", "maerz", "mrz", "mär", "mars", "marzo", "março", "maart", "mrt"),
    ("avril", "avr", "abril", "abr", "aprile"),
    ("mai", "mayo", "maggio", "mag", "maio", "mei"),
    ("juni", "juin", "junio", "giugno", "giu", "junho"),
    ("juli", "juillet", "juil", "julio", "luglio", "lug", "julho"),
    ("août", "aout", "agosto", "ago", "augustus"),
    ("septembre", "septiembre", "setiembre", "settembre", "setembro", "set"),
    ("oktober", "okt", "octobre", "octubre", "ottobre", "ott", "outubro", "out"),
    ("novembre", "noviembre", "novembro"),
    ("dezember", "dez", "décembre", "déc", "diciembre", "dic", "dicembre", "dezembro", "december"),
)
#: Roman month numerals (``14.III.1952``, common in central and eastern Europe).
ROMAN_MONTHS = ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii")
ORDINAL = r"(?:st|nd|rd|th|er|e|o|º|ª)?"
#: Words between day, month and year: "14th of March", "14 de marzo de 1952", "le 14 mars".
_OF = r"(?:(?:of|de|del|di)\s+)?"


def _strip_marks(word: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", word) if not unicodedata.combining(ch))


def _month_names(m: int) -> list[str]:
    """Every written name of month ``m``, folded, longest first (regex alternation order)."""
    full = MONTH_NAMES[m - 1]
    names = {full, full[:3], *EXTRA_ABBREVIATIONS.get(m, ()), *FOREIGN_MONTHS[m - 1]}
    names |= {_strip_marks(n) for n in names}
    return sorted(names, key=lambda n: (-len(n), n))


_MONTH_ANY = "|".join(sorted({n for m in range(1, 13) for n in _month_names(m)}, key=lambda n: (-len(n), n)))
_ROMAN_ANY = "|".join(sorted(ROMAN_MONTHS, key=len, reverse=True))
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
        rf"(?<!\d)\d{{1,2}}{ORDINAL}[\s./-]*{_OF}(?:{_MONTH_ANY})\.?[\s.,/-]*{_OF}\d{{2,4}}(?!\d)",
        rf"(?<![a-z])(?:{_MONTH_ANY})\.?[\s./-]*\d{{1,2}}{ORDINAL},?[\s./-]*\d{{2,4}}(?!\d)",
        rf"(?<![\d.])\d{{1,2}}\.\s?(?:{_ROMAN_ANY})\.\s?\d{{2,4}}(?!\d)",  # 14.III.1952
        r"(?<!\d)(?:1[89]|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?:\d{2}){0,3}(?:\.\d{1,6})?(?!\d)",
    )
)


def date_regex(d: dt.date) -> str:
    """A regular expression (for folded text) matching ``d`` in every common format."""
    y4, y2 = f"{d.year:04d}", f"{d.year % 100:02d}"
    year = f"(?:{y4}|{y2})"
    month = f"0?{d.month}" if d.month < 10 else f"{d.month}"
    day = f"0?{d.day}" if d.day < 10 else f"{d.day}"
    name = "(?:" + "|".join(_month_names(d.month)) + r")\.?"
    numeric = f"(?:{month}|{ROMAN_MONTHS[d.month - 1]})"  # 14.3.1952, 14.III.1952
    sep = r"(?:\s?[./-]\s?|\s)"  # 14.3.1952, 14. 3. 1952, 14 03 1952
    loose = r"[\s./,-]*"
    alternatives = [
        rf"{y4}{d.month:02d}{d.day:02d}{_DT_TIME}",  # DA / DT
        rf"{year}{sep}{month}{sep}{day}",  # ISO 8601, 1952/3/14, 1952 03 14, 52-03-14
        rf"{day}{sep}{numeric}{sep}{year}",  # 14.3.1952, 14/03/52, 14 03 1952, 14.III.1952
        rf"{month}{sep}{day}{sep}{year}",  # 3-14-52, 03/14/1952
        rf"{day}{ORDINAL}{loose}{_OF}{name}{loose}{_OF}{year}",  # 14MAR1952, 14th of March, 14. März 1952
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
        rf"(?:{month}[./-](?:{y4}|{y2})|{y4}[./-]{month}|{name}[\s.,/-]*{_OF}(?:{y4}|'?{y2})"
        rf"|{y4}[\s.,/-]*{name})"
    )


def date_pattern(dates: Iterable[dt.date], months: Iterable[dt.date] = ()) -> re.Pattern[str] | None:
    """One pattern for all ``dates`` (and the month and year of ``months``), on word
    boundaries, a time of day allowed after them."""
    parts = [date_regex(d) for d in sorted(set(dates))]
    parts += [month_year_regex(d) for d in sorted(set(months))]
    if not parts:
        return None
    # a date starts with a digit or a month name: one character class skips every other place
    first = "".join(sorted({re.escape(n[0]) for d in {*dates, *months} for n in _month_names(d.month)}))
    return re.compile(rf"(?=[0-9{first}])(?<![0-9a-z])(?:{'|'.join(parts)}){_TIME}(?![0-9a-z])")


def date_forms(d: dt.date) -> set[str]:
    """Literal forms of ``d`` (for fuzzy matching of OCR text, where a regex cannot bend)."""
    y, m, day = d.year, d.month, d.day
    mon = MONTH_NAMES[m - 1]
    forms = {f"{y:04d}{m:02d}{day:02d}"}
    for yy in (f"{y:04d}", f"{y % 100:02d}"):
        for dd, mm in ((f"{day:02d}", f"{m:02d}"), (f"{day}", f"{m}")):
            for s in "./- ":
                forms |= {f"{dd}{s}{mm}{s}{yy}", f"{mm}{s}{dd}{s}{yy}", f"{yy}{s}{mm}{s}{dd}"}
            forms |= {f"{dd}-{mon[:3].upper()}-{yy}", f"{dd} {mon[:3].upper()} {yy}", f"{dd}{mon[:3].upper()}{yy}"}
        forms.add(f"{day}.{ROMAN_MONTHS[m - 1].upper()}.{yy}")
    forms |= {f"{mon.title()} {day}, {y:04d}", f"{day} {mon.title()} {y:04d}"}
    return forms

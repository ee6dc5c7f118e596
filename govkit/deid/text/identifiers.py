"""PHI values taken from a file's own header, expanded to every form in which
they reappear in free text, burned-in annotations and stray bytes.

What is collected (at every sequence depth, private elements included): every
Person Name, in all three component groups (alphabetic ``=`` ideographic ``=``
phonetic, PS3.5 6.2) and every component; patient IDs and the other
identifying attributes of :data:`ID_KEYWORDS`; institution names; every
DA/DT value (the birth date always, study dates unless the options keep them).

In which forms:

* names as components and as full names in the usual orders (``Scott
  Kaufman``, ``Kaufman, Scott``, ``KAUFMAN^SCOTT``; ``山田太郎``), and
  without diacritics (``Nunez``, ``Groessner``) as upstream systems write them;
* dates in every common format (:mod:`govkit.deid.text.dates`);
* text decoded with the file's Specific Character Set (ISO 2022 code
  extensions included) *and*, where a value is not ASCII, as UTF-8 and
  Latin-1, because files with a missing or wrong declaration are common
  (:func:`text_readings`).

Both sides are folded before matching (:func:`fold`: NFKC, case folding,
NFKC again), so decomposed text (``Nu\\u0301n\\u0303ez``), other letter case
(``núñez``, Cyrillic lower case) and ``ß``/``ss`` match.
:meth:`Identifiers.spans` returns the spans in the *original* text.  The
engine uses them to clean text, ``deid verify`` to find residue, and the pixel
cleaner as its deny-list.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from govkit.deid.text.dates import date_forms, date_pattern

#: Attributes whose values identify the patient (besides every PN attribute).
ID_KEYWORDS = (
    "PatientID",
    "OtherPatientIDs",
    "IssuerOfPatientID",
    "AccessionNumber",
    "MedicalRecordLocator",
    "PatientTelephoneNumbers",
    "PatientAddress",
    "MilitaryRank",
    "BranchOfService",
    "PatientInsurancePlanCodeSequence",
    "StudyID",
    "RequestAttributesSequence",
    "AdmissionID",
    "ServiceEpisodeID",
    "PatientTransportArrangements",
    "Occupation",
    "ResponsiblePerson",
    "ResponsibleOrganization",
    "RegionOfResidence",
    "PatientBirthName",
    "PatientMotherBirthName",
)
INSTITUTION_KEYWORDS = ("InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName")
STATION_NAME = 0x00081010  # kept by retain-device-identity (PS3.15 E.3.8)
#: Dates that identify the patient whatever the longitudinal options keep.
PATIENT_DATE_KEYWORDS = ("PatientBirthDate", "PatientDeathDateInAlternativeCalendar")
#: The patient's own names: every part is matched, even a word of the DICOM dictionary.
PATIENT_NAME_KEYWORDS = ("PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName")
DATE_VRS = ("DA", "DT")
TEXT_VRS = frozenset({"PN", "LO", "SH", "ST", "LT", "UT", "UC", "CS", "AE", "UR"})
BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN", "SQ"})
MIN_TOKEN = 3  # shorter Latin name parts ("Li", "Al") match too much ordinary text
#: An ID with this many digits is also found with its digits regrouped (``8765 4321``,
#: ``87-654-321``): one optional space, hyphen, dot or slash between any two digits.
MIN_ID_DIGITS = 6
ID_DIGIT_SEPARATOR = r"[ ./-]?"
MIN_TOKEN_CJK = 2  # two ideographs or kana are a given or family name ("太郎", "길동")
#: Letters that continue a word in alphabetic scripts (after folding): a match must not
#: start or end inside such a word.  CJK scripts write names without spaces, so they
#: are not word characters here.
WORD = "0-9a-z\u00b5\u00df-\u024f\u0370-\u03ff\u0400-\u052f"
_SEPARATOR = r"[\s^,]+"
_TRANSLITERATE = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe", "å": "aa"})
#: Escape sequences and shifts of ISO 2022 (PS3.5 6.1.2.5), dropped when matching raw bytes.
ISO2022_CONTROLS = re.compile(rb"\x1b[\x20-\x2f]*[\x30-\x7e]|[\x0e\x0f]")
#: Ranges holding Unicode's format characters (General Category Cf: soft hyphen, zero-width
#: space/joiners, word joiner, bidi controls, BOM, tags); the table keeps only the Cf ones.
_FORMAT_RANGES = (
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)
#: Dashes and apostrophes written in place of ``-`` and ``'`` (Unicode's Pd and the
#: apostrophe look-alikes), and the format characters, removed.
_PUNCTUATION: dict[int, str | None] = {
    **dict.fromkeys((0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0x2E3A, 0x2E3B, 0xFE58, 0x058A), "-"),
    **dict.fromkeys((0x2018, 0x2019, 0x201B, 0x02BC, 0x02BB, 0x02B9, 0x2032, 0x00B4, 0xFF07), "'"),
    **{c: None for a, b in _FORMAT_RANGES for c in range(a, b + 1) if unicodedata.category(chr(c)) == "Cf"},
}
#: Lower-case Cyrillic and Greek letters whose upper or lower case looks like a Latin letter
#: (Unicode's confusables.txt, single letters), folded to that Latin letter.
_CONFUSABLES = str.maketrans(
    {
        **dict(zip("авеікмнорстухѕјһԁԛԝӏүѵёї", "abeikmhopctyxsjhdqwlyvei", strict=True)),
        **dict(zip("αβεζηικμνορτυχ", "abezhikmnoptyx", strict=True)),
    }
)
_FOLD = {**_PUNCTUATION, **_CONFUSABLES}  # one pass of str.translate
#: Romanisations of Cyrillic (Russian, Ukrainian, Belarusian) and Greek names: BGN/PCGN,
#: ICAO Doc 9303 (passports), scientific / ISO 9 without diacritics, German (Duden), Ukrainian
#: national, ELOT 743.
_CYRILLIC_COMMON = dict(
    zip("абвгдезиклмнопрстуфыэіў", "abvgdeziklmnoprstufyeiu", strict=True), ъ="", ь="", ё="e", ж="zh", ч="ch", ш="sh"
)
_ROMANISATIONS = tuple(
    str.maketrans(table)
    for table in (
        {**_CYRILLIC_COMMON, "й": "y", "х": "kh", "ц": "ts", "щ": "shch", "ю": "yu", "я": "ya", "є": "ye", "ї": "yi"},
        {**_CYRILLIC_COMMON, "й": "i", "х": "kh", "ц": "ts", "щ": "shch", "ю": "iu", "я": "ia", "є": "ie", "ї": "i"},
        {
            **_CYRILLIC_COMMON,
            "й": "j",
            "х": "h",
            "ц": "c",
            "щ": "sc",
            "ж": "z",
            "ч": "c",
            "ш": "s",
            "ю": "ju",
            "я": "ja",
        },
        {**_CYRILLIC_COMMON, "в": "w", "й": "j", "х": "ch", "ц": "z", "з": "s", "ж": "sch", "ч": "tsch", "ш": "sch"}
        | {"щ": "schtsch", "ю": "ju", "я": "ja"},
        {**_CYRILLIC_COMMON, "г": "h", "и": "y", "й": "i", "х": "kh", "ц": "ts", "щ": "shch", "ю": "iu", "я": "ia"},
        {
            **dict(zip("αβγδεζηικλμνξοπρσςτυφω", "avgdeziiklmnxoprsstyfo", strict=True)),
            "θ": "th",
            "χ": "ch",
            "ψ": "ps",
        },
        {
            **dict(zip("αβγδεζηικλμνξοπρσςτυφω", "abgdeziiklmnxoprsstifo", strict=True)),
            "θ": "th",
            "χ": "kh",
            "ψ": "ps",
        },
    )
)
_GREEK_DIGRAPHS = (("ου", "ou"), ("αυ", "av"), ("ευ", "ev"), ("μπ", "mp"), ("ντ", "nt"))
#: Titles before a name: a Latin name part shorter than :data:`MIN_TOKEN` ("Li", "Ng"), or a
#: word of the DICOM dictionary in another person's name, is matched after one of them.
TITLES = (
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam", "herr", "frau", "hr", "fr", "mme", "mlle",
    "monsieur", "sr", "sra", "srta", "don", "dona", "sig", "sig.ra", "dhr", "mevr", "pt", "patient",
)  # fmt: skip
#: After one of :data:`TITLES` and a space, a dot or both: one fixed-width look-behind per
#: width (Python's look-behinds are fixed-width; one per title would cost ~10 ms to compile).
_AFTER_TITLE = "(?:{})".format(
    "|".join(
        f"(?<=(?<![{WORD}])(?:{'|'.join(re.escape(f) for f in sorted(group))}))"
        for width in sorted({len(t + s) for t in TITLES for s in (" ", ".", ". ")})
        if (group := {t + s for t in TITLES for s in (" ", ".", ". ") if len(t + s) == width})
    )
)
#: Ages over 89 written in text ("aged 103 years", "103yo", "age: 95", "92-year-old"): under
#: HIPAA Safe Harbor (45 CFR 164.514(b)(2)(i)(C)) all ages over 89 are identifiers.
AGE_OVER_89 = (
    r"(?=[aâeil19])(?:(?<![0-9a-z])(?:aged?|age:|alter|âge|edad|età|idade|leeftijd)\s*:?\s*(?:9\d|1\d\d)(?![0-9])"
    r"|(?<![0-9.,])(?:9\d|1\d\d)\s*-?\s*(?:years?|yrs?|y\.?\s?o\.?|y/o|year-old|years-old|jahre?|ans|años"
    r"|anos|anni|jaar|y)(?![a-z]))"
)


def _casefold(text: str) -> str:
    """NFKC, case folding and NFKC again (Unicode's NFKC_Casefold, near enough), without
    format characters and with one dash and one apostrophe (:data:`_PUNCTUATION`)."""
    return _nfkc_casefold(text).translate(_PUNCTUATION)


def _nfkc_casefold(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def fold(text: str) -> str:
    """:func:`_casefold`, then Cyrillic and Greek letters that look like Latin ones folded to
    them (:data:`_CONFUSABLES`), so that ``Kаufman`` with a Cyrillic ``а`` is ``kaufman``."""
    if text.isascii():
        return text.lower()
    return _nfkc_casefold(text).translate(_FOLD)


def _continues(ch: str) -> bool:
    """``ch`` belongs to the previous character's cluster (a combining mark, a Hangul jamo)."""
    return (
        bool(unicodedata.combining(ch))
        or "\u1160" <= ch <= "\u11ff"
        or "\ud7b0" <= ch <= "\ud7ff"
        or ("\ufe00" <= ch <= "\ufe0f")
        or ch == "\u200d"
    )


def fold_with_map(text: str) -> tuple[str, list[int] | None]:
    """(folded text, for each folded character the index where its source cluster ends)."""
    if text.isascii():
        return text.lower(), None
    out: list[str] = []
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and _continues(text[j]):
            j += 1
        f = fold(text[i:j])
        out.append(f)
        ends.extend([j] * len(f))
        i = j
    return "".join(out), ends


def _original_span(ends: list[int] | None, start: int, end: int) -> tuple[int, int]:
    if ends is None:
        return start, end
    begin = ends[start - 1] if start > 0 else 0
    return begin, ends[end - 1] if end > 0 else 0


def _is_cjk(text: str) -> bool:
    return any(
        "\u1100" <= ch <= "\u11ff"
        or "\u2e80" <= ch <= "\u9fff"
        or "\uac00" <= ch <= "\ud7af"
        or "\uf900" <= ch <= "\ufaff"
        or "\uff66" <= ch <= "\uff9f"
        for ch in text
    )


def _without_marks(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def _variants(form: str) -> set[str]:
    """``form`` folded, as upstream systems write it without diacritics, and a Cyrillic or
    Greek name in the Latin letters of each usual romanisation (:data:`_ROMANISATIONS`)."""
    f = fold(form)
    forms = {f, fold(_without_marks(f)), f.translate(_TRANSLITERATE)}
    base = _without_marks(_casefold(form))
    if any("\u0370" <= ch <= "\u052f" for ch in base):
        for a, b in _GREEK_DIGRAPHS:
            base = base.replace(a, b)
        forms |= {fold(base.translate(table)) for table in _ROMANISATIONS}
    return forms


@dataclass
class Identifiers:
    """PHI values of one file, grouped by kind, folded (:func:`fold`)."""

    names: set[str] = field(default_factory=set)  # single name components
    full_names: set[str] = field(default_factory=set)  # "kaufman^scott", "scott kaufman", "山田太郎", ...
    ids: set[str] = field(default_factory=set)
    dates: set[dt.date] = field(default_factory=set)
    institutions: set[str] = field(default_factory=set)
    birth_dates: set[dt.date] = field(default_factory=set)  # also matched as month and year
    titled: set[str] = field(default_factory=set)  # name parts matched only after a title ("Mr Li")
    #: birth years of a patient over 89, matched alone (HIPAA: a year indicative of such an age)
    old_birth_years: set[int] = field(default_factory=set)
    #: (signature of the sets, compiled pattern): :meth:`spans` runs on every kept value
    _pattern: tuple[tuple[int, ...], re.Pattern[str] | None] | None = field(default=None, repr=False, compare=False)

    def __bool__(self) -> bool:
        return any((self.names, self.full_names, self.ids, self.dates, self.institutions, self.titled))

    def update(self, other: Identifiers) -> None:
        for name in ("names", "full_names", "ids", "dates", "institutions", "birth_dates", "titled", "old_birth_years"):
            getattr(self, name).update(getattr(other, name))

    def strings(self) -> list[str]:
        """Every literal form (dates in their usual formats), longest first."""
        forms = set(self.full_names) | self.names | self.ids | self.institutions
        for d in self.dates:
            forms.update(fold(f) for f in date_forms(d))
        return sorted((f for f in forms if len(f) >= MIN_TOKEN or _is_cjk(f)), key=lambda s: (-len(s), s))

    def long_strings(self, min_len: int = 6) -> list[str]:
        """Forms specific enough to search for inside binary data (pixel bytes)."""
        return [s for s in self.strings() if len(s) >= min_len and s not in self.names]

    def text_pattern(self) -> re.Pattern[str] | None:
        """One pattern over *folded* text for every form and every date, on word boundaries.

        Compiled once per content: the sets change only by :meth:`update` and :func:`collect`
        (which add or replace them), so their identities and sizes tell when to recompile."""
        groups = (
            self.names,
            self.full_names,
            self.ids,
            self.dates,
            self.institutions,
            self.birth_dates,
            self.titled,
            self.old_birth_years,
        )
        signature = tuple(x for g in groups for x in (id(g), len(g)))
        if self._pattern is None or self._pattern[0] != signature:
            pattern = _compile(
                self.literal_forms(),
                frozenset(self.dates),
                frozenset(self.birth_dates),
                frozenset(self.ids),
                frozenset(self.titled),
                frozenset(self.old_birth_years),
            )
            self._pattern = (signature, pattern)
        return self._pattern[1]

    def literal_forms(self) -> frozenset[str]:
        return frozenset(
            f
            for f in set(self.full_names) | self.names | self.ids | self.institutions
            if len(f) >= MIN_TOKEN or _is_cjk(f)
        )

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Spans of ``text`` holding a value of this file in any of its forms."""
        if not text:
            return []
        pattern = self.text_pattern()
        if pattern is None:
            return []
        folded, ends = fold_with_map(text)
        found = [_original_span(ends, *m.span()) for m in pattern.finditer(folded)]
        if "\\" in text:  # a value split by a backslash (``KAUF\\MAN``): match it joined
            kept = [i for i, ch in enumerate(text) if ch != "\\"]
            joined = "".join(text[i] for i in kept)
            folded, ends = fold_with_map(joined)
            for m in pattern.finditer(folded):
                start, end = _original_span(ends, *m.span())
                if end > start:
                    found.append((kept[start], kept[end - 1] + 1))
        return found


@functools.lru_cache(maxsize=64)
def bare_pattern(forms: frozenset[str]) -> re.Pattern[str] | None:
    """``forms`` anywhere, without word boundaries: for long forms inside binary data,
    where a boundary means nothing and its check at every byte costs most of the search."""
    if not forms:
        return None
    return re.compile("|".join(_flexible(f) for f in sorted(forms, key=lambda s: (-len(s), s))))


@functools.lru_cache(maxsize=64)
def _compile(
    literal: frozenset[str],
    dates: frozenset[dt.date],
    births: frozenset[dt.date],
    ids: frozenset[str],
    titled: frozenset[str] = frozenset(),
    old_years: frozenset[int] = frozenset(),
) -> re.Pattern[str]:
    """Compiled once per set of values: the files of one patient share it.  Ages over 89
    (:data:`AGE_OVER_89`) are part of every pattern."""
    parts = [AGE_OVER_89]
    if literal:
        alt = "|".join(_flexible(f) for f in sorted(literal, key=lambda s: (-len(s), s)))
        first = "".join(sorted({re.escape(f[0]) for f in literal}))  # one class skips most places
        parts.append(rf"(?=[{first}])(?<![{WORD}])(?:{alt})(?![{WORD}])")
    if titled:  # the name after a title, by fixed-width look-behinds: "Ng, Bo" is still a full form
        alt = "|".join(re.escape(f) for f in sorted(titled, key=lambda s: (-len(s), s)))
        parts.append(rf"(?=(?:{alt})(?![{WORD}])){_AFTER_TITLE}(?:{alt})")
    if old_years:
        parts.append(rf"(?<![0-9])(?:{'|'.join(str(y) for y in sorted(old_years))})(?![0-9])")
    if digits := sorted(
        {d for i in ids if len(d := re.sub(r"\D", "", i)) >= MIN_ID_DIGITS}, key=lambda s: (-len(s), s)
    ):
        alt = "|".join(ID_DIGIT_SEPARATOR.join(d) for d in digits)
        parts.append(rf"(?<![0-9])(?:{alt})(?![0-9])")
    if (dates or births) and (pattern := date_pattern(dates, births)) is not None:
        parts.append(pattern.pattern)
    return re.compile("|".join(parts))


def _flexible(form: str) -> str:
    """Escape ``form`` but let any run of spaces, ``^`` or commas match any other."""
    parts = [re.escape(p) for p in re.split(_SEPARATOR, form) if p]
    return _SEPARATOR.join(parts)


def _spellings(part: str) -> set[str]:
    """``Smith-Jones`` as ``smith-jones``, ``smith jones``, ``smithjones``; ``O'Brien`` as
    ``o'brien``, ``o brien``, ``obrien`` (dashes and apostrophes already unified by
    :data:`_PUNCTUATION`)."""
    pieces = [p for p in re.split(r"[-']+", part) if p]
    return {part, " ".join(pieces), "".join(pieces)} if len(pieces) > 1 else {part}


def name_forms(value: str) -> tuple[set[str], set[str], set[str]]:
    """(components, full forms, components matched only after a title) of a PN value,
    every component group, folded.

    ``Yamada^Tarou=山田^太郎=やまだ^たろう`` gives the components ``yamada``,
    ``tarou``, ``山田``, ``太郎``, ``やまだ``, ``たろう`` and full forms such as
    ``tarou yamada``, ``山田太郎`` and ``やまだ たろう``.  A hyphenated or apostrophe
    name adds each part and the joined and spaced spellings (``Smith-Jones`` gives ``jones``,
    ``smith jones`` ...).  A Latin component shorter than :data:`MIN_TOKEN` (``LI^WEI``) is
    matched only as a word next to the rest of the name (``Li Wei``, ``Wei Li``, ``Li, W.``,
    ``W. Li``) or after a title (``Mr Li``: the third set), never alone.
    """
    tokens: set[str] = set()
    full: set[str] = set()
    titled: set[str] = set()
    for group in value.translate(_PUNCTUATION).split("="):
        comps = [c.strip() for c in group.split("^")]
        family, given, middle = [*comps, "", "", ""][:3]
        cjk = _is_cjk(group)
        min_len = MIN_TOKEN_CJK if cjk else MIN_TOKEN
        for comp in (family, given, middle):
            for word in re.split(r"[\s,.]+", comp):
                parts = {p for p in re.split(r"[-']+", word) if p} | _spellings(word)
                tokens |= {t for t in parts if len(t) >= min_len}
                titled |= {t for t in parts if 0 < len(t) < min_len and t.isalpha() and not cjk}
        forms = {group.strip("^ ")}
        for fam in _spellings(family):
            if fam and given:
                forms |= {f"{given} {fam}", f"{fam}, {given}", f"{fam} {given}", f"{fam}^{given}"}
                if not cjk:  # initials: "Li, W.", "W. Li"
                    forms |= {f"{fam}, {given[0]}.", f"{fam}, {given[0]}", f"{given[0]}. {fam}", f"{fam} {given[0]}."}
                if middle:
                    forms |= {f"{given} {middle} {fam}", f"{fam}, {given} {middle}"}
                if cjk:
                    forms |= {f"{fam}{given}", f"{given}{fam}"}
        full |= {f for f in forms if f}
    fold_all = lambda items: {v for item in items for v in _variants(item) if v}  # noqa: E731
    return fold_all(tokens), fold_all(full), fold_all(titled)


def parse_date(value: str) -> dt.date | None:
    """The date of a DA or DT value (its first eight characters, ``YYYYMMDD``)."""
    v = value.strip()[:8]
    try:
        if len(v) == 8 and v.isdigit():  # the usual form, without strptime's cost
            return dt.date(int(v[:4]), int(v[4:6]), int(v[6:]))
        return dt.datetime.strptime(v, "%Y%m%d").date()
    except ValueError:
        return None


@functools.lru_cache(maxsize=1)
def _interesting_tags() -> tuple[frozenset[int], frozenset[int], frozenset[int], frozenset[int]]:
    from pydicom.datadict import tag_for_keyword

    def tags(keywords: Iterable[str]) -> frozenset[int]:
        return frozenset(t for k in keywords if (t := tag_for_keyword(k)))

    return tags(ID_KEYWORDS), tags(INSTITUTION_KEYWORDS), tags(PATIENT_DATE_KEYWORDS), tags(PATIENT_NAME_KEYWORDS)


def collect(
    ds: Dataset, *, keep_dates: bool = False, keep_institution: bool = False, keep_device: bool = False
) -> Identifiers:
    """Collect the PHI values of ``ds`` at every depth (private elements included).

    Only elements that can hold PHI are decoded, so this stays cheap on large
    headers.  ``keep_dates`` / ``keep_institution`` / ``keep_device`` leave out
    values that the selected options retain on purpose (study dates, institution
    names, the Station Name of ``retain-device-identity``), so they are not treated
    as residue; the patient's birth date is collected always.
    """
    ids = Identifiers()
    id_tags, inst_tags, patient_dates, patient_names = _interesting_tags()
    if keep_device:
        inst_tags = inst_tags - {STATION_NAME}
    own: set[str] = set()
    _collect(ds, ids, keep_dates, keep_institution, id_tags, inst_tags, patient_dates, patient_names, own)
    vocabulary = dicom_vocabulary()
    common = {n for n in ids.names if n in vocabulary}
    ids.names = (ids.names - common) | own
    ids.titled |= common - own
    if _over_89(ds, ids.birth_dates):
        ids.old_birth_years = {d.year for d in ids.birth_dates}
    return ids


def _over_89(ds: Dataset, births: set[dt.date]) -> bool:
    """The patient is over 89: by Patient's Age (AS, ``103Y``), or by the birth date against
    the study date (today where the file has none)."""
    age = str(ds.get("PatientAge", "") or "").strip().upper()
    if age[:-1].isdigit() and age.endswith("Y") and int(age[:-1]) > 89:
        return True
    when = next(
        (
            d
            for k in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")
            if (d := parse_date(str(ds.get(k, "") or "")))
        ),
        None,
    )
    when = when or dt.date.today()
    return any((when.year - b.year - ((when.month, when.day) < (b.month, b.day))) > 89 for b in births)


@functools.lru_cache(maxsize=1)
def dicom_vocabulary() -> frozenset[str]:
    """Words of the DICOM data dictionary's keywords (``Text``, ``Name``, ``First`` ...).

    A single component of *another* person's name (operator, physician) that is also such
    a word ("Enter text" in an SR template, "LAST^FIRST" placeholders) would match
    structural values such as the CS ``TEXT`` everywhere; it is matched only after a
    title ("Dr Green") and in the full forms ("KAUFMAN^SCOTT").  The patient's own names
    (:data:`PATIENT_NAME_KEYWORDS`) are matched alone whatever they are ("Mr White"):
    redacting the word "white" from a kept descriptor is the safe failure.
    """
    from pydicom.datadict import DicomDictionary

    words = {"anonymized", "anonymous", "enter"}
    for entry in DicomDictionary.values():
        words.update(w.lower() for w in re.findall(r"[A-Z][a-z]+", entry[4]))
    return frozenset(words)


def text_readings(ds: Dataset, tag: int) -> list[list[str]]:
    """The values of a text element as declared, then in each other plausible reading.

    The declared reading uses the file's Specific Character Set (pydicom
    handles ISO 2022 code extensions).  Where the stored bytes are not ASCII
    they are also read as UTF-8 (when valid) and as Latin-1: a missing or
    wrong declaration is common, and a value that matches only in another
    reading is still PHI.  Readings equal to the declared one are left out.
    """
    raw_value = ds.get_item(tag).value
    elem = ds[tag]
    value = elem.value
    if value in (None, "", b""):
        return []
    if isinstance(value, bytes):  # a value pydicom keeps as bytes (unknown VR)
        readings: list[list[str]] = [[]]
        raw_value = value
    else:
        readings = [[str(v) for v in (value if elem.VM > 1 else [value])]]
        if isinstance(raw_value, bytes):
            if raw_value.isascii():
                return readings  # ASCII reads the same in every character set
        elif all(v.isascii() for v in readings[0]):
            return readings
        else:  # decoded earlier: recover the bytes where that is lossless
            raw_value = _stored_bytes(ds, readings[0])
    if isinstance(raw_value, bytes) and not raw_value.isascii():
        readings += [r for r in _reread(raw_value, ds) if r not in readings]
    return readings


def _reread(raw: bytes, ds: Dataset) -> list[list[str]]:
    """``raw`` read as UTF-8 (when valid), as Latin-1 and in the other CJK encodings."""
    readings = []
    for codec in ("utf-8", "latin-1", *_cjk_codecs(ds)):
        try:
            readings.append(raw.decode(codec).rstrip("\x00 ").split("\\"))
        except UnicodeDecodeError:
            continue
    return readings


def written_readings(ds: Dataset, values: list[str]) -> list[list[str]]:
    """The other readings (:func:`text_readings`) of ``values`` once written in the character
    set of ``ds`` (none for ASCII): a cleaned value is checked in them before it is kept.
    Raises (``UnicodeError``, ``LookupError``) where ``values`` cannot be written so."""
    from pydicom.charset import encode_string

    codecs = ds.original_character_set
    data = encode_string("\\".join(values), [codecs] if isinstance(codecs, str) else list(codecs))
    return [] if data.isascii() else _reread(data, ds)


#: Declared character sets of CJK files, and the encodings such a file's text is often
#: really in (systems that write EUC-JP or Shift_JIS whatever the declaration says).
_CJK_TERMS = ("ISO 2022 IR 87", "ISO 2022 IR 159", "ISO 2022 IR 149", "ISO 2022 IR 58", "GB18030", "GBK")
_CJK_CODECS = ("euc_jp", "shift_jis", "iso2022_jp", "euc_kr", "gb18030")


def _cjk_codecs(ds: Dataset) -> tuple[str, ...]:
    """The other CJK encodings to try when ``ds`` declares a CJK character set."""
    declared = ds.get("SpecificCharacterSet")
    terms = declared if isinstance(declared, (list, tuple, MultiValue)) else [declared or ""]
    return _CJK_CODECS if any(str(t).strip() in _CJK_TERMS for t in terms) else ()


#: Single-byte character sets pydicom decodes losslessly (every byte maps to one character).
_LOSSLESS = frozenset(
    {
        "iso8859",
        "latin_1",
        "iso8859_2",
        "iso8859_3",
        "iso8859_4",
        "iso_ir_126",
        "iso_ir_127",
        "iso_ir_138",
        "iso_ir_144",
        "iso_ir_148",
        "iso_ir_166",
    }
)


def _stored_bytes(ds: Dataset, values: list[str]) -> bytes | None:
    """The bytes a single-byte character set decoded into ``values`` (None for others)."""
    codecs = ds.original_character_set
    codec = codecs if isinstance(codecs, str) else (codecs[0] if len(codecs) == 1 else "")
    if codec not in _LOSSLESS:
        return None
    try:
        return "\\".join(values).encode(codec)
    except (UnicodeEncodeError, LookupError):
        return None


def _values(ds: Dataset, elem: DataElement | RawDataElement) -> Iterator[str]:
    raw = elem.value
    if isinstance(raw, bytes) and raw.isascii() and b"\x1b" not in raw:  # reads the same in every charset
        yield from raw.decode("ascii").rstrip("\x00 ").split("\\")
        return
    for reading in text_readings(ds, elem.tag):
        yield from reading


@functools.lru_cache(maxsize=4096)
def dictionary_vr(tag: int) -> str:
    """The data dictionary's VR of ``tag`` (``UN`` when unknown), cached: the VR of an
    element whose stored VR is implicit (:func:`govkit.deid.dicomio.element_vr`)."""
    from pydicom.datadict import dictionary_VR

    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def _collect(
    ds: Dataset,
    ids: Identifiers,
    keep_dates: bool,
    keep_institution: bool,
    id_tags: frozenset[int],
    inst_tags: frozenset[int],
    patient_dates: frozenset[int],
    patient_names: frozenset[int],
    own: set[str],
) -> None:
    for elem in list(ds.values()):  # raw elements: only what can hold PHI is decoded
        tag = elem.tag
        vr = elem.VR or dictionary_vr(tag)
        if vr == "SQ":
            for item in ds[tag].value or ():
                _collect(item, ids, keep_dates, keep_institution, id_tags, inst_tags, patient_dates, patient_names, own)
        elif vr == "PN":
            for v in _values(ds, elem):
                tokens, full, titled = name_forms(v)
                ids.names |= tokens
                ids.full_names |= full
                ids.titled |= titled
                if tag in patient_names:
                    own |= tokens
        elif tag in id_tags and vr not in BINARY_VRS:
            values = {fold(v.strip()) for v in _values(ds, elem)}
            # 00765432 is also written 765432: an ID without its leading zeros
            ids.ids |= {s for v in values for s in (v, v.lstrip("0")) if len(s) >= MIN_TOKEN}
        elif tag in inst_tags and not keep_institution:
            ids.institutions |= {fold(s) for v in _values(ds, elem) if (s := v.strip())}
        elif vr in DATE_VRS and (not keep_dates or tag in patient_dates):
            found = {d for v in _values(ds, elem) if (d := parse_date(v))}
            ids.dates |= found
            if tag in patient_dates:
                ids.birth_dates |= found


def raw_readings(data: bytes, codecs: Iterable[str]) -> str:
    """``data`` read in each codec (errors replaced), joined by NUL, then folded.

    ISO 2022 escape sequences are read by the ISO 2022 codecs and dropped for
    the others, so a name in JIS X 0208 is found whichever way it was shifted in.
    """
    readings = []
    for codec in codecs:
        chunk = data if codec.startswith("iso2022") else ISO2022_CONTROLS.sub(b"", data)
        if codec.startswith("utf-16"):
            readings += [chunk.decode(codec, "replace"), chunk[1:].decode(codec, "replace")]
        else:
            readings.append(chunk.decode(codec, "replace"))
    return fold("\x00".join(readings))

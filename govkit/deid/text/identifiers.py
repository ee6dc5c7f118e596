"""PHI values taken from a file's own header, expanded to the formats in which
they reappear in free text, burned-in annotations and stray bytes.

A name ``KAUFMAN^SCOTT`` also appears as ``Scott Kaufman`` or ``Kaufman,
Scott``; a date ``19430722`` as ``07.22.1943``, ``7/22/1943`` or
``22-JUL-1943``.  :class:`Identifiers` collects the values, and
:meth:`Identifiers.text_pattern` / :meth:`Identifiers.bytes_pattern` match
every form, case-insensitively and on word boundaries.  The engine uses them
to clean text, ``deid verify`` to find residue, and the pixel cleaner as its
deny-list.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from govkit.deid.dicomio import element_vr

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
DATE_VRS = ("DA", "DT")
BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN", "SQ"})
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
)
MIN_TOKEN = 3  # shorter name parts ("Li", "Al") match too much ordinary text


@dataclass
class Identifiers:
    """PHI values of one file, grouped by kind."""

    names: set[str] = field(default_factory=set)  # single name components
    full_names: set[str] = field(default_factory=set)  # "KAUFMAN^SCOTT", "Scott Kaufman", ...
    ids: set[str] = field(default_factory=set)
    dates: set[dt.date] = field(default_factory=set)
    institutions: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return any((self.names, self.full_names, self.ids, self.dates, self.institutions))

    def strings(self) -> list[str]:
        """Every literal form, longest first (so alternations prefer full matches)."""
        forms = set(self.full_names) | self.names | self.ids | self.institutions
        for d in self.dates:
            forms.update(date_forms(d))
        return sorted((f for f in forms if len(f) >= MIN_TOKEN), key=lambda s: (-len(s), s))

    def long_strings(self, min_len: int = 6) -> list[str]:
        """Forms specific enough to search for inside binary data (pixel bytes)."""
        return [s for s in self.strings() if len(s) >= min_len and s not in self.names]

    def text_pattern(self) -> re.Pattern[str] | None:
        forms = self.strings()
        if not forms:
            return None
        alt = "|".join(_flexible(f) for f in forms)
        return re.compile(rf"(?<![A-Za-z0-9])(?:{alt})(?![A-Za-z0-9])", re.IGNORECASE)

    def bytes_pattern(self, forms: Iterable[str] | None = None) -> re.Pattern[bytes] | None:
        forms = list(self.strings() if forms is None else forms)
        encoded: set[bytes] = set()
        for f in forms:
            for codec in ("utf-8", "latin-1", "utf-16-le"):
                try:
                    encoded.add(f.encode(codec))
                except UnicodeEncodeError:
                    continue
        if not encoded:
            return None
        alt = b"|".join(re.escape(e) for e in sorted(encoded, key=len, reverse=True))
        return re.compile(rb"(?<![A-Za-z0-9])(?:" + alt + rb")(?![A-Za-z0-9])", re.IGNORECASE)


def _flexible(form: str) -> str:
    """Escape ``form`` but let any run of spaces, ``^`` or commas match any other."""
    parts = [re.escape(p) for p in re.split(r"[\s^,]+", form) if p]
    return r"[\s^,]+".join(parts)


def date_forms(d: dt.date) -> set[str]:
    """The ways a date is written on images and in reports."""
    y, m, day = d.year, d.month, d.day
    mon = MONTHS[m - 1]
    return {
        f"{y:04d}{m:02d}{day:02d}",
        f"{y:04d}-{m:02d}-{day:02d}",
        f"{y:04d}/{m:02d}/{day:02d}",
        f"{y:04d}.{m:02d}.{day:02d}",
        f"{m:02d}.{day:02d}.{y:04d}",
        f"{m}.{day}.{y:04d}",
        f"{m:02d}/{day:02d}/{y:04d}",
        f"{m}/{day}/{y:04d}",
        f"{m:02d}-{day:02d}-{y:04d}",
        f"{day:02d}.{m:02d}.{y:04d}",
        f"{day:02d}/{m:02d}/{y:04d}",
        f"{day:02d}-{mon}-{y:04d}",
        f"{day:02d}-{mon}-{y % 100:02d}",
        f"{day}-{mon}-{y:04d}",
        f"{day:02d} {mon} {y:04d}",
        f"{MONTH_NAMES[m - 1]} {day}, {y:04d}",
        f"{day} {MONTH_NAMES[m - 1]} {y:04d}",
        f"{m:02d}/{day:02d}/{y % 100:02d}",
        f"{m}/{day}/{y % 100:02d}",
    }


def name_forms(value: str) -> tuple[set[str], set[str]]:
    """(components, full forms) of a PN value such as ``KAUFMAN^SCOTT^J``."""
    alphabetic = value.split("=")[0]
    comps = [c.strip() for c in alphabetic.split("^")]
    family, given = (comps + ["", ""])[:2]
    tokens = {t for c in comps for t in re.split(r"[\s,.]+", c) if len(t) >= MIN_TOKEN}
    full = {alphabetic.strip("^ ")}
    if family and given:
        full |= {f"{given} {family}", f"{family}, {given}", f"{family} {given}", f"{family}^{given}"}
    return tokens, {f for f in full if f}


def parse_date(value: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(value.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


@functools.lru_cache(maxsize=1)
def _interesting_tags() -> tuple[frozenset[int], frozenset[int]]:
    from pydicom.datadict import tag_for_keyword

    return (
        frozenset(tag_for_keyword(k) for k in ID_KEYWORDS if tag_for_keyword(k)),
        frozenset(tag_for_keyword(k) for k in INSTITUTION_KEYWORDS if tag_for_keyword(k)),
    )


def collect(ds: Dataset, *, keep_dates: bool = False, keep_institution: bool = False) -> Identifiers:
    """Collect the PHI values of ``ds`` at every depth (private elements included).

    Only elements that can hold PHI are decoded, so this stays cheap on large
    headers.  ``keep_dates`` / ``keep_institution`` leave out values that the
    selected options retain on purpose, so they are not treated as residue.
    """
    ids = Identifiers()
    _collect(ds, ids, keep_dates, keep_institution, *_interesting_tags())
    ids.names = {n for n in ids.names if n.lower() not in dicom_vocabulary()}
    return ids


@functools.lru_cache(maxsize=1)
def dicom_vocabulary() -> frozenset[str]:
    """Words of the DICOM data dictionary's keywords (``Text``, ``Name``, ``First`` ...).

    A single name component that is also such a word ("Enter text" in an SR
    template, "LAST^FIRST" placeholders) would match structural values such as
    the CS ``TEXT`` everywhere; it is left out of the single-token forms.  Full
    forms ("Scott Kaufman", "KAUFMAN^SCOTT") still include it.
    """
    from pydicom.datadict import DicomDictionary

    words = {"anonymized", "anonymous", "enter"}
    for entry in DicomDictionary.values():
        words.update(w.lower() for w in re.findall(r"[A-Z][a-z]+", entry[4]))
    return frozenset(words)


def _values(elem) -> list:
    value = elem.value
    if value in (None, "", b""):
        return []
    return list(value) if elem.VM > 1 else [value]


def _collect(ds, ids, keep_dates, keep_institution, id_tags, inst_tags) -> None:
    for tag in list(ds.keys()):
        vr = element_vr(ds, tag)
        if vr == "SQ":
            for item in ds[tag].value or ():
                _collect(item, ids, keep_dates, keep_institution, id_tags, inst_tags)
        elif vr == "PN":
            for v in _values(ds[tag]):
                tokens, full = name_forms(str(v))
                ids.names |= tokens
                ids.full_names |= full
        elif tag in id_tags and vr not in BINARY_VRS:
            ids.ids |= {s for v in _values(ds[tag]) if len(s := str(v).strip()) >= MIN_TOKEN}
        elif tag in inst_tags and not keep_institution:
            ids.institutions |= {s for v in _values(ds[tag]) if (s := str(v).strip())}
        elif vr in DATE_VRS and not keep_dates:
            ids.dates |= {d for v in _values(ds[tag]) if (d := parse_date(str(v)))}

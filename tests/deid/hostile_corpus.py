"""A hostile corpus for de-identification: PHI written the way real archives write it.

Each :class:`Case` is one source file and the *needles* that must not survive
(issue #15, classes 1–7): names in ideographic and phonetic script, in
decomposed Unicode and other letter case, in undeclared or wrongly declared
character sets, dates in every common format, relatives and contacts in SR
text, PHI in the preamble, file meta, unlisted CS values, unknown public tags
and VR UN; and (8) contacts in attributes the profile keeps.  Needles are
compared after NFKC + casefold, on the decoded text of every element *and* on
the raw bytes in every encoding the file could use.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

UID_ROOT = "1.2.826.0.1.3680043.9.7778"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
#: Every encoding a DICOM file can hold text in (PS3.3 C.12.1.1.2), plus UTF-16 for stray binary.
ENCODINGS = (
    "utf-8",
    "latin-1",
    "iso8859_2",
    "iso8859_5",
    "iso8859_7",
    "shift_jis",
    "iso2022_jp",
    "euc_kr",
    "gb18030",
    "gbk",
    "utf-16-le",
    "utf-16-be",
)


def fold(text: str) -> str:
    """The normalisation both sides of a comparison get: NFKC, then case folding."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


@dataclass
class Case:
    name: str
    klass: int
    options: tuple[str, ...]
    needles: tuple[str, ...]
    build: Callable[[], bytes]
    #: needles that must be absent as decoded text but may not be searched in raw bytes
    text_only: tuple[str, ...] = field(default_factory=tuple)

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.dcm"
        path.write_bytes(self.build())
        return path


def base(uid: str, name: str, charset: str | list[str] | None = None, **attrs: object) -> Dataset:
    """A small real CT (pydicom's CT_small) with fresh UIDs and the patient ``name``."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for kw in (
        "StudyDescription",
        "SeriesDescription",
        "InstitutionName",
        "ReferringPhysicianName",
        "OtherPatientIDs",
        "RequestingPhysician",
        "OperatorsName",
        "StationName",
    ):
        if kw in ds:
            delattr(ds, kw)
    if charset is None:
        del ds.SpecificCharacterSet
    else:
        ds.SpecificCharacterSet = charset
    ds.StudyInstanceUID = f"{UID_ROOT}.{uid}.1"
    ds.SeriesInstanceUID = f"{UID_ROOT}.{uid}.2"
    ds.SOPInstanceUID = f"{UID_ROOT}.{uid}.3"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName = name
    ds.PatientID = f"PID{uid}X"
    ds.PatientBirthDate = "19520314"
    ds.StudyDate = "20230905"
    for kw, value in attrs.items():
        setattr(ds, kw, value)
    return ds


def code_item(meaning: str, value: str = "99001", scheme: str = "99TEST") -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def to_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


# ---- class 1: every Person Name group -------------------------------------------------------
def _cjk(uid: str, charset, pn: str, text: str, meaning: str) -> Callable[[], bytes]:
    def build() -> bytes:
        ds = base(uid, pn, charset, StudyDescription=text, Manufacturer=text[:64])
        ds.ProcedureCodeSequence = Sequence([code_item(meaning)])
        return to_bytes(ds)

    return build


# ---- class 2: Unicode forms and case ---------------------------------------------------------
def _forms() -> bytes:
    ds = base(
        "21",
        "Núñez^José",
        "ISO_IR 192",
        StudyDescription="Nu\u0301n\u0303ez follow-up, GRÖSSNER, иванов пётр",
        Manufacturer="seen by núñez and Größner",
        ImageComments="ИВАНОВ ПЁТР, NU\u0301N\u0303EZ",
    )
    ds.OtherPatientNames = ["Größner^Anna", "Иванов^Пётр"]
    return to_bytes(ds)


# ---- class 3: character sets -----------------------------------------------------------------
def _without_charset(declared: bytes | None) -> Callable[[], bytes]:
    """UTF-8 text in a file that declares no character set (or a wrong one)."""

    def build() -> bytes:
        ds = base(
            "3" + ("0" if declared is None else "1"),
            "MÜLLER^JÜRGEN",
            "ISO_IR 192",
            StudyDescription="Jürgen Müller, Zürich",
            Manufacturer="für Jürgen Müller",
        )
        data = to_bytes(ds)
        element = b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 192"
        assert data.count(element) == 1
        replacement = b"" if declared is None else b"\x08\x00\x05\x00CS\x0a\x00" + declared
        return data.replace(element, replacement)

    return build


# ---- class 4: dates in other formats ---------------------------------------------------------
DATE_TEXTS = (
    "14.3.1952",
    "14/03/1952",
    "1952/3/14",
    "14MAR1952",
    "March 14th, 1952",
    "3-14-52",
    "1952-03-14T08:30",
    "19520314083000",
    "14 March 1952",
    "Mar 14 1952",
    "14th of March, 1952",
    "5 Sept 2023",
    "2023-09-05",
    "09/05/23",
)


def _dates() -> bytes:
    ds = base("41", "KAUFMAN^SCOTT", "ISO_IR 100")
    ds.Manufacturer = " | ".join(DATE_TEXTS[:4])
    ds.ExtendedCodeMeaning = " | ".join(DATE_TEXTS)  # unlisted LT: swept for header values
    ds.ImageComments = " ; ".join(DATE_TEXTS)
    ds.StudyDescription = "; ".join(DATE_TEXTS[4:7])
    return to_bytes(ds)


# ---- class 5: structured reports -------------------------------------------------------------
def _sr() -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = BASIC_TEXT_SR
    meta.MediaStorageSOPInstanceUID = f"{UID_ROOT}.51.3"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = BASIC_TEXT_SR, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = f"{UID_ROOT}.51.1", f"{UID_ROOT}.51.2"
    ds.Modality, ds.PatientName, ds.PatientID = "SR", "KAUFMAN^SCOTT", "PID51X"
    ds.PatientBirthDate = "19520314"
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence([code_item("Report")])
    ds.ContinuityOfContent = "SEPARATE"

    def text(value: str) -> Dataset:
        item = Dataset()
        item.RelationshipType, item.ValueType = "CONTAINS", "TEXT"
        item.ConceptNameCodeSequence = Sequence([code_item("Finding")])
        item.TextValue = value
        return item

    nested = text("Follow-up arranged with Dr. Heinrich Vogelsang.")
    nested.ContentSequence = Sequence([text("Daughter Maria Schneider, phone (555) 867-5309.")])
    code = Dataset()
    code.RelationshipType, code.ValueType = "CONTAINS", "CODE"
    code.ConceptNameCodeSequence = Sequence([code_item("Contact")])
    code.ConceptCodeSequence = Sequence([code_item("Call maria.schneider@example.org")])
    ds.ContentSequence = Sequence(
        [
            text("Patient Scott Kaufman seen; wife Eleanor Kaufman reachable at eleanor.k@example.org."),
            nested,
            code,
        ]
    )
    return to_bytes(ds)


# ---- class 6: preamble, file meta, unlisted CS, unknown public tags, UN ----------------------
def _places() -> bytes:
    ds = base("61", "KAUFMAN^SCOTT", "ISO_IR 100")
    ds.preamble = b"KAUFMAN^SCOTT PID61X".ljust(128, b"\x00")
    ds.file_meta.SourcePresentationAddress = "http://kaufman-scott.example/PID61X"
    ds.file_meta.PrivateInformationCreatorUID = f"{UID_ROOT}.61.9"
    ds.file_meta.PrivateInformation = b"KAUFMAN^SCOTT PID61X"
    ds.file_meta.SourceApplicationEntityTitle = "KAUFMAN"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "KAUFMAN"]  # unlisted CS
    ds.Laterality = "KAUFMAN"  # unlisted CS
    ds.add_new(0x00089998, "LO", "Scott Kaufman's unknown public element")  # not in the dictionary
    ds.add_new(0x00140104, "UN", b"KAUFMAN^SCOTT ")  # SecondaryReviewerName (PN, unlisted) stored as UN
    ds.add_new(0x00080108, "UN", b"reviewed for Scott Kaufman ")  # ExtendedCodeMeaning (LT) as UN
    return to_bytes(ds)


# ---- class 7: e-mail addresses (Presidio's recogniser must stay offline) ---------------------
def _email() -> bytes:
    ds = base(
        "71",
        "KAUFMAN^SCOTT",
        "ISO_IR 100",
        StudyDescription="results to j.doe@example.org and scott.kaufman@mail.example.com",
    )
    return to_bytes(ds)


# ---- kept attributes: contacts and identifiers where the profile keeps the value --------------
KEPT_CONTACTS = ("078-05-1120", "(617) 555-0199", "helen.doe88@gmail.com", "4111 1111 1111 1111", "14.3.1952")


def _kept() -> bytes:
    ds = base("81", "KAUFMAN^SCOTT", "ISO_IR 100")
    ds.ManufacturerModelName = f"SSN {KEPT_CONTACTS[0]}"  # not in Table E.1-1: kept, swept
    ds.Manufacturer = f"ACME, service {KEPT_CONTACTS[1]}"
    ds.SoftwareVersions = [KEPT_CONTACTS[2], f"card {KEPT_CONTACTS[3]}", f"born {KEPT_CONTACTS[4]}"]
    return to_bytes(ds)


CASES: tuple[Case, ...] = (
    Case(
        "japanese",
        1,
        ("clean-descriptors",),
        ("山田", "太郎", "やまだ", "たろう", "yamada", "tarou"),
        _cjk(
            "11",
            ["", "ISO 2022 IR 87"],
            "Yamada^Tarou=山田^太郎=やまだ^たろう",
            "CT 山田太郎 やまだ たろう 経過観察",
            "山田 太郎",
        ),
    ),
    Case(
        "korean",
        1,
        ("clean-descriptors",),
        ("길동", "홍길동", "吉洞", "gildong"),
        _cjk("12", ["", "ISO 2022 IR 149"], "Hong^Gildong=洪^吉洞=홍^길동", "홍길동 흉부 CT, 洪吉洞", "길동"),
    ),
    Case(
        "chinese",
        1,
        ("clean-descriptors",),
        ("小东", "王小东", "xiaodong"),
        _cjk("13", "GB18030", "Wang^XiaoDong=王^小东=", "胸部 CT 王小东 复查", "小东"),
    ),
    Case("forms", 2, ("clean-descriptors",), ("núñez", "größner", "иванов", "пётр", "josé"), _forms),
    Case("undeclared-utf8", 3, ("clean-descriptors",), ("müller", "jürgen"), _without_charset(None)),
    Case("wrong-charset", 3, ("clean-descriptors",), ("müller", "jürgen"), _without_charset(b"ISO_IR 100")),
    Case("dates", 4, ("clean-descriptors",), DATE_TEXTS, _dates),
    Case(
        "dates-full", 4, ("clean-descriptors", "retain-longitudinal-full-dates"), DATE_TEXTS[:11], _dates
    ),  # the birth date stays identifying when study dates are kept
    Case(
        "sr",
        5,
        ("clean-structured-content",),
        (
            "Schneider",
            "Vogelsang",
            "Eleanor",
            "867-5309",
            "eleanor.k@example.org",
            "maria.schneider@example.org",
            "Kaufman",
        ),
        _sr,
    ),
    Case("places", 6, (), ("kaufman", "pid61x"), _places),
    Case("email", 7, ("clean-descriptors",), ("j.doe@example.org", "scott.kaufman@mail.example.com"), _email),
    Case("kept", 8, (), KEPT_CONTACTS, _kept),  # contacts where the profile keeps the value: scrubbed, no options
)


def case(name: str) -> Case:
    return next(c for c in CASES if c.name == name)


def element_texts(ds: Dataset, path: str = "") -> list[tuple[str, str]]:
    """(element path, decoded text) for every element at every depth, binary values included."""
    out = []
    for elem in ds:
        where = f"{path}{elem.keyword or elem.tag}"
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or ()):
                out += element_texts(item, f"{where}[{i}].")
            continue
        value = elem.value
        if isinstance(value, bytes):
            out += [(where, value.decode(enc, "ignore")) for enc in ("utf-8", "latin-1")]
        elif value is not None:
            out.append((where, str(value)))
    return out


def residue(data: bytes, needles: tuple[str, ...], text_only: tuple[str, ...] = ()) -> list[str]:
    """Needles found in a file: in its decoded elements or anywhere in its raw bytes."""
    ds = pydicom.dcmread(io.BytesIO(data))
    texts = element_texts(ds) + element_texts(ds.file_meta)
    found = []
    for needle in needles:
        n = fold(needle)
        hits = [w for w, t in texts if n in fold(t)]
        if needle not in text_only:
            for enc in ENCODINGS:
                nfd = unicodedata.normalize("NFD", needle)
                for form in {needle, needle.upper(), needle.lower(), needle.title(), nfd}:
                    try:
                        raw = form.encode(enc)
                    except UnicodeEncodeError:
                        continue
                    core = raw.replace(b"\x1b$B", b"").replace(b"\x1b(B", b"")
                    if len(core) >= 4 and core in data:
                        hits.append(f"raw bytes ({enc})")
        if hits:
            found.append(f"{needle!r} in {sorted(set(hits))}")
    return found

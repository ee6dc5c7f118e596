"""Apply the PS3.15 Annex E profile to one dataset, at every sequence depth.

:func:`deidentify` is pure in the sense that matters: it takes a pydicom
dataset and a :class:`DeidConfig` and rewrites the dataset in memory; file
and batch handling live in :mod:`govkit.deid.batch`.

Attributes that Table E.1-1 does not list follow the standard's text (E.1.1:
the profile must remove identifying information wherever it is), as govkit
reads it:

* PN (person name) attributes are removed (X);
* UI attributes keep registered DICOM UIDs (SOP Classes, transfer syntaxes,
  coding schemes) and replace every other UID (U), so references stay
  consistent;
* DA and DT attributes are treated like the listed dates: removed, kept with
  ``retain-longitudinal-full-dates``, shifted with
  ``retain-longitudinal-modified-dates``;
* group lengths (gggg,0000) are dropped (pydicom recomputes file meta);
* public attributes that the data dictionary does not know are removed (X),
  with a note in the file's result;
* ages (AS) over 89 years become ``090Y`` wherever they are kept (HIPAA
  Safe Harbor, 45 CFR 164.514(b)(2)(i)(C));
* everything else is kept, but free text (LO, SH, ST, LT, UT, UC) and codes
  (CS, AE, UR) are swept for the file's own header values in every form
  (:mod:`govkit.deid.text.identifiers`): a code holding one is emptied.

Every text value that is kept, by ``K`` (under any options) or as an unlisted
attribute, is scrubbed the same way of the file's identifiers and of e-mail
addresses, phone numbers, SSNs, card numbers and IBANs
(:mod:`govkit.deid.text.contacts`, HIPAA Safe Harbor 45 CFR 164.514(b)(2)(i)),
with a per-file note naming the attribute; Presidio's NER stays with the ``C``
action (``clean-descriptors``, ``clean-structured-content``).  Under
``retain-safe-private`` each safe-listed private value is decoded with the safe
list's VR and removed, with a note, when it does not parse as that VR or its
text holds an identifier or a contact (:func:`_check_safe`).

Text is matched in every reading of its bytes (the declared character set,
and UTF-8 and Latin-1 where the bytes are not ASCII).  When a value matches
only in another reading, it is cleaned in that reading and the output is
written in UTF-8 (``ISO_IR 192``).  Values stored with VR UN whose tag the
dictionary knows are decoded with that tag's VR (pydicom's
``replace_un_with_known_vr``) and get that tag's action.

The ``C`` (clean) action: text is cleaned by :class:`govkit.deid.text.cleaner.TextCleaner`
(Presidio plus patterns plus the file's identifiers); on a sequence, every free-text
value inside it, at any depth, is cleaned the same way (so the TEXT items of an SR
under ``clean-structured-content``, PS3.15 E.3.4);
dates are shifted by the keyed per-patient offset; ages above 89 become
``090Y`` (HIPAA Safe Harbor); names become the dummy; sequences are
descended into; overlay and curve data, which need the pixel cleaner, are
removed together with their whole repeating group.
"""

from __future__ import annotations

import functools
import math
import re
import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID_dictionary

from govkit import __version__
from govkit.deid.dicomio import element_vr
from govkit.deid.header.profile import (
    BASIC_PROFILE_CODE,
    OPTIONS,
    Profile,
    load_profile,
    resolve_type_dependent,
)
from govkit.deid.header.pseudonyms import Pseudonymizer, shift_date, shift_datetime
from govkit.deid.text import contacts
from govkit.deid.text import identifiers as phi
from govkit.deid.text.cleaner import TextCleaner

DUMMY_TEXT = "ANONYMIZED"
#: Dummy values for the D action, by VR (consistent with the VR, PS3.15 Table E.1-1a).
DUMMY: dict[str, object] = {
    "AE": DUMMY_TEXT,
    "AS": "000Y",
    "CS": DUMMY_TEXT,
    "DA": "19000101",
    "DS": "0",
    "DT": "19000101000000.000000",
    "IS": "0",
    "LO": DUMMY_TEXT,
    "LT": DUMMY_TEXT,
    "PN": DUMMY_TEXT,
    "SH": DUMMY_TEXT,
    "ST": DUMMY_TEXT,
    "TM": "000000.00",
    "UC": DUMMY_TEXT,
    "UR": "http://anonymized.invalid/",
    "UT": DUMMY_TEXT,
    "FL": 0.0,
    "FD": 0.0,
    "SL": 0,
    "SS": 0,
    "UL": 0,
    "US": 0,
    "SV": 0,
    "UV": 0,
    "AT": 0,
}
TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
#: Coded strings: a value that holds PHI is emptied, there is no room for a marker.
CODE_VRS = frozenset({"CS", "AE"})
SWEPT_VRS = TEXT_VRS | CODE_VRS | {"UR"}
MAX_AGE_YEARS = 89
_AGE_UNIT_DAYS = {"D": 1.0, "W": 7.0, "M": 365.25 / 12, "Y": 365.25}
MAX_LEN = {"SH": 16, "LO": 64, "ST": 1024, "LT": 10240, "UC": None, "UT": None, "CS": 16, "AE": 16}
PATIENT_ID = 0x00100020
PATIENT_NAME = 0x00100010
OVERLAY_DATA = 0x60003000


#: Values a safe private attribute may hold, by its listed VR (PS3.5 Table 6.2-1): text VRs.
SAFE_TEXT_VRS = {
    "IS": re.compile(r" *[+-]?\d{1,12} *"),
    "DS": re.compile(r" *[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)? *"),
    "CS": re.compile(r"[A-Z0-9 _]{0,16}"),
}
#: ... and binary VRs, as :mod:`struct` formats.
SAFE_BINARY_VRS = {"FD": "d", "FL": "f", "SL": "l", "SS": "h", "UL": "L", "US": "H"}
_IS_RANGE = (-(2**31), 2**31 - 1)


@functools.lru_cache(maxsize=1)
def safe_private() -> dict[tuple[int, str, int], str]:
    """(group, private creator, element low byte) -> VR of each attribute on the safe list."""
    from govkit.resources import resource_dir
    from govkit.yamlio import load_file

    doc = load_file(resource_dir("policies") / "deid" / "safe-private.yaml")
    out = {(int(e["group"], 16), e["creator"].strip(), int(e["element"], 16)): str(e["vr"]) for e in doc["safe"]}
    if unknown := sorted(set(out.values()) - SAFE_TEXT_VRS.keys() - SAFE_BINARY_VRS.keys() - {"SQ"}):
        raise ValueError(f"safe-private.yaml: VR {', '.join(unknown)} cannot be checked; use one of IS, DS, CS, FD, FL")
    return out


@dataclass
class DeidConfig:
    """What a de-identification run applies: options, key, text cleaner."""

    options: frozenset[str]
    pseudonymizer: Pseudonymizer
    cleaner: TextCleaner = field(default_factory=TextCleaner)
    profile: Profile = field(default_factory=load_profile)

    def __post_init__(self) -> None:
        self._actions = {tag: rule.action(self.options) for tag, rule in self.profile.exact.items()}

    def action_for(self, tag: int) -> str | None:
        """The table's action for a public tag under the options (None: not listed)."""
        action = self._actions.get(tag)
        if action is None:
            rule = self.profile.rule_for(tag)
            action = rule.action(self.options) if rule else None
        return action

    @property
    def date_mode(self) -> str:
        """``full`` (kept), ``modified`` (shifted) or ``removed``."""
        if "retain-longitudinal-full-dates" in self.options:
            return "full"
        if "retain-longitudinal-modified-dates" in self.options:
            return "modified"
        return "removed"


class _FileContext:
    """Per-file state: SOP Class, the patient's date shift, header PHI, counts."""

    def __init__(self, ds: Dataset, cfg: DeidConfig) -> None:
        self.cfg = cfg
        self.sop_class = str(ds.get("SOPClassUID", "") or "")
        self.patient_id = str(ds.get("PatientID", "") or "")
        self.shift = cfg.pseudonymizer.date_shift_days(self.patient_id)
        self.identifiers = phi.collect(
            ds,
            keep_dates=cfg.date_mode == "full",
            keep_institution="retain-institution-identity" in cfg.options,
            keep_device="retain-device-identity" in cfg.options,
        )
        self.counts: Counter[str] = Counter()
        self.notes: set[str] = set()
        self.structured = 0  # depth inside sequences whose action is C
        self.readings: list[list[str]] = []  # other readings of the value being cleaned
        self.item = ds  # the dataset (or sequence item) holding that value
        self.utf8 = False  # a value was cleaned in a reading other than the declared one
        self.found: set[str] = set()  # kinds of PHI found in the value being checked


def deidentify(ds: Dataset, cfg: DeidConfig) -> tuple[Counter[str], set[str]]:
    """De-identify ``ds`` in place; return (counts per action, notes).

    Raises on anything that cannot be handled safely; the caller then writes
    nothing for this file.
    """
    ctx = _FileContext(ds, cfg)
    _walk(ds, ctx)
    if ctx.utf8:
        _as_utf8(ds)
        ctx.notes.add("text re-encoded as UTF-8 (ISO_IR 192): a value was not in the declared character set")
    _mark(ds, ctx)
    return ctx.counts, ctx.notes


def _walk(ds: Dataset, ctx: _FileContext) -> None:
    drop_groups: set[int] = set()
    private: list[BaseTag] = []
    counts = ctx.counts
    for elem in list(ds.values()):  # raw elements: a value is decoded only where it is needed
        tag = elem.tag
        group = tag >> 16
        if group & 1:  # private (odd group)
            private.append(tag)
            continue
        if not tag & 0xFFFF:  # group length
            del ds[tag]
            counts["X"] += 1
            continue
        action = ctx.cfg.action_for(tag)
        vr = elem.VR or phi.dictionary_vr(tag)  # govkit.deid.dicomio.element_vr, from the element at hand
        if action is None:
            if not _known(tag):
                del ds[tag]
                counts["X"] += 1
                ctx.notes.add("unknown public attributes removed (not in the DICOM data dictionary)")
                continue
            action = _unlisted_action(ds, tag, vr, ctx)
        else:
            action = resolve_type_dependent(action, tag, ctx.sop_class)
        if 0x5000 <= group <= 0x60FF and action in ("X", "C") and (group < 0x6000 or tag & 0xFF00FFFF == OVERLAY_DATA):
            drop_groups.add(group)  # overlay/curve: drop the whole repeating group
        if action == "X":  # no need to decode the value
            del ds[tag]
            counts["X"] += 1
            continue
        if action == "K" and vr != "SQ":
            if vr not in SWEPT_VRS:
                counts["K"] += 1
                if vr == "AS":
                    _map_strings(ds[tag], _cap_age)
                continue
            action = "sweep"  # kept text: scrubbed of the file's identifiers and contacts
        if action == "Z" and vr in DUMMY:  # a plain VR: no need to decode the value it replaces
            counts["Z"] += 1
            ds[tag] = DataElement(tag, vr, _zero(tag, vr, ctx))
            continue
        if action == "sweep" and _ascii_without_phi(elem.value, ctx):
            counts["K"] += 1  # checked on the stored bytes: no need to decode and re-encode it
            continue
        if action in ("C", "sweep") and vr in SWEPT_VRS:
            ctx.readings, ctx.item = phi.text_readings(ds, tag)[1:], ds
        _apply(ds, ds[tag], action, ctx)
        ctx.readings = []
    for group in drop_groups:
        for tag in [t for t in ds.keys() if t.group == group]:
            del ds[tag]
            counts["X"] += 1
        ctx.notes.add("overlay or curve data removed with its repeating group")
    if private:
        _private(ds, private, ctx)


def _ascii_without_phi(raw: object, ctx: _FileContext) -> bool:
    """The value ``raw`` is still undecoded ASCII without ISO 2022 escapes (so it reads the
    same in every character set) and holds no identifier and no contact."""
    if not isinstance(raw, bytes) or not raw.isascii() or b"\x1b" in raw:
        return False
    text = raw.decode("ascii")
    return not _kept_spans(text, ctx) and not ("\\" in text and ctx.identifiers.spans(text.replace("\\", "")))


def _kept_spans(text: str, ctx: _FileContext) -> list[tuple[int, int]]:
    """Spans of ``text`` to scrub from a value the profile keeps: the file's identifiers in
    every form, and e-mail addresses, phone numbers, SSNs, card numbers and IBANs
    (:mod:`govkit.deid.text.contacts`).  What was found is named in the file's notes."""
    found = ctx.identifiers.spans(text)
    shapes = contacts.spans(text)
    if found or shapes:
        kinds = (["the patient's identifiers"] if found else []) + contacts.kinds(shapes)
        ctx.found.update(kinds)
    return found + [(a, b) for a, b, _ in shapes]


@functools.lru_cache(maxsize=4096)
def _known(tag: BaseTag) -> bool:
    """The data dictionary knows ``tag`` (repeating groups included)."""
    from pydicom.datadict import get_entry

    try:
        get_entry(tag)
    except KeyError:
        return False
    return True


def _as_utf8(ds: Dataset) -> None:
    """Decode every value as declared, then declare UTF-8 for the whole dataset."""
    for _ in ds.iterall():
        pass
    ds.SpecificCharacterSet = "ISO_IR 192"


def _unlisted_action(ds: Dataset, tag: BaseTag, vr: str, ctx: _FileContext) -> str:
    cfg = ctx.cfg
    if vr == "PN":
        return "X"
    if vr == "UI":
        elem = ds[tag]
        values = elem.value if elem.VM > 1 else [elem.value]
        return "K" if all(str(v) in UID_dictionary for v in values if v) else "U"
    if vr in ("DA", "DT"):
        return {"full": "K", "modified": "C", "removed": "X"}[cfg.date_mode]
    if vr in TEXT_VRS:
        return "C" if ctx.structured else "sweep"
    if vr in SWEPT_VRS:
        return "sweep"
    return "K"


def _apply(ds: Dataset, elem: DataElement, action: str, ctx: _FileContext) -> None:
    counts = ctx.counts
    counts[action if action != "sweep" else "K"] += 1
    vr = elem.VR
    if action == "X":
        del ds[elem.tag]
    elif vr == "SQ":
        if action == "Z":
            elem.value = Sequence([])
        else:  # K, C, D, U: keep the items, de-identified recursively
            ctx.structured += action == "C"
            for item in elem.value or ():
                _walk(item, ctx)
            ctx.structured -= action == "C"
    elif action == "Z":
        elem.value = _zero(elem.tag, vr, ctx)
    elif action == "D":
        _dummy(elem, ctx)
    elif action == "U":
        _replace_uid(elem, ctx)
    elif action == "C":
        _clean(ds, elem, ctx)
    elif action == "sweep":
        _clean_text(elem, ctx, full=False)
    # "K": keep as is


def _zero(tag: int, vr: str, ctx: _FileContext) -> object:
    """The Z action's value: empty, or the pseudonym for Patient ID and Patient's Name."""
    if tag in (PATIENT_ID, PATIENT_NAME):
        return ctx.cfg.pseudonymizer.patient_id(ctx.patient_id)
    return None if vr not in DUMMY or isinstance(DUMMY[vr], (int, float)) else ""


def _dummy(elem: DataElement, ctx: _FileContext) -> None:
    if elem.tag in (PATIENT_ID, PATIENT_NAME):
        elem.value = ctx.cfg.pseudonymizer.patient_id(ctx.patient_id)
    elif elem.VR == "UI":
        _replace_uid(elem, ctx)
    elif elem.VR in DUMMY:
        elem.value = DUMMY[elem.VR]
    else:  # binary VRs (OB, OW, UN, ...): an even-length zero value
        elem.value = b"\x00\x00"


def _replace_uid(elem: DataElement, ctx: _FileContext) -> None:
    if elem.VR not in ("UI", "UN", "LO", "SH"):
        raise ValueError(f"U action on {elem.tag} with VR {elem.VR}")
    values = elem.value if elem.VM > 1 else [elem.value]
    mapped = [ctx.cfg.pseudonymizer.uid(str(v)) if v else v for v in values]
    elem.value = mapped if elem.VM > 1 else mapped[0]


def _map_strings(elem: DataElement, fn) -> None:
    if elem.value in (None, ""):
        return
    if elem.VM > 1:
        elem.value = [fn(str(v)) for v in elem.value]
    else:
        elem.value = fn(str(elem.value))


def _clean(ds: Dataset, elem: DataElement, ctx: _FileContext) -> None:
    vr = elem.VR
    if vr == "DA":
        if ctx.cfg.date_mode == "modified":
            _map_strings(elem, lambda v: shift_date(v, ctx.shift))
    elif vr == "DT":
        if ctx.cfg.date_mode == "modified":
            _map_strings(elem, lambda v: shift_datetime(v, ctx.shift))
    elif vr == "TM":
        pass  # times of day are kept; the date they belong to is shifted
    elif vr in TEXT_VRS:
        _clean_text(elem, ctx, full=True)
    elif vr == "PN":
        elem.value = DUMMY_TEXT
    elif vr == "AS":
        _map_strings(elem, _cap_age)
    elif vr == "UI":
        _replace_uid(elem, ctx)
    elif vr in ("OB", "OW", "OF", "UN"):
        del ds[elem.tag]  # binary content cannot be cleaned here: removing it is the safe clean
        ctx.notes.add(f"{elem.tag} binary value removed by the clean action")
    elif vr in SWEPT_VRS:
        _clean_text(elem, ctx, full=False)


def _cap_age(value: str) -> str:
    """HIPAA Safe Harbor: ages over 89 years (in any AS unit) are aggregated to 90."""
    v = value.strip()
    if len(v) == 4 and v[:3].isdigit() and v[3] in _AGE_UNIT_DAYS:
        if int(v[:3]) * _AGE_UNIT_DAYS[v[3]] / _AGE_UNIT_DAYS["Y"] > MAX_AGE_YEARS:
            return "090Y"
    return v


def _clean_text(elem: DataElement, ctx: _FileContext, full: bool) -> None:
    """Clean a text value: the full cleaner (``full``) or the file's identifiers only.

    Every reading of the stored bytes is matched; a value that holds PHI only
    in another reading is replaced by that reading, cleaned.
    """
    if elem.value in (None, ""):
        return
    from govkit.deid.text.cleaner import redact_spans

    vr, ids = elem.VR, ctx.identifiers
    limit = MAX_LEN.get(vr)
    ctx.found = set()

    def phi_spans(v: str) -> list[tuple[int, int]]:
        return _kept_spans(v, ctx)

    def clean(v: str) -> str:
        if full and vr not in CODE_VRS:
            return ctx.cfg.cleaner.clean(v, phi_spans)[:limit]
        spans = phi_spans(v)
        if not spans:
            return v
        ctx.counts["C"] += 1
        return "" if vr in CODE_VRS else redact_spans(v, spans)

    _map_strings(elem, clean)
    if elem.VM > 1 and ids.spans(joined := "".join(map(str, elem.value))):
        elem.value = clean(joined)  # a value split over several (``KAUF\\MAN``)
    for reading in ctx.readings if ctx.readings and _unsafe_when_written(elem, ctx) else ():
        if any(phi_spans(v) for v in reading):
            cleaned = [clean(v) for v in reading]
            elem.value = cleaned if len(cleaned) > 1 else cleaned[0]
            ctx.utf8 = True
            break
    if ctx.found and not full:
        ctx.notes.add(f"{elem.keyword or elem.tag}: {', '.join(sorted(ctx.found))} removed from a kept value")


def _unsafe_when_written(elem: DataElement, ctx: _FileContext) -> bool:
    """The cleaned value, written in the item's character set, still holds PHI in another
    reading of its bytes (or cannot be written so): then another reading of the source
    bytes is cleaned and kept instead.  A cleaned ``née le ***`` stays as it is."""
    values = [str(v) for v in (elem.value if elem.VM > 1 else [elem.value])]
    try:
        readings = phi.written_readings(ctx.item, values)
    except (UnicodeError, LookupError):
        return True
    return any(ctx.identifiers.spans(v) or contacts.spans(v) for reading in readings for v in reading)


def kept_private(ds: Dataset) -> set[BaseTag]:
    """The private attributes of ``ds`` (this level) on the safe list, and the
    creator elements of their blocks: what ``retain-safe-private`` keeps."""
    safe = safe_private()
    keep: set[BaseTag] = set()
    for tag in ds.keys():
        if not tag.is_private or tag.element <= 0xFF:
            continue  # creator elements are kept when their block survives
        creator_tag = Tag(tag.group, tag.element >> 8)
        if creator_tag in ds and (tag.group, str(ds[creator_tag].value).strip(), tag.element & 0xFF) in safe:
            keep |= {tag, creator_tag}
    return keep


def _private(ds: Dataset, tags: list[BaseTag], ctx: _FileContext) -> None:
    """Private attributes: X, or with ``retain-safe-private`` keep the safe ones (PS3.15 E.3.10),
    each decoded with its safe-list VR and checked (:func:`_check_safe`); a creator element
    whose block keeps nothing goes too."""
    keep = kept_private(ds) if "retain-safe-private" in ctx.cfg.options else set()
    for tag in tags:
        if tag in keep and (tag.element <= 0xFF or _check_safe(ds, tag, ctx)):
            continue
        del ds[tag]
        ctx.counts["X"] += 1
    if keep:
        for tag in keep - kept_private(ds):
            if tag in ds:  # a creator whose block keeps nothing
                del ds[tag]
                ctx.counts["X"] += 1
    ctx.counts["K"] += len(keep & set(ds.keys()))


def _check_safe(ds: Dataset, tag: BaseTag, ctx: _FileContext) -> bool:
    """Decode a safe-listed private value with the list's VR, whatever VR it is stored with
    (UN, OB, a text VR), and write it back with that VR.  False (and a note) when it does
    not parse as that VR, when a binary value reads as text, or when its text holds one
    of the file's identifiers, a contact (:mod:`govkit.deid.text.contacts`) or what the
    text cleaner calls an e-mail address, phone, SSN, IBAN or card number: the caller
    removes it (fail closed)."""
    vr, value, text = safe_value(ds, tag)
    if value is None:
        ctx.notes.add(f"private {tag} removed: its value does not parse as {vr}, the VR of the safe list")
        return False
    if vr == "SQ":
        for item in value:
            _walk(item, ctx)
        return True
    if text is not None:
        if (
            ctx.identifiers.spans(text)
            or contacts.spans(text)
            or any(s.entity in contacts.DIRECT_ENTITIES for s in ctx.cfg.cleaner.find(text))
        ):
            ctx.notes.add(f"private {tag} removed: its value holds an identifier or a contact")
            return False
    ds[tag] = DataElement(tag, vr, value)
    return True


def safe_value(ds: Dataset, tag: BaseTag) -> tuple[str, Any, str | None]:
    """(VR on the safe list, the value decoded with that VR or None when it does not parse
    as that VR (PS3.5 6.2), the text to check for PHI or None for a binary VR) of a
    safe-listed private element, whatever VR it is stored with.  The run keeps what this
    decodes; ``deid verify`` flags a kept value that it does not."""
    creator = str(ds[Tag(tag.group, tag.element >> 8)].value).strip()
    vr = safe_private()[(tag.group, creator, tag.element & 0xFF)]
    if vr == "SQ":
        return vr, (ds[tag].value if element_vr(ds, tag) == "SQ" else None), None
    little = ds.original_encoding[1] is not False
    data = _stored_bytes(ds, tag, little)
    value, text = _parse_as(data, vr, little) if data is not None else (None, None)
    return vr, value, text


def _stored_bytes(ds: Dataset, tag: BaseTag, little: bool) -> bytes | None:
    """The value's bytes as stored (text values pydicom already decoded: as ASCII)."""
    raw = ds.get_item(tag)
    value = raw.value
    if value is None or isinstance(value, bytes):
        return value or b""
    elem = ds[tag]
    values = list(elem.value) if elem.VM > 1 else [elem.value]
    if elem.VR in SAFE_BINARY_VRS:
        fmt = SAFE_BINARY_VRS[elem.VR]
        return struct.pack(f"{'<' if little else '>'}{len(values)}{fmt}", *values)
    try:
        return "\\".join(str(v) for v in values).encode("ascii")
    except UnicodeEncodeError:
        return None


def _parse_as(data: bytes, vr: str, little: bool) -> tuple[Any, str | None]:
    """(value for a DataElement of ``vr``, its text to check) or (None, None) when ``data``
    is not a valid ``vr`` value (PS3.5 6.2)."""
    if vr in SAFE_BINARY_VRS:
        fmt = SAFE_BINARY_VRS[vr]
        size = struct.calcsize(fmt)
        if not data or len(data) % size:
            return None, None
        text = data.rstrip(b"\x00 ").decode("latin-1")
        if len(text) >= 4 and text.isprintable():  # text stored in a binary VR
            return None, None
        values = list(struct.unpack(f"{'<' if little else '>'}{len(data) // size}{fmt}", data))
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            return None, None
        return (values if len(values) > 1 else values[0]), None
    if not data.isascii():
        return None, None
    text = data.decode("ascii").rstrip("\x00 ")
    parts = text.split("\\")
    if not text or not all(SAFE_TEXT_VRS[vr].fullmatch(p) for p in parts):
        return None, None
    if vr == "DS" and any(len(p) > 16 for p in parts):
        return None, None
    if vr == "IS" and not all(_IS_RANGE[0] <= int(p) <= _IS_RANGE[1] for p in parts):
        return None, None
    parts = [p.strip() for p in parts]
    return (parts if len(parts) > 1 else parts[0]), text


def method_codes(options: frozenset[str]) -> list[tuple[str, str]]:
    """(code value, code meaning) for CID 7050: 113100 plus one per option."""
    from pydicom.sr.codedict import codes

    out = [(BASIC_PROFILE_CODE[0], getattr(codes.DCM, BASIC_PROFILE_CODE[1]).meaning)]
    for name in sorted(options, key=lambda o: OPTIONS[o][1]):
        code = getattr(codes.DCM, OPTIONS[name][2])
        out.append((code.value, code.meaning))
    return out


def options_from_codes(ds: Dataset) -> frozenset[str]:
    """The options recorded in an output's De-identification Method Code Sequence."""
    by_code = {v[1]: name for name, v in OPTIONS.items()}
    return frozenset(
        by_code[item.CodeValue]
        for item in ds.get("DeidentificationMethodCodeSequence", [])
        if getattr(item, "CodeValue", None) in by_code
    )


def _mark(ds: Dataset, ctx: _FileContext) -> None:
    """PS3.15 E.1.1 conformance marking."""
    options = ctx.cfg.options - {"clean-pixel-data"}  # added only after pixels are cleaned
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = [
        f"govkit {__version__}",
        f"PS3.15 E.1-1 {ctx.cfg.profile.revision} Basic Profile",
        *sorted(options),
    ]
    ds.DeidentificationMethodCodeSequence = Sequence([_code_item(v, m) for v, m in method_codes(options)])
    ds.LongitudinalTemporalInformationModified = {"full": "UNMODIFIED", "modified": "MODIFIED", "removed": "REMOVED"}[
        ctx.cfg.date_mode
    ]


def _code_item(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


def add_method_code(ds: Dataset, option: str) -> None:
    """Record an option applied after the header pass (e.g. clean-pixel-data)."""
    ((value, meaning),) = [c for c in method_codes(frozenset({option})) if c[0] == OPTIONS[option][1]]
    if "DeidentificationMethodCodeSequence" not in ds:
        ds.DeidentificationMethodCodeSequence = []
    ds.DeidentificationMethodCodeSequence.append(_code_item(value, meaning))
    existing = ds.get("DeidentificationMethod", [])
    ds.DeidentificationMethod = [*([existing] if isinstance(existing, str) else existing), option]

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
* everything else is kept, but free text (LO, SH, ST, LT, UT, UC) is swept
  for the file's own header values in every format (:mod:`govkit.deid.text.identifiers`).

The ``C`` (clean) action: text is cleaned by :class:`govkit.deid.text.cleaner.TextCleaner`;
dates are shifted by the keyed per-patient offset; ages above 89 become
``090Y`` (HIPAA Safe Harbor); names become the dummy; sequences are
descended into; overlay and curve data, which need the pixel cleaner, are
removed together with their whole repeating group.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field

import pydicom
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
from govkit.deid.text import identifiers as phi
from govkit.deid.text.cleaner import TextCleaner

DUMMY_TEXT = "ANONYMIZED"
#: Dummy values for the D action, by VR (consistent with the VR, PS3.15 Table E.1-1a).
DUMMY: dict[str, object] = {
    "AE": DUMMY_TEXT, "AS": "000Y", "CS": DUMMY_TEXT, "DA": "19000101", "DS": "0",
    "DT": "19000101000000.000000", "IS": "0", "LO": DUMMY_TEXT, "LT": DUMMY_TEXT,
    "PN": DUMMY_TEXT, "SH": DUMMY_TEXT, "ST": DUMMY_TEXT, "TM": "000000.00",
    "UC": DUMMY_TEXT, "UR": "http://anonymized.invalid/", "UT": DUMMY_TEXT, "FL": 0.0, "FD": 0.0, "SL": 0,
    "SS": 0, "UL": 0, "US": 0, "SV": 0, "UV": 0, "AT": 0,
}
TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
MAX_LEN = {"SH": 16, "LO": 64, "ST": 1024, "LT": 10240, "UC": None, "UT": None, "CS": 16, "AE": 16}
FILE_META_REMOVE = (0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102)
PATIENT_ID = 0x00100020
PATIENT_NAME = 0x00100010
SOP_CLASS = 0x00080016
OVERLAY_DATA = 0x60003000
DATE_OPTIONS = ("retain-longitudinal-full-dates", "retain-longitudinal-modified-dates")


@functools.lru_cache(maxsize=1)
def _safe_private() -> frozenset[tuple[int, str, int]]:
    import yaml

    from govkit.resources import resource_dir

    doc = yaml.safe_load((resource_dir("policies") / "deid" / "safe-private.yaml").read_text())
    return frozenset(
        (int(e["group"], 16), e["creator"].strip(), int(e["element"], 16)) for e in doc["safe"]
    )


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
        )
        self._deny = None
        self.counts: Counter[str] = Counter()
        self.notes: set[str] = set()

    @property
    def deny(self):
        if self._deny is None:
            self._deny = self.identifiers.text_pattern() or False
        return self._deny or None


def deidentify(ds: Dataset, cfg: DeidConfig) -> tuple[Counter[str], set[str]]:
    """De-identify ``ds`` in place; return (counts per action, notes).

    Raises on anything that cannot be handled safely; the caller then writes
    nothing for this file.
    """
    ctx = _FileContext(ds, cfg)
    _walk(ds, ctx)
    _mark(ds, ctx)
    if getattr(ds, "file_meta", None) is not None:
        _clean_file_meta(ds, ctx)
    return ctx.counts, ctx.notes


def _walk(ds: Dataset, ctx: _FileContext) -> None:
    drop_groups: set[int] = set()
    private: list[BaseTag] = []
    counts = ctx.counts
    for tag in list(ds.keys()):
        if tag.is_private:
            private.append(tag)
            continue
        if tag.element == 0:  # group length
            del ds[tag]
            counts["X"] += 1
            continue
        action = ctx.cfg.action_for(tag)
        vr = None
        if action is None:
            vr = element_vr(ds, tag)
            action = _unlisted_action(ds, tag, vr, ctx.cfg)
        else:
            action = resolve_type_dependent(action, tag, ctx.sop_class)
        if 0x5000 <= tag.group <= 0x60FF and action in ("X", "C") and (
            tag.group < 0x6000 or tag & 0xFF00FFFF == OVERLAY_DATA
        ):
            drop_groups.add(tag.group)  # overlay/curve: drop the whole repeating group
        if action == "X":  # no need to decode the value
            del ds[tag]
            counts["X"] += 1
            continue
        if action == "K" and (vr or element_vr(ds, tag)) != "SQ":
            counts["K"] += 1
            continue
        _apply(ds, ds[tag], action, ctx)
    for group in drop_groups:
        for tag in [t for t in ds.keys() if t.group == group]:
            del ds[tag]
            counts["X"] += 1
        ctx.notes.add("overlay or curve data removed with its repeating group")
    if private:
        _private(ds, private, ctx)


def _unlisted_action(ds: Dataset, tag: BaseTag, vr: str, cfg: DeidConfig) -> str:
    if vr == "PN":
        return "X"
    if vr == "UI":
        elem = ds[tag]
        values = elem.value if elem.VM > 1 else [elem.value]
        return "K" if all(str(v) in UID_dictionary for v in values if v) else "U"
    if vr in ("DA", "DT"):
        return {"full": "K", "modified": "C", "removed": "X"}[cfg.date_mode]
    if vr in TEXT_VRS:
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
            for item in elem.value or ():
                _walk(item, ctx)
    elif action == "Z":
        if elem.tag in (PATIENT_ID, PATIENT_NAME):
            elem.value = ctx.cfg.pseudonymizer.patient_id(ctx.patient_id)
        else:
            elem.value = None if vr not in DUMMY or isinstance(DUMMY[vr], (int, float)) else ""
    elif action == "D":
        _dummy(elem, ctx)
    elif action == "U":
        _replace_uid(elem, ctx)
    elif action == "C":
        _clean(ds, elem, ctx)
    elif action == "sweep":
        _sweep(elem, ctx)
    # "K": keep as is


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
        limit = MAX_LEN.get(vr)
        _map_strings(elem, lambda v: ctx.cfg.cleaner.clean(v, ctx.deny)[:limit])
    elif vr == "PN":
        elem.value = DUMMY_TEXT
    elif vr == "AS":
        _map_strings(elem, _cap_age)
    elif vr == "UI":
        _replace_uid(elem, ctx)
    elif vr in ("OB", "OW", "OF", "UN"):
        del ds[elem.tag]  # binary content cannot be cleaned here: removing it is the safe clean
        ctx.notes.add(f"{elem.tag} binary value removed by the clean action")
    elif vr in ("CS", "AE", "UR"):
        _sweep(elem, ctx)


def _cap_age(value: str) -> str:
    """HIPAA Safe Harbor: ages over 89 are aggregated to 90."""
    v = value.strip()
    if len(v) == 4 and v[:3].isdigit() and v[3] == "Y" and int(v[:3]) > 89:
        return "090Y"
    return v


def _sweep(elem: DataElement, ctx: _FileContext) -> None:
    deny = ctx.deny
    if deny is None or elem.value in (None, ""):
        return
    from govkit.deid.text.cleaner import redact_spans

    def sweep(v: str) -> str:
        spans = [(m.start(), m.end()) for m in deny.finditer(v)]
        if spans:
            ctx.counts["C"] += 1
        return redact_spans(v, spans)

    _map_strings(elem, sweep)


def _private(ds: Dataset, tags: list[BaseTag], ctx: _FileContext) -> None:
    """Private attributes: X, or with ``retain-safe-private`` keep the safe ones."""
    keep: set[BaseTag] = set()
    if "retain-safe-private" in ctx.cfg.options:
        safe = _safe_private()
        for tag in tags:
            if 0x10 <= tag.element <= 0xFF:
                continue  # creator elements are kept below when their block survives
            creator_tag = Tag(tag.group, tag.element >> 8)
            creator = ds.get(creator_tag)
            if creator is not None and (tag.group, str(creator.value).strip(), tag.element & 0xFF) in safe:
                keep |= {tag, creator_tag}
    for tag in tags:
        if tag in keep:
            ctx.counts["K"] += 1
            if ds[tag].VR == "SQ":
                for item in ds[tag].value:
                    _walk(item, ctx)
        else:
            del ds[tag]
            ctx.counts["X"] += 1


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
    ds.LongitudinalTemporalInformationModified = {
        "full": "UNMODIFIED", "modified": "MODIFIED", "removed": "REMOVED"
    }[ctx.cfg.date_mode]


def _code_item(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


def add_method_code(ds: Dataset, option: str) -> None:
    """Record an option applied after the header pass (e.g. clean-pixel-data)."""
    (value, meaning), = [c for c in method_codes(frozenset({option})) if c[0] == OPTIONS[option][1]]
    if "DeidentificationMethodCodeSequence" not in ds:
        ds.DeidentificationMethodCodeSequence = []
    ds.DeidentificationMethodCodeSequence.append(_code_item(value, meaning))
    existing = ds.get("DeidentificationMethod", [])
    ds.DeidentificationMethod = [*([existing] if isinstance(existing, str) else existing), option]


def _clean_file_meta(ds: Dataset, ctx: _FileContext) -> None:
    meta = ds.file_meta
    for tag in FILE_META_REMOVE:
        if tag in meta:
            del meta[tag]
            ctx.counts["X"] += 1
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ctx.counts["U"] += 1
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"GOVKIT_{__version__}"[:16]

"""Check de-identified output against its source (``govkit deid verify``).

Verify decides whether a dataset may leave the hospital, so it does not
trust the run: it re-reads every output from its bytes and checks it against
the paired source file.  Four checks, each producing :class:`Finding` records
that say *where* (an element path such as ``ContentSequence[0].TextValue``,
``preamble``, ``file meta``, ``pixel data``):

(a) **profile** — every attribute of the output, at any depth, is allowed by
    PS3.15 Table E.1-1 under the options of the run that wrote it, as the run's
    own record says (the registry row of the run whose manifest in
    ``DST/.govkit`` names the output; never the output's word about itself): an
    output whose De-identification Method Code Sequence declares an option that
    run did not use is a finding.  With no run record, the options the user
    states (``--option``) are used, else none (the strictest reading).  Nothing
    the profile removes (X) is present, whatever its value; nothing it empties
    (Z) holds a value; D and U attributes do not hold their source value; no
    private attribute outside the safe list, and no safe-listed one whose
    value does not parse as its listed VR; no unknown public attribute, no age
    over 89 years;
(b) **bytes** — the paired source's identifiers (every name group and form,
    IDs, dates in every format, institutions; :mod:`govkit.deid.text.identifiers`)
    are searched in the output's raw bytes read in every character set a
    DICOM file can use (plus UTF-16), after the same folding (NFKC +
    casefold), element by element, and in the decoded text of every element.
    Inside the pixel data and other large binary values only forms of six or
    more characters count (shorter ones occur there by chance) and are
    reported as ``pixel data``, never as a header finding;
(c) **text** — Presidio's NER on every retained free-text value at any depth
    (SR TextValue included): all entities where the profile cleaned the value
    (action C, or inside cleaned structured content); elsewhere contacts and
    ID numbers (:data:`DIRECT_ENTITIES`), and people's names in SR content.
    Other retained values are attributes the standard deems non-identifying
    (device and coding-scheme names, which spaCy's small model calls people):
    they are not checked for names by NER, but the source's own names are
    found in them by check (b);
(d) **pixels** — the output's pixels are rendered and read with OCR; a word
    matching a header value of the source fails the check.

An output that cannot be read is a finding of its own (``unreadable``); the
batch goes on.  So is a source that cannot be read as strictly as ``deid run``
reads it (:mod:`govkit.deid.refusals`: an element twice, a damaged structure):
no output can be checked against it.  Only ``DST/.govkit``, the run's own
folder, is not an output; no DICOM file may be in it, and its text files
(manifests, locks) must hold none of the paired sources' identifiers.  A
``.govkit`` folder deeper in DST is checked like any other content.  A
finding can be accepted as a false positive only with a reason and a signer
(:class:`Acceptance`); ``govkit deid verify --accept`` records each
acceptance in the audit chain.

Outputs are paired with sources through the key: the expected output path of
a source is ``<pseudonymised PatientID>/<study>/<series>/<sop>.dcm``.
Findings never print a PHI value: they show its kind, where it is and a
masked preview.
"""

from __future__ import annotations

import bisect
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from govkit.deid.batch.outputs import PATH_UIDS, output_relpath
from govkit.deid.dicomio import check_pixel_data, element_vr, give_keyed_uids, load, sniff
from govkit.deid.files import MANIFEST_DIR, discover, printable, read_source
from govkit.deid.refusals import Refusal
from govkit.deid.text import identifiers as phi
from govkit.deid.text.contacts import DIRECT_ENTITIES  # NER entities that identify on their own
from govkit.errors import BadInput
from govkit.progress import Progress, silent

TEXT_CHECK_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
PIXEL_MIN_LEN = 6
#: Actions after which a value is govkit's (a dummy, a pseudonym), not retained text.
REPLACED = frozenset({"X", "Z", "D", "U"})
#: The de-identification marking govkit writes (PS3.15 E.1.1): DeidentificationMethod.
MARKING = frozenset({0x00120063})
#: Binary values longer than this are searched like pixel data (long forms only).
LARGE_BINARY = 256
#: Every character set a DICOM file can declare (PS3.3 C.12.1.1.2) as Python codecs, and UTF-16.
CODECS = (
    "latin-1",
    "utf-8",
    "iso8859_2",
    "iso8859_3",
    "iso8859_4",
    "iso8859_5",
    "iso8859_6",
    "iso8859_7",
    "iso8859_8",
    "iso8859_9",
    "tis-620",
    "shift_jis",
    "euc_jp",
    "iso2022_jp",
    "iso2022_jp_2",
    "euc_kr",
    "gb18030",
    "utf-16-le",
    "utf-16-be",
)
MAX_AGE_YEARS = 89
_UNIT_DAYS = {"D": 1, "W": 7, "M": 30.4375, "Y": 365.25}


@dataclass
class Finding:
    check: str  # profile | bytes | text | pixels | unreadable
    output: str
    where: str  # element path, "preamble", "file meta", "pixel data", "file"
    detail: str
    tag: str | None = None
    id: str = ""  # keyed, stable: what an acceptance names


@dataclass(frozen=True)
class Acceptance:
    """A finding accepted as a false positive, with why and by whom."""

    finding: str
    reason: str
    signer: str


@dataclass
class VerifyReport:
    n_sources: int = 0
    n_outputs: int = 0
    n_paired: int = 0
    findings: list[Finding] = field(default_factory=list)
    accepted: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def n_accepted(self) -> int:
        return len(self.accepted)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "n_accepted": self.n_accepted}


def mask(value: str) -> str:
    """``Kaufman`` -> ``K…n (7 chars)``: enough to locate, not to read."""
    v = str(value)
    if len(v) <= 2:
        return f"{'*' * len(v)} ({len(v)} chars)"
    return f"{v[0]}…{v[-1]} ({len(v)} chars)"


def load_acceptances(path: Path) -> list[Acceptance]:
    """Acceptances from a YAML list of ``{finding, reason, signer}``; exit 2 when one lacks a part."""
    from govkit.yamlio import load_file, strip_lines

    doc = strip_lines(load_file(path, "acceptance file"))
    if not isinstance(doc, list):
        raise BadInput(f"{path}: expected a list of {{finding, reason, signer}} entries")
    out = []
    for i, entry in enumerate(doc, 1):
        if not isinstance(entry, dict):
            raise BadInput(f"{path}: entry {i} is not a mapping with finding, reason and signer")
        missing = [k for k in ("finding", "reason", "signer") if not str(entry.get(k) or "").strip()]
        if missing:
            raise BadInput(
                f"{path}: entry {i} has no {' and no '.join(missing)}: an accepted false "
                "positive needs the finding, a reason and a signer"
            )
        out.append(
            Acceptance(str(entry["finding"]).strip(), str(entry["reason"]).strip(), str(entry["signer"]).strip())
        )
    return out


# ---- (a) profile -------------------------------------------------------------------------------
def _elements(ds: Dataset, path: str = "") -> Iterator[tuple[Any, str, str, Dataset]]:
    """(tag, path, vr, dataset holding it) for every element at every depth, private included.
    Values are not decoded here, so the bytes check still sees the stored bytes."""
    from pydicom.datadict import keyword_for_tag

    for tag in list(ds.keys()):
        vr = element_vr(ds, tag)
        name = (not tag.is_private and keyword_for_tag(tag)) or str(tag)
        yield tag, f"{path}{name}", vr, ds
        if vr == "SQ":
            for i, item in enumerate(ds[tag].value or ()):
                yield from _elements(item, f"{path}{name}[{i}].")


def _source_values(src: Dataset) -> dict[int, set[str]]:
    values: dict[int, set[str]] = {}
    for tag, _path, vr, ds in _elements(src):
        if vr != "SQ" and not tag.is_private:
            values.setdefault(int(tag), set()).update(_strings(ds, tag))
    return values


def _strings(ds: Dataset, tag: int) -> list[str]:
    elem = ds[tag]
    if elem.value in (None, "", b"") or isinstance(elem.value, bytes):
        return []
    return [str(v).strip() for v in (elem.value if elem.VM > 1 else [elem.value])]


def _age_years(value: str) -> float | None:
    v = value.strip()
    if len(v) == 4 and v[:3].isdigit() and v[3] in _UNIT_DAYS:
        return int(v[:3]) * _UNIT_DAYS[v[3]] / 365.25
    return None


def _profile_check(src: Dataset | None, out: Dataset, options: frozenset[str], pseudo, rel: str) -> list[Finding]:
    from pydicom.datadict import get_entry

    from govkit.deid.header.engine import DUMMY, DeidConfig, kept_private, safe_value
    from govkit.deid.header.profile import resolve_type_dependent

    cfg = DeidConfig(options, pseudo)
    sop = str(out.get("SOPClassUID", "") or "")
    original = _source_values(src) if src is not None else {}
    pseudonym = pseudo.patient_id(str(src.get("PatientID", "") or "")) if src is not None else None
    keep_safe = "retain-safe-private" in options
    found = []

    def flag(path: str, tag, why: str) -> None:
        found.append(Finding("profile", rel, path, f"{path}: {why}", str(tag)))

    for tag, path, vr, ds in _elements(out):
        values = _strings(ds, tag)
        if tag.is_private:
            if not keep_safe or tag not in kept_private(ds):
                flag(
                    path,
                    tag,
                    "private attribute present; only safe private attributes may be kept (retain-safe-private)",
                )
            elif tag.element > 0xFF and (listed := safe_value(ds, tag))[1] is None:
                flag(path, tag, f"safe private attribute whose value is not a valid {listed[0]}, its safe-list VR")
            continue
        if tag.element == 0:
            continue  # group lengths carry no value of their own
        action = cfg.action_for(tag)
        if action is None:
            try:
                get_entry(tag)
            except KeyError:
                flag(path, tag, "unknown public attribute present; the run removes them")
                continue
            action = "X" if vr == "PN" else None
        else:
            action = resolve_type_dependent(action, tag, sop)
        if vr == "AS" and any(v != "090Y" and (_age_years(v) or 0) > MAX_AGE_YEARS for v in values):
            flag(path, tag, f"age over {MAX_AGE_YEARS} years; HIPAA Safe Harbor aggregates it to 090Y")
        if action == "X":
            flag(path, tag, "present although the profile removes it")
        elif action == "Z" and vr != "SQ":
            allowed = {pseudonym} if int(tag) in (0x00100010, 0x00100020) else set()
            if any(v and v not in allowed for v in values):
                flag(path, tag, "holds a value although the profile empties it")
        elif action == "Z" and vr == "SQ" and ds[tag].value:
            flag(path, tag, "holds items although the profile empties it")
        elif action in ("D", "U") and vr != "SQ":
            dummies = {str(DUMMY.get(vr, "")), "ANONYMIZED"}
            for v in sorted(set(values) & original.get(int(tag), set()) - dummies):
                flag(path, tag, f"still holds its original value {mask(v)}")
    return found


# ---- (b) bytes ---------------------------------------------------------------------------------
@dataclass
class _Haystack:
    """Folded readings of many places, searched in one pass; offsets map back to places."""

    parts: list[str] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    size: int = 0

    def add(self, place: str, text: str) -> None:
        if not text:
            return
        self.starts.append(self.size)
        self.places.append(place)
        self.parts.append(text)
        self.size += len(text) + 1  # joined by NUL, which no pattern crosses

    def search(self, pattern) -> Iterator[tuple[str, str]]:
        text = "\x00".join(self.parts)
        for m in pattern.finditer(text):
            i = bisect.bisect_right(self.starts, m.start()) - 1
            yield self.places[i], m.group(0)


def _readings(raw: bytes, codecs: tuple[str, ...]) -> str:
    if raw.isascii() and b"\x00" not in raw and b"\x1b" not in raw:  # one reading fits every codec
        return phi.fold(raw.decode("ascii"))
    return phi.raw_readings(raw, codecs)


def _binary_readings(raw: bytes) -> str:
    """Readings of a large binary value, lower-cased only: full Unicode folding of
    every byte of the pixel data would cost more than the rest of verify together."""
    readings = [raw.decode("latin-1"), raw.decode("utf-8", "replace")]
    for codec in ("utf-16-le", "utf-16-be"):
        readings += [raw.decode(codec, "replace"), raw[1:].decode(codec, "replace")]
    return "\x00".join(readings).lower()


def _raw_value(ds: Dataset, tag: int) -> bytes | None:
    value = ds.get_item(tag).value
    return value if isinstance(value, bytes) else None


def _bytes_check(data: bytes, out: Dataset, ids: phi.Identifiers, rel: str) -> list[Finding]:
    header, binary = _Haystack(), _Haystack()
    header.add("preamble", _readings(data[:128], CODECS))
    meta_end = _meta_end(data)
    header.add("file meta", _readings(data[132:meta_end], CODECS))
    for elem in out.file_meta:
        header.add(f"file meta {elem.keyword or elem.tag}", phi.fold(str(elem.value)))
    for tag, path, vr, ds in _elements(out):
        if vr == "SQ":
            continue
        raw = _raw_value(ds, tag)
        if raw is not None and ((len(raw) > LARGE_BINARY and vr not in phi.TEXT_VRS) or int(tag) == 0x7FE00010):
            binary.add("pixel data" if int(tag) == 0x7FE00010 else path, _binary_readings(raw))
            continue
        if raw is not None:
            header.add(path, _readings(raw, CODECS))
        if vr in phi.TEXT_VRS:
            text = " \\ ".join(_strings(ds, tag))
            header.add(path, phi.fold(text))
            if "\\" in text:  # a value split by a backslash (``KAUF\\MAN``): joined
                header.add(path, phi.fold("".join(_strings(ds, tag)).replace("\\", "")))
    found: dict[tuple[str, str], Finding] = {}
    pattern = ids.text_pattern()
    long_pattern = phi.bare_pattern(frozenset(ids.long_strings(PIXEL_MIN_LEN)))
    hits = list(header.search(pattern)) if pattern is not None else []
    if long_pattern is not None:
        hits += binary.search(long_pattern)
    for place, text in hits:
        key = (place, text)
        if key not in found:
            found[key] = Finding("bytes", rel, place, f"{place}: a header value of the source {mask(text)}")
    if not found and pattern is not None:  # anything outside the elements (trailing data, delimiters)
        rest = _Haystack()
        pixels = _raw_value(out, 0x7FE00010) if 0x7FE00010 in out else None
        start = data.rfind(pixels[:4096]) if pixels else -1
        outside = data[:start] + data[start + len(pixels) :] if pixels and start >= 0 else data
        rest.add("file", _binary_readings(outside))
        for place, text in rest.search(long_pattern or pattern):
            found.setdefault(
                (place, text), Finding("bytes", rel, place, f"bytes outside any element hold {mask(text)}")
            )
    return list(found.values())


def _meta_end(data: bytes) -> int:
    """End of the File Meta group (its group length), or the end of the data."""
    if data[132:136] == b"\x02\x00\x00\x00" and len(data) >= 144:
        return 144 + int.from_bytes(data[140:144], "little")
    return min(len(data), 132)


# ---- (c) text ----------------------------------------------------------------------------------
def _text_check(out: Dataset, cfg, cleaner, rel: str) -> list[Finding]:
    """NER on every retained free-text value; all entities where the profile cleaned it."""
    from govkit.deid.header.profile import resolve_type_dependent
    from govkit.deid.text.cleaner import NAME_LIKE

    found = []
    sop = str(out.get("SOPClassUID", "") or "")

    def walk(ds: Dataset, path: str, cleaned: bool) -> None:
        for tag in list(ds.keys()):
            vr = element_vr(ds, tag)
            elem = ds[tag]
            name = f"{path}{elem.keyword or tag}"
            action = cfg.action_for(tag) if not tag.is_private else None
            if action is not None:
                action = resolve_type_dependent(action, tag, sop)
            if vr == "SQ":
                for i, item in enumerate(elem.value or ()):
                    walk(item, f"{name}[{i}].", cleaned or action == "C")
                continue
            if action in REPLACED or int(tag) in MARKING:
                continue  # values the run wrote itself (dummies, pseudonyms, its own marking)
            values = _strings(ds, tag) if vr in TEXT_CHECK_VRS else _private_text(ds, tag)
            everything = cleaned or action == "C"
            entities = DIRECT_ENTITIES | {"PERSON"} if "ContentSequence" in path else DIRECT_ENTITIES
            for v in values:
                for span in cleaner.find(v):
                    if span.entity in NAME_LIKE and _not_a_name(v[span.start : span.end]):
                        continue
                    if everything or span.entity in entities:
                        found.append(
                            Finding(
                                "text",
                                rel,
                                name,
                                f"{name}: {span.entity} {mask(v[span.start : span.end])} (score {span.score:.2f})",
                                str(tag),
                            )
                        )

    walk(out, "", False)
    return found


def _private_text(ds: Dataset, tag) -> list[str]:
    """A kept private value of any VR (UN, OB ...) read as text where its bytes are printable."""
    if not (tag.is_private and tag.element > 0xFF):
        return []
    value = ds[tag].value
    if not isinstance(value, bytes):
        return _strings(ds, tag)  # written back in another VR (a UN value read as IS)
    text = value.decode("latin-1").strip("\x00 ")
    return [text] if text and text.isprintable() else []


def _not_a_name(text: str) -> bool:
    """Too short to name anyone ("HU"), or only words of the DICOM dictionary ("Manufacturer"):
    spaCy's small model tags such words as people; the run does not match them either."""
    words = [w for w in re.split(r"[^\w]+", phi.fold(text)) if w]
    vocabulary = phi.dicom_vocabulary()
    return sum(len(w) for w in words) < phi.MIN_TOKEN or all(w in vocabulary for w in words)


def expected_outputs(ds: Dataset, pseudo, keyed_sop: bool = False) -> list[str]:
    """Where a source's output lies: pseudonymised UIDs, or kept ones (retain-uids); under
    ``no-sop-uid/`` for a source given keyed SOP UIDs (:func:`give_keyed_uids`)."""
    patient = pseudo.patient_id(str(ds.get("PatientID", "") or ""))
    if keyed_sop:
        return [output_relpath(patient, "", "", pseudo.uid(str(ds.SOPInstanceUID)), keyed_sop=True)]
    uids = [str(ds.get(k, "") or "").strip() for k in PATH_UIDS]
    mapped = [pseudo.uid(u) if u else "" for u in uids]
    return [output_relpath(patient, *mapped), output_relpath(patient, *uids)]


def _read_source(path: Path, pseudo) -> tuple[Dataset, bool]:
    """(dataset, whether it was given keyed SOP UIDs as ``deid run`` gives them); :class:`Refusal`
    when ``deid run`` would not read it either."""
    try:
        data, ds = load(path, require_uids=False)
    except OSError as exc:
        raise Refusal("unreadable", error=exc.strerror or "I/O error") from None
    return ds, give_keyed_uids(ds, data, pseudo.uid)


def _runs_by_output(own: Path) -> dict[str, set[str]]:
    """Output path -> ids of the runs whose manifests (``DST/.govkit/manifest-<run>.jsonl``) name it."""
    runs: dict[str, set[str]] = {}
    for manifest in sorted(own.glob("manifest-*.jsonl")):
        try:
            lines = read_source(manifest).decode("utf-8", "replace").splitlines()
        except Refusal:
            continue  # not a regular file: flagged by the check of the folder
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and isinstance(row.get("output"), str) and isinstance(row.get("run"), str):
                runs.setdefault(row["output"], set()).add(row["run"])
    return runs


def _own_folder_check(dst: Path, ids: phi.Identifiers) -> list[Finding]:
    """``DST/.govkit`` holds no DICOM file, and its files none of the paired sources' identifiers
    (searched as text, folded, in every character set, like an output's header)."""
    own = dst / MANIFEST_DIR
    if not own.is_dir():
        return []
    found = []
    pattern = ids.text_pattern()
    for path in discover(own, skip_own="none"):
        rel = str(path.relative_to(dst))
        try:
            data = read_source(path)
        except Refusal as exc:
            found.append(Finding("unreadable", rel, "file", f"file in the run's own folder {exc.text}"))
            continue
        if sniff(data) != "other" or path.suffix.lower() == ".dcm":
            found.append(Finding("bytes", rel, "file", "a DICOM file in the run's own folder, which holds no output"))
            continue
        if pattern is not None:
            hay = _Haystack()
            hay.add(rel, _readings(data, CODECS))
            for text in sorted({t for _, t in hay.search(pattern)}):
                found.append(Finding("bytes", rel, "file", f"a header value of a source {mask(text)}"))
    return found


def _options_for(
    rel: str,
    declared: frozenset[str],
    runs: set[str],
    run_options: Mapping[str, Iterable[str]],
    stated: frozenset[str] | None,
) -> tuple[frozenset[str] | None, Finding | None]:
    """The options to check output ``rel`` under (None: no record and none stated, so none), and a
    finding when the output declares options beyond them."""
    recorded = [frozenset(run_options[r]) for r in sorted(runs) if r in run_options]
    if recorded:  # several runs named it: only what every one of them used
        used, basis = frozenset.intersection(*recorded), "the run's record"
    elif stated is not None:
        used, basis = stated, "--option"
    else:
        return None, None
    extra = declared - used
    if not extra:
        return used, None
    where = "DeidentificationMethodCodeSequence"
    detail = f"{where}: declares options the run did not use ({', '.join(sorted(extra))}; per {basis})"
    return used, Finding("profile", rel, where, detail)


def _read_output(path: Path) -> tuple[bytes, Dataset]:
    """Bytes and fully parsed dataset of an output; ValueError with a reason when unreadable."""
    try:  # regular files only: a FIFO would block, a link or device is not an output govkit wrote
        data = read_source(path)
    except Refusal as exc:
        raise ValueError(f"cannot be read: {exc.text}") from None
    if sniff(data) != "part10":
        raise ValueError("not a DICOM Part 10 file (no preamble and DICM prefix)")
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        for _ in _elements(ds):  # parse every element now, so a defect shows here
            pass
        check_pixel_data(ds)
    except Exception as exc:  # noqa: BLE001 - any parse failure makes this output unreadable
        reason = str(exc).splitlines()[0][:160] if str(exc) else "invalid data"
        raise ValueError(f"cannot be parsed as DICOM: {reason}") from None
    if not ds.get("SOPInstanceUID") or not ds.get("SOPClassUID"):
        raise ValueError("is not a complete DICOM instance (no SOP Class or SOP Instance UID)")
    return data, ds


def verify(
    dst: str | Path,
    source: str | Path,
    key_path: str | Path | None = None,
    *,
    text_check: bool = True,
    pixel_check: bool = True,
    ocr_engine: str | None = None,
    accept: list[Acceptance] | None = None,
    run_options: Mapping[str, Iterable[str]] | None = None,
    options: Iterable[str] | None = None,
    progress: Progress = silent,
) -> VerifyReport:
    """Run checks (a), (b), (c) on every output under ``dst``; (d), OCR of the
    output pixels, with ``ocr_engine`` (default :data:`govkit.deid.pixels.ocr.DEFAULT_ENGINE`).
    Findings named in ``accept`` move to :attr:`VerifyReport.accepted`; ``progress`` shows the
    outputs checked.

    ``run_options`` maps run ids to the options their records hold (the registry's rows): an
    output named in the manifest of such a run is checked under that run's options.  Other
    outputs are checked under ``options`` (what the user states), or with none when not given."""
    from govkit.deid.header.engine import DeidConfig, options_from_codes
    from govkit.deid.header.pseudonyms import Pseudonymizer, load_key
    from govkit.deid.text.cleaner import TextCleaner

    dst, source = Path(dst), Path(source)
    pseudo = Pseudonymizer(load_key(key_path))
    cleaner = TextCleaner() if text_check else None
    engine = None
    if pixel_check:
        from govkit.deid.pixels.ocr import DEFAULT_ENGINE, get_engine

        engine = get_engine(ocr_engine or DEFAULT_ENGINE)
    report = VerifyReport()
    pairs: dict[str, Dataset] = {}
    for path in discover(source):
        name = printable(str(path.relative_to(source) if source.is_dir() else path.name))
        try:
            ds, keyed_sop = _read_source(path, pseudo)
        except Refusal as exc:
            if exc.status == "failed":  # fail closed: its identifiers are unknown, so nothing is checked for them
                detail = f"source {name} {exc.text}: no output can be checked against it"
                report.findings.append(Finding("unreadable", f"source {name}", "file", detail))
            continue
        report.n_sources += 1
        for rel in expected_outputs(ds, pseudo, keyed_sop):
            if (dst / rel).is_file():
                pairs[rel] = ds
                break
        else:
            report.warnings.append(f"no output for source {name}")
    everyone = phi.Identifiers()
    for ds in pairs.values():
        everyone.update(phi.collect(ds))
    report.findings += _own_folder_check(dst, everyone)
    written_by = _runs_by_output(dst / MANIFEST_DIR)
    stated = frozenset(options) if options is not None else None
    outputs = list(discover(dst, skip_own="top"))
    unrecorded: list[str] = []
    undeclared: set[str] = set()  # options declared by outputs no recorded run wrote
    for out_path in progress(outputs, len(outputs), "verifying"):
        rel = str(out_path.relative_to(dst))
        report.n_outputs += 1
        try:
            data, out = _read_output(out_path)
        except ValueError as exc:
            report.findings.append(Finding("unreadable", rel, "file", f"output {exc}"))
            continue
        declared = options_from_codes(out)
        found, mismatch = _options_for(rel, declared, written_by.get(rel, set()), run_options or {}, stated)
        if found is None:
            unrecorded.append(rel)
            undeclared |= declared
        report.findings += [mismatch] if mismatch else []
        used = found or frozenset()
        src = pairs.get(rel)
        if src is None:
            report.warnings.append(f"{rel}: no source file maps to it with this key; checked against all sources")
            ids = everyone
        else:
            report.n_paired += 1
            ids = phi.collect(
                src,
                keep_dates="retain-longitudinal-full-dates" in used,
                keep_institution="retain-institution-identity" in used,
                keep_device="retain-device-identity" in used,
            )
        report.findings += _bytes_check(data, out, ids, rel)  # first: it reads the undecoded bytes
        report.findings += _profile_check(src, out, used, pseudo, rel)
        if cleaner is not None:
            report.findings += _text_check(out, DeidConfig(used, pseudo), cleaner, rel)
        if engine is not None and "PixelData" in out:
            report.findings += _pixel_check(out, ids, rel, engine)
    if unrecorded:
        report.warnings.append(
            f"{len(unrecorded)} output(s) that no run recorded in this registry wrote (e.g. {unrecorded[0]}) "
            "were checked under the basic profile without options"
            + (
                f"; they declare {', '.join(sorted(undeclared))}: pass --option for each the run used"
                if undeclared
                else ""
            )
        )
    for f in report.findings:
        f.id = pseudo.token("verify-finding", f"{f.output}\x00{f.check}\x00{f.where}\x00{f.detail}", 12)
    _apply_acceptances(report, accept or [])
    return report


def _apply_acceptances(report: VerifyReport, accept: list[Acceptance]) -> None:
    by_id = {a.finding: a for a in accept}
    kept = []
    for f in report.findings:
        a = by_id.pop(f.id, None)
        if a is None:
            kept.append(f)
        else:
            report.accepted.append(
                {
                    "id": f.id,
                    "check": f.check,
                    "output": f.output,
                    "where": f.where,
                    "reason": a.reason,
                    "signer": a.signer,
                }
            )
    report.findings = kept
    report.warnings += [f"acceptance of {fid} matches no finding of this verification" for fid in by_id]


def _pixel_check(out: Dataset, ids: phi.Identifiers, rel: str, engine) -> list[Finding]:
    from govkit.deid.pixels.redact import residual_text

    try:
        hits = residual_text(out, ids, engine)
    except Exception as exc:  # noqa: BLE001 - pixels that cannot be decoded cannot be checked: fail closed
        return [Finding("pixels", rel, "pixel data", f"pixel data could not be checked ({type(exc).__name__})")]
    return [Finding("pixels", rel, "pixel data", h) for h in hits]

"""Check de-identified output against its source (``govkit deid verify``).

Three checks, each producing :class:`Finding` records:

(a) **profile** — no attribute that the profile removes or replaces (actions
    X, Z, D, U under the options recorded in the output's De-identification
    Method Code Sequence) still holds its original value, at any depth;
(b) **bytes** — no byte sequence anywhere in the output file, private tags
    and sequences included, equals a PHI value of the source header in any of
    its formats (:mod:`govkit.deid.text.identifiers`), in UTF-8, Latin-1 or UTF-16.  Inside
    the pixel data only forms of six or more characters count (shorter ones
    occur by chance in binary data);
(d) **pixels** — the output's pixels are rendered and read with OCR; a word
    matching a header value of the source fails the check;
(c) **text** — free-text attributes that the profile cleans (action C under
    the recorded options) contain no entity that Presidio finds above its
    threshold.

Outputs are paired with sources through the key: the expected output path of
a source is ``<pseudonymised PatientID>/<study>/<series>/<sop>.dcm``.
Findings never print a PHI value in full: they show its kind, the attribute
and a masked preview.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

from govkit.deid.batch.outputs import PATH_UIDS, output_relpath
from govkit.deid.dicomio import read_dicom, walk_values
from govkit.deid.files import MANIFEST_DIR, discover
from govkit.deid.text import identifiers as phi

TEXT_CHECK_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
PIXEL_MIN_LEN = 6


@dataclass
class Finding:
    check: str  # profile | bytes | text | pixels
    output: str
    detail: str
    tag: str | None = None


@dataclass
class VerifyReport:
    n_sources: int = 0
    n_outputs: int = 0
    n_paired: int = 0
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def mask(value: str) -> str:
    """``Kaufman`` -> ``K…n (7 chars)``: enough to locate, not to read."""
    v = str(value)
    if len(v) <= 2:
        return f"{'*' * len(v)} ({len(v)} chars)"
    return f"{v[0]}…{v[-1]} ({len(v)} chars)"


def _profile_check(src: Dataset, out: Dataset, options, pseudo, rel: str) -> list[Finding]:
    from govkit.deid.header.engine import DUMMY, DeidConfig
    from govkit.deid.header.profile import resolve_type_dependent

    cfg = DeidConfig(options, pseudo)
    sop = str(src.get("SOPClassUID", ""))
    removed: dict[int, set[str]] = {}
    for tag, _path, vr, values in walk_values(src):
        action = cfg.action_for(tag)
        if action is None:
            continue
        action = resolve_type_dependent(action, tag, sop)
        if action in ("X", "Z", "D", "U"):
            dummies = {str(DUMMY.get(vr, "")), "ANONYMIZED"}
            removed.setdefault(int(tag), set()).update(v for v in values if v and v not in dummies)
    findings = []
    for tag, path, _vr, values in walk_values(out):
        leaked = removed.get(int(tag), set()) & set(values)
        for v in sorted(leaked):
            findings.append(Finding("profile", rel, f"{path} still holds its original value {mask(v)}", str(tag)))
    return findings


def _pixel_span(data: bytes, ds: Dataset) -> tuple[int, int] | None:
    if "PixelData" not in ds:
        return None
    raw = ds.PixelData
    start = data.rfind(raw[: min(len(raw), 4096)]) if raw else -1
    return (start, start + len(raw)) if start >= 0 else None


def _bytes_check(data: bytes, ds: Dataset, ids: phi.Identifiers, rel: str) -> list[Finding]:
    findings = []
    span = _pixel_span(data, ds)
    regions = [(0, len(data), ids.bytes_pattern())]
    if span:
        regions = [
            (0, span[0], ids.bytes_pattern()),
            (span[0], span[1], ids.bytes_pattern(ids.long_strings(PIXEL_MIN_LEN))),
            (span[1], len(data), ids.bytes_pattern()),
        ]
    seen = set()
    for start, end, pattern in regions:
        if pattern is None:
            continue
        for m in pattern.finditer(data, start, end):
            where = "pixel data" if span and span[0] <= m.start() < span[1] else "header"
            text = m.group(0).decode("latin-1")
            if (where, text.lower()) in seen:
                continue
            seen.add((where, text.lower()))
            findings.append(Finding("bytes", rel, f"PHI bytes {mask(text)} at offset {m.start()} ({where})"))
    return findings


def _text_check(out: Dataset, cfg, cleaner, rel: str) -> list[Finding]:
    """Presidio on the free text the profile cleaned (action C); kept text is by design."""
    findings = []
    for tag, path, vr, values in walk_values(out):
        if vr not in TEXT_CHECK_VRS or cfg.action_for(tag) != "C":
            continue
        for v in values:
            for span in cleaner.find(v):
                findings.append(Finding(
                    "text", rel, f"{path}: {span.entity} {mask(v[span.start:span.end])} (score {span.score:.2f})",
                    str(tag),
                ))
    return findings


def expected_outputs(ds: Dataset, pseudo) -> list[str]:
    """Where a source's output lies: pseudonymised UIDs, or kept ones (retain-uids)."""
    patient = pseudo.patient_id(str(ds.get("PatientID", "") or ""))
    uids = [str(ds.get(k, "") or "").strip() for k in PATH_UIDS]
    mapped = [pseudo.uid(u) if u else "" for u in uids]
    return [output_relpath(patient, *mapped), output_relpath(patient, *uids)]


def verify(dst: str | Path, source: str | Path, key_path: str | Path | None = None,
           *, text_check: bool = True, pixel_check: bool = True, ocr_engine: str | None = None) -> VerifyReport:
    """Run checks (a), (b), (c) on every output under ``dst``; (d), OCR of the
    output pixels, with ``ocr_engine`` (default :data:`govkit.deid.pixels.ocr.DEFAULT_ENGINE`)."""
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
        got = read_dicom(path)
        if got is None:
            continue
        report.n_sources += 1
        for rel in expected_outputs(got[1], pseudo):
            if (dst / rel).is_file():
                pairs[rel] = got[1]
                break
        else:
            report.warnings.append(f"no output for source {path.relative_to(source) if source.is_dir() else path.name}")
    everyone = phi.Identifiers()
    for ds in pairs.values():
        ids = phi.collect(ds)
        for name in ("names", "full_names", "ids", "dates", "institutions"):
            getattr(everyone, name).update(getattr(ids, name))
    for out_path in discover(dst):
        if MANIFEST_DIR in out_path.relative_to(dst).parts:
            continue
        rel = str(out_path.relative_to(dst))
        got = read_dicom(out_path)
        if got is None:
            report.findings.append(Finding("bytes", rel, "output is not a readable DICOM file"))
            continue
        data, out = got
        report.n_outputs += 1
        options = options_from_codes(out)
        src = pairs.get(rel)
        if src is None:
            report.warnings.append(f"{rel}: no source file maps to it with this key; checked against all sources")
            ids = everyone
        else:
            report.n_paired += 1
            ids = phi.collect(
                src,
                keep_dates="retain-longitudinal-full-dates" in options,
                keep_institution="retain-institution-identity" in options,
            )
            report.findings += _profile_check(src, out, options, pseudo, rel)
        report.findings += _bytes_check(data, out, ids, rel)
        if cleaner is not None:
            report.findings += _text_check(out, DeidConfig(options, pseudo), cleaner, rel)
        if engine is not None and "PixelData" in out:
            report.findings += _pixel_check(out, ids, rel, engine)
    return report



def _pixel_check(out: Dataset, ids: phi.Identifiers, rel: str, engine) -> list[Finding]:
    from govkit.deid.pixels.redact import residual_text

    try:
        hits = residual_text(out, ids, engine)
    except Exception as exc:  # noqa: BLE001 - pixels that cannot be decoded cannot be checked: fail closed
        return [Finding("pixels", rel, f"pixel data could not be checked ({type(exc).__name__})")]
    return [Finding("pixels", rel, h) for h in hits]

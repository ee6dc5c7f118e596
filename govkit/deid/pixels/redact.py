"""Burned-in PHI: find text in the pixels with OCR, decide what is PHI, and redact it.

Rendering for OCR (per frame): Modality LUT, then the VOI LUT or window;
MONOCHROME1 inverted; PALETTE COLOR and YBR converted to RGB, then to
grey; contrast stretched so the text is dark on a light background (the
image is inverted when most of it is dark).  OCR runs in several
passes and the union of the word boxes is kept (:mod:`govkit.deid.pixels.ocr`).

Deciding what is PHI (``policy="phi"``), per OCR line (:class:`~govkit.deid.ocr.Line`):

* a word matches the file's own header values in any burned-in format
  (names, IDs, dates, institutions; fuzzy, to absorb OCR errors and
  truncation) or a regex for dates, times, MRN-like digit runs or accession
  numbers;
* the line, with spaces and punctuation dropped, contains a header value
  (exactly, or fuzzily for values of 5 characters or more): this catches
  words the OCR ran together (``DOB08/15/1993``) and multi-word values
  (``ST MARY HOSPITAL``);
* a date or time pattern occurs anywhere in the line;
* Presidio finds an entity in the line.

Each match is mapped back to its characters' boxes.  ``policy="all-text"``
redacts every word except laterality/orientation markers and scale marks.

Redaction fills each box, with a margin, in the native pixel array (every
frame, any bit depth, signed or unsigned, any photometric interpretation).
Compressed pixel data is decoded and written back as Explicit VR Little
Endian; the PhotometricInterpretation is updated (YBR becomes RGB after
decoding) and LossyImageCompression is kept.  Overlay planes (60xx) never
reach this step: the profile removes them with their whole repeating group
(Overlay Data is X, and C under clean-graphics removes it too), and the
Icon Image Sequence (a thumbnail of the same pixels) is X in Table E.1-1.
Only when all of that succeeded is BurnedInAnnotation set to NO and code 113101 (Clean Pixel Data) recorded.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from govkit.deid.pixels.ocr import Box, Gray, Line, OcrEngine
from govkit.deid.pixels.regions import Rect
from govkit.deid.text import identifiers as phi
from govkit.deid.text.dates import ANY_DATE

if TYPE_CHECKING:
    from govkit.deid.text.cleaner import TextCleaner

MARGIN = 2
ALLOW = {"L", "R", "A", "P", "H", "F", "S", "I", "LT", "RT", "AP", "PA", "LAT", "CM", "MM"}
SEARCH = [  # anywhere in a line: dates in every common format (shared with the text cleaner), times, digit runs
    *ANY_DATE,
    re.compile(r"\d{1,2}\s?:\s?\d{2}(\s?:\s?\d{2})?(\s?[AP]\.?M\b)?", re.I),  # OCR may space a colon out
    re.compile(r"\d{5,}"),
]
# a whole word: the line patterns anchored, plus MRN / accession-like runs of letters and digits
PATTERNS = [re.compile(f"^(?:{p.pattern})$", p.flags) for p in SEARCH]
PATTERNS.append(re.compile(r"^(?=.*\d)[A-Z0-9-]{6,}$", re.I))
SIMILARITY = 0.8


#: A native pixel array, N×R×C[×S] for every frame: its dtype is the file's (any bit depth, signed or not).
Pixels = NDArray[Any]
#: Rendered frames for OCR: N×R×C ``uint8``, dark text on light.
Rendered = NDArray[np.uint8]


class RedactedBox(TypedDict):
    """A filled box: its frame, position and size, and the length of the text it covered (never the text)."""

    frame: int
    x: int
    y: int
    w: int
    h: int
    chars: int


@dataclass
class PixelReport:
    frames: int = 0
    boxes: list[RedactedBox] = field(default_factory=list)  # redacted boxes (text masked)
    known_regions: list[str] = field(default_factory=list)  # deid filter rules that matched
    transfer_syntax_changed: bool = False


def alnum_upper(s: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", s.upper())


def deny_tokens(ids: phi.Identifiers) -> list[str]:
    tokens = {alnum_upper(t) for t in ids.strings()}
    for full in ids.full_names | ids.institutions:  # burned in word by word
        tokens |= {alnum_upper(p) for p in re.split(r"[\s^,]+", full)}
    return sorted(t for t in tokens if len(t) >= 3)


def is_phi_word(word: str, deny: list[str]) -> bool:
    w = alnum_upper(word)
    if len(w) < 2:
        return False
    for t in deny:
        if w == t or (len(w) >= 4 and (w in t or t in w)):
            return True
        if len(w) >= 4 and difflib.SequenceMatcher(None, w, t).ratio() >= SIMILARITY:
            return True
    return any(p.match(word.strip(".,;:()[]")) for p in PATTERNS)


def _allowed(word: str) -> bool:
    return alnum_upper(word) in ALLOW or bool(re.fullmatch(r"[\d.]+\s*(cm|mm)?", word, re.I))


def header_spans(text: str, deny: list[str], fuzzy_from: int = 5) -> list[tuple[int, int]]:
    """Spans of ``text`` holding a deny-list value once spaces and punctuation are dropped."""
    pos = [i for i, ch in enumerate(text) if ch.isalnum()]
    flat = "".join(text[i] for i in pos).upper()
    spans: list[tuple[int, int]] = []
    for t in deny:
        n = len(t)
        start = flat.find(t)
        while start >= 0:
            spans.append((pos[start], pos[start + n - 1] + 1))
            start = flat.find(t, start + 1)
        if n >= fuzzy_from and t not in flat:
            for k in range(0, max(0, len(flat) - n + 1) + 1):
                window = flat[k : k + n]
                if len(window) >= n - 1 and difflib.SequenceMatcher(None, window, t).ratio() >= SIMILARITY:
                    spans.append((pos[k], pos[k + len(window) - 1] + 1))
    return spans


def phi_spans(line: Line, deny: list[str], policy: str) -> list[tuple[int, int]]:
    """Character spans of ``line`` to redact under ``policy`` (Presidio aside: see :func:`decide`)."""
    words = line.words()
    if policy == "all-text":
        return [(a, b) for a, b in words if not _allowed(line.text[a:b])]
    spans = [(a, b) for a, b in words if is_phi_word(line.text[a:b], deny)]
    spans += header_spans(line.text, deny)
    spans += [m.span() for p in SEARCH for m in p.finditer(line.text)]
    return spans


def _presidio_spans(lines: list[Line], cleaner: TextCleaner) -> list[list[tuple[int, int]]]:
    """Presidio's spans per line, from one analysis of the frame's text (one line per row)."""
    text = "\n".join(line.text for line in lines)
    starts = np.cumsum([0] + [len(line.text) + 1 for line in lines[:-1]])
    out: list[list[tuple[int, int]]] = [[] for _ in lines]
    for span in cleaner.find(text):
        for i, (line, s0) in enumerate(zip(lines, starts, strict=True)):
            a, b = max(span.start - s0, 0), min(span.end - s0, len(line.text))
            if b > a:
                out[i].append((int(a), int(b)))
    return out


def decide(lines: list[Line], deny: list[str], policy: str, cleaner: TextCleaner | None = None) -> list[Box]:
    """The boxes to redact in one frame: one per word touched by a match (spaces spared)."""
    extra = _presidio_spans(lines, cleaner) if cleaner is not None and policy == "phi" and lines else None
    unique: dict[tuple[int, int, int, int], Box] = {}
    for i, line in enumerate(lines):
        spans = phi_spans(line, deny, policy) + (extra[i] if extra else [])
        for a, b in spans:
            for m in re.finditer(r"\S+", line.text[a:b]):
                box = line.box(a + m.start(), a + m.end())
                unique[(box.x, box.y, box.w, box.h)] = box
    return list(unique.values())


def snap_to_ink(box: Box, frame: Gray) -> Box:
    """Fit ``box`` to the glyphs in ``frame`` (rendered grey): rows with ink only, and
    columns pushed outwards to the next column without ink (OCR character boxes
    are approximate).  The result never loses ink the OCR box held."""
    rows, cols = frame.shape
    reach = max(2, box.h // 2)
    y0, y1 = max(0, box.y - 2), min(rows, box.y + box.h + 2)
    x0, x1 = max(0, box.x - reach), min(cols, box.x + box.w + reach)
    region = frame[y0:y1, x0:x1]
    if region.size == 0:
        return box
    from govkit.deid.pixels.ocr import otsu

    cut = otsu(region)
    dark = region <= cut
    ink = dark if dark.mean() < 0.5 else ~dark  # the minority class is the text
    if not ink.any() or ink.mean() > 0.6:
        return box
    ink_rows = np.flatnonzero(ink[:, box.x - x0 : box.x - x0 + box.w].any(1))
    if len(ink_rows) == 0:
        return box
    cols_ink: NDArray[np.bool_] = np.any(ink[ink_rows[0] : ink_rows[-1] + 1], axis=0)
    left, right = box.x - x0, min(box.x - x0 + box.w, len(cols_ink)) - 1
    while left > 0 and cols_ink[left - 1]:
        left -= 1
    while right < len(cols_ink) - 1 and cols_ink[right + 1]:
        right += 1
    return Box(
        x0 + left,
        y0 + int(ink_rows[0]),
        right - left + 1,
        int(ink_rows[-1] - ink_rows[0]) + 1,
        box.text,
        box.conf,
        box.line,
    )


# --------------------------------------------------------------------------- rendering


def frames_for_ocr(ds: Dataset) -> tuple[Pixels, Rendered]:
    """(native array N×R×C[×S], rendered uint8 grey N×R×C) for every frame."""
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

    arr = ds.pixel_array
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    native = arr if n_frames > 1 else arr[None]
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(native, ds)
        grey = rgb.astype(np.float32).mean(-1)
    elif native.ndim == 4:  # RGB (pydicom converts YBR to RGB when decoding)
        grey = native.astype(np.float32).mean(-1)
    else:
        grey = apply_modality_lut(native, ds).astype(np.float32)
        if "WindowCenter" in ds or "VOILUTSequence" in ds:
            grey = apply_voi_lut(grey, ds).astype(np.float32)
        if photometric == "MONOCHROME1":
            grey = grey.max() - grey
    out = np.empty(grey.shape, np.uint8)
    for i, g in enumerate(grey):  # per-frame contrast: frames differ
        lo, hi = np.percentile(g, 1), np.percentile(g, 99.9)
        if hi <= lo:
            hi = lo + 1
        u = np.clip((g - lo) / (hi - lo), 0, 1)
        if u.mean() < 0.5:
            u = 1 - u  # text dark on light
        out[i] = (u * 255).astype(np.uint8)
    return native, out


def find_text(engine: OcrEngine, rendered: Rendered) -> list[list[Line]]:
    """The text lines of every frame, in frame coordinates, words split where the ink has gaps."""
    return [[split_words(line, img) for line in engine.read_lines(img)] for img in rendered]


def split_words(line: Line, frame: Gray) -> Line:
    """Put back the spaces an OCR dropped (``CHESTPA``): wherever a run of ink-free
    columns in the line is wider than a third of its height, between two characters."""
    from govkit.deid.pixels.ocr import otsu

    if len(line.text) < 2:
        return line
    box = line.box(0, len(line.text))
    region = frame[max(0, box.y) : box.y + box.h, max(0, box.x) : box.x + box.w]
    if region.size == 0 or region.shape[1] < 4:
        return line
    dark = region <= otsu(region)
    ink: NDArray[np.bool_] = np.any(dark if dark.mean() < 0.5 else ~dark, axis=0)
    empty = np.flatnonzero(~ink)
    if len(empty) == 0:
        return line
    runs = np.split(empty, np.flatnonzero(np.diff(empty) > 1) + 1)
    wide = [(int(r[0]), int(r[-1])) for r in runs if len(r) >= max(3, box.h / 3) and 0 < r[0] and r[-1] < len(ink) - 1]
    text, chars = list(line.text), list(line.chars)
    for g0, g1 in reversed(wide):
        centre = box.x + (g0 + g1) / 2
        ends = [c[0] + c[2] / 2 for c in chars]  # character centres
        k = int(np.searchsorted(ends, centre))
        if 0 < k < len(text) and not text[k - 1].isspace() and not text[k].isspace():
            text.insert(k, " ")
            chars.insert(k, (box.x + g0, box.y, g1 - g0 + 1, box.h))
    return Line("".join(text), tuple(chars), line.conf)


def _fill_value(ds: Dataset, native: Pixels) -> float | np.number[Any]:
    """The value boxes are filled with: black as displayed for greyscale (the maximum for
    MONOCHROME1, the minimum for MONOCHROME2: PS3.3 C.7.6.3.1.2), 0 for colour."""
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if photometric == "MONOCHROME1":
        return native.max()
    if photometric == "PALETTE COLOR" or native.ndim == 4:
        return 0
    return native.min()


def redact(native: Pixels, frame_boxes: list[list[Box]], fill: float | np.number[Any]) -> Pixels:
    out: Pixels = native.copy()
    rows, cols = native.shape[1], native.shape[2]
    for f, boxes in enumerate(frame_boxes):
        for b in boxes:
            y0, y1 = max(0, b.y - MARGIN), min(rows, b.y + b.h + MARGIN)
            x0, x1 = max(0, b.x - MARGIN), min(cols, b.x + b.w + MARGIN)
            out[f, y0:y1, x0:x1] = fill
    return out


def outside_clinical(lines: list[Line], clinical: list[Rect]) -> list[Box]:
    """Words whose centre lies outside every clinical region (annotation), markers spared."""
    out: list[Box] = []
    for line in lines:
        for a, b in line.words():
            box = line.box(a, b)
            centre = (box.x + box.w / 2, box.y + box.h / 2)
            if not _allowed(box.text) and not any(r.contains(*centre) for r in clinical):
                out.append(box)
    return out


def frame_boxes(
    lines: list[Line],
    frame: Gray,
    deny: list[str],
    policy: str,
    cleaner: TextCleaner | None,
    clinical: list[Rect],
) -> list[Box]:
    """The boxes to fill in one frame, fitted to the glyphs."""
    boxes = decide(lines, deny, policy, cleaner)
    if clinical:
        boxes += outside_clinical(lines, clinical)
    return [snap_to_ink(b, frame) for b in boxes]


def clean_pixels(
    ds: Dataset,
    ids: phi.Identifiers,
    *,
    engine: OcrEngine,
    policy: str = "phi",
    cleaner: TextCleaner | None = None,
    known: list[Rect] | None = None,
    clinical: list[Rect] | None = None,
) -> PixelReport:
    """Find and redact burned-in PHI in ``ds`` in place.  Raises when it cannot be done safely.

    ``known`` (PHI rectangles for this device) and ``clinical`` (ultrasound
    regions) are read from ``ds`` when not given; pass them when ``ds``'s
    header has already been de-identified (:mod:`govkit.deid.pixels.regions`).
    """
    from govkit.deid.header.engine import add_method_code
    from govkit.deid.pixels.regions import clinical_regions, known_phi_regions

    report = PixelReport()
    deny = deny_tokens(ids)
    if "PixelData" in ds:
        known = known_phi_regions(ds) if known is None else known
        clinical = clinical_regions(ds) if clinical is None else clinical
        native, rendered = frames_for_ocr(ds)
        report.frames = len(native)
        found = find_text(engine, rendered)
        band = [Box(r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0, "", 100.0) for r in known]
        chosen = [
            frame_boxes(lines, frame, deny, policy, cleaner, clinical) + band
            for lines, frame in zip(found, rendered, strict=True)
        ]
        report.known_regions = sorted({r.reason for r in known})
        report.boxes = [
            {"frame": f, "x": b.x, "y": b.y, "w": b.w, "h": b.h, "chars": len(b.text)}
            for f, boxes in enumerate(chosen)
            for b in boxes
        ]
        was_compressed = ds.file_meta.TransferSyntaxUID.is_compressed
        photometric = str(ds.PhotometricInterpretation)
        if any(chosen) or was_compressed or photometric.startswith("YBR"):
            cleaned = redact(native, chosen, _fill_value(ds, native))
            new_photometric = "RGB" if cleaned.ndim == 4 else photometric
            data = cleaned if report.frames > 1 else cleaned[0]
            lossy = ds.get("LossyImageCompression")
            ds.set_pixel_data(data, new_photometric, int(ds.BitsStored), generate_instance_uid=False)
            if lossy is not None:
                ds.LossyImageCompression = lossy
            report.transfer_syntax_changed = was_compressed
    ds.BurnedInAnnotation = "NO"
    add_method_code(ds, "clean-pixel-data")
    return report


def describe_text(
    ds: Dataset, ids: phi.Identifiers, engine: OcrEngine, cleaner: TextCleaner | None = None
) -> list[dict[str, Any]]:
    """Every word burned into ``ds``'s pixels: frame, box, text, whether it is PHI
    (``policy="phi"``), and whether :func:`clean_pixels` would redact it (PHI, or
    annotation outside the ultrasound regions)."""
    from govkit.deid.pixels.regions import clinical_regions

    _, rendered = frames_for_ocr(ds)
    deny = deny_tokens(ids)
    clinical = clinical_regions(ds)
    out: list[dict[str, Any]] = []
    for f, lines in enumerate(find_text(engine, rendered)):
        flagged = {(b.x, b.y, b.w, b.h) for b in decide(lines, deny, "phi", cleaner)}
        outside = {(b.x, b.y, b.w, b.h) for b in (outside_clinical(lines, clinical) if clinical else [])}
        for line in lines:
            for a, b in line.words():
                box = line.box(a, b)
                is_phi = _overlaps(box, flagged)
                out.append(
                    {
                        "frame": f,
                        "x": box.x,
                        "y": box.y,
                        "w": box.w,
                        "h": box.h,
                        "text": box.text,
                        "phi": is_phi,
                        "redact": is_phi or _overlaps(box, outside),
                    }
                )
    return out


def _overlaps(box: Box, flagged: set[tuple[int, int, int, int]]) -> bool:
    """The word, or part of it, was matched (e.g. a date run into a label by the OCR)."""
    return any(x < box.x + box.w and box.x < x + w and y < box.y + box.h and box.y < y + h for x, y, w, h in flagged)


def residual_text(ds: Dataset, ids: phi.Identifiers, engine: OcrEngine) -> list[str]:
    """Deny-list PHI still readable in the pixels (for ``deid verify``); masked words."""
    if "PixelData" not in ds:
        return []
    _, rendered = frames_for_ocr(ds)
    deny = [t for t in deny_tokens(ids) if len(t) >= 4]
    hits: list[str] = []
    for f, lines in enumerate(find_text(engine, rendered)):
        for line in lines:
            for a, b in header_spans(line.text, deny, fuzzy_from=6):
                box = line.box(a, b)
                hits.append(
                    f"frame {f}: burned-in text at ({box.x}, {box.y}) matches a header value "
                    f"({box.text[0]}…, {len(box.text)} chars)"
                )
    return hits

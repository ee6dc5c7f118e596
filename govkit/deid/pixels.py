"""Burned-in PHI: find text in the pixels with OCR, decide what is PHI, and redact it.

Rendering for OCR (per frame): Modality LUT, then the VOI LUT or window;
MONOCHROME1 inverted; PALETTE COLOR and YBR converted to RGB, then to
grey; contrast stretched so the text is dark on a light background (the
image is inverted when most of it is dark); padded.  OCR runs in several
passes and the union of the word boxes is kept (:mod:`govkit.deid.ocr`).

Deciding what is PHI (``policy="phi"``): a word is PHI when it matches the
file's own header values in any burned-in format (names, IDs, dates,
institutions; fuzzy, to absorb OCR errors and truncation), when a regex for
dates, times, MRN-like digit runs or accession numbers matches it, or when
Presidio finds an entity in its line.  ``policy="all-text"`` redacts every
word except laterality/orientation markers and scale marks.

Redaction fills each box, with a margin, in the native pixel array (every
frame, any bit depth, signed or unsigned, any photometric interpretation).
Compressed pixel data is decoded and written back as Explicit VR Little
Endian; the PhotometricInterpretation is updated (YBR becomes RGB after
decoding) and LossyImageCompression is kept.  Overlay planes (60xx) never
reach this step: the profile removes them with their whole repeating group
(Overlay Data is X, and C under clean-graphics removes it too), and the
Icon Image Sequence (a thumbnail of the same pixels) is X in Table E.1-1.  Only when all of that succeeded is BurnedInAnnotation
set to NO and code 113101 (Clean Pixel Data) recorded.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset

from govkit.deid import phi
from govkit.deid.ocr import Box, read_multipass

PAD = 16
MARGIN = 3
ALLOW = {"L", "R", "A", "P", "H", "F", "S", "I", "LT", "RT", "AP", "PA", "LAT", "CM", "MM"}
PATTERNS = [
    re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{2,4}$"),  # dates
    re.compile(r"^\d{1,2}-[A-Z]{3}-\d{2,4}$", re.I),
    re.compile(r"^\d{1,2}:\d{2}(:\d{2})?([AP]M)?$", re.I),  # times
    re.compile(r"^(?=.*\d)[A-Z0-9-]{6,}$", re.I),  # MRN / accession-like runs
    re.compile(r"^\d{5,}$"),
]
SIMILARITY = 0.8


@dataclass
class PixelReport:
    frames: int = 0
    boxes: list[dict] = field(default_factory=list)  # redacted boxes (text masked)
    transfer_syntax_changed: bool = False


def _norm(s: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", s.upper())


def deny_tokens(ids: phi.Identifiers) -> list[str]:
    tokens = {_norm(t) for t in ids.strings()}
    for full in ids.full_names | ids.institutions:  # burned in word by word
        tokens |= {_norm(p) for p in re.split(r"[\s^,]+", full)}
    return sorted(t for t in tokens if len(t) >= 3)


def is_phi_word(word: str, deny: list[str]) -> bool:
    w = _norm(word)
    if len(w) < 2:
        return False
    for t in deny:
        if w == t or (len(w) >= 4 and (w in t or t in w)):
            return True
        if len(w) >= 4 and difflib.SequenceMatcher(None, w, t).ratio() >= SIMILARITY:
            return True
    return any(p.match(word.strip(".,;:()[]")) for p in PATTERNS)


def decide(boxes: list[Box], deny: list[str], policy: str, cleaner=None) -> list[Box]:
    """The boxes to redact."""
    if policy == "all-text":
        return [b for b in boxes if _norm(b.text) not in ALLOW and not re.fullmatch(r"[\d.]+\s*(cm|mm)?", b.text, re.I)]
    flagged = [b for b in boxes if is_phi_word(b.text, deny)]
    if cleaner is not None:
        lines: dict[int, list[Box]] = {}
        for b in boxes:
            lines.setdefault(b.line, []).append(b)
        for words in lines.values():
            words.sort(key=lambda b: b.x)
            text = " ".join(b.text for b in words)
            starts = np.cumsum([0] + [len(b.text) + 1 for b in words[:-1]])
            for span in cleaner.find(text):
                flagged += [b for b, s in zip(words, starts) if s < span.end and s + len(b.text) > span.start]
    unique = {(b.x, b.y, b.w, b.h): b for b in flagged}
    return list(unique.values())


# --------------------------------------------------------------------------- rendering


def frames_for_ocr(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
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


def _padded(img: np.ndarray) -> np.ndarray:
    return np.pad(img, PAD, constant_values=255)


def find_text(engine, rendered: np.ndarray) -> list[list[Box]]:
    out = []
    for img in rendered:
        boxes = read_multipass(engine, _padded(img))
        out.append([Box(b.x - PAD, b.y - PAD, b.w, b.h, b.text, b.conf, b.line) for b in boxes])
    return out


def _fill_value(ds: Dataset, native: np.ndarray):
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if photometric == "MONOCHROME1":
        return native.max()
    if photometric == "PALETTE COLOR" or native.ndim == 4:
        return 0
    return native.min()


def redact(native: np.ndarray, frame_boxes: list[list[Box]], fill) -> np.ndarray:
    out = native.copy()
    rows, cols = native.shape[1], native.shape[2]
    for f, boxes in enumerate(frame_boxes):
        for b in boxes:
            y0, y1 = max(0, b.y - MARGIN), min(rows, b.y + b.h + MARGIN)
            x0, x1 = max(0, b.x - MARGIN), min(cols, b.x + b.w + MARGIN)
            out[f, y0:y1, x0:x1] = fill
    return out


def clean_pixels(ds: Dataset, ids: phi.Identifiers, *, engine, policy: str = "phi", cleaner=None) -> PixelReport:
    """Find and redact burned-in PHI in ``ds`` in place.  Raises when it cannot be done safely."""
    from govkit.deid.engine import add_method_code

    report = PixelReport()
    deny = deny_tokens(ids)
    if "PixelData" in ds:
        native, rendered = frames_for_ocr(ds)
        report.frames = len(native)
        found = find_text(engine, rendered)
        chosen = [decide(boxes, deny, policy, cleaner) for boxes in found]
        report.boxes = [{"frame": f, "x": b.x, "y": b.y, "w": b.w, "h": b.h, "chars": len(b.text)}
                        for f, boxes in enumerate(chosen) for b in boxes]
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


def residual_text(ds: Dataset, ids: phi.Identifiers, engine) -> list[str]:
    """Deny-list PHI still readable in the pixels (for ``deid verify``); masked words."""
    if "PixelData" not in ds:
        return []
    _, rendered = frames_for_ocr(ds)
    deny = deny_tokens(ids)
    hits = []
    for f, boxes in enumerate(find_text(engine, rendered)):
        for b in boxes:
            if is_phi_word(b.text, deny) and any(_norm(b.text) == t or (len(_norm(b.text)) >= 4 and _norm(b.text) in t)
                                                 for t in deny):
                hits.append(f"frame {f}: burned-in text at ({b.x}, {b.y}) matches a header value "
                            f"({b.text[0]}…, {len(b.text)} chars)")
    return hits

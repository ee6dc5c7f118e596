"""A generated burned-in-text corpus with known ground truth, and its measures.

:func:`write_corpus` makes DICOM files whose pixels carry PHI (names, IDs,
dates, times, accession numbers, institutions) and harmless annotation
(labels, laterality, scale), drawn with varied fonts, sizes, contrasts,
polarities and positions over varied backgrounds (gradients, speckle, and
the real CT and MR images shipped in pydicom's package), stored in several
photometric interpretations, bit depths and transfer syntaxes.  The header
holds the same values, as a scanner would write them.  Every word's box,
text and PHI flag is recorded in ``ground-truth.json``.  Two real files from
pydicom's package are added with hand-measured boxes: ``examples_palette.dcm``
(PatientID, date, time and institution burned in) and
``examples_rgb_color.dcm`` (institution burned in).

Measures (as in the MIDI-B validation's ``pixels_hidden`` check):

* :func:`token_readable`: OCR of a token's ground-truth box (cropped,
  upscaled, read as one line, plain and binarised) still reads the token;
  a PHI token is *hidden* when it no longer does.
* :func:`unchanged_fraction`: the share of pixels outside every text box
  whose stored value did not change (specificity of the redaction).
"""

from __future__ import annotations

import difflib
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
from numpy.typing import NDArray

from govkit.testing.dicom_corpus import pydicom_sample

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from govkit.deid.pixels.ocr import WordReader

FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
)  # Debian fonts-dejavu-core
SIZE = 512
# (photometric, bits stored, signed, transfer syntax name)
ENCODINGS = (
    ("MONOCHROME2", 8, False, "ExplicitVRLittleEndian"),
    ("MONOCHROME2", 12, False, "RLELossless"),
    ("MONOCHROME2", 16, True, "ExplicitVRLittleEndian"),
    ("MONOCHROME1", 12, False, "JPEGLSLossless"),
    ("RGB", 8, False, "ExplicitVRLittleEndian"),
    ("RGB", 8, False, "JPEG2000Lossless"),
    ("YBR_FULL", 8, False, "ExplicitVRLittleEndian"),
    ("PALETTE COLOR", 8, False, "RLELossless"),
)
BACKGROUNDS = ("gradient", "speckle", "ct", "mr", "dark", "light")
FIRST = ("SCOTT", "ADAEZE", "BIRGITTA", "MARTA", "JOAO", "WEI", "FATIMA", "PIOTR", "AROHA", "KENJI")
LAST = ("KAUFMAN", "OKONKWO", "LINDQVIST", "GONZALEZ", "FERREIRA", "ZHANG", "HADDAD", "NOWAK", "WAITITI", "TANAKA")
INSTITUTIONS = (("ST", "MARY", "HOSPITAL"), ("BAPTIST", "MED", "CTR"), ("NORTHGATE", "CLINIC"))
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
BENIGN = (["CHEST", "PA"], ["L"], ["R"], ["AXIAL"], ["5", "cm"], ["120kVp"], ["ABDOMEN"], ["HEAD", "AP"])

# Hand-measured word boxes (x, y, w, h) in pydicom's sample files.
REAL_CASES = {
    "examples_palette.dcm": [
        ("11-05-25-142825", (92, 33, 174, 20), True),
        ("Philips", (325, 33, 66, 20), True),
        ("Healthcare", (393, 33, 119, 20), True),
        ("5/25/2011", (667, 6, 108, 20), True),
        ("2:56:22", (667, 33, 77, 20), True),
        ("PM", (746, 33, 37, 20), True),
    ],
    "examples_rgb_color.dcm": [
        ("BAPTIST", (8, 11, 37, 10), True),
        ("MED", (47, 11, 18, 10), True),
        ("CTR", (67, 11, 19, 10), True),
    ],
}


@dataclass
class Token:
    text: str
    x: int
    y: int
    w: int
    h: int
    phi: bool


@dataclass
class Case:
    file: str
    photometric: str
    transfer_syntax: str
    background: str
    frames: int
    tokens: list[Token] = field(default_factory=list)


# --------------------------------------------------------------------------- generation

#: A display-space image, SIZE × SIZE in [0, 1].
Image01 = NDArray[np.floating[Any]]
#: Text lines as (word, is_phi) pairs.
Lines = list[list[tuple[str, bool]]]


class _PatientValues(TypedDict):
    first: str
    last: str
    id: str
    birth: tuple[int, int, int]  # year, month, day
    study: tuple[int, int, int]
    time: tuple[int, int, int]  # hour, minute, second
    accession: str
    institution: tuple[str, ...]  # its words


def _patient(rng: np.random.Generator) -> _PatientValues:
    year, month, day = int(rng.integers(1930, 2005)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    hour, minute, sec = int(rng.integers(0, 24)), int(rng.integers(0, 60)), int(rng.integers(0, 60))
    return {
        "first": FIRST[rng.integers(len(FIRST))],
        "last": LAST[rng.integers(len(LAST))],
        "id": f"{rng.integers(10**6, 10**7)}{rng.integers(10, 99)}",
        "birth": (year, month, day),
        "study": (int(rng.integers(2015, 2026)), month % 12 + 1, day),
        "time": (hour, minute, sec),
        "accession": f"A{rng.integers(10**5, 10**6)}",
        "institution": INSTITUTIONS[rng.integers(len(INSTITUTIONS))],
    }


def _date_words(rng: np.random.Generator, ymd: tuple[int, int, int]) -> list[str]:
    y, m, d = ymd
    return [
        [
            f"{m:02d}/{d:02d}/{y}",
            f"{m}/{d}/{y}",
            f"{m:02d}.{d:02d}.{y}",
            f"{d:02d}-{MONTHS[m - 1]}-{y % 100:02d}",
            f"{y}-{m:02d}-{d:02d}",
        ][rng.integers(5)]
    ]


def _time_words(rng: np.random.Generator, hms: tuple[int, int, int]) -> list[str]:
    h, m, s = hms
    if rng.random() < 0.5:
        return [f"{h:02d}:{m:02d}:{s:02d}"]
    return [f"{(h % 12) or 12}:{m:02d}", "PM" if h >= 12 else "AM"]


def _lines(rng: np.random.Generator, p: _PatientValues) -> Lines:
    """Text lines as (word, is_phi) pairs."""
    name = [
        [p["last"] + ",", p["first"]],
        [p["first"], p["last"]],
        [f"{p['last']}^{p['first']}"],
        [p["last"], p["first"]],
    ][rng.integers(4)]
    lines = [
        ([("Name:", False)] if rng.random() < 0.4 else []) + [(w, True) for w in name],
        ([("ID:", False)] if rng.random() < 0.5 else []) + [(p["id"], True)],
        ([("DOB", False)] if rng.random() < 0.5 else []) + [(w, True) for w in _date_words(rng, p["birth"])],
        [(w, True) for w in _date_words(rng, p["study"]) + _time_words(rng, p["time"])],
        [("ACC", False), (p["accession"], True)],
        [(w, True) for w in p["institution"]],
    ]
    keep = sorted(rng.choice(len(lines), size=int(rng.integers(3, 6)), replace=False))
    chosen = [lines[i] for i in keep]
    chosen.append([(w, False) for w in BENIGN[rng.integers(len(BENIGN))]])
    return chosen


def _background(kind: str, rng: np.random.Generator) -> Image01:
    """Display-space image in [0, 1], SIZE × SIZE."""
    from PIL import Image

    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    if kind in ("ct", "mr"):
        import pydicom

        src = pydicom.dcmread(pydicom_sample("CT_small.dcm" if kind == "ct" else "MR_small.dcm")).pixel_array
        src = src.astype(np.float32)
        lo, hi = np.percentile(src, (1, 99))
        img = np.asarray(
            Image.fromarray(np.clip((src - lo) / (hi - lo), 0, 1).astype(np.float32)).resize(
                (SIZE, SIZE), Image.Resampling.BILINEAR
            )
        )
        return np.clip(img * 0.85, 0, 1)
    if kind == "speckle":  # ultrasound-like: a bright sector of speckle on black
        r = np.hypot(xx - 0.5, yy + 0.1)
        sector = (r > 0.25) & (r < 1.0) & (np.abs(xx - 0.5) < (yy + 0.1) * 0.8)
        return np.where(sector, rng.gamma(2.0, 0.18, (SIZE, SIZE)), 0).clip(0, 1) * 0.8
    if kind == "dark":
        return np.clip(0.08 + rng.normal(0, 0.02, (SIZE, SIZE)), 0, 1)
    if kind == "light":
        return np.clip(0.85 + rng.normal(0, 0.03, (SIZE, SIZE)), 0, 1)
    return np.clip(0.15 + 0.5 * xx * yy + rng.normal(0, 0.03, (SIZE, SIZE)), 0, 1)


def _draw(img: Image01, lines: Lines, rng: np.random.Generator) -> list[Token]:
    """Burn ``lines`` into ``img`` (in place) at a random anchor; return the word boxes."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(FONTS[rng.integers(len(FONTS))], int(rng.integers(12, 29)))
    mask = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(mask)
    gap = int(font.size * rng.uniform(1.25, 1.6))
    width = max(int(draw.textlength(" ".join(w for w, _ in ln), font=font)) for ln in lines)
    x0 = int(rng.integers(4, max(5, SIZE - width - 4)))
    y0 = int(rng.integers(4, max(5, SIZE - gap * len(lines) - 4)))
    tokens: list[Token] = []
    for i, line in enumerate(lines):
        x, y = x0, y0 + i * gap
        for word, is_phi in line:
            draw.text((x, y), word, fill=255, font=font)
            left, top, right, bottom = draw.textbbox((x, y), word, font=font)
            left, top, right, bottom = int(left), int(top), int(right), int(bottom)  # ints from a FreeType font
            tokens.append(Token(word, left, top, right - left, bottom - top, is_phi))
            x += int(draw.textlength(word + " ", font=font))
    alpha = np.asarray(mask, np.float32) / 255
    region = (slice(max(0, y0 - 4), y0 + gap * len(lines) + 4), slice(max(0, x0 - 4), x0 + width + 4))
    local = float(img[region].mean())
    if rng.random() < 0.25:  # a label strip behind the text, as on dose screens
        img[region] = 1.0 - round(local)
        local = float(img[region].mean())
    target = 1.0 if local < 0.5 else 0.0  # polarity: the contrasting end
    contrast = rng.uniform(0.55, 1.0)
    level = local + (target - local) * contrast
    img[:] = img * (1 - alpha) + level * alpha
    return tokens


def _encode(
    grey: NDArray[np.floating[Any]], photometric: str, bits: int, signed: bool, syntax: str, rng: np.random.Generator
) -> Dataset:
    """A Secondary Capture dataset holding ``grey`` (frames × H × W in [0, 1])."""
    from pydicom import uid
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.pixels import convert_color_space

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
    ds.SOPClassUID = uid.SecondaryCaptureImageStorage
    ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = (uid.generate_uid() for _ in range(3))
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Modality = "OT"
    top = (1 << bits) - 1
    if photometric in ("RGB", "YBR_FULL"):
        tint = np.array([1.0, rng.uniform(0.75, 1.0), rng.uniform(0.5, 1.0)])
        arr = np.round(grey[..., None] * tint * 255).astype(np.uint8)
        if photometric == "YBR_FULL":
            arr = convert_color_space(arr, "RGB", "YBR_FULL")
    elif photometric == "PALETTE COLOR":
        arr = np.round(grey * 255).astype(np.uint8)
    elif signed:
        arr = np.round(grey * 3000 - 1024).astype(np.int16)
    else:
        v = 1 - grey if photometric == "MONOCHROME1" else grey
        arr = np.round(v * top).astype(np.uint8 if bits <= 8 else np.uint16)
    data = arr if len(arr) > 1 else arr[0]
    ds.set_pixel_data(data, photometric, bits)
    if photometric == "PALETTE COLOR":
        ramp = np.arange(256, dtype=np.uint16) * 257
        for colour, scale in (("Red", 1.0), ("Green", 0.85), ("Blue", 0.6)):
            setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
            setattr(ds, f"{colour}PaletteColorLookupTableData", (ramp * scale).astype("<u2").tobytes())
    if signed:
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
        ds.WindowCenter, ds.WindowWidth = 476, 3000
    if syntax != "ExplicitVRLittleEndian":
        kwargs: dict[str, Any] = {"use_mct": False} if syntax == "JPEG2000Lossless" else {}
        ds.compress(getattr(uid, syntax), generate_instance_uid=False, **kwargs)
    return ds


def _header(ds: Dataset, p: _PatientValues) -> None:
    y, m, d = p["birth"]
    sy, sm, sd = p["study"]
    h, mi, s = p["time"]
    ds.PatientName = f"{p['last']}^{p['first']}"
    ds.PatientID = p["id"]
    ds.PatientBirthDate = f"{y:04d}{m:02d}{d:02d}"
    ds.StudyDate = ds.ContentDate = f"{sy:04d}{sm:02d}{sd:02d}"
    ds.StudyTime = ds.ContentTime = f"{h:02d}{mi:02d}{s:02d}"
    ds.AccessionNumber = p["accession"]
    ds.InstitutionName = " ".join(p["institution"])
    ds.BurnedInAnnotation = "YES"


def make_case(i: int, seed: int = 0) -> tuple[Dataset, Case]:
    """Case ``i`` of the corpus: (dataset, :class:`Case`); deterministic in (i, seed)."""
    rng = np.random.default_rng([seed, i])
    photometric, bits, signed, syntax = ENCODINGS[i % len(ENCODINGS)]
    background = BACKGROUNDS[(i // len(ENCODINGS)) % len(BACKGROUNDS)]
    frames = 2 if i % 7 == 3 else 1
    p = _patient(rng)
    img = _background(background, rng)
    tokens = _draw(img, _lines(rng, p), rng)
    grey = np.stack([img] * frames)
    ds = _encode(grey, photometric, bits, signed, syntax, rng)
    _header(ds, p)
    return ds, Case(f"case-{i:04d}.dcm", photometric, syntax, background, frames, tokens)


def write_corpus(out: Path, n: int, *, seed: int = 0, real: bool = True) -> list[Case]:
    """Write ``n`` generated cases (plus the two real ones) and ``ground-truth.json``."""
    out.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    for i in range(n):
        ds, case = make_case(i, seed)
        ds.save_as(out / case.file, enforce_file_format=True)
        cases.append(case)
    if real:
        import pydicom

        for name, words in REAL_CASES.items():
            shutil.copy(pydicom_sample(name), out / name)
            ds = pydicom.dcmread(out / name)
            cases.append(
                Case(
                    name,
                    str(ds.PhotometricInterpretation),
                    ds.file_meta.TransferSyntaxUID.name,
                    "real",
                    int(ds.get("NumberOfFrames", 1) or 1),
                    [Token(t, *box, phi) for t, box, phi in words],
                )
            )
    (out / "ground-truth.json").write_text(json.dumps([asdict(c) for c in cases], indent=1))
    return cases


def read_corpus(root: Path) -> list[Case]:
    raw = json.loads((root / "ground-truth.json").read_text())
    return [Case(**{**c, "tokens": [Token(**t) for t in c["tokens"]]}) for c in raw]


# --------------------------------------------------------------------------- measures


def token_readable(engine: WordReader, rendered: NDArray[np.uint8], token: Token, pad: int = 4) -> bool:
    """Whether OCR of ``token``'s box in ``rendered`` (uint8 grey) still reads the token."""
    from PIL import Image

    from govkit.deid.pixels.ocr import otsu
    from govkit.deid.pixels.redact import alnum_upper

    y0, x0 = max(0, token.y - pad), max(0, token.x - pad)
    crop = rendered[y0 : token.y + token.h + pad, x0 : token.x + token.w + pad]
    if crop.size == 0:
        return False
    scale = max(2, int(np.ceil(40 / max(crop.shape[0], 1))))
    want = alnum_upper(token.text)
    for variant in (crop, np.where(crop > otsu(crop), 255, 0).astype(np.uint8)):
        if np.median(variant) < 128:
            variant = 255 - variant
        big = np.asarray(
            Image.fromarray(variant.astype(np.uint8)).resize(
                (variant.shape[1] * scale, variant.shape[0] * scale), Image.Resampling.BICUBIC
            )
        )
        big = np.pad(big, 20, constant_values=255)
        read = alnum_upper("".join(b.text for b in engine.read(big, psm=7)))
        if want and (want in read or difflib.SequenceMatcher(None, want, read).ratio() >= 0.8):
            return True
    return False


def text_mask(shape: tuple[int, int], tokens: list[Token]) -> NDArray[np.bool_]:
    mask = np.zeros(shape, bool)
    for t in tokens:
        mask[max(0, t.y) : t.y + t.h, max(0, t.x) : t.x + t.w] = True
    return mask


def unchanged_fraction(before: NDArray[Any], after: NDArray[Any], tokens: list[Token]) -> tuple[int, int]:
    """(unchanged, total) non-text pixels over every frame; colour pixels compare all samples."""
    same = before == after
    if same.ndim == 4:
        same = same.all(-1)
    outside = ~text_mask(same.shape[1:], tokens)
    return int(same[:, outside].sum()), int(outside.sum() * same.shape[0])

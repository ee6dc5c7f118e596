"""OCR engines for burned-in text: RapidOCR and Tesseract.

Each engine reads a dark-text-on-light 8-bit image and returns text
:class:`Line` objects: the line's text and one box per character, so that a
PHI match anywhere in a line (even across words the OCR ran together, such
as ``DOB08/15/1993``) maps back to exact pixels.

* ``rapidocr`` (default): a neural text detector (DBNet) finds every text
  line, a recogniser (CRNN) reads it with per-character boxes; the ONNX
  models ship inside the ``rapidocr-onnxruntime`` wheel.  One pass.
* ``tesseract``: no detector, so several passes (sparse-text segmentation on
  the image as rendered, Otsu-binarised and its darkest 3 %, each also 2×
  upscaled) and the union of the words (:func:`read_multipass`): no single
  setting reads every case.

The default was chosen by measured recall and speed on the generated
ground-truth corpus (``benchmarks/pixels_recall.py``, figures in
``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from govkit.errors import BadInput

PAD = 16  # Tesseract misses text that touches the image border

#: One frame as the engines read it: 2-D ``uint8``, dark text on a light background.
Gray = NDArray[np.uint8]


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int
    text: str
    conf: float
    line: int = 0  # words of one text line share this id

    def iou(self, other: Box) -> float:
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.x + self.w, other.x + other.w), min(self.y + self.h, other.y + other.h)
        inter = max(0, x1 - x0) * max(0, y1 - y0)
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union else 0.0


@dataclass(frozen=True)
class Line:
    """One line of text and one ``(x, y, w, h)`` box per character of ``text``."""

    text: str
    chars: tuple[tuple[int, int, int, int], ...]
    conf: float

    def box(self, start: int, end: int, text: str | None = None) -> Box:
        """The union of the character boxes in ``text[start:end]``."""
        parts = self.chars[start:end]
        x0, y0 = min(c[0] for c in parts), min(c[1] for c in parts)
        x1, y1 = max(c[0] + c[2] for c in parts), max(c[1] + c[3] for c in parts)
        return Box(x0, y0, x1 - x0, y1 - y0, self.text[start:end] if text is None else text, self.conf)

    def words(self) -> list[tuple[int, int]]:
        """``(start, end)`` of each whitespace-separated word."""
        import re

        return [m.span() for m in re.finditer(r"\S+", self.text)]

    def shifted(self, dx: int, dy: int) -> Line:
        return Line(self.text, tuple((x + dx, y + dy, w, h) for x, y, w, h in self.chars), self.conf)


def line_from_words(words: list[Box]) -> Line:
    """A :class:`Line` from word boxes (Tesseract): characters split each word evenly."""
    words = sorted(words, key=lambda b: b.x)
    text = ""
    chars: list[tuple[int, int, int, int]] = []
    for i, w in enumerate(words):
        if i:
            prev = words[i - 1]
            gap_x = prev.x + prev.w
            text += " "
            chars.append((gap_x, w.y, max(1, w.x - gap_x), w.h))
        n = max(len(w.text), 1)
        for k in range(len(w.text)):
            x0, x1 = w.x + w.w * k // n, w.x + w.w * (k + 1) // n
            chars.append((x0, w.y, max(1, x1 - x0), w.h))
        text += w.text
    return Line(text, tuple(chars), min(w.conf for w in words))


def _png(img: Gray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


class Tesseract:
    name = "tesseract"

    def __init__(self, threads: int | None = None) -> None:
        exe = shutil.which("tesseract")
        if exe is None:
            raise BadInput("tesseract is not installed (apt-get install tesseract-ocr)")
        self.exe = exe
        self.env: dict[str, str] | None = None
        if threads:
            import os

            self.env = {**os.environ, "OMP_THREAD_LIMIT": str(threads)}

    def read(self, img: Gray, psm: int = 11, line_base: int = 0) -> list[Box]:
        out = subprocess.run(
            [self.exe, "-", "-", "--psm", str(psm), "-l", "eng", "tsv"],
            input=_png(img),
            capture_output=True,
            check=False,
            timeout=120,
            env=self.env,
        )
        boxes: list[Box] = []
        for row in out.stdout.decode("utf-8", "replace").splitlines()[1:]:
            f = row.split("\t")
            if len(f) < 12 or f[0] != "5" or not f[11].strip():
                continue
            line = line_base + int(f[2]) * 10_000 + int(f[3]) * 100 + int(f[4])
            boxes.append(Box(int(f[6]), int(f[7]), int(f[8]), int(f[9]), f[11].strip(), float(f[10]), line))
        return boxes

    def read_lines(self, img: Gray) -> list[Line]:
        """Every text line in a frame: the union of several passes over the frame padded white."""
        lines: dict[int, list[Box]] = {}
        for b in read_multipass(self, np.pad(img, PAD, constant_values=255)):
            lines.setdefault(b.line, []).append(b)
        return [line_from_words(words).shifted(-PAD, -PAD) for words in lines.values()]


class RapidOCR:
    name = "rapidocr"

    def __init__(self, threads: int | None = None) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR as Engine
        except ImportError:
            raise BadInput("rapidocr is not installed (pip install rapidocr-onnxruntime)") from None
        limit = {f"{stage}_intra_op_num_threads": threads for stage in ("det", "cls", "rec")} if threads else {}
        # detect at the frame's own size (the default upscales to 736 px: slower, no better here)
        self.engine = Engine(det_limit_side_len=512, **limit)

    def read_lines(self, img: Gray) -> list[Line]:
        """Detect every text line, then read it with per-character boxes (one pass)."""
        result, _ = self.engine(np.stack([img] * 3, axis=-1), use_cls=False, return_word_box=True)
        lines: list[Line] = []
        for quad, text, conf, *chars in result or []:
            boxes = _rapid_char_boxes(quad, text, chars)
            if text.strip():
                lines.append(Line(text, boxes, float(conf) * 100))
        return lines


def _rapid_char_boxes(
    quad: Sequence[Sequence[float]], text: str, chars: Sequence[Any]
) -> tuple[tuple[int, int, int, int], ...]:
    """One box per character of ``text``: RapidOCR's own when it gives them, else even splits.

    ``quad`` is the line's four corner points; ``chars`` the untyped rest of
    RapidOCR's result row (with ``return_word_box``: the per-character quads,
    then the characters)."""
    xs, ys = [p[0] for p in quad], [p[1] for p in quad]
    x0, y0, x1, y1 = int(min(xs)), int(min(ys)), int(max(xs)) + 1, int(max(ys)) + 1
    if len(chars) == 3 and len(chars[1]) == len(text):
        out: list[tuple[int, int, int, int]] = []
        for q in chars[0]:
            cx, cy = [p[0] for p in q], [p[1] for p in q]
            out.append((int(min(cx)), int(min(cy)), int(max(cx) - min(cx)) + 1, int(max(cy) - min(cy)) + 1))
        return tuple(out)
    n = max(len(text), 1)
    return tuple((x0 + (x1 - x0) * k // n, y0, max(1, (x1 - x0) // n), y1 - y0) for k in range(n))


@runtime_checkable
class OcrEngine(Protocol):
    """What the pixel cleaner needs from an OCR engine.

    ``read_lines(img)`` takes one frame as a 2-D ``uint8`` array, dark text on
    a light background (as :func:`govkit.deid.pixels.redact.frames_for_ocr`
    renders it), must not modify it, and returns every text line it reads as
    a :class:`Line`: the text and exactly one ``(x, y, w, h)`` box per
    character, in the frame's pixel coordinates (inside the frame), with a
    confidence in 0–100.  An image without text gives ``[]``.  ``name`` is the
    engine's key in :data:`ENGINES`.
    """

    name: str

    def read_lines(self, img: Gray) -> list[Line]: ...


#: An engine class (or factory) takes the CPU threads it may use (None: all) and
#: raises :class:`~govkit.errors.BadInput` when its software is not installed.
EngineFactory = Callable[[int | None], OcrEngine]

#: The registered OCR engines, by name (``--ocr-engine``).
ENGINES: dict[str, EngineFactory] = {"rapidocr": RapidOCR, "tesseract": Tesseract}
DEFAULT_ENGINE = "rapidocr"


def get_engine(name: str, threads: int | None = None) -> OcrEngine:
    """The OCR engine ``name``; ``threads`` caps its CPU threads (for one of several worker processes)."""
    if name not in ENGINES:
        raise BadInput(f"unknown OCR engine {name!r}; known: {', '.join(ENGINES)}")
    return ENGINES[name](threads)


def otsu(img: Gray) -> int:
    hist = np.bincount(img.ravel(), minlength=256).astype(np.float64)
    w = np.cumsum(hist)
    mu = np.cumsum(hist * np.arange(256))
    total, mu_t = w[-1], mu[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu_t * w - mu * total) ** 2 / (w * (total - w))
    if np.isnan(between).all():  # a uniform image: one grey level
        return int(img.min())
    return int(np.nanargmax(between))


def passes(img: Gray) -> list[tuple[Gray, int]]:
    """(image, scale) variants: as rendered, Otsu-binarised, the darkest 3 % alone
    (saturated annotation text), each also 2× upscaled."""
    from PIL import Image

    binar = np.where(img > otsu(img), 255, 0).astype(np.uint8)
    darkest = np.where(img <= np.percentile(img, 3), 0, 255).astype(np.uint8)
    out: list[tuple[Gray, int]] = []
    for v in (img, binar, darkest):
        out.append((v, 1))
        big = Image.fromarray(v).resize((v.shape[1] * 2, v.shape[0] * 2), Image.Resampling.BICUBIC)
        out.append((np.asarray(big, dtype=np.uint8), 2))
    return out


class WordReader(Protocol):
    """An engine that reads word boxes in one pass with a segmentation mode (Tesseract's ``psm``);
    ``line_base`` is added to the line ids so that passes keep their lines apart."""

    def read(self, img: Gray, psm: int = ..., line_base: int = ...) -> list[Box]: ...


def read_multipass(engine: WordReader, img: Gray) -> list[Box]:
    """Union of the passes' word boxes (coordinates mapped back to the image)."""
    boxes: list[Box] = []
    for k, (variant, scale) in enumerate(passes(img)):
        for b in engine.read(variant, psm=11, line_base=k * 10**8):
            box = Box(
                b.x // scale,
                b.y // scale,
                (b.w + scale - 1) // scale,
                (b.h + scale - 1) // scale,
                b.text,
                b.conf,
                b.line,
            )
            if not any(box.iou(o) > 0.5 and _similar(box.text, o.text) for o in boxes):
                boxes.append(box)
    return boxes


def _similar(a: str, b: str) -> bool:
    return a.strip().upper() == b.strip().upper()

"""OCR engines for burned-in text: Tesseract (default) and RapidOCR.

Each engine reads a dark-text-on-light 8-bit image and returns word boxes.
:func:`read_multipass` runs several passes (sparse-text segmentation on the
image as rendered, and on a 2× upscaled copy) and takes the union: no
single setting reads every case.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

from govkit.errors import BadInput


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


def _png(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


class Tesseract:
    name = "tesseract"

    def __init__(self) -> None:
        self.exe = shutil.which("tesseract")
        if self.exe is None:
            raise BadInput("tesseract is not installed (apt-get install tesseract-ocr)")

    def read(self, img: np.ndarray, psm: int = 11, line_base: int = 0) -> list[Box]:
        out = subprocess.run([self.exe, "-", "-", "--psm", str(psm), "-l", "eng", "tsv"], input=_png(img),
                             capture_output=True, check=False, timeout=120)
        boxes = []
        for row in out.stdout.decode("utf-8", "replace").splitlines()[1:]:
            f = row.split("\t")
            if len(f) < 12 or f[0] != "5" or not f[11].strip():
                continue
            line = line_base + int(f[2]) * 10_000 + int(f[3]) * 100 + int(f[4])
            boxes.append(Box(int(f[6]), int(f[7]), int(f[8]), int(f[9]), f[11].strip(), float(f[10]), line))
        return boxes


class RapidOCR:
    name = "rapidocr"

    def __init__(self) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR as Engine
        except ImportError:
            raise BadInput("rapidocr is not installed (pip install rapidocr-onnxruntime)") from None
        self.engine = Engine()

    def read(self, img: np.ndarray, psm: int = 11, line_base: int = 0) -> list[Box]:
        result, _ = self.engine(np.stack([img] * 3, axis=-1))
        boxes = []
        for i, (quad, text, conf) in enumerate(result or []):
            xs, ys = [p[0] for p in quad], [p[1] for p in quad]
            x0, y0 = int(min(xs)), int(min(ys))
            words = text.split()
            width = (max(xs) - x0) / max(len(text), 1)
            pos = 0
            for word in words:  # split a line box into word boxes by character position
                start = text.index(word, pos)
                boxes.append(Box(int(x0 + start * width), y0, int(len(word) * width) + 1, int(max(ys) - y0),
                                 word, float(conf) * 100, line_base + i))
                pos = start + len(word)
        return boxes


ENGINES = {"tesseract": Tesseract, "rapidocr": RapidOCR}


def get_engine(name: str):
    if name not in ENGINES:
        raise BadInput(f"unknown OCR engine {name!r}; known: {', '.join(ENGINES)}")
    return ENGINES[name]()


def otsu(img: np.ndarray) -> int:
    hist = np.bincount(img.ravel(), minlength=256).astype(np.float64)
    w = np.cumsum(hist)
    mu = np.cumsum(hist * np.arange(256))
    total, mu_t = w[-1], mu[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu_t * w - mu * total) ** 2 / (w * (total - w))
    return int(np.nanargmax(between))


def passes(img: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """(image, scale) variants: as rendered, Otsu-binarised, the darkest 3 % alone
    (saturated annotation text), each also 2× upscaled."""
    from PIL import Image

    binar = np.where(img > otsu(img), 255, 0).astype(np.uint8)
    darkest = np.where(img <= np.percentile(img, 3), 0, 255).astype(np.uint8)
    out = []
    for v in (img, binar, darkest):
        out.append((v, 1))
        out.append((np.asarray(Image.fromarray(v).resize((v.shape[1] * 2, v.shape[0] * 2), Image.BICUBIC)), 2))
    return out


def read_multipass(engine, img: np.ndarray) -> list[Box]:
    """Union of the passes' word boxes (coordinates mapped back to the image)."""
    boxes: list[Box] = []
    for k, (variant, scale) in enumerate(passes(img)):
        for b in engine.read(variant, psm=11, line_base=k * 10**8):
            box = Box(b.x // scale, b.y // scale, (b.w + scale - 1) // scale, (b.h + scale - 1) // scale,
                      b.text, b.conf, b.line)
            if not any(box.iou(o) > 0.5 and _similar(box.text, o.text) for o in boxes):
                boxes.append(box)
    return boxes


def _similar(a: str, b: str) -> bool:
    return a.strip().upper() == b.strip().upper()

"""Image signatures for duplicate search: an exact digest and a compact embedding.

* **Exact duplicates** share the digest of their pixel array as read
  (shape and float32 values; SHA-1, first 16 bytes), whatever their file or ID.
* **Near duplicates** (re-exports, intensity or contrast changes, noise,
  re-compression, small crops) are close in a perceptual embedding: the image
  is reduced to grey, area-resampled to 32×32 and described by its 10×10
  lowest 2-D DCT-II frequencies without the DC term (99 numbers), scaled to
  unit norm (an intensity shift or a gain leaves them unchanged), as in
  the perceptual hash of Zauner (2010, "Implementation and benchmarking of
  perceptual image hash functions").  :func:`embed` then
  centres and scales each coefficient over all images of the audit (so the
  anatomy every image shares does not make unrelated images look alike) and
  normalises to unit length; the distance of two images is ``1 − cos``.

Flipped, rotated and inverted copies: :data:`VARIANTS`, :func:`transform_coeffs`,
:data:`PARITY` and :func:`facing` (the variants are exact sign changes and
transpositions of the band, so no pixel is read twice).

A 32×32 grid tolerates a 1–2 pixel crop of a 64×64 image (under one cell),
and the 10×10 band keeps enough detail that unrelated images of one anatomy
stay far apart: the default threshold is calibrated in
``tests/data/test_leakage.py`` on planted copies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from govkit.data.index import single_threaded_blas
from govkit.models.datasets import ImageData

THUMB = 32  # side of the area-resampled thumbnail
BAND = 10  # DCT frequencies kept per axis (the DC term is dropped)
BATCH = 1024


@dataclass
class Signatures:
    """Per image: ``digest`` (16 bytes, exact content) and ``coeffs`` (low DCT band).

    ``flat`` marks images without contrast (every pixel equal): they have no
    embedding and only take part in the exact-duplicate search.  ``finite``
    is False for an image with a NaN or infinite pixel (or one beyond the
    float32 range): it has no embedding either, and
    :func:`govkit.data.audit.run_audit` refuses the split.
    """

    digest: np.ndarray  # (N,) dtype "S16"
    coeffs: np.ndarray  # (N, BAND*BAND - 1) float32
    flat: np.ndarray  # (N,) bool
    finite: np.ndarray  # (N,) bool


@lru_cache(maxsize=16)
def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out × n_in) matrix averaging the input cells that fall in each output cell."""
    edges = np.linspace(0.0, n_in, n_out + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    j = np.arange(n_in)[None, :]
    w = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0.0, None)
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


@lru_cache(maxsize=4)
def dct_matrix(n: int, k: int) -> np.ndarray:
    """The first ``k`` rows of the orthonormal DCT-II matrix of size ``n``."""
    i = np.arange(n)
    d = np.cos(np.pi * (2 * i[None, :] + 1) * np.arange(k)[:, None] / (2 * n))
    d[0] *= np.sqrt(1.0 / n)
    d[1:] *= np.sqrt(2.0 / n)
    return d.astype(np.float32)


def _right(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``x @ m.T`` for a stack of matrices, as one large matrix product."""
    b, r, c = x.shape
    return (x.reshape(b * r, c) @ m.T).reshape(b, r, m.shape[0])


def _both(x: np.ndarray, mh: np.ndarray, mw: np.ndarray) -> np.ndarray:
    """``mh @ x @ mw.T`` for each matrix of the stack ``x``."""
    y = _right(x, mw).transpose(0, 2, 1)
    return _right(np.ascontiguousarray(y), mh).transpose(0, 2, 1)


def batch_signatures(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digests, DCT coefficients, flat and finite flags of a batch of same-size images (N×C×H×W)."""
    images = np.ascontiguousarray(images, dtype=np.float32)
    n, _, h, w = images.shape
    shape = repr(images.shape[1:]).encode()
    digest = np.array(
        [hashlib.sha1(shape + im.tobytes(), usedforsecurity=False).digest()[:16] for im in images], dtype="S16"
    )
    finite = np.isfinite(images).all(axis=(1, 2, 3))
    if not finite.all():  # a NaN or infinite pixel: that image gets no embedding (zeros, like a flat one)
        images = np.where(finite[:, None, None, None], images, np.float32(0))
    grey = images.mean(axis=1) if images.shape[1] > 1 else images[:, 0]
    d = dct_matrix(THUMB, BAND)
    # resampling and the DCT are both linear: one product per axis
    band = _both(grey, d @ area_matrix(h, THUMB), d @ area_matrix(w, THUMB)).reshape(n, BAND * BAND)[:, 1:]
    # the DC term (brightness) is dropped; dividing by the norm of the band removes the gain
    norm = np.linalg.norm(band, axis=1, keepdims=True)
    finite &= np.isfinite(norm.reshape(n))  # pixels so large that the band overflows float32
    flat = ~finite | (norm.reshape(n) < 1e-6)
    coeffs = np.where(flat[:, None], 0.0, band / np.where(flat, 1.0, norm.reshape(n))[:, None])
    return digest, coeffs.astype(np.float32), flat, finite


def _batches(data: ImageData, batch: int) -> Iterator[np.ndarray]:
    """Images in dataset order, in batches of equal size (files of other sizes alone)."""
    n = len(data)
    for start in range(0, n, batch):
        idx = np.arange(start, min(start + batch, n))
        try:
            yield data.images(idx)
        except ValueError:  # a manifest of images with different sizes: one at a time
            for i in idx:
                yield data.image(int(i))[None]


def signatures(data: ImageData, batch: int = BATCH) -> Signatures:
    """Signatures of every image of ``data``, streamed in batches (products too small for BLAS threads)."""
    with single_threaded_blas():
        parts = [batch_signatures(x) for x in _batches(data, batch)]
    if not parts:
        empty = np.zeros(0, bool)
        return Signatures(np.zeros(0, "S16"), np.zeros((0, BAND * BAND - 1), np.float32), empty, empty)
    return Signatures(*(np.concatenate(p) for p in zip(*parts, strict=True)))


#: Variants of an image searched against the other splits, by name: (transpose,
#: then flip rows, then flip columns, then invert) in the pixel domain.  Each
#: is exact on the band: a flip negates the odd frequencies of its axis, a
#: transpose swaps the axes, an inversion (``1 − x``, a MONOCHROME1 re-export)
#: negates every coefficient once the DC term is gone.
_DIHEDRAL = {
    "identity": (False, False, False),
    "flip-h": (False, False, True),
    "flip-v": (False, True, False),
    "rotate-180": (False, True, True),
    "transpose": (True, False, False),
    "rotate-90": (True, True, False),  # np.rot90(x, 1)
    "rotate-270": (True, False, True),  # np.rot90(x, -1)
    "anti-transpose": (True, True, True),
}
VARIANTS: dict[str, tuple[bool, bool, bool, bool]] = {
    **{k: (*v, False) for k, v in _DIHEDRAL.items()},
    **{("invert" if k == "identity" else f"{k}+invert"): (*v, True) for k, v in _DIHEDRAL.items()},
}


_U, _V = np.meshgrid(np.arange(BAND), np.arange(BAND), indexing="ij")
#: Sign class of each band coefficient (frequency u down the rows, v across):
#: ``2·(u mod 2) + (v mod 2)``.  A column flip (``flip-h``) negates classes 1
#: and 3 (odd v), a row flip (``flip-v``) classes 2 and 3 (odd u): the 4
#: flips of an image are the sign patterns (1, a, b, a·b) over the classes,
#: what :func:`govkit.data.index.flip_pairs` relies on.
PARITY: np.ndarray = (2 * (_U % 2) + (_V % 2)).reshape(-1)[1:]


def transform_coeffs(coeffs: np.ndarray, name: str) -> np.ndarray:
    """The band of every image after the variant ``name``, from its band (no pixels needed)."""
    transpose, flip_rows, flip_cols, invert = VARIANTS[name]
    c = np.concatenate([np.zeros((len(coeffs), 1), np.float32), coeffs], axis=1).reshape(-1, BAND, BAND)
    if transpose:
        c = c.transpose(0, 2, 1)
    odd = (-1.0) ** np.arange(BAND)
    sign = np.outer(odd if flip_rows else np.ones(BAND), odd if flip_cols else np.ones(BAND))
    return (c * (-sign if invert else sign)).reshape(len(coeffs), -1)[:, 1:].astype(np.float32)


def facing(coeffs: np.ndarray, flat: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Signs and standardisation that make :func:`embed` see through the variants.

    Each image is signed (``±1``) so that its band faces the mean band of the
    audit averaged over the 8 symmetries (an inverted copy then embeds like
    its original), and the mean and spread of the signed bands are averaged
    over the 8 symmetries too: a flipped or rotated copy's embedding is then
    exactly the variant of its original's (what the variant queries rely on),
    while the anatomy every image shares is still centred away.
    """
    ok = ~flat
    dihedral = [k for k, v in VARIANTS.items() if not v[3]]

    def orbit_mean(row: np.ndarray, square: bool = False) -> np.ndarray:
        rows = [transform_coeffs(row[None].astype(np.float32), k)[0] for k in dihedral]
        return np.mean(np.abs(rows) if square else rows, axis=0)

    if not ok.any():
        return np.ones(len(coeffs), np.float32), (np.zeros(coeffs.shape[1]), np.ones(coeffs.shape[1]))
    c = coeffs[ok].astype(np.float64)
    sign = np.where(coeffs @ orbit_mean(c.mean(axis=0)) < 0, -1.0, 1.0).astype(np.float32)
    c *= sign[ok, None]
    mean = orbit_mean(c.mean(axis=0)).astype(np.float64)
    var = orbit_mean((c**2).mean(axis=0), square=True) - mean**2
    return sign, (mean, np.sqrt(np.maximum(var, 1e-18)))


def embed(coeffs: np.ndarray, flat: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Unit-length embeddings: coefficients centred and scaled (by ``stats``, default their own) for non-flat images."""
    out = np.zeros_like(coeffs, dtype=np.float32)
    ok = ~flat
    if ok.sum() == 0:
        return out
    c = coeffs[ok].astype(np.float64)
    mean, std = (c.mean(axis=0), np.maximum(c.std(axis=0), 1e-9)) if stats is None else stats
    z = (c - mean) / std
    z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    out[ok] = z
    return out

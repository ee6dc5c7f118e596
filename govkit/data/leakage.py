"""Leakage between splits: shared patients, exact and near-duplicate images.

The split under audit (DATA) is compared with each OTHER split.  A pair
inside DATA is a duplicate *within* the dataset (reported under balance and
warnings: it inflates the data, it does not leak); a pair between DATA and an
OTHER is leakage.  Pairs between two OTHER splits are not searched.

Exact duplicates are found by digest (:mod:`govkit.data.hashing`); the
near-duplicate search runs once per distinct image (exact copies collapsed),
so a thousand copies of one image cost one search, and every pair is then
expanded back to the images.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from govkit.data.hashing import PARITY, VARIANTS, Signatures, embed, facing, transform_coeffs
from govkit.data.index import bucket_pairs, cross_method, flip_pairs, near_pairs, query_pairs
from govkit.models.datasets import ImageData

#: Cosine distance (1 − cos) under which two images are near-duplicates;
#: calibrated on planted copies: the farthest is a 2-row crop padded back,
#: 0.19 in tests/data/test_leakage.py, 0.23 with 6,000 images and 0.256 with
#: 100,000 (benchmarks/data_audit_speed.py: 0.25 missed it); the closest
#: unrelated pair is 0.40 in the test corpus, 0.33 with 100,000 images and
#: 0.32 on the example lesion task.  A thin margin on both sides.
DEFAULT_THRESHOLD = 0.28

#: What the near-duplicate search at :data:`DEFAULT_THRESHOLD` is calibrated to
#: find and what it may miss, as every audit states it (``search.scope``).
#: Measured on 64×64 images (``govkit.testing.data_corpus``, 1,500 images
#: per split, 40 copies of each alteration: a 3×3 mark at most 0.23, a 4×4
#: one 37 of 40 found, a 5° rotation and a 5% zoom at most 0.25; pixel
#: figures scale with the image side, the embedding reads a 32×32 thumbnail)
#: and pinned by ``tests/data/test_leakage.py::test_detection_envelope``: one
#: global perceptual embedding cannot tell a larger local edit or shift from
#: an unrelated image of the same anatomy (an 8×8 marker box and a 4-pixel
#: shift lie at 0.48–0.65, a full-width 1-pixel line at up to 0.53, a 7°
#: rotation at 0.30–0.42, the closest unrelated pairs at 0.32–0.40).
SCOPE = {
    "finds": (
        "near copies made by an intensity shift or gain, noise, blur or JPEG re-compression; "
        "a crop of up to 3% of the image side (2 of 64 pixels) resized or padded back; a 1-pixel shift; "
        "a rotation up to 3 degrees; a burned-in mark up to 0.2% of the image (a 3x3-pixel box in 64x64); "
        "flips, 90/180/270-degree rotations, transposes and inversions of these"
    ),
    "may_miss": (
        "larger edits: crops or shifts of 3 or more pixels of 64 (2-pixel wrap-around shifts are borderline), "
        "rotations of 7 degrees or more (5 degrees and a 5% zoom are borderline), zooms of 10% or more, "
        "burned-in marks, boxes, letters or annotations of 4x4 pixels in 64x64 or more, a ruler or line "
        "across the image"
    ),
}


@dataclass
class Split:
    key: str  # the name pairs are reported under
    data: ImageData
    sig: Signatures


@dataclass
class PairSet:
    """Exact and near-duplicate pairs between DATA and one split (or within DATA)."""

    duplicate: list[dict[str, Any]] = field(default_factory=list)
    near: list[dict[str, Any]] = field(default_factory=list)


def _patient_key(value: Any) -> str:
    text = unicodedata.normalize("NFKC", str(value)).strip().casefold()
    try:  # 7, 7.0 and "007" are one patient when the IDs are numbers
        number = float(text)
    except ValueError:
        return text
    return repr(int(number)) if number.is_integer() else repr(number)


def patient_keys(ids: np.ndarray) -> np.ndarray:
    """Patient IDs as compared across splits: Unicode-normalised (NFKC, so
    full-width digits are digits), stripped, case-folded, and numbers by value;
    an export that changed an ID's case, padding or type is the same patient."""
    return np.array([_patient_key(v) for v in ids.tolist()], dtype=str)


def patient_overlap(a: Split, b: Split) -> list[dict[str, Any]] | None:
    """One entry per patient present in both splits (None when either has no patient IDs)."""
    if a.data.patient_id is None or b.data.patient_id is None:
        return None
    pa, pb = patient_keys(a.data.patient_id), patient_keys(b.data.patient_id)
    common, ia, ib = np.intersect1d(pa, pb, return_indices=True)  # first occurrence of each
    return [
        {"kind": "patient", "a": f"{a.key}[{i}]", "b": f"{b.key}[{j}]", "distance": None, "patient": str(p)}
        for p, i, j in zip(common, ia, ib, strict=True)
    ]


def _invert(name: str) -> str:
    """The variant ``name`` followed by an inversion (or without it)."""
    if name == "identity":
        return "invert"
    if name == "invert":
        return "identity"
    return name.removesuffix("+invert") if name.endswith("+invert") else f"{name}+invert"


def variant_pairs(
    faced: np.ndarray,
    flat: np.ndarray,
    stats: tuple[np.ndarray, np.ndarray],
    emb: np.ndarray,
    q_rows: np.ndarray,
    ix_rows: np.ndarray,
    threshold: float,
    method: str,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """Pairs (DATA row, other row, distance, variant index) under the closest of the 16 variants of DATA's image.

    ``exhaustive``: :func:`~govkit.data.index.flip_pairs` twice (the band as
    stored and transposed; each pass covers its 4 flips and their
    inversions); its survivors are verified against each variant's own
    embedding.  Exact: no pair within the threshold is missed (the filter
    keeps a float32 rounding margin) and none outside it is reported; it
    finds what comparing each variant's embedding with every row finds
    (``tests/data/test_search.py``).  ``lsh``: the 16 variants' embeddings
    queried against one index of the other rows
    (:func:`~govkit.data.index.query_pairs`): a pair exactly at the threshold
    is missed with probability ≤ 1 − RECALL, closer pairs far less often.
    """
    names = list(VARIANTS)
    m = len(q_rows)
    if method == "auto":
        method = cross_method(m, len(ix_rows), threshold, len(names))
    if method == "lsh":
        queries = np.concatenate([embed(transform_coeffs(faced[q_rows], v), flat[q_rows], stats) for v in names])
        qi, xi, dist = query_pairs(emb[ix_rows], queries, threshold, seed=seed)
        return q_rows[qi % m], ix_rows[xi], dist, qi // m, method
    found = []
    for base in ("identity", "transpose"):
        q = embed(transform_coeffs(faced[q_rows], base), flat[q_rows], stats)
        q_inv = embed(transform_coeffs(faced[q_rows], _invert(base)), flat[q_rows], stats)
        a, b = flip_pairs(q, q_inv, emb[ix_rows], PARITY, threshold)
        found.append(a * len(ix_rows) + b)
    code = np.unique(np.concatenate(found))
    g1, g2 = q_rows[code // len(ix_rows)], ix_rows[code % len(ix_rows)]
    if not len(code):
        return g1, g2, np.zeros(0), np.zeros(0, np.int64), method
    sims = np.stack(
        [np.einsum("ij,ij->i", embed(transform_coeffs(faced[g1], v), flat[g1], stats), emb[g2]) for v in names]
    )
    best = sims.argmax(axis=0)  # the first of equals: the identity before any variant
    sim = sims[best, np.arange(len(best))]
    ok = sim >= 1.0 - threshold
    return g1[ok], g2[ok], 1.0 - sim[ok], best[ok], method


def image_pairs(
    splits: list[Split], threshold: float, *, method: str = "auto", seed: int = 0
) -> tuple[dict[int, PairSet], dict[str, Any]]:
    """Exact and near-duplicate pairs of ``splits[0]`` with itself (key 0) and each other split (key k)."""
    sizes = [len(s.data) for s in splits]
    owner = np.repeat(np.arange(len(splits)), sizes)
    local = np.concatenate([np.arange(n) for n in sizes]) if sizes else np.zeros(0, int)
    digest = np.concatenate([s.sig.digest for s in splits])
    coeffs = np.concatenate([s.sig.coeffs for s in splits])
    flat = np.concatenate([s.sig.flat for s in splits])
    _, rep, group = np.unique(digest, return_index=True, return_inverse=True)
    group = group.reshape(-1)
    # members of each group, in image order
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(len(rep)))
    counts = np.bincount(group, minlength=len(rep))
    in_first = np.bincount(group, weights=(owner == 0), minlength=len(rep)) > 0
    out: dict[int, PairSet] = {k: PairSet() for k in range(len(splits))}

    def add(kind: str, i: np.ndarray, j: np.ndarray, dist: np.ndarray, transform: str = "identity") -> None:
        for a, b, d in zip(i.tolist(), j.tolist(), dist.tolist(), strict=True):
            oa, ob = owner[a], owner[b]
            if oa != 0:
                a, b, oa, ob = b, a, ob, oa
            if oa != 0:
                continue
            entry = {
                "kind": kind,
                "a": f"{splits[0].key}[{local[a]}]",
                "b": f"{splits[ob].key}[{local[b]}]",
                "distance": round(float(d), 6),
                "transform": transform,
            }
            target = out[int(ob)]
            (target.duplicate if kind == "duplicate" else target.near).append(entry)

    # exact duplicates: every pair inside a group of identical images
    a, b = bucket_pairs(group)
    add("duplicate", a, b, np.zeros(len(a)))
    # near duplicates between distinct images (group representatives)
    sign, stats = facing(coeffs[rep], flat[rep])
    faced = coeffs[rep] * sign[:, None]
    emb = embed(faced, flat[rep], stats)
    in_other = np.bincount(group, weights=(owner != 0), minlength=len(rep)) > 0
    q_rows, ix_rows = np.nonzero(in_first)[0], np.nonzero(in_other)[0]
    # inside DATA: the images as stored (identity) only
    wi, wj, dist, within_used = near_pairs(emb[q_rows], np.ones(len(q_rows), bool), threshold, method=method, seed=seed)
    gi, gj = q_rows[wi], q_rows[wj]
    variant = np.zeros(len(gi), np.int64)
    # DATA against the other splits: every variant of DATA's images (flipped,
    # rotated, inverted copies) against the other splits' images
    names = list(VARIANTS)
    used = within_used
    if len(q_rows) and len(ix_rows):
        c1, c2, qd, qv, used = variant_pairs(faced, flat[rep], stats, emb, q_rows, ix_rows, threshold, method, seed)
        keep = c1 != c2
        gi, gj = np.r_[gi, c1[keep]], np.r_[gj, c2[keep]]
        dist, variant = np.r_[dist, qd[keep]], np.r_[variant, qv[keep]]
    # images facing opposite ways (signs differ): the copy is also inverted
    toggle = sign[gi] * sign[gj] < 0
    variant = np.array(
        [names.index(_invert(names[v])) if t else v for v, t in zip(variant, toggle, strict=True)], np.int64
    )
    # each pair of groups once, under its closest variant
    lo, hi = np.minimum(gi, gj), np.maximum(gi, gj)
    best = np.lexsort((dist, hi, lo))
    best = best[np.r_[True, (lo[best][1:] != lo[best][:-1]) | (hi[best][1:] != hi[best][:-1])]] if len(best) else best
    for g1, g2, d, v in zip(
        lo[best].tolist(), hi[best].tolist(), dist[best].tolist(), variant[best].tolist(), strict=True
    ):
        m1 = order[starts[g1] : starts[g1] + counts[g1]]
        m2 = order[starts[g2] : starts[g2] + counts[g2]]
        i, j = np.meshgrid(m1, m2, indexing="ij")
        add("near-duplicate", i.ravel(), j.ravel(), np.full(i.size, d), names[v])
    info = {
        "method": used,
        "within_method": within_used,
        "threshold": threshold,
        "distinct_images": len(rep),
        "flat_images": int(flat.sum()),
        "scope": {**SCOPE, "at_threshold": DEFAULT_THRESHOLD},
    }
    return out, info

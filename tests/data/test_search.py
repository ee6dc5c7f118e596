"""The flip/invert search finds exactly what a search of every variant one by one finds.

:func:`govkit.data.index.flip_pairs` gets the 4 flips of a query and of its
inversion from one product split in four sign classes, and
:func:`govkit.data.leakage.variant_pairs` adds a pass for the transposes;
the references here compare every variant's own vector with every row.
"""

from __future__ import annotations

import numpy as np
import pytest

from govkit.data.hashing import PARITY, VARIANTS, Signatures, batch_signatures, embed, facing, transform_coeffs
from govkit.data.index import flip_pairs
from govkit.data.leakage import Split, image_pairs, variant_pairs
from govkit.testing.data_corpus import images

#: The 4 flips as sign patterns over the classes 0–3 of PARITY: (1, a, b, a·b).
FLIPS = [np.array([1, a, b, a * b], np.float32) for a in (1, -1) for b in (1, -1)]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _at_angle(v: np.ndarray, cos: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector whose cosine with the unit vector ``v`` is exactly ``cos``."""
    w = rng.standard_normal(v.shape)
    w -= (w @ v) * v
    return _unit(cos * v + np.sqrt(1 - cos**2) * _unit(w))


def test_flip_pairs_equals_the_8_variants_one_by_one_at_the_threshold():
    """Rows planted just inside and just outside the threshold from every flip of q and of q_inv."""
    rng = np.random.default_rng(0)
    threshold, margin = 0.25, 2e-3
    m, d = 40, len(PARITY)
    q = _unit(rng.standard_normal((m, d)))
    # an inversion: the class-0 part changes (centring), the rest is −r·q
    r = rng.uniform(0.5, 2.0, m)
    q_inv = np.where(PARITY == 0, rng.standard_normal((m, d)), -r[:, None] * q)
    q_inv = _unit(q_inv)
    variants = [s[PARITY] * q for s in FLIPS] + [s[PARITY] * q_inv for s in FLIPS]
    rows = []
    for k in range(m):
        for v in variants:
            for dist in (threshold - margin, threshold + margin):
                rows.append(_at_angle(v[k], 1 - dist, rng))
    e = np.concatenate([np.array(rows), _unit(rng.standard_normal((500, d)))])
    best = np.max([v @ e.T for v in variants], axis=0)
    want = set(zip(*np.nonzero(best >= 1 - threshold), strict=True))
    assert len(want) >= 8 * m  # every variant's inside row is a pair
    a, b = flip_pairs(q, q_inv, e, PARITY, threshold)
    got = set(zip(a.tolist(), b.tolist(), strict=True))
    assert got == {(int(i), int(j)) for i, j in want}


def test_flip_pairs_refuses_inverted_queries_of_another_shape():
    rng = np.random.default_rng(1)
    q = _unit(rng.standard_normal((5, len(PARITY))))
    with pytest.raises(RuntimeError, match="sign-invariant"):
        flip_pairs(q, _unit(rng.standard_normal((5, len(PARITY)))), q, PARITY, 0.25)


def _reference(faced, flat, stats, emb, q_rows, ix_rows, threshold):
    """Every one of the 16 variants' embeddings against every row: {(q, row): (distance, variant)}."""
    best: dict[tuple[int, int], tuple[float, int]] = {}
    for k, v in enumerate(VARIANTS):
        sim = embed(transform_coeffs(faced[q_rows], v), flat[q_rows], stats) @ emb[ix_rows].T
        for a, b in zip(*np.nonzero(sim >= 1 - threshold), strict=True):
            key = (int(q_rows[a]), int(ix_rows[b]))
            if key not in best or 1 - sim[a, b] < best[key][0] - 1e-6:
                best[key] = (float(1 - sim[a, b]), k)
    return best


@pytest.mark.parametrize("threshold", [0.25, 0.6])
def test_variant_pairs_equals_the_16_variants_one_by_one(planted, threshold):
    """On the planted corpus (every alteration) and, at 0.6, hundreds of unrelated pairs near the threshold."""
    a, b = planted["arrays"]
    coeffs = np.concatenate([batch_signatures(a["x"])[1], batch_signatures(b["x"])[1]])
    flat = np.zeros(len(coeffs), bool)
    sign, stats = facing(coeffs, flat)
    faced = coeffs * sign[:, None]
    emb = embed(faced, flat, stats)
    q_rows, ix_rows = np.arange(len(a["x"])), len(a["x"]) + np.arange(len(b["x"]))
    want = _reference(faced, flat, stats, emb, q_rows, ix_rows, threshold)
    g1, g2, dist, variant, used = variant_pairs(faced, flat, stats, emb, q_rows, ix_rows, threshold, "exhaustive", 0)
    assert used == "exhaustive"
    got = {(int(i), int(j)): (float(d), int(v)) for i, j, d, v in zip(g1, g2, dist, variant, strict=True)}
    assert set(got) == set(want)
    assert len(want) > (300 if threshold == 0.6 else len(planted["truth"]["near"]))
    for key, (d, v) in want.items():
        assert abs(got[key][0] - d) < 1e-5
        assert got[key][1] == v


def test_variant_pairs_finds_each_variant_of_the_band_under_its_own_name(planted):
    """Bands planted as each of the 16 variants (inverted ones included: signs not re-faced, so the
    inverted queries of flip_pairs are what finds them), with noise, among the other split's bands."""
    a, b = planted["arrays"]
    coeffs = np.concatenate([batch_signatures(a["x"])[1], batch_signatures(b["x"])[1]])
    flat = np.zeros(len(coeffs), bool)
    sign, stats = facing(coeffs, flat)
    faced = coeffs * sign[:, None]
    n_a = len(a["x"])
    rng = np.random.default_rng(2)
    names = list(VARIANTS)
    for k, v in enumerate(names):
        src, dst = 100 + k, n_a + 200 + k
        faced[dst] = transform_coeffs(faced[src : src + 1], v)[0] + rng.normal(scale=0.005, size=faced.shape[1])
    emb = embed(faced, flat, stats)
    q_rows, ix_rows = np.arange(n_a), n_a + np.arange(len(b["x"]))
    g1, g2, _, variant, _ = variant_pairs(faced, flat, stats, emb, q_rows, ix_rows, 0.25, "exhaustive", 0)
    got = {(int(i), int(j)): names[v] for i, j, v in zip(g1, g2, variant, strict=True)}
    for k, v in enumerate(names):
        assert got.get((100 + k, n_a + 200 + k)) == v, v


_PIXEL_VARIANTS = {
    "identity": lambda x: x,
    "flip-h": lambda x: x[..., ::-1],
    "flip-v": lambda x: x[..., ::-1, :],
    "rotate-180": lambda x: x[..., ::-1, ::-1],
    "transpose": lambda x: x.swapaxes(-1, -2),
    "rotate-90": lambda x: np.rot90(x, 1, axes=(-2, -1)),
    "rotate-270": lambda x: np.rot90(x, -1, axes=(-2, -1)),
    "anti-transpose": lambda x: x[..., ::-1, ::-1].swapaxes(-1, -2),
}


class _Images:
    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)


@pytest.mark.parametrize("search", ["exhaustive", "lsh"])
def test_a_copy_under_each_of_the_16_variants_is_found_under_its_name(search):
    """Each dihedral variant, inverted or not, of a DATA image planted (with noise) in the other split."""
    rng = np.random.default_rng(5)
    a, b = images(300, rng), images(300, rng)
    names = list(VARIANTS)
    for k, name in enumerate(names):
        base, inverted = name.removesuffix("+invert"), name.endswith("+invert") or name == "invert"
        x = _PIXEL_VARIANTS["identity" if name == "invert" else base](a[k])
        x = (1 - x if inverted else x) + rng.normal(scale=0.01, size=x.shape)
        b[k] = np.clip(x, 0, 1)
    splits = [Split(key, _Images(x), Signatures(*batch_signatures(x))) for key, x in (("A", a), ("B", b))]
    pairs, info = image_pairs(splits, 0.25, method=search)
    assert info["method"] == search
    got = {(p["a"], p["b"]): p["transform"] for p in pairs[1].near}
    assert got == {(f"A[{k}]", f"B[{k}]"): name for k, name in enumerate(names)}


@pytest.mark.parametrize("search", ["exhaustive", "lsh"])
def test_near_pairs_finds_each_pair_with_a_first_row_once(search):
    """The identity search (inside DATA): every pair with a first row, once, none with itself."""
    from govkit.data.index import near_pairs

    rng = np.random.default_rng(0)
    e = _unit(rng.standard_normal((1500, 8)))
    e[7] = 0  # no embedding (a flat image): takes no part
    first = rng.random(1500) < 0.4
    sim = e @ e.T
    a, b = np.nonzero(np.triu(sim >= 0.9, k=1))
    keep = (first[a] | first[b]) & (a != 7) & (b != 7)
    want = set(zip(a[keep].tolist(), b[keep].tolist(), strict=True))
    i, j, dist, used = near_pairs(e, first, 0.1, method=search)
    assert used == search and len(want) > 100
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == want
    assert len(i) == len(want)  # each pair once
    assert np.abs(1 - sim[i, j] - dist).max() < 1e-5

"""The one bootstrap of govkit (evaluation and privacy share it).

:func:`resample` draws index arrays for nonparametric bootstrap replicates
(Efron & Tibshirani 1993).  With ``clusters`` (patient IDs) it draws whole
clusters with replacement and takes every record of each drawn cluster
(the cluster bootstrap, Davison & Hinkley 1997, §3.8), so images of one
patient never count as independent evidence.  With ``strata`` it resamples
within each stratum separately, keeping their sizes in clusters (members and
non-members of a privacy audit are two strata).  :func:`resample_counts`
draws the same replicates as multiplicities (how often each record is in
each replicate), for statistics that can be computed for all replicates at
once as weighted sums.  :func:`percentile_ci` turns replicates into a
percentile interval.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(record indices grouped by key, start of each group, size of each group)."""
    _, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    sizes = np.bincount(inverse)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    return order, starts, sizes


def _expand(order: np.ndarray, starts: np.ndarray, sizes: np.ndarray, pick: np.ndarray) -> np.ndarray:
    """All record indices of the picked clusters (vectorised)."""
    lens = sizes[pick]
    offsets = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
    return order[np.repeat(starts[pick], lens) + offsets]


def resample(
    n: int,
    n_boot: int,
    rng: np.random.Generator,
    *,
    clusters: np.ndarray | None = None,
    strata: np.ndarray | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``n_boot`` index arrays into ``range(n)``: records, or whole clusters, drawn with
    replacement (within each stratum when ``strata`` is given)."""
    keys = np.arange(n) if clusters is None else np.asarray(clusters)
    layers = [np.arange(n)] if strata is None else [np.nonzero(strata == s)[0] for s in np.unique(strata)]
    plans = []
    for rows in layers:
        order, starts, sizes = _groups(keys[rows])
        plans.append((rows, order, starts, sizes))
    for _ in range(n_boot):
        parts = [
            rows[_expand(order, starts, sizes, rng.integers(0, len(sizes), len(sizes)))]
            for rows, order, starts, sizes in plans
        ]
        yield parts[0] if len(parts) == 1 else np.concatenate(parts)


def resample_counts(
    n: int,
    n_boot: int,
    rng: np.random.Generator,
    *,
    clusters: np.ndarray | None = None,
    strata: np.ndarray | None = None,
) -> np.ndarray:
    """Multiplicities (n_boot × n) of each record in each replicate, drawn like :func:`resample`."""
    keys = np.arange(n) if clusters is None else np.asarray(clusters)
    layers = [np.arange(n)] if strata is None else [np.nonzero(strata == s)[0] for s in np.unique(strata)]
    counts = np.zeros((n_boot, n), dtype=np.float64)
    rows_b = np.arange(n_boot)[:, None]
    for rows in layers:
        _, inverse = np.unique(keys[rows], return_inverse=True)
        c = int(inverse.max()) + 1
        picks = rng.integers(0, c, (n_boot, c))
        per_cluster = np.bincount((rows_b * c + picks).ravel(), minlength=n_boot * c).reshape(n_boot, c)
        counts[:, rows] = per_cluster[:, inverse]
    return counts


def percentile_ci(replicates, level: float = 0.95, min_finite: int = 10) -> tuple[float | None, float | None]:
    """Percentile interval of the finite replicates; (None, None) when fewer than ``min_finite``."""
    arr = np.asarray(replicates, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if len(arr) < min_finite:
        return None, None
    lo, hi = np.percentile(arr, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(lo), float(hi)

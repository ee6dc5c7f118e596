"""Drift: performance and input distribution on new data against the registered baseline.

The baseline is the model version's newest performance evaluation: its
metrics (with CIs) and the input profile stored with it (a histogram of
per-image mean intensity).  On new data govkit recomputes the metrics, and
for each one the difference from the baseline with a 95 % CI from the two
independent bootstrap CIs (normal approximation); a metric has *degraded*
when the whole CI of the difference lies on the bad side of zero.

Input drift is the population stability index (PSI) of the intensity
histogram, with a permutation p-value: the pooled images are re-split at
random between "baseline" and "new" (drawn from the pooled bin counts, a
multivariate hypergeometric draw) and PSI recomputed.  Drift is flagged
only when PSI exceeds 0.2 *and* p < 0.05: on small samples PSI exceeds 0.2
by chance (its null distribution is about (1/n₁ + 1/n₂)·χ²_{B−1}, Lin 2017),
and a warning says when the sample is too small for the bins.
"""

from __future__ import annotations

import math

import numpy as np

from govkit.evidence.metric import MetricValue

PROFILE_BINS = 20
PSI_FLAG = 0.2
PSI_ALPHA = 0.05
LOWER_IS_BETTER = {"ece"}
Z95 = 1.959964


def input_profile(data, batch_size: int = 512) -> dict:
    """Histogram of per-image mean intensity in [0, 1] (streamed)."""
    counts = np.zeros(PROFILE_BINS, dtype=np.int64)
    for _, x in data.batches(batch_size):
        means = x.reshape(len(x), -1).mean(axis=1)
        counts += np.histogram(np.clip(means, 0, 1), bins=PROFILE_BINS, range=(0.0, 1.0))[0]
    return {"bins": PROFILE_BINS, "image_mean_hist": counts.tolist()}


def psi(expected, actual, eps: float = 1e-4):
    """Population stability index Σ (a − e)·ln(a / e) of two histograms (proportions floored at ``eps``);
    2-D inputs give one PSI per row."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    e = np.maximum(e / np.maximum(e.sum(-1, keepdims=True), 1), eps)
    a = np.maximum(a / np.maximum(a.sum(-1, keepdims=True), 1), eps)
    out = ((a - e) * np.log(a / e)).sum(-1)
    return float(out) if out.ndim == 0 else out


def psi_test(expected: list[int], actual: list[int], *, n_perm: int = 2000, seed: int = 0) -> dict:
    """PSI, its permutation p-value, and the PSI that chance alone exceeds 5 % of the time at these sizes."""
    from scipy.stats import chi2

    e, a = np.asarray(expected, dtype=np.int64), np.asarray(actual, dtype=np.int64)
    value = psi(e, a)
    pooled = e + a
    n_e, n_a = int(e.sum()), int(a.sum())
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_hypergeometric(pooled, n_a, size=n_perm)
    null = psi(pooled - draws, draws)
    p = float((1 + np.sum(null >= value - 1e-12)) / (1 + n_perm))
    bins = max(int((pooled > 0).sum()), 2)
    chance = float((1 / max(n_e, 1) + 1 / max(n_a, 1)) * chi2.ppf(0.95, bins - 1))
    return {
        "psi": value,
        "p_value": p,
        "chance_psi_95": chance,
        "n_baseline": n_e,
        "n_new": n_a,
        "drifted": bool(value > PSI_FLAG and p < PSI_ALPHA),
        "too_small": chance > PSI_FLAG,
    }


def _se(m: MetricValue | dict) -> float | None:
    lo, hi = (m.ci_low, m.ci_high) if isinstance(m, MetricValue) else (m["ci_low"], m["ci_high"])
    return None if lo is None or hi is None else (hi - lo) / (2 * Z95)


def compare(baseline: dict[str, dict], new: list[MetricValue]) -> tuple[list[MetricValue], list[str]]:
    """Delta metrics with CIs, and the names of degraded metrics."""
    deltas, degraded = [], []
    for m in new:
        base = baseline.get(m.name)
        if m.params or base is None or m.value is None or base["value"] is None:
            continue
        d = m.value - base["value"]
        se_new, se_base = _se(m), _se(base)
        if se_new is None or se_base is None:
            continue
        half = Z95 * math.sqrt(se_new**2 + se_base**2)
        lo, hi = d - half, d + half
        deltas.append(MetricValue(f"delta_{m.name}", d, lo, hi, m.n, {"baseline": base["value"]}))
        if (m.name in LOWER_IS_BETTER and lo > 0) or (m.name not in LOWER_IS_BETTER and hi < 0):
            degraded.append(m.name)
    return deltas, degraded

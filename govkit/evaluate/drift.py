"""Drift: performance and input distribution on new data against the registered baseline.

The baseline is the model version's newest performance evaluation: its
metrics (with CIs) and the input profile stored with it (a histogram of
per-image mean intensity).  On new data govkit recomputes the metrics, and
for each one the difference from the baseline with a 95 % CI from the two
independent bootstrap CIs (normal approximation); a metric has *degraded*
when the whole CI of the difference lies on the bad side of zero.  Input
drift is the population stability index (PSI) of the intensity histogram;
PSI above 0.2 is flagged.
"""

from __future__ import annotations

import math

import numpy as np

from govkit.evidence.metric import MetricValue

PROFILE_BINS = 20
PSI_FLAG = 0.2
LOWER_IS_BETTER = {"ece"}
Z95 = 1.959964


def input_profile(data, batch_size: int = 512) -> dict:
    """Histogram of per-image mean intensity in [0, 1] (streamed)."""
    counts = np.zeros(PROFILE_BINS, dtype=np.int64)
    for _, x in data.batches(batch_size):
        means = x.reshape(len(x), -1).mean(axis=1)
        counts += np.histogram(np.clip(means, 0, 1), bins=PROFILE_BINS, range=(0.0, 1.0))[0]
    return {"bins": PROFILE_BINS, "image_mean_hist": counts.tolist()}


def psi(expected: list[int], actual: list[int], eps: float = 1e-4) -> float:
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    e = np.maximum(e / max(e.sum(), 1), eps)
    a = np.maximum(a / max(a.sum(), 1), eps)
    return float(((a - e) * np.log(a / e)).sum())


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

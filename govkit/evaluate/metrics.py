"""Classification metrics as pure functions of arrays, with bootstrap CIs.

Every figure is reported with its sample size and a 95 % bootstrap
confidence interval (percentile method).  When ``clusters`` (patient IDs)
are given, the bootstrap resamples patients, not images, so images of one
patient never count as independent evidence.

Binary tasks use class 1 as positive and the operating point
``p(positive) >= threshold``.  Multiclass tasks use the arg-max prediction;
AUROC, sensitivity, specificity, PPV and NPV are one-vs-rest macro averages.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from govkit.evaluate.bootstrap import percentile_ci, resample
from govkit.evidence.metric import MetricValue

MIN_SUPPORT = 30  # below this many cases a figure is flagged as unsupported


def wilson_bounds(k, n, z: float = 1.959964) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (Wilson 1927) for proportions k/n, elementwise (95 % by default).

    centre = (p + z²/2n) / (1 + z²/n), half-width = z·sqrt(p(1−p)/n + z²/4n²) / (1 + z²/n).
    Entries with n = 0 are NaN.
    """
    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        den = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / den
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / den
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float | None, float | None]:
    """Wilson score interval for one proportion k/n; (None, None) when n = 0."""
    if n == 0:
        return None, None
    lo, hi = wilson_bounds(k, n, z)
    return float(lo), float(hi)


def binary_auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """AUROC as the Mann–Whitney U statistic (ties count one half)."""
    positive = positive.astype(bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    ranks = np.empty(len(s), dtype=np.float64)
    # average ranks for ties
    _, first, counts = np.unique(s, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def predictions(probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    if probs.shape[1] == 2:
        return (probs[:, 1] >= threshold).astype(np.int64)
    return probs.argmax(axis=1)


def confusion_matrix(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def rates(cm: np.ndarray) -> dict[str, float]:
    """Sensitivity, specificity, PPV, NPV (binary: class 1; multiclass: OvR macro)."""
    k = cm.shape[0]
    classes = [1] if k == 2 else range(k)
    out: dict[str, list[float]] = {"sensitivity": [], "specificity": [], "ppv": [], "npv": []}
    total = cm.sum()
    for c in classes:
        tp = cm[c, c]
        fn = cm[c].sum() - tp
        fp = cm[:, c].sum() - tp
        tn = total - tp - fn - fp
        out["sensitivity"].append(_ratio(tp, tp + fn))
        out["specificity"].append(_ratio(tn, tn + fp))
        out["ppv"].append(_ratio(tp, tp + fp))
        out["npv"].append(_ratio(tn, tn + fn))
    return {m: float(np.nanmean(v)) if not np.all(np.isnan(v)) else float("nan") for m, v in out.items()}


def auroc(probs: np.ndarray, y: np.ndarray) -> float:
    k = probs.shape[1]
    if k == 2:
        return binary_auroc(probs[:, 1], y == 1)
    vals = [binary_auroc(probs[:, c], y == c) for c in range(k)]
    return float(np.nanmean(vals)) if not np.all(np.isnan(vals)) else float("nan")


def reliability(probs: np.ndarray, y: np.ndarray, n_bins: int = 10) -> dict[str, list]:
    """Top-label calibration: per confidence bin, mean confidence, accuracy, count."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    sum_conf = np.bincount(bins, weights=conf, minlength=n_bins)
    sum_acc = np.bincount(bins, weights=correct, minlength=n_bins)
    safe = np.maximum(count, 1)
    return {  # empty bins are None (JSON null), never NaN
        "bin_edges": np.linspace(0, 1, n_bins + 1).tolist(),
        "confidence": [float(v) if c else None for v, c in zip(sum_conf / safe, count, strict=False)],
        "accuracy": [float(v) if c else None for v, c in zip(sum_acc / safe, count, strict=False)],
        "count": count.tolist(),
    }


def ece(probs: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error (top label, equal-width bins)."""
    r = reliability(probs, y, n_bins)
    count = np.asarray(r["count"], dtype=np.float64)
    conf = np.array([v or 0.0 for v in r["confidence"]])
    acc = np.array([v or 0.0 for v in r["accuracy"]])
    return float((np.abs(conf - acc) * count).sum() / max(count.sum(), 1))


def point_metrics(probs: np.ndarray, y: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    k = probs.shape[1]
    pred = predictions(probs, threshold)
    cm = confusion_matrix(y, pred, k)
    return {
        "accuracy": float((pred == y).mean()) if len(y) else float("nan"),
        "auroc": auroc(probs, y),
        **rates(cm),
        "ece": ece(probs, y),
    }


def with_ci(
    fn: Callable[[np.ndarray], dict[str, float]],
    n: int,
    *,
    clusters: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    params: dict | None = None,
) -> list[MetricValue]:
    """Evaluate ``fn(indices)`` on all data and on bootstrap resamples (of ``clusters`` when given)."""
    point = fn(np.arange(n))
    rng = np.random.default_rng(seed)
    reps: dict[str, list[float]] = {k: [] for k in point}
    for idx in resample(n, n_boot, rng, clusters=clusters):
        vals = fn(idx)
        for k in point:
            reps[k].append(vals.get(k, np.nan))
    out = []
    for k, v in point.items():
        finite = bool(np.isfinite(v))
        lo, hi = percentile_ci(reps[k], level)
        out.append(MetricValue(k, float(v) if finite else None, lo, hi, n, dict(params or {}), level))
    return out

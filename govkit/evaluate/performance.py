"""Clinical performance and subgroup fairness of a classifier.

:func:`predict_proba` streams a dataset through the model on the chosen
device; :func:`evaluate_performance` turns probabilities into metrics with
bootstrap CIs (patient-level when ``patient_id`` is known; each rate's n is
its denominator, e.g. the positives for sensitivity), per-subgroup metrics,
the subgroup gaps with a permutation test of heterogeneity and a CI for
each pairwise difference, calibration data, the confusion matrix and a
dataset report with warnings where a class, a subgroup or a class within a
subgroup is too small to support its figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from govkit.evaluate.metrics import (
    MIN_SUPPORT,
    auroc,
    confusion_matrix,
    point_metrics,
    predictions,
    rates,
    reliability,
    with_ci,
)
from govkit.evidence.metric import MetricValue

GAP_METRICS = ("accuracy", "auroc", "sensitivity", "specificity")
GAP_ALPHA = 0.05


def predict_logits(
    model, data, *, device: str = "cpu", batch_size: int = 256, amp: bool = False, workers: int = 0
) -> np.ndarray:
    """Logits (N×K, float64) for every image, in dataset order; a single sigmoid output z becomes [0, z]."""
    import torch

    from govkit.models.device import adaptive

    out: list[np.ndarray] = []

    def run(bs: int) -> None:
        out.clear()
        with torch.inference_mode():
            for _, x in data.batches(bs, workers):
                xt = torch.from_numpy(x).to(device)
                with torch.autocast(device_type="cuda", enabled=amp and device.startswith("cuda")):
                    logits = model(xt).float()
                if logits.ndim == 1 or logits.shape[1] == 1:  # single sigmoid output
                    z = logits.reshape(-1, 1)
                    logits = torch.cat([torch.zeros_like(z), z], dim=1)
                out.append(logits.cpu().numpy().astype(np.float64))

    adaptive(run, batch_size)
    return np.concatenate(out) if out else np.zeros((0, 2))


def predict_proba(
    model, data, *, device: str = "cpu", batch_size: int = 256, amp: bool = False, workers: int = 0
) -> np.ndarray:
    """Class probabilities (N×K) for every image, in dataset order (softmax of :func:`predict_logits`)."""
    from scipy.special import softmax

    return softmax(predict_logits(model, data, device=device, batch_size=batch_size, amp=amp, workers=workers), axis=1)


@dataclass
class PerformanceResult:
    metrics: list[MetricValue]
    confusion: list[list[int]]
    reliability: dict
    dataset: dict
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "metrics": [m.as_dict() for m in self.metrics],
            "confusion_matrix": self.confusion,
            "reliability": self.reliability,
            "dataset": self.dataset,
            "warnings": self.warnings,
        }


def dataset_report(y: np.ndarray, classes, groups: dict[str, np.ndarray], patient_id) -> tuple[dict, list[str]]:
    """Counts per class, per subgroup and per class within each subgroup, with a warning for each count
    below :data:`MIN_SUPPORT` (a class-conditional figure such as sensitivity rests on that count)."""
    warnings = []
    counts = np.bincount(y, minlength=len(classes))
    report: dict = {
        "n": len(y),
        "n_patients": len(np.unique(patient_id)) if patient_id is not None else None,
        "classes": {str(c): int(n) for c, n in zip(classes, counts, strict=True)},
        "subgroups": {},
        "subgroup_classes": {},
    }
    for c, n in zip(classes, counts, strict=True):
        if n < MIN_SUPPORT:
            warnings.append(f"class {c!r} has {n} cases (< {MIN_SUPPORT}): its figures are not supported")
    for name, arr in groups.items():
        labels = arr.astype(str)
        values, n = np.unique(labels, return_counts=True)
        report["subgroups"][name] = {str(v): int(k) for v, k in zip(values, n, strict=True)}
        report["subgroup_classes"][name] = {}
        for v, k in zip(values, n, strict=True):
            if k < MIN_SUPPORT:
                warnings.append(f"subgroup {name}={v} has {k} cases (< {MIN_SUPPORT}): its figures are not supported")
            per_class = np.bincount(y[labels == v], minlength=len(classes))
            report["subgroup_classes"][name][str(v)] = {str(c): int(m) for c, m in zip(classes, per_class, strict=True)}
            for c, m in zip(classes, per_class, strict=True):
                if m < MIN_SUPPORT:
                    warnings.append(
                        f"subgroup {name}={v} has {m} cases of class {c!r} (< {MIN_SUPPORT}): its "
                        "class-conditional figures (sensitivity, specificity) are not supported"
                    )
    return report, warnings


def denominators(probs: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, int]:
    """The sample each rate rests on: positives for sensitivity, negatives for specificity, predicted
    positives / negatives for PPV / NPV (multiclass macro averages: the smallest class's)."""
    k = probs.shape[1]
    cm = confusion_matrix(y, predictions(probs, threshold), k)
    classes = [1] if k == 2 else range(k)
    total = int(cm.sum())
    pos = [int(cm[c].sum()) for c in classes]
    pred = [int(cm[:, c].sum()) for c in classes]
    return {
        "sensitivity": min(pos),
        "specificity": min(total - p for p in pos),
        "ppv": min(pred),
        "npv": min(total - p for p in pred),
    }


def _set_denominators(metrics: list[MetricValue], probs: np.ndarray, y: np.ndarray, threshold: float) -> None:
    for m in metrics:
        n = denominators(probs, y, threshold).get(m.name)
        if n is None:
            continue
        m.n = n
        if n < MIN_SUPPORT and m.status == "ok":
            m.status, m.reason = "unsupported", f"{m.name} rests on {n} cases (< {MIN_SUPPORT})"


def gap_metrics(
    probs: np.ndarray, y: np.ndarray, threshold: float, which: tuple[str, ...] = GAP_METRICS
) -> dict[str, float]:
    """The figures compared between subgroups (those of :data:`GAP_METRICS` in ``which``)."""
    pred = predictions(probs, threshold)
    out = {"accuracy": float((pred == y).mean()) if len(y) else float("nan")}
    if "auroc" in which:
        out["auroc"] = auroc(probs, y)
    if {"sensitivity", "specificity"} & set(which):
        r = rates(confusion_matrix(y, pred, probs.shape[1]))
        out.update(sensitivity=r["sensitivity"], specificity=r["specificity"])
    return {m: out[m] for m in which}


def _per_group(probs, y, labels, values, threshold, which=GAP_METRICS) -> list[dict[str, float] | None]:
    return [
        gap_metrics(probs[labels == v], y[labels == v], threshold, which) if (labels == v).any() else None
        for v in values
    ]


def _max_gaps(per: list[dict[str, float] | None], which: tuple[str, ...] = GAP_METRICS) -> dict[str, float]:
    out = {}
    for m in which:
        vals = [p[m] for p in per if p is not None and np.isfinite(p[m])]
        out[m] = float(max(vals) - min(vals)) if len(vals) > 1 else float("nan")
    return out


def heterogeneity_test(
    probs: np.ndarray,
    y: np.ndarray,
    labels: np.ndarray,
    *,
    clusters: np.ndarray | None = None,
    threshold: float = 0.5,
    n_perm: int = 1000,
    seed: int = 0,
    which: tuple[str, ...] = GAP_METRICS,
) -> dict[str, float]:
    """Permutation p-value of the largest subgroup gap, per metric (Good 2005, ch. 3).

    Under "no difference between subgroups" the group labels are exchangeable:
    they are permuted (between patients when ``clusters`` are given, each
    patient keeping one label) and the gap recomputed; p = (1 + #{gap* ≥ gap}) / (1 + n_perm).
    """
    values = np.unique(labels)
    observed = _max_gaps(_per_group(probs, y, labels, values, threshold, which), which)
    rng = np.random.default_rng(seed)
    if clusters is None:
        unit_of, unit_label = np.arange(len(labels)), labels
    else:
        _, first, unit_of = np.unique(clusters, return_index=True, return_inverse=True)
        unit_label = labels[first]
    exceed = dict.fromkeys(which, 0)
    for _ in range(n_perm):
        perm = rng.permutation(unit_label)[unit_of]
        null = _max_gaps(_per_group(probs, y, perm, values, threshold, which), which)
        for m in which:
            exceed[m] += bool(np.isfinite(null[m]) and null[m] >= observed[m] - 1e-12)
    return {m: (1 + exceed[m]) / (1 + n_perm) if np.isfinite(observed[m]) else float("nan") for m in which}


def evaluate_performance(
    probs: np.ndarray,
    y: np.ndarray,
    classes,
    *,
    patient_id: np.ndarray | None = None,
    groups: dict[str, np.ndarray] | None = None,
    threshold: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
    n_perm: int = 1000,
    gap_alpha: float = GAP_ALPHA,
) -> PerformanceResult:
    """Metrics with CIs, per subgroup, and subgroup gaps.

    For each grouping: ``max_subgroup_gap`` (largest minus smallest subgroup
    value, with its bootstrap CI, which is biased upward: with identical
    subgroups it excludes 0), ``subgroup_difference`` for each pair of
    subgroups (params ``a``, ``b``; value a − b with its CI), and the
    permutation test of no heterogeneity: ``subgroup_gap_p_value`` and
    ``subgroup_gap_detected`` (1 when p < ``gap_alpha``, else 0).  A gap is
    declared only when the test rejects.
    """
    groups = groups or {}
    k = len(classes)
    report, warnings = dataset_report(y, classes, groups, patient_id)

    def overall(idx: np.ndarray) -> dict[str, float]:
        return point_metrics(probs[idx], y[idx], threshold)

    metrics = with_ci(overall, len(y), clusters=patient_id, n_boot=n_boot, seed=seed)
    _set_denominators(metrics, probs, y, threshold)
    for name, arr in groups.items():
        labels = arr.astype(str)
        values = np.unique(labels)
        for v in values:
            sel = np.nonzero(labels == v)[0]
            sub_pid = patient_id[sel] if patient_id is not None else None

            def in_group(idx: np.ndarray, sel: np.ndarray = sel) -> dict[str, float]:
                return point_metrics(probs[sel[idx]], y[sel[idx]], threshold)

            sub = with_ci(
                in_group, len(sel), clusters=sub_pid, n_boot=n_boot, seed=seed, params={"group": name, "value": str(v)}
            )
            _set_denominators(sub, probs[sel], y[sel], threshold)
            metrics += sub
        if len(values) > 1:
            pairs = [(a, b) for i, a in enumerate(values) for b in values[i + 1 :]]
            keys: list[tuple[str, str, tuple[str, str] | None]] = [("max_subgroup_gap", g, None) for g in GAP_METRICS]
            keys += [("subgroup_difference", g, pair) for pair in pairs for g in GAP_METRICS]

            def gaps(idx: np.ndarray, labels=labels, values=values, keys=keys) -> dict[str, float]:
                per = dict(zip(values, _per_group(probs[idx], y[idx], labels[idx], values, threshold), strict=True))
                top = _max_gaps(list(per.values()))
                out = {}
                for i, (_, g, pair) in enumerate(keys):
                    if pair is None:
                        out[str(i)] = top[g]
                    else:
                        a, b = per[pair[0]], per[pair[1]]
                        out[str(i)] = a[g] - b[g] if a is not None and b is not None else float("nan")
                return out

            for mv, (kind, g, pair) in zip(
                with_ci(gaps, len(y), clusters=patient_id, n_boot=n_boot, seed=seed), keys, strict=True
            ):
                mv.name = kind
                mv.params = {"group": name, "metric": g, **({"a": str(pair[0]), "b": str(pair[1])} if pair else {})}
                metrics.append(mv)
            pvals = heterogeneity_test(
                probs, y, labels, clusters=patient_id, threshold=threshold, n_perm=n_perm, seed=seed
            )
            for g, p in pvals.items():
                params = {"group": name, "metric": g}
                if not np.isfinite(p):
                    continue
                metrics.append(MetricValue("subgroup_gap_p_value", p, None, None, len(y), dict(params)))
                metrics.append(
                    MetricValue(
                        "subgroup_gap_detected",
                        float(p < gap_alpha),
                        None,
                        None,
                        len(y),
                        {**params, "alpha": gap_alpha, "permutations": n_perm},
                    )
                )
    pred = predictions(probs, threshold)
    for m in metrics:
        if m.value is None:
            warnings.append(f"{m.name} {m.params or ''} is undefined on this sample".replace(" {}", ""))
    return PerformanceResult(
        metrics=metrics,
        confusion=confusion_matrix(y, pred, k).tolist(),
        reliability=reliability(probs, y),
        dataset=report,
        warnings=warnings,
    )

"""Clinical performance and subgroup fairness of a classifier.

:func:`predict_proba` streams a dataset through the model on the chosen
device; :func:`evaluate_performance` turns probabilities into metrics with
bootstrap CIs (patient-level when ``patient_id`` is known), per-subgroup
metrics with the largest gap between subgroups and its CI, calibration data,
the confusion matrix and a dataset report with warnings where a class or a
subgroup is too small to support its figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from govkit.evaluate.metrics import (
    MIN_SUPPORT,
    MetricValue,
    confusion_matrix,
    point_metrics,
    predictions,
    reliability,
    with_ci,
)

GAP_METRICS = ("accuracy", "auroc", "sensitivity", "specificity")


def predict_logits(model, data, *, device: str = "cpu", batch_size: int = 256, amp: bool = False,
                   workers: int = 0) -> np.ndarray:
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


def predict_proba(model, data, *, device: str = "cpu", batch_size: int = 256, amp: bool = False,
                  workers: int = 0) -> np.ndarray:
    """Class probabilities (N×K) for every image, in dataset order (softmax of :func:`predict_logits`)."""
    from scipy.special import softmax

    return softmax(predict_logits(model, data, device=device, batch_size=batch_size, amp=amp, workers=workers),
                   axis=1)


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
    warnings = []
    counts = np.bincount(y, minlength=len(classes))
    report = {
        "n": len(y),
        "n_patients": len(np.unique(patient_id)) if patient_id is not None else None,
        "classes": {str(c): int(n) for c, n in zip(classes, counts)},
        "subgroups": {},
    }
    for c, n in zip(classes, counts):
        if n < MIN_SUPPORT:
            warnings.append(f"class {c!r} has {n} cases (< {MIN_SUPPORT}): its figures are not supported")
    for name, arr in groups.items():
        values, n = np.unique(arr.astype(str), return_counts=True)
        report["subgroups"][name] = {str(v): int(k) for v, k in zip(values, n)}
        for v, k in zip(values, n):
            if k < MIN_SUPPORT:
                warnings.append(f"subgroup {name}={v} has {k} cases (< {MIN_SUPPORT}): its figures are not supported")
    return report, warnings


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
) -> PerformanceResult:
    groups = groups or {}
    k = len(classes)
    report, warnings = dataset_report(y, classes, groups, patient_id)

    def overall(idx: np.ndarray) -> dict[str, float]:
        return point_metrics(probs[idx], y[idx], threshold)

    metrics = with_ci(overall, len(y), clusters=patient_id, n_boot=n_boot, seed=seed)
    for name, arr in groups.items():
        labels = arr.astype(str)
        values = np.unique(labels)
        for v in values:
            sel = np.nonzero(labels == v)[0]
            sub_pid = patient_id[sel] if patient_id is not None else None
            metrics += with_ci(
                lambda idx, sel=sel: point_metrics(probs[sel[idx]], y[sel[idx]], threshold),
                len(sel), clusters=sub_pid, n_boot=n_boot, seed=seed, params={"group": name, "value": str(v)},
            )
        if len(values) > 1:
            def gaps(idx: np.ndarray, labels=labels, values=values) -> dict[str, float]:
                out = {}
                per = [point_metrics(probs[idx][labels[idx] == v], y[idx][labels[idx] == v], threshold)
                       for v in values if (labels[idx] == v).any()]
                for m in GAP_METRICS:
                    vals = [p[m] for p in per if np.isfinite(p[m])]
                    out[f"max_subgroup_gap_{m}"] = float(max(vals) - min(vals)) if len(vals) > 1 else float("nan")
                return out

            for mv in with_ci(gaps, len(y), clusters=patient_id, n_boot=n_boot, seed=seed):
                metric = mv.name.removeprefix("max_subgroup_gap_")
                mv.name = "max_subgroup_gap"
                mv.params = {"group": name, "metric": metric}
                metrics.append(mv)
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

"""Paired comparison of two models on the same cases.

:func:`compare_predictions` takes both models' probabilities for the same
cases and reports, for each headline figure of ``govkit eval performance``
(:func:`govkit.evaluate.metrics.point_metrics`), each model's value and the
paired difference B − A with a 95 % percentile CI.  Both models are scored on
the *same* bootstrap resamples (:func:`govkit.evaluate.bootstrap.resample`,
drawing whole patients when patient IDs are given), so the CI reflects the
correlation between their errors, as in the paired bootstrap of Efron &
Tibshirani (1993, ch. 16).

Each difference has a paired test of "no difference":

* accuracy (and, for a binary task, sensitivity among the positives and
  specificity among the negatives): McNemar's exact test on the discordant
  cases (McNemar 1947; the exact binomial form, Fagerland, Lydersen & Laake
  2013).  It assumes independent cases, so when a patient has several images
  the test is the bootstrap one below instead, and says so;
* AUROC, PPV, NPV, ECE and any rate McNemar does not fit: the two-sided
  bootstrap test obtained by inverting the percentile interval
  (p = 2 · min(P*(d ≤ 0), P*(d ≥ 0)), with the +1 correction of Davison &
  Hinkley 1997, §4.4).

A figure whose sample cannot support it (its n below
:data:`~govkit.evaluate.metrics.MIN_SUPPORT`, AUROC with fewer than that many
cases of a class, or too few defined bootstrap replicates) is
``status: unsupported`` with the reason; its numbers are still shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from govkit.evaluate.bootstrap import percentile_ci, resample
from govkit.evaluate.metrics import MIN_SUPPORT, point_metrics, predictions
from govkit.evaluate.performance import denominators

#: Figures where lower is better (the rest: higher is better).
LOWER_IS_BETTER = frozenset({"ece"})
LEVEL = 0.95


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, Any]:
    """McNemar's exact test: discordant counts and the two-sided binomial p-value."""
    from scipy.stats import binomtest

    only_a = int(np.sum(correct_a & ~correct_b))
    only_b = int(np.sum(~correct_a & correct_b))
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return {"test": "mcnemar-exact", "p_value": float(p), "only_a_correct": only_a, "only_b_correct": only_b}


def bootstrap_p(replicates: list[float]) -> float | None:
    """Two-sided p-value of "difference = 0" from the paired bootstrap replicates (None if too few)."""
    d = np.asarray(replicates, dtype=np.float64)
    d = d[np.isfinite(d)]
    if len(d) < 10:
        return None
    below, above = (np.sum(d <= 0) + 1) / (len(d) + 1), (np.sum(d >= 0) + 1) / (len(d) + 1)
    return float(min(1.0, 2 * min(below, above)))


def _mcnemar_cases(name: str, y: np.ndarray, k: int) -> np.ndarray | None:
    """The cases whose per-case correctness the figure is the mean of (None: not such a figure)."""
    if name == "accuracy":
        return np.ones(len(y), bool)
    if k == 2 and name == "sensitivity":
        return y == 1
    if k == 2 and name == "specificity":
        return y == 0
    return None


def compare_predictions(
    probs_a: np.ndarray,
    probs_b: np.ndarray,
    y: np.ndarray,
    *,
    patient_id: np.ndarray | None = None,
    threshold: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Each headline figure of A and B and the paired difference B − A with CI and test (module docstring)."""
    if probs_a.shape != probs_b.shape or len(y) != len(probs_a):
        raise ValueError("both models must score the same cases with the same classes")
    n, k = probs_a.shape
    pa, pb = point_metrics(probs_a, y, threshold), point_metrics(probs_b, y, threshold)
    names = list(pa)
    reps: dict[str, list[list[float]]] = {m: [[], [], []] for m in names}
    for idx in resample(n, n_boot, np.random.default_rng(seed), clusters=patient_id):
        a, b = point_metrics(probs_a[idx], y[idx], threshold), point_metrics(probs_b[idx], y[idx], threshold)
        for m in names:
            reps[m][0].append(a[m])
            reps[m][1].append(b[m])
            reps[m][2].append(b[m] - a[m])
    support: dict[str, int] = dict.fromkeys(names, int(n))
    support.update(denominators(probs_a, y, threshold))
    for m, v in denominators(probs_b, y, threshold).items():
        support[m] = min(support[m], v)
    smallest_class = int(np.bincount(y, minlength=k).min())
    clustered = patient_id is not None and len(np.unique(patient_id)) < n
    ok_a = predictions(probs_a, threshold) == y
    ok_b = predictions(probs_b, threshold) == y
    rows = []
    for m in names:
        diff = pb[m] - pa[m]
        lo, hi = percentile_ci(reps[m][2], LEVEL)
        row: dict[str, Any] = {
            "metric": m,
            "a": _num(pa[m]),
            "a_ci": list(percentile_ci(reps[m][0], LEVEL)),
            "b": _num(pb[m]),
            "b_ci": list(percentile_ci(reps[m][1], LEVEL)),
            "difference": _num(diff),
            "ci_low": lo,
            "ci_high": hi,
            "n": support[m],
            "status": "ok",
            "reason": None,
        }
        cases = _mcnemar_cases(m, y, k)
        if cases is not None and not clustered:
            row |= mcnemar_exact(ok_a[cases], ok_b[cases])
        else:
            row |= {"test": "paired-bootstrap", "p_value": bootstrap_p(reps[m][2])}
            if cases is not None:
                row["test_note"] = "patients have several images: McNemar assumes independent cases"
        if support[m] < MIN_SUPPORT:
            row["status"], row["reason"] = "unsupported", f"{m} rests on {support[m]} cases (< {MIN_SUPPORT})"
        elif m == "auroc" and smallest_class < MIN_SUPPORT:
            row["status"], row["reason"] = "unsupported", f"auroc rests on a class of {smallest_class} cases"
        elif row["difference"] is None or lo is None:
            row["status"], row["reason"] = "unsupported", f"{m} is undefined on this sample or its resamples"
        row["better"] = _better(m, lo, hi) if row["status"] == "ok" else None
        rows.append(row)
    return {
        "n": n,
        "patients": len(np.unique(patient_id)) if patient_id is not None else None,
        "resampled": "patients" if patient_id is not None else "cases",
        "bootstrap": n_boot,
        "seed": seed,
        "threshold": threshold,
        "ci_level": LEVEL,
        "comparisons": rows,
    }


def _num(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _better(metric: str, lo: float | None, hi: float | None) -> str | None:
    """ "A" or "B" when the CI of B − A excludes 0, else None."""
    if lo is None or hi is None or lo <= 0 <= hi:
        return None
    b_higher = lo > 0
    return "B" if b_higher != (metric in LOWER_IS_BETTER) else "A"


def run_compare(
    registry: Any,
    ref_a: str,
    ref_b: str,
    data_path: str | Path,
    *,
    device: str = "auto",
    threshold: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
    workers: int = 0,
) -> dict[str, Any]:
    """Score models A and B on the same dataset and compare them (:func:`compare_predictions`).

    Both must have the same classes in the same order, and the dataset must
    give both the same cases (labels and patient IDs); the comparison is
    reported, not recorded as an evaluation of either model.
    """
    from govkit.errors import BadInput
    from govkit.evaluate.performance import predict_proba
    from govkit.evidence.records import load_for_eval

    scored = []
    for ref in (ref_a, ref_b):
        mref, model, data, dev = load_for_eval(registry, ref, data_path, device)
        scored.append((mref.spec, data, predict_proba(model, data, device=dev, workers=workers), dev))
    (spec_a, data_a, probs_a, dev), (spec_b, data_b, probs_b, _) = scored
    if list(spec_a.classes) != list(spec_b.classes):
        raise BadInput(
            f"{spec_a.ref} and {spec_b.ref} have different classes "
            f"({', '.join(spec_a.classes)} vs {', '.join(spec_b.classes)}): their figures are not comparable"
        )
    pid_a, pid_b = data_a.patient_id, data_b.patient_id
    same_ids = (pid_a is None and pid_b is None) or (
        pid_a is not None and pid_b is not None and np.array_equal(pid_a, pid_b)
    )
    if not (np.array_equal(data_a.labels, data_b.labels) and same_ids):
        raise BadInput(f"{data_path} gives {spec_a.ref} and {spec_b.ref} different cases")
    out = compare_predictions(
        probs_a,
        probs_b,
        np.asarray(data_a.labels),
        patient_id=data_a.patient_id,
        threshold=threshold,
        n_boot=n_boot,
        seed=seed,
    )
    return {
        "a": spec_a.ref,
        "b": spec_b.ref,
        "data": str(data_path),
        "data_sha256": data_a.content_sha256(),
        "device": dev,
        "recorded": False,
        **out,
    }

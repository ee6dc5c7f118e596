"""Label sanity: cases whose given label a model confidently contradicts.

Confident learning (Northcutt, Jiang & Chuang 2021, "Confident learning:
estimating uncertainty in dataset labels", JAIR 70): each class ``j`` has a
threshold ``t_j``, the mean predicted probability of ``j`` over the images
labelled ``j``.  An image labelled ``y`` is *confidently* of class ``j`` when
``p_j ≥ t_j`` (the most probable such ``j`` when several are); if that
``j ≠ y`` it is an off-diagonal entry of the confident joint, a label-issue
candidate.  Candidates are ranked by the normalised margin
``p_y − max_{k≠y} p_k`` (most contradicted first), for expert review: they
are not errors until a reader says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TOP = 20


def label_issues(probs: np.ndarray, labels: np.ndarray, classes: list[str], top: int = TOP) -> dict[str, Any]:
    n, k = probs.shape
    thresholds = np.array([probs[labels == j, j].mean() if (labels == j).any() else np.inf for j in range(k)])
    confident = probs >= thresholds[None, :]
    masked = np.where(confident, probs, -np.inf)
    suggested = masked.argmax(axis=1)
    has = confident.any(axis=1)
    flagged = np.nonzero(has & (suggested != labels))[0]
    others = probs.copy()
    others[np.arange(n), labels] = -np.inf
    margin = probs[np.arange(n), labels] - others.max(axis=1)
    ranked = flagged[np.argsort(margin[flagged], kind="stable")]
    return {
        "method": "confident learning (Northcutt et al. 2021)",
        "n": int(n),
        "n_candidates": len(flagged),
        "thresholds": {classes[j]: (float(t) if np.isfinite(t) else None) for j, t in enumerate(thresholds)},
        "candidates": [
            {
                "index": int(i),
                "given": classes[labels[i]],
                "suggested": classes[suggested[i]],
                "p_given": float(probs[i, labels[i]]),
                "p_suggested": float(probs[i, suggested[i]]),
                "margin": float(margin[i]),
            }
            for i in ranked[:top]
        ],
    }

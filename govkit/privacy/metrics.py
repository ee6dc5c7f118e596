"""Membership-inference metrics: ROC, TPR at low FPR, bootstrap CIs, empirical ε, null control.

Scores are "higher = member".  TPR at FPR α is the largest TPR over
thresholds whose FPR ≤ α.  With n non-members the smallest FPR above zero
the sample can show is 1/n; a TPR at FPR α from fewer than 1/α non-members
is flagged as unsupported.

Empirical ε (Jagielski et al. 2020; Nasr et al. 2021): the threshold is
chosen on one half of the scores and applied to the other half; with
Clopper–Pearson bounds at 95 % confidence,
ε ≥ log((TPR_lower − δ) / FPR_upper), and likewise with the roles of the
error types swapped; the larger bound is reported (0 when neither is
positive).
"""

from __future__ import annotations

import math

import numpy as np

from govkit.evaluate.metrics import binary_auroc

FPRS = (0.001, 0.01)


def roc(member_scores: np.ndarray, non_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) for "score ≥ threshold ⇒ member", thresholds descending."""
    scores = np.concatenate([member_scores, non_scores])
    labels = np.concatenate([np.ones(len(member_scores), bool), np.zeros(len(non_scores), bool)])
    order = np.argsort(-scores, kind="mergesort")
    s, lab = scores[order], labels[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(lab)[distinct]
    fp = np.cumsum(~lab)[distinct]
    tpr = np.r_[0.0, tp / max(len(member_scores), 1)]
    fpr = np.r_[0.0, fp / max(len(non_scores), 1)]
    return fpr, tpr, np.r_[np.inf, s[distinct]]


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, alpha: float) -> float:
    ok = fpr <= alpha + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def auc(member_scores: np.ndarray, non_scores: np.ndarray) -> float:
    scores = np.concatenate([member_scores, non_scores])
    return binary_auroc(scores, np.r_[np.ones(len(member_scores), bool), np.zeros(len(non_scores), bool)])


def bootstrap(member_scores, non_scores, n_boot: int = 500, seed: int = 0, level: float = 0.95) -> dict:
    """CIs for AUC and TPR@FPR, resampling members and non-members separately."""
    rng = np.random.default_rng(seed)
    aucs, tprs = [], {a: [] for a in FPRS}
    for _ in range(n_boot):
        m = member_scores[rng.integers(0, len(member_scores), len(member_scores))]
        n = non_scores[rng.integers(0, len(non_scores), len(non_scores))]
        aucs.append(auc(m, n))
        f, t, _ = roc(m, n)
        for a in FPRS:
            tprs[a].append(tpr_at_fpr(f, t, a))
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    return {"auc": np.percentile(aucs, q).tolist(), **{a: np.percentile(v, q).tolist() for a, v in tprs.items()}}


def clopper_pearson(k, n, alpha: float = 0.05):
    """One-sided (1 − alpha) Clopper–Pearson bounds (lower, upper) for k successes in n (arrays welcome)."""
    from scipy.stats import beta

    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        lower = np.where(k == 0, 0.0, beta.ppf(alpha, k, n - k + 1))
        upper = np.where(k == n, 1.0, beta.ppf(1 - alpha, k + 1, n - k))
    return lower, upper


def _eps_bounds(tp, n_pos, fp, n_neg, delta: float, alpha: float) -> np.ndarray:
    """ε bounds for "score ≥ t ⇒ member" and for the swapped error types, elementwise max."""
    def one(tp_, npos, fp_, nneg):
        tpr_lo, _ = clopper_pearson(tp_, npos, alpha)
        _, fpr_hi = clopper_pearson(fp_, nneg, alpha)
        with np.errstate(divide="ignore", invalid="ignore"):
            e = np.log((tpr_lo - delta) / fpr_hi)
        return np.where((tpr_lo - delta > 0) & (fpr_hi > 0), e, 0.0)

    return np.maximum(one(tp, n_pos, fp, n_neg), one(n_neg - fp, n_neg, n_pos - tp, n_pos))


def epsilon_lower_bound(member_scores, non_scores, *, delta: float = 0.0, seed: int = 0,
                        alpha: float = 0.05) -> dict:
    """Empirical ε with the threshold chosen on held-out scores (a random half)."""
    rng = np.random.default_rng(seed)
    m = rng.permutation(member_scores)
    n = rng.permutation(non_scores)
    m_sel, m_eval = np.sort(m[: len(m) // 2]), m[len(m) // 2:]
    n_sel, n_eval = np.sort(n[: len(n) // 2]), n[len(n) // 2:]
    thresholds = np.unique(np.r_[m_sel, n_sel])
    tp = len(m_sel) - np.searchsorted(m_sel, thresholds, side="left")
    fp = len(n_sel) - np.searchsorted(n_sel, thresholds, side="left")
    eps = _eps_bounds(tp, len(m_sel), fp, len(n_sel), delta, alpha)
    if not len(eps) or eps.max() <= 0:
        return {"epsilon": 0.0, "threshold": None}
    t = thresholds[int(np.argmax(eps))]
    tp_e, fp_e = int((m_eval >= t).sum()), int((n_eval >= t).sum())
    value = max(0.0, float(_eps_bounds(tp_e, len(m_eval), fp_e, len(n_eval), delta, alpha))) + 0.0
    return {"epsilon": value, "threshold": float(t), "tp": tp_e, "fp": fp_e,
            "n_members_eval": len(m_eval), "n_non_members_eval": len(n_eval)}


def null_band(n_pos: int, n_neg: int) -> tuple[float, float]:
    """The 3σ band of the AUC of a random split: σ = sqrt((n₊ + n₋ + 1) / (12 n₊ n₋))."""
    sigma = math.sqrt((n_pos + n_neg + 1) / (12 * n_pos * n_neg))
    return 0.5 - 3 * sigma, 0.5 + 3 * sigma


def downsample_roc(fpr: np.ndarray, tpr: np.ndarray, n: int = 200) -> dict:
    """ROC points for a log-log plot: log-spaced in FPR, the low-FPR end kept."""
    targets = np.unique(np.r_[np.geomspace(max(fpr[fpr > 0].min(), 1e-6) if (fpr > 0).any() else 1e-6, 1, n), 1.0])
    idx = np.unique(np.minimum(np.searchsorted(fpr, targets, side="right") - 1, len(fpr) - 1))
    return {"fpr": fpr[idx].tolist(), "tpr": tpr[idx].tolist()}

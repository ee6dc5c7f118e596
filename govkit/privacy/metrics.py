"""Membership-inference metrics: ROC, TPR at low FPR, bootstrap CIs, empirical ε, null control.

Scores are "higher = member".  TPR at FPR α is the largest TPR over
thresholds whose FPR ≤ α.  With n non-members the smallest FPR above zero
the sample can show is 1/n: a TPR at FPR α < 1/n is **unsupported** and
reported without a value.

CIs come from the shared bootstrap (:mod:`govkit.evaluate.bootstrap`),
members and non-members resampled separately, patients (not images) when
patient IDs are given.

Empirical ε (Jagielski et al. 2020; Nasr et al. 2021): the threshold is
chosen on one half of the scores and applied to the other half; with
one-sided Clopper–Pearson bounds,
ε ≥ log((TPR_lower − δ) / FPR_upper), and likewise with the roles of the
error types swapped; the larger bound is reported (0 when neither is
positive).  δ = 0.  Each of the two bounds is taken at 1 − α/2, so that
both hold together with confidence 1 − α = 95 % (Bonferroni); two separate
95 % bounds would only hold jointly at 90 %.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

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


def tpr_supported(n_non: int, alpha: float) -> bool:
    """Whether n non-members can show an FPR of ``alpha`` (1/n ≤ α)."""
    return n_non > 0 and 1.0 / n_non <= alpha + 1e-12


def _weighted_auc_tpr(
    scores: np.ndarray, is_m: np.ndarray, w: np.ndarray, alphas: tuple[float, ...]
) -> tuple[np.ndarray, dict[float, np.ndarray]]:
    """AUC (ties ½) and TPR at FPR ≤ α for every row of multiplicities ``w`` (B × N), vectorised.

    A replicate that holds record i w_i times has AUC Σ_ij w_i w_j [s_i > s_j + ½ tie] / (W₊ W₋)
    over members i and non-members j.
    """
    order = np.argsort(-scores, kind="mergesort")
    s, m = scores[order], is_m[order]
    wm, wn = w[:, order] * m, w[:, order] * ~m
    tot_m, tot_n = wm.sum(1), wn.sum(1)
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # end of each group of equal scores
    tp = np.cumsum(wm, 1)[:, last]
    fp = np.cumsum(wn, 1)[:, last]
    # per tie group: members in it, non-members strictly below it and in it
    g_m = np.diff(np.c_[np.zeros(len(w)), tp], axis=1)
    g_n = np.diff(np.c_[np.zeros(len(w)), fp], axis=1)
    below = tot_n[:, None] - fp
    with np.errstate(invalid="ignore", divide="ignore"):
        auc_b = (g_m * (below + 0.5 * g_n)).sum(1) / (tot_m * tot_n)
        tpr, fpr = tp / tot_m[:, None], fp / tot_n[:, None]
    tprs = {a: np.where(fpr <= a + 1e-12, tpr, 0.0).max(1) for a in alphas}
    return auc_b, tprs


def bootstrap(
    member_scores: np.ndarray,
    non_scores: np.ndarray,
    n_boot: int = 500,
    seed: int = 0,
    level: float = 0.95,
    *,
    member_clusters: np.ndarray | None = None,
    non_clusters: np.ndarray | None = None,
    chunk: int = 100,
) -> dict[Any, list[float | None]]:
    """Percentile CIs for AUC and TPR@FPR: members and non-members resampled separately (as two
    strata), whole patients when clusters are given; replicates computed ``chunk`` at a time."""
    from govkit.evaluate.bootstrap import percentile_ci, resample_counts

    scores = np.r_[member_scores, non_scores].astype(np.float64)
    is_m = np.r_[np.ones(len(member_scores), bool), np.zeros(len(non_scores), bool)]
    clusters = None
    if member_clusters is not None and non_clusters is not None:
        clusters = np.r_[
            np.char.add("m:", np.asarray(member_clusters).astype(str)),
            np.char.add("n:", np.asarray(non_clusters).astype(str)),
        ]
    rng = np.random.default_rng(seed)
    aucs: list[np.ndarray] = []
    tprs: dict[float, list[np.ndarray]] = {a: [] for a in FPRS}
    for start in range(0, n_boot, chunk):
        w = resample_counts(len(scores), min(chunk, n_boot - start), rng, clusters=clusters, strata=is_m)
        a_b, t_b = _weighted_auc_tpr(scores, is_m, w, FPRS)
        aucs.append(a_b)
        for a in FPRS:
            tprs[a].append(t_b[a])
    return {
        "auc": list(percentile_ci(np.concatenate(aucs), level)),
        **{a: list(percentile_ci(np.concatenate(v), level)) for a, v in tprs.items()},
    }


def auc_permutation_test(
    a: np.ndarray,
    b: np.ndarray,
    *,
    clusters_a: np.ndarray | None = None,
    clusters_b: np.ndarray | None = None,
    n_perm: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """(AUC of a against b, two-sided permutation p-value of AUC = ½).

    Group labels are permuted over whole clusters when clusters are given
    (records of one patient move together), vectorised over permutations:
    with average ranks r, a permuted group's AUC is (Σr − n₁(n₁+1)/2)/(n₁n₂).
    """
    from scipy.stats import rankdata

    scores = np.r_[a, b]
    ranks = rankdata(scores)
    n = len(scores)
    if clusters_a is None or clusters_b is None:
        keys = np.arange(n).astype(str)
    else:
        keys = np.r_[
            np.char.add("a:", np.asarray(clusters_a).astype(str)), np.char.add("b:", np.asarray(clusters_b).astype(str))
        ]
    _, inverse = np.unique(keys, return_inverse=True)
    rank_sum = np.bincount(inverse, weights=ranks)
    size = np.bincount(inverse).astype(np.float64)
    in_a = np.bincount(inverse, weights=np.r_[np.ones(len(a)), np.zeros(len(b))]) > 0

    def aucs(group: np.ndarray) -> np.ndarray:
        n1 = group @ size
        with np.errstate(invalid="ignore", divide="ignore"):
            return (group @ rank_sum - n1 * (n1 + 1) / 2) / (n1 * (n - n1))

    observed = float(aucs(in_a.astype(np.float64)))
    rng = np.random.default_rng(seed)
    perms = rng.permuted(np.tile(in_a.astype(np.float64), (n_perm, 1)), axis=1)
    null = aucs(perms)
    extreme = np.abs(null - 0.5) >= abs(observed - 0.5) - 1e-12
    return observed, float((1 + np.sum(extreme)) / (1 + n_perm))


def clopper_pearson(k: ArrayLike, n: ArrayLike, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """One-sided (1 − alpha) Clopper–Pearson bounds (lower, upper) for k successes in n (arrays welcome)."""
    from scipy.stats import beta

    kk, nn = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        lower = np.where(kk == 0, 0.0, beta.ppf(alpha, kk, nn - kk + 1))
        upper = np.where(kk == nn, 1.0, beta.ppf(1 - alpha, kk + 1, nn - kk))
    return lower, upper


def _eps_bounds(tp: ArrayLike, n_pos: int, fp: ArrayLike, n_neg: int, delta: float, alpha: float) -> np.ndarray:
    """ε bounds for "score ≥ t ⇒ member" and for the swapped error types, elementwise max."""
    tp, fp = np.asarray(tp, dtype=np.float64), np.asarray(fp, dtype=np.float64)

    def one(tp_: np.ndarray, npos: ArrayLike, fp_: np.ndarray, nneg: ArrayLike) -> np.ndarray:
        tpr_lo, _ = clopper_pearson(tp_, npos, alpha)
        _, fpr_hi = clopper_pearson(fp_, nneg, alpha)
        with np.errstate(divide="ignore", invalid="ignore"):
            e = np.log((tpr_lo - delta) / fpr_hi)
        return np.asarray(np.where((tpr_lo - delta > 0) & (fpr_hi > 0), e, 0.0), dtype=np.float64)

    return np.asarray(
        np.maximum(one(tp, n_pos, fp, n_neg), one(n_neg - fp, n_neg, n_pos - tp, n_pos)), dtype=np.float64
    )


def epsilon_lower_bound(
    member_scores: np.ndarray, non_scores: np.ndarray, *, delta: float = 0.0, seed: int = 0, alpha: float = 0.05
) -> dict[str, Any]:
    """Empirical ε with the threshold chosen on one random half and evaluated on the other.

    Returns ε (0 when no positive bound), δ, the joint confidence 1 − α and the
    evaluation half's counts.
    """
    rng = np.random.default_rng(seed)
    m = rng.permutation(member_scores)
    n = rng.permutation(non_scores)
    return epsilon_from_split(
        m[: len(m) // 2], n[: len(n) // 2], m[len(m) // 2 :], n[len(n) // 2 :], delta=delta, alpha=alpha
    )


def epsilon_from_split(
    m_sel: np.ndarray,
    n_sel: np.ndarray,
    m_eval: np.ndarray,
    n_eval: np.ndarray,
    *,
    delta: float = 0.0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """ε with the threshold chosen on (m_sel, n_sel) and the bound computed on (m_eval, n_eval) only."""
    m_sel, n_sel = np.sort(m_sel), np.sort(n_sel)
    out: dict[str, Any] = {"epsilon": 0.0, "delta": delta, "confidence": 1 - alpha, "threshold": None}
    thresholds = np.unique(np.r_[m_sel, n_sel])
    tp = len(m_sel) - np.searchsorted(m_sel, thresholds, side="left")
    fp = len(n_sel) - np.searchsorted(n_sel, thresholds, side="left")
    eps = _eps_bounds(tp, len(m_sel), fp, len(n_sel), delta, alpha / 2)
    if not len(eps) or eps.max() <= 0:
        return out
    t = thresholds[int(np.argmax(eps))]
    tp_e, fp_e = int((m_eval >= t).sum()), int((n_eval >= t).sum())
    value = max(0.0, float(_eps_bounds(tp_e, len(m_eval), fp_e, len(n_eval), delta, alpha / 2)))
    return {
        **out,
        "epsilon": value,
        "threshold": float(t),
        "tp": tp_e,
        "fp": fp_e,
        "n_members_eval": len(m_eval),
        "n_non_members_eval": len(n_eval),
    }


def downsample_roc(fpr: np.ndarray, tpr: np.ndarray, n: int = 200) -> dict[str, list[float]]:
    """ROC points for a log-log plot: log-spaced in FPR, the low-FPR end kept."""
    targets = np.unique(np.r_[np.geomspace(max(fpr[fpr > 0].min(), 1e-6) if (fpr > 0).any() else 1e-6, 1, n), 1.0])
    idx = np.unique(np.minimum(np.searchsorted(fpr, targets, side="right") - 1, len(fpr) - 1))
    return {"fpr": fpr[idx].tolist(), "tpr": tpr[idx].tolist()}

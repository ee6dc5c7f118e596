"""RMIA (Zarifzadeh et al., ICML 2024): pairwise likelihood ratios against population records.

ratio(x) = p_θ(y|x) / Pr(x), with Pr(x) the reference models' average
p(y|x).  Offline (every reference model OUT for x) the average is corrected
with the linear approximation Pr(x) = ½((1 + a)·mean_out + (1 − a)).
score(x) = Pr_z[ ratio(x) / ratio(z) ≥ γ ] over population records z.

Scoring sorts the Z population ratios once and counts with
``searchsorted`` (O((N + Z) log Z) time, O(N + Z) memory; never an N×Z
matrix).  Records with equal counts are ordered by their continuous ratio,
which keeps the ROC informative when Z is small.
"""

from __future__ import annotations

import numpy as np

from govkit.privacy.attacks.base import EPS, Signals


def pr_x(ref_p: np.ndarray, ref_in: np.ndarray | None, a: float) -> np.ndarray:
    """Pr(x): online, the mean over all reference models; offline, the a-corrected OUT mean."""
    if ref_in is not None and ref_in.any():
        return ref_p.mean(0)
    return 0.5 * ((1.0 + a) * ref_p.mean(0) + (1.0 - a))


def rmia_scores(ratio_x: np.ndarray, ratio_z: np.ndarray, gamma: float) -> np.ndarray:
    """Fraction of z with ratio_x / ratio_z ≥ γ, ties broken by ratio_x (monotone)."""
    sorted_z = np.sort(ratio_z)
    counts = np.searchsorted(sorted_z, ratio_x / gamma, side="right")
    order = np.argsort(np.argsort(ratio_x, kind="stable"), kind="stable")
    tie_break = order / max(len(ratio_x), 1)  # in [0, 1): never overtakes a whole count
    return (counts + tie_break) / (len(sorted_z) + 1)


class RMIA:
    name = "rmia"

    def __init__(self, a: float = 0.3, gamma: float = 1.0, online: bool = False) -> None:
        self.a, self.gamma, self.online = a, gamma, online
        self.needs = "online" if online else "offline"

    def score(self, s: Signals) -> np.ndarray:
        if s.ref_p is None or s.pop_target_p is None or s.pop_ref_p is None:
            raise ValueError("RMIA needs reference models and population data")
        ratio_x = s.target_p / np.maximum(pr_x(s.ref_p, s.ref_in if self.online else None, self.a), EPS)
        ratio_z = s.pop_target_p / np.maximum(pr_x(s.pop_ref_p, s.pop_ref_in if self.online else None, self.a), EPS)
        return rmia_scores(ratio_x, ratio_z, self.gamma)

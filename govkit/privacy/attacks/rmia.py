"""RMIA (Zarifzadeh et al., ICML 2024): pairwise likelihood ratios against population records.

ratio(x) = p_θ(y|x) / Pr(x), with Pr(x) the reference models' average
p(y|x).  Online, the average is over all reference models; offline, over
the models OUT for x, corrected with the linear approximation
Pr(x) = ½((1 + a)·mean_out + (1 − a)).
score(x) = Pr_z[ ratio(x) / ratio(z) ≥ γ ] over population records z.

Scoring sorts the Z population ratios once and counts with
``searchsorted`` (O((N + Z) log Z) time, O(N + Z) memory; never an N×Z
matrix).  Records with equal counts are ordered by the rank of their
continuous ratio (average ranks, so equal ratios get equal scores), which
keeps the ROC informative when Z is small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from govkit.privacy.attacks.base import EPS, Signals


def pr_x(ref_p: np.ndarray, ref_in: np.ndarray | None, a: float, online: bool) -> np.ndarray:
    """Pr(x): online, the mean over all reference models; offline, the a-corrected mean over OUT models."""
    if online:
        return np.asarray(ref_p.mean(0), dtype=np.float64)
    out = np.ones(ref_p.shape, bool) if ref_in is None else ~ref_in
    mean_out = np.where(out, ref_p, 0.0).sum(0) / np.maximum(out.sum(0), 1)
    return np.asarray(0.5 * ((1.0 + a) * mean_out + (1.0 - a)), dtype=np.float64)


def rmia_scores(ratio_x: np.ndarray, ratio_z: np.ndarray, gamma: float) -> np.ndarray:
    """Fraction of z with ratio_x / ratio_z ≥ γ, ties broken by the rank of ratio_x (monotone)."""
    from scipy.stats import rankdata

    sorted_z = np.sort(ratio_z)
    counts = np.searchsorted(sorted_z, ratio_x / gamma, side="right")
    tie_break = (rankdata(ratio_x, method="average") - 1) / max(len(ratio_x), 1)  # in [0, 1)
    return np.asarray((counts + tie_break) / (len(sorted_z) + 1), dtype=np.float64)


@dataclass(frozen=True)
class RMIA:
    a: float = 0.3
    gamma: float = 1.0
    online: bool = False
    llr = False

    @property
    def name(self) -> str:
        return "rmia-online" if self.online else "rmia"

    @property
    def needs(self) -> frozenset[str]:
        return frozenset({"population", "reference-online" if self.online else "reference-offline"})

    def score(self, s: Signals) -> np.ndarray:
        if s.ref_p is None or s.pop_target_p is None or s.pop_ref_p is None:
            raise ValueError("RMIA needs reference models and population data")
        ratio_x = s.target_p / np.maximum(pr_x(s.ref_p, s.ref_in, self.a, self.online), EPS)
        ratio_z = s.pop_target_p / np.maximum(pr_x(s.pop_ref_p, s.pop_ref_in, self.a, self.online), EPS)
        return rmia_scores(ratio_x, ratio_z, self.gamma)

    def describe(self, s: Signals) -> dict[str, object]:
        return {"a": self.a, "gamma": self.gamma, "mode": "online" if self.online else "offline"}

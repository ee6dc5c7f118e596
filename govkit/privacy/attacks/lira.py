"""LiRA (Carlini et al., IEEE S&P 2022): a likelihood-ratio test on logit-scaled confidences.

φ = z_y − logsumexp_{j≠y} z_j (float64, from logits).  For each target
record, Gaussians are fitted to φ under reference models that did not train
on it (OUT) and, online, that did (IN).
Online: score = log N(φ_t; μ_in, σ_in²) − log N(φ_t; μ_out, σ_out²), a
log-likelihood ratio.  Offline: score = (φ_t − μ_out)/σ_out, the one-sided
test against OUT.

Variance: as in the paper, one *global* variance pooled over all records
unless there are many reference models: per-record variances need K ≥
``variance_threshold`` (default 64; with 16 models they are so noisy that
TPR at 1 % FPR falls several-fold).  :meth:`describe` records which was used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from govkit.privacy.attacks.base import Signals

MIN_VAR = 1e-6
VARIANCE_THRESHOLD = 64


def _masked_stats(phi: np.ndarray, mask: np.ndarray, per_record: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-record mean and (per-record or pooled) variance of ``phi`` (K×N) over models where ``mask``."""
    count = mask.sum(0)
    if (count == 0).any():
        raise ValueError("some target records have no reference model of the needed kind")
    mu = np.where(mask, phi, 0).sum(0) / count
    dev = np.where(mask, (phi - mu) ** 2, 0)
    if per_record and (count >= 2).all():
        var = dev.sum(0) / (count - 1)
    else:
        var = np.full_like(mu, dev.sum() / max(int(mask.sum()) - mask.shape[1], 1))
    return mu, np.maximum(var, MIN_VAR)


def _log_normal(x: np.ndarray, mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    return np.asarray(-0.5 * (np.log(2 * np.pi * var) + (x - mu) ** 2 / var), dtype=np.float64)


@dataclass(frozen=True)
class LiRA:
    online: bool
    variance_threshold: int = VARIANCE_THRESHOLD

    @property
    def name(self) -> str:
        return "lira-online" if self.online else "lira-offline"

    @property
    def needs(self) -> frozenset[str]:
        return frozenset({"population", "reference-online" if self.online else "reference-offline"})

    @property
    def llr(self) -> bool:
        return self.online

    def per_record_variance(self, k: int) -> bool:
        return k >= self.variance_threshold

    def score(self, s: Signals) -> np.ndarray:
        if s.ref_phi is None:
            raise ValueError(f"{self.name} needs reference models")
        ref_phi = np.asarray(s.ref_phi, dtype=np.float64)
        target = np.asarray(s.target_phi, dtype=np.float64)
        per_record = self.per_record_variance(ref_phi.shape[0])
        ref_in = s.ref_in if s.ref_in is not None else np.zeros(ref_phi.shape, dtype=bool)
        mu_out, var_out = _masked_stats(ref_phi, ~ref_in, per_record)
        if not self.online:
            return np.asarray((target - mu_out) / np.sqrt(var_out), dtype=np.float64)
        mu_in, var_in = _masked_stats(ref_phi, ref_in, per_record)
        return np.asarray(_log_normal(target, mu_in, var_in) - _log_normal(target, mu_out, var_out), dtype=np.float64)

    def describe(self, s: Signals) -> dict[str, object]:
        k = 0 if s.ref_phi is None else int(np.shape(s.ref_phi)[0])
        return {
            "reference_models": k,
            "variance": "per-record" if self.per_record_variance(k) else "global",
            "variance_threshold": self.variance_threshold,
        }

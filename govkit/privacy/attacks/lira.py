"""LiRA (Carlini et al., IEEE S&P 2022): a likelihood-ratio test on logit-scaled confidences.

φ = log p_y − log Σ_{j≠y} p_j.  For each target record, Gaussians are fitted
to φ under reference models that did not train on it (OUT) and, online, that
did (IN).  Online: score = log N(φ_t; μ_in, σ_in²) − log N(φ_t; μ_out, σ_out²).
Offline: score = (φ_t − μ_out)/σ_out, the one-sided test against OUT.
``fixed_variance`` uses one pooled variance for all records (better with few
reference models); otherwise each record has its own.
"""

from __future__ import annotations

import numpy as np

from govkit.privacy.attacks.base import Signals

MIN_VAR = 1e-6


def _masked_stats(phi: np.ndarray, mask: np.ndarray, fixed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-record mean and variance of ``phi`` (K×N) over models where ``mask``."""
    count = mask.sum(0)
    if (count == 0).any():
        raise ValueError("some target records have no reference model of the needed kind")
    mu = np.where(mask, phi, 0).sum(0) / count
    dev = np.where(mask, (phi - mu) ** 2, 0)
    if fixed or (count < 2).any():
        var = np.full_like(mu, dev.sum() / max(mask.sum() - mask.shape[1], 1))
    else:
        var = dev.sum(0) / (count - 1)
    return mu, np.maximum(var, MIN_VAR)


def _log_normal(x: np.ndarray, mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    return -0.5 * (np.log(2 * np.pi * var) + (x - mu) ** 2 / var)


class LiRA:
    def __init__(self, online: bool, fixed_variance: bool | None = None) -> None:
        self.online = online
        self.fixed_variance = fixed_variance
        self.name = "lira-online" if online else "lira-offline"
        self.needs = "online" if online else "offline"

    def score(self, s: Signals) -> np.ndarray:
        if s.ref_phi is None:
            raise ValueError(f"{self.name} needs reference models")
        k = s.ref_phi.shape[0]
        fixed = self.fixed_variance if self.fixed_variance is not None else k < 16
        ref_in = s.ref_in if s.ref_in is not None else np.zeros_like(s.ref_phi, dtype=bool)
        mu_out, var_out = _masked_stats(s.ref_phi, ~ref_in, fixed)
        if not self.online:
            return (s.target_phi - mu_out) / np.sqrt(var_out)
        mu_in, var_in = _masked_stats(s.ref_phi, ref_in, fixed)
        return _log_normal(s.target_phi, mu_in, var_in) - _log_normal(s.target_phi, mu_out, var_out)

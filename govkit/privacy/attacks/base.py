"""The shared protocol and inputs of membership-inference attacks.

Every per-record signal is computed in float64 from the models' **logits**:
φ = z_y − logsumexp_{j≠y} z_j (Carlini et al. 2022, eq. 4), and
p_y = σ(φ).  Computing φ from float32 probabilities as log p − log(1 − p)
cancels once φ exceeds about 16, exactly for the confident records that
leak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

EPS = 1e-12

# What an attack may need: population data (D3), reference models trained
# offline (on population halves) or online (on halves of population ∪ targets).
NEEDS = frozenset({"population", "reference-offline", "reference-online"})


@dataclass
class Signals:
    """Model outputs the attacks read, float64, one entry per record.

    ``target_p``: p_θ(y|x) of the target model for each target record (N).
    ``target_phi``: φ = z_y − logsumexp_{j≠y} z_j of the target model (N).
    ``ref_p`` / ``ref_phi``: the same for K reference models (K×N), with
    ``ref_in`` (K×N, bool) telling which reference models trained on each record.
    ``pop_target_p`` / ``pop_target_phi``: the target model on population records z (Z);
    ``pop_ref_p``: the reference models on them (K×Z), ``pop_ref_in`` which trained on each.
    """

    target_p: np.ndarray
    target_phi: np.ndarray
    ref_p: np.ndarray | None = None
    ref_phi: np.ndarray | None = None
    ref_in: np.ndarray | None = None
    pop_target_p: np.ndarray | None = None
    pop_target_phi: np.ndarray | None = None
    pop_ref_p: np.ndarray | None = None
    pop_ref_in: np.ndarray | None = None


@runtime_checkable
class MIAAttack(Protocol):
    """A membership-inference attack.

    ``name``: its registry key.  ``needs``: a subset of :data:`NEEDS`.
    ``llr``: whether scores are log-likelihood ratios, which add over a
    patient's independent records (otherwise a patient's records are averaged).
    ``score(signals)``: one float64 score per target record, **higher = more
    likely a member**.  ``describe(signals)``: the settings it used, recorded
    with the audit (JSON-serialisable).
    """

    @property
    def name(self) -> str: ...

    @property
    def needs(self) -> frozenset[str]: ...

    @property
    def llr(self) -> bool: ...

    def score(self, s: Signals) -> np.ndarray: ...

    def describe(self, s: Signals) -> dict[str, object]: ...


Attack = MIAAttack


def true_label_stats(logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p_y, φ) in float64 from logits (…×N×C) and labels (N), batched over leading axes.

    φ = z_y − logsumexp_{j≠y} z_j and p_y = σ(φ) = 1 / (1 + e^{−φ}).
    """
    from scipy.special import expit, logsumexp

    z = np.asarray(logits, dtype=np.float64)
    idx = np.broadcast_to(np.asarray(y)[..., None], (*z.shape[:-1], 1))
    z_y = np.take_along_axis(z, idx, axis=-1)[..., 0]
    rest = z.copy()
    np.put_along_axis(rest, idx, -np.inf, axis=-1)
    phi = z_y - logsumexp(rest, axis=-1)
    return expit(phi), phi

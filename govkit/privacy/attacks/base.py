"""The shared protocol and inputs of membership-inference attacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

EPS = 1e-12


@dataclass
class Signals:
    """Model outputs the attacks read (probabilities of the true label, and logit-scaled confidences).

    ``target_p``: p_θ(y|x) of the target model for each target record (N).
    ``target_phi``: φ = log p_y − log Σ_{j≠y} p_j of the target model (N).
    ``ref_p`` / ``ref_phi``: the same for K reference models (K×N), with
    ``ref_in`` (K×N, bool) telling which reference models trained on each record.
    ``pop_target_p`` / ``pop_ref_p``: p(y|z) on population records z, target (Z) and references (K×Z).
    """

    target_p: np.ndarray
    target_phi: np.ndarray
    ref_p: np.ndarray | None = None
    ref_phi: np.ndarray | None = None
    ref_in: np.ndarray | None = None
    pop_target_p: np.ndarray | None = None
    pop_ref_p: np.ndarray | None = None
    pop_ref_in: np.ndarray | None = None


class Attack(Protocol):
    """An attack: ``needs`` says which reference models it requires."""

    name: str
    needs: str  # "none" | "population" | "offline" | "online"

    def score(self, s: Signals) -> np.ndarray: ...


def true_label_stats(probs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p_y, φ) from class probabilities (…×N×K) and labels (N), batched over leading axes."""
    p = np.take_along_axis(probs, np.broadcast_to(y[..., None], probs.shape[:-1] + (1,)), axis=-1)[..., 0]
    p = np.clip(p, EPS, 1.0)
    rest = np.clip(probs.sum(-1) - p, EPS, None)
    return p, np.log(p) - np.log(rest)

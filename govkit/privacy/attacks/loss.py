"""LOSS attack (Yeom et al., CSF 2018): members have lower loss.

score(x) = −ℓ(θ; x, y) = log p_θ(y|x) = −log(1 + e^{−φ}), computed from φ
so that confident records (p_y within 1e-16 of 1) still rank apart.
"""

from __future__ import annotations

import numpy as np

from govkit.privacy.attacks.base import Signals


class LossAttack:
    name = "loss"
    needs: frozenset[str] = frozenset()
    llr = False

    def score(self, s: Signals) -> np.ndarray:
        return -np.logaddexp(0.0, -np.asarray(s.target_phi, dtype=np.float64))

    def describe(self, s: Signals) -> dict[str, object]:
        return {"signal": "log p_y from logits (float64)"}

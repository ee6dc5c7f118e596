"""LOSS attack (Yeom et al., CSF 2018): members have lower loss.

score(x) = −ℓ(θ; x, y) = log p_θ(y|x).
"""

from __future__ import annotations

import numpy as np

from govkit.privacy.attacks.base import Signals


class LossAttack:
    name = "loss"
    needs = "none"

    def score(self, s: Signals) -> np.ndarray:
        return np.log(s.target_p)

"""Population attack (Ye et al., CCS 2022, "Attack P").

The target model's losses on population records give the reference
distribution: score(x) = Pr_z[ℓ(z) > ℓ(x)] + ½ Pr_z[ℓ(z) = ℓ(x)], the
fraction of population records the model fits worse than x.
"""

from __future__ import annotations

import numpy as np

from govkit.privacy.attacks.base import Signals


class PopulationAttack:
    name = "population"
    needs = "population"

    def score(self, s: Signals) -> np.ndarray:
        if s.pop_target_p is None:
            raise ValueError("the population attack needs population data (--population)")
        pop_loss = np.sort(-np.log(s.pop_target_p))
        loss = -np.log(s.target_p)
        greater = len(pop_loss) - np.searchsorted(pop_loss, loss, side="right")
        equal = np.searchsorted(pop_loss, loss, side="right") - np.searchsorted(pop_loss, loss, side="left")
        return (greater + 0.5 * equal) / len(pop_loss)

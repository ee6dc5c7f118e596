"""Population attack (Ye et al., CCS 2022, "Attack P").

The target model's losses on population records give the reference
distribution: score(x) = Pr_z[ℓ(z) > ℓ(x)] + ½ Pr_z[ℓ(z) = ℓ(x)], the
fraction of population records the model fits worse than x.  The loss is
a decreasing function of φ, so the comparison is made on φ (float64, exact
for confident records).
"""

from __future__ import annotations

import numpy as np

from govkit.privacy.attacks.base import Signals


class PopulationAttack:
    name = "population"
    needs = frozenset({"population"})
    llr = False

    def score(self, s: Signals) -> np.ndarray:
        if s.pop_target_phi is None:
            raise ValueError("the population attack needs population data (--population)")
        pop = np.sort(np.asarray(s.pop_target_phi, dtype=np.float64))
        phi = np.asarray(s.target_phi, dtype=np.float64)
        below = np.searchsorted(pop, phi, side="left")  # population records fitted worse (lower φ)
        equal = np.searchsorted(pop, phi, side="right") - below
        return (below + 0.5 * equal) / len(pop)

    def describe(self, s: Signals) -> dict[str, object]:
        return {"population_records": 0 if s.pop_target_phi is None else len(s.pop_target_phi)}

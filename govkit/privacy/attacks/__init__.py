"""Membership-inference attacks, one per module, behind :class:`~govkit.privacy.attacks.base.Attack`.

Every attack maps :class:`~govkit.privacy.attacks.base.Signals` to one score
per target record, and **a higher score always means "more likely a member"**.
"""

from govkit.privacy.attacks.base import Attack, Signals
from govkit.privacy.attacks.lira import LiRA
from govkit.privacy.attacks.loss import LossAttack
from govkit.privacy.attacks.population import PopulationAttack
from govkit.privacy.attacks.rmia import RMIA

MIA_ATTACKS: dict[str, Attack] = {
    "loss": LossAttack(),
    "population": PopulationAttack(),
    "lira-offline": LiRA(online=False),
    "lira-online": LiRA(online=True),
    "rmia": RMIA(),
}

__all__ = ["MIA_ATTACKS", "Attack", "Signals"]

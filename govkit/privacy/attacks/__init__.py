"""Membership-inference attacks, one per module, behind :class:`~govkit.privacy.attacks.base.MIAAttack`.

Every attack maps :class:`~govkit.privacy.attacks.base.Signals` to one score
per target record, and **a higher score always means "more likely a member"**.
:data:`MIA_ATTACKS` is the registry the audit and the CLI read.
"""

from govkit.privacy.attacks.base import NEEDS, Attack, MIAAttack, Signals
from govkit.privacy.attacks.lira import LiRA
from govkit.privacy.attacks.loss import LossAttack
from govkit.privacy.attacks.population import PopulationAttack
from govkit.privacy.attacks.rmia import RMIA

MIA_ATTACKS: dict[str, MIAAttack] = {
    a.name: a
    for a in (
        LossAttack(),
        PopulationAttack(),
        LiRA(online=False),
        LiRA(online=True),
        RMIA(),
        RMIA(online=True),
    )
}

__all__ = ["MIA_ATTACKS", "NEEDS", "Attack", "MIAAttack", "Signals"]

"""Saliency (Simonyan et al. 2014): the absolute input gradient."""

from __future__ import annotations

from govkit.explain.methods.base import to_map


class Saliency:
    name = "saliency"

    def attribute(self, model, x, target):
        from captum.attr import Saliency as S

        return to_map(S(model).attribute(x, target=target, abs=True))

"""GradientShap (Lundberg & Lee 2017): expected gradients with noisy black/white baselines."""

from __future__ import annotations

import torch

from govkit.explain.methods.base import to_map


class GradientShap:
    name = "gradient-shap"

    def __init__(self, n_samples: int = 16, stdevs: float = 0.05) -> None:
        self.n_samples, self.stdevs = n_samples, stdevs

    def attribute(self, model, x, target):
        from captum.attr import GradientShap as GS

        baselines = torch.cat([torch.zeros_like(x[:1]), torch.ones_like(x[:1])])
        return to_map(
            GS(model).attribute(x, baselines=baselines, target=target, n_samples=self.n_samples, stdevs=self.stdevs)
        )

"""KernelShap on grid superpixels, with a sample count suited to images (captum's 25 is far too few)."""

from __future__ import annotations

from govkit.explain.methods.base import superpixels, to_map


class KernelShap:
    name = "kernel-shap"

    def __init__(self, n_samples: int = 300, cell: int = 8) -> None:
        self.n_samples, self.cell = n_samples, cell

    def attribute(self, model, x, target):
        import torch
        from captum.attr import KernelShap as KS

        mask = superpixels(x.shape[-2], x.shape[-1], self.cell, x.device)
        ks = KS(model)
        maps = [ks.attribute(x[i:i + 1], baselines=0, target=target[i:i + 1], feature_mask=mask,
                             n_samples=self.n_samples, perturbations_per_eval=100) for i in range(len(x))]
        return to_map(torch.cat(maps))

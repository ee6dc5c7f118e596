"""KernelShap on grid superpixels, with a sample count suited to images (captum's 25 is far too few)."""

from __future__ import annotations

from govkit.explain.methods.base import superpixel_attribution


class KernelShap:
    name = "kernel-shap"

    def __init__(self, n_samples: int = 300, cell: int = 8) -> None:
        self.n_samples, self.cell = n_samples, cell

    def attribute(self, model, x, target):
        from captum.attr import KernelShap as CaptumKernelShap

        return superpixel_attribution(CaptumKernelShap, model, x, target, n_samples=self.n_samples, cell=self.cell)

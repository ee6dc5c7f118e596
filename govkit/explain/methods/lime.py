"""LIME (Ribeiro et al. 2016) on grid superpixels, with an image-sized sample count."""

from __future__ import annotations

from govkit.explain.methods.base import superpixel_attribution


class Lime:
    name = "lime"

    def __init__(self, n_samples: int = 300, cell: int = 8) -> None:
        self.n_samples, self.cell = n_samples, cell

    def attribute(self, model, x, target):
        from captum.attr import Lime as CaptumLime

        return superpixel_attribution(CaptumLime, model, x, target, n_samples=self.n_samples, cell=self.cell)

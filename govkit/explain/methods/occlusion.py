"""Occlusion (Zeiler & Fergus 2014): output drop when a sliding patch is set to zero."""

from __future__ import annotations

from govkit.explain.methods.base import to_map


class Occlusion:
    name = "occlusion"

    def __init__(self, patch: int = 8, stride: int = 4) -> None:
        self.patch, self.stride = patch, stride

    def attribute(self, model, x, target):
        from captum.attr import Occlusion as O

        c = x.shape[1]
        return to_map(
            O(model).attribute(
                x,
                sliding_window_shapes=(c, self.patch, self.patch),
                strides=(c, self.stride, self.stride),
                baselines=0,
                target=target,
                perturbations_per_eval=64,
            )
        )

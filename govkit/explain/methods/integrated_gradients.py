"""Integrated Gradients (Sundararajan et al. 2017), black baseline, batched over images and steps.

All images' interpolation steps go through the model together, in chunks:
64 samples per forward pass on the CPU (larger batches of these small
convolutions fall out of cache and run slower), up to 4,096 on a GPU.
"""

from __future__ import annotations

from govkit.explain.methods.base import to_map


class IntegratedGradients:
    name = "integrated-gradients"

    def __init__(self, n_steps: int = 32) -> None:
        self.n_steps = n_steps

    def attribute(self, model, x, target):
        from captum.attr import IntegratedGradients as IG

        chunk = 64 if x.device.type == "cpu" else min(len(x) * self.n_steps, 4096)
        return to_map(
            IG(model).attribute(x, baselines=x * 0, target=target, n_steps=self.n_steps, internal_batch_size=chunk)
        )

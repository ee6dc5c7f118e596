"""The shared protocol of attribution methods, and helpers."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class AttributionMethod(Protocol):
    """An attribution method: ``attribute`` returns float32 maps N×H×W for the logits
    ``model(x)[i, target[i]]``, deterministic unless the method samples by design."""

    @property
    def name(self) -> str: ...

    def attribute(self, model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...


def to_map(attr: torch.Tensor) -> torch.Tensor:
    """N×C×H×W attributions -> N×H×W (sum over channels), detached float32."""
    return attr.detach().sum(1).float()


def superpixels(h: int, w: int, cell: int, device) -> torch.Tensor:
    """A 1×1×H×W feature mask of square cells (grid superpixels), ids 0..F-1."""
    ys = torch.arange(h, device=device) // cell
    xs = torch.arange(w, device=device) // cell
    n_x = (w + cell - 1) // cell
    return (ys.view(h, 1) * n_x + xs.view(1, w)).view(1, 1, h, w)


def last_conv(model) -> torch.nn.Module:
    """The last Conv2d layer of a model (Grad-CAM's target layer)."""
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        raise ValueError("the model has no Conv2d layer for Grad-CAM")
    return convs[-1]


def superpixel_attribution(attr_cls, model, x, target, *, n_samples: int, cell: int):
    """Run a captum perturbation method (KernelShap, Lime) on grid superpixels.

    captum's surrogate-model methods take one example per call with a
    feature mask, so this loops over images; each call evaluates its
    perturbations in batches of 100.
    """
    mask = superpixels(x.shape[-2], x.shape[-1], cell, x.device)
    method = attr_cls(model)
    maps = [
        method.attribute(
            x[i : i + 1],
            baselines=0,
            target=target[i : i + 1],
            feature_mask=mask,
            n_samples=n_samples,
            perturbations_per_eval=100,
        )
        for i in range(len(x))
    ]
    return to_map(torch.cat(maps))

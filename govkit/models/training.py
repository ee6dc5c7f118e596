"""Train a fresh copy of a model from its spec's ``train`` recipe.

Used by the example task and by the privacy audit's reference models.  The
loop is deterministic for a given seed on the CPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

from govkit.errors import BadInput


def make_optimizer(params: Any, recipe: Any) -> torch.optim.Optimizer:
    import torch

    name = recipe.optimizer.lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=0.9, weight_decay=recipe.weight_decay)
    raise BadInput(f"unknown optimizer {recipe.optimizer!r}: use adam, adamw or sgd")


def augment(x: torch.Tensor) -> torch.Tensor:
    """Random horizontal and vertical flips (batched, no loop over samples)."""
    import torch

    n = x.shape[0]
    flip_h = torch.rand(n, device=x.device) < 0.5
    flip_v = torch.rand(n, device=x.device) < 0.5
    x = torch.where(flip_h.view(n, 1, 1, 1), x.flip(-1), x)
    return torch.where(flip_v.view(n, 1, 1, 1), x.flip(-2), x)


def train_model(model, x: np.ndarray, y: np.ndarray, recipe, *, seed: int = 0, device: str = "cpu"):
    """Train ``model`` (an image-space wrapper) in place on arrays ``x``, ``y``."""
    import torch

    torch.manual_seed(seed)
    gen = np.random.default_rng(seed)
    model.to(device).train()
    opt = make_optimizer(model.parameters(), recipe)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    for _ in range(recipe.epochs):
        order = gen.permutation(len(xt))
        for start in range(0, len(order), recipe.batch_size):
            idx = torch.from_numpy(order[start : start + recipe.batch_size])
            xb, yb = xt[idx].to(device), yt[idx].to(device)
            if recipe.augment:
                xb = augment(xb)
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
    model.eval()
    return model

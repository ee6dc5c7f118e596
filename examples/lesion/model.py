"""The example model: a small CNN for 1×64×64 images (an entrypoint factory)."""

import torch
from torch import nn


def build() -> nn.Module:
    """Return an untrained network; govkit loads the weights with weights_only=True."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 2),
    )


if __name__ == "__main__":  # pragma: no cover - smoke check
    print(build()(torch.zeros(1, 1, 64, 64)).shape)

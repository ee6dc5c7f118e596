"""A small MLP for scikit-learn's 8×8 digits (the privacy tests' target architecture)."""

from torch import nn


def build() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))

"""Device choice and memory-adaptive batching.

``--device auto`` takes CUDA when it is present, else the CPU.  Batches
halve on a CUDA out-of-memory error until they fit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from govkit.errors import BadInput

T = TypeVar("T")


def resolve_device(name: str = "auto") -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BadInput(f"device {name!r} requested but CUDA is not available")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise BadInput(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s)")
        return f"cuda:{index}"
    raise BadInput(f"unknown device {name!r}: use auto, cpu or cuda[:N]")


def adaptive(fn: Callable[[int], T], batch_size: int, min_size: int = 1) -> tuple[T, int]:
    """Call ``fn(batch_size)``, halving the size on CUDA out-of-memory."""
    import torch

    while True:
        try:
            return fn(batch_size), batch_size
        except torch.cuda.OutOfMemoryError:
            if batch_size <= min_size:
                raise
            torch.cuda.empty_cache()
            batch_size //= 2

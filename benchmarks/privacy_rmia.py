#!/usr/bin/env python3
"""RMIA scoring speed, and reference-model training time (sequential vs concurrent vmap).

    .venv/bin/python benchmarks/privacy_rmia.py

1. Scores 20,000 targets against 10,000 population points with govkit's
   sort + searchsorted RMIA, beside a brute-force pairwise version (chunked
   N×Z comparisons), and checks they agree.
2. Trains K=4 reference copies of the digits MLP (tests/privacy/digits_model.py)
   one after the other and all at once (torch.func stacking + vmap).
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def brute_force(rx: np.ndarray, rz: np.ndarray, gamma: float, chunk: int = 2000) -> np.ndarray:
    out = np.empty(len(rx))
    for i in range(0, len(rx), chunk):
        out[i : i + chunk] = ((rx[i : i + chunk, None] / rz[None, :]) >= gamma).mean(1)
    return out


def best_of(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def rmia_bench() -> None:
    from govkit.privacy.attacks.rmia import rmia_scores

    rng = np.random.default_rng(0)
    rx, rz = rng.lognormal(size=20_000), rng.lognormal(size=10_000)
    fast = best_of(lambda: rmia_scores(rx, rz, 1.0))
    slow = best_of(lambda: brute_force(rx, rz, 1.0), repeats=1)
    agree = np.array_equal(
        np.floor(rmia_scores(rx, rz, 1.0) * 10_001).astype(int), (brute_force(rx, rz, 1.0) * 10_000).round().astype(int)
    )
    print(
        f"RMIA 20,000 x 10,000: govkit {fast * 1000:.1f} ms, brute force {slow * 1000:.0f} ms "
        f"({slow / fast:.0f}x), identical counts: {agree}"
    )


def training_bench(k: int = 4) -> None:
    import sys

    from sklearn.datasets import load_digits

    from govkit.models.spec import load_spec
    from govkit.privacy.reference import membership_matrix, train_concurrent, train_sequential

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "privacy"))
    from digits_model import write_spec

    root = Path(tempfile.mkdtemp())
    spec = load_spec(write_spec(root, epochs=20))
    d = load_digits()
    x, y = (d.images / 16.0).astype(np.float32)[:, None], d.target.astype(np.int64)
    member = membership_matrix(k, len(y), np.random.default_rng(0))
    seq = best_of(lambda: train_sequential(spec, x, y, member, device="cpu", seed=0), repeats=1)
    con = best_of(lambda: train_concurrent(spec, x, y, member, device="cpu", seed=0), repeats=1)
    print(
        f"reference models (digits MLP, {len(y) // 2} records each, 20 epochs, K={k}): "
        f"sequential {seq / k:.2f} s/model, concurrent {con / k:.2f} s/model ({seq / con:.2f}x)"
    )
    shutil.rmtree(root)


if __name__ == "__main__":
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    rmia_bench()
    training_bench()

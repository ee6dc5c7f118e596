#!/usr/bin/env python3
"""Attributions per second for each method, and batched vs per-image Integrated Gradients.

    .venv/bin/python benchmarks/explain_speed.py [--device cpu|cuda] [--n 64]

Model: the example lesion CNN (1×64×64).  On a machine with a GPU, pass
``--device cuda`` (this is the GPU benchmark script too).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--n", type=int, default=64)
    a = ap.parse_args()
    os.environ.setdefault("GOVKIT_HOME", tempfile.mkdtemp())
    sys.path.insert(0, str(ROOT / "examples" / "lesion"))
    import lesion_task
    import train as lesion_train

    from govkit.explain.methods import ATTRIBUTION_METHODS
    from govkit.models.loading import load_model
    from govkit.models.spec import load_spec

    work = Path(tempfile.mkdtemp())
    paths = lesion_task.write(work / "data", n_train=600, n_test=a.n, n_population=10)
    model = load_model(load_spec(lesion_train.train(paths["train"], work / "m", "lesion-cnn", "1.0")), a.device)
    d = np.load(paths["test"])
    x, y = torch.from_numpy(d["x"]).to(a.device), torch.from_numpy(d["y"]).to(a.device)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, device {a.device}")
    for name, method in ATTRIBUTION_METHODS.items():
        n = len(x) if name not in ("kernel-shap", "lime", "occlusion") else min(len(x), 16)
        method.attribute(model, x[:2], y[:2])  # warm-up
        t = time.perf_counter()
        method.attribute(model, x[:n], y[:n])
        dt = time.perf_counter() - t
        print(f"  {name:<21} {n / dt:8.1f} attributions/s  ({n} images)")
    ig = ATTRIBUTION_METHODS["integrated-gradients"]
    batched, loop = [], []
    for _ in range(3):
        t = time.perf_counter()
        ig.attribute(model, x, y)
        batched.append(time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(len(x)):
            ig.attribute(model, x[i : i + 1], y[i : i + 1])
        loop.append(time.perf_counter() - t)
    b, l_ = min(batched), min(loop)
    print(
        f"IntegratedGradients ({ig.n_steps} steps), {len(x)} images: batched {len(x) / b:.1f}/s, "
        f"per-image loop {len(x) / l_:.1f}/s ({l_ / b:.1f}x)"
    )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Robustness speed: govkit's PGD vs torchattacks, and batched corruptions vs a MONAI per-image loop.

    .venv/bin/python benchmarks/robustness_speed.py [--device cpu|cuda] [--n 512]

Both comparisons run side by side in one process on the same model, data,
batch and steps.  torchattacks and MONAI are benchmark-only dependencies
(``pip install torchattacks monai``).  On a machine with a GPU, pass
``--device cuda`` (this is the GPU benchmark script).
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


def timed(fn, repeats=3) -> float:
    best = float("inf")
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def model_and_data(device: str, n: int):
    sys.path.insert(0, str(ROOT / "examples" / "lesion"))
    import lesion_task
    import train as lesion_train

    from govkit.models.loading import load_model
    from govkit.models.spec import load_spec

    work = Path(tempfile.mkdtemp())
    paths = lesion_task.write(work / "data", n_train=600, n_test=n, n_population=10)
    spec = lesion_train.train(paths["train"], work / "model", "lesion-cnn", "1.0")
    model = load_model(load_spec(spec), device)
    d = np.load(paths["test"])
    return model, torch.from_numpy(d["x"]).to(device), torch.from_numpy(d["y"]).to(device)


def pgd_bench(model, x, y, device, batch=128, steps=10, eps=8 / 255):
    import torchattacks

    from govkit.robustness.attacks import ADVERSARIAL_ATTACKS

    ours = ADVERSARIAL_ATTACKS["pgd-linf"]
    theirs = torchattacks.PGD(model, eps=eps, alpha=2.5 * eps / steps, steps=steps, random_start=True)
    g = torch.Generator(device=device).manual_seed(0)

    def run_ours():
        for i in range(0, len(x), batch):
            ours.perturb(model, x[i : i + batch], y[i : i + batch], eps, steps=steps, restarts=1, generator=g)

    def run_theirs():
        for i in range(0, len(x), batch):
            theirs(x[i : i + batch], y[i : i + batch])

    run_ours(), run_theirs()  # warm-up: thread pools and allocator caches
    t_ours, t_theirs = [], []
    for _ in range(5):  # interleaved, so drifting machine load hits both alike
        t_ours.append(timed(run_ours, repeats=1))
        t_theirs.append(timed(run_theirs, repeats=1))
    ratio = float(np.median(np.array(t_theirs) / np.array(t_ours)))
    print(
        f"PGD-Linf eps={eps:.4f}, {len(x)} images, batch {batch}, {steps} steps, 5 interleaved rounds: "
        f"govkit {len(x) / np.median(t_ours):.0f} img/s, torchattacks {len(x) / np.median(t_theirs):.0f} img/s "
        f"(median ratio {ratio:.2f}x)"
    )


def corruption_bench(x, device):
    from monai import transforms as mt

    from govkit.robustness.corruptions import CORRUPTIONS

    shared = {  # govkit corruption at severity 3 -> the MONAI transform doing the same
        "gaussian": mt.RandGaussianNoise(prob=1.0, std=0.06),
        "rician": mt.RandRicianNoise(prob=1.0, std=0.06),
        "gibbs": mt.GibbsNoise(alpha=0.5),
        "bias-field": mt.RandBiasField(prob=1.0, coeff_range=(0.0, 0.3)),
        "blur": mt.GaussianSmooth(sigma=1.2),
        "gamma": mt.AdjustContrast(gamma=1.5),
        "spike": mt.RandKSpaceSpikeNoise(prob=1.0, intensity_range=(10, 11)),
    }
    g = torch.Generator(device=device).manual_seed(0)
    total_ours = total_monai = 0.0
    for name, tr in shared.items():
        t_ours = timed(lambda name=name: CORRUPTIONS[name].apply(x, 3, g))
        t_monai = timed(lambda tr=tr: [tr(img) for img in x], repeats=1)
        total_ours += t_ours
        total_monai += t_monai
        print(
            f"  {name:<11} govkit {len(x) / t_ours:9.0f} img/s   MONAI per-image {len(x) / t_monai:7.0f} img/s "
            f"({t_monai / t_ours:.0f}x)"
        )
    print(
        f"corruption suite ({len(shared)} shared corruptions, {len(x)} images): govkit {total_ours * 1000:.0f} ms, "
        f"MONAI loop {total_monai * 1000:.0f} ms ({total_monai / total_ours:.0f}x)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--n", type=int, default=512)
    a = ap.parse_args()
    os.environ.setdefault("GOVKIT_HOME", tempfile.mkdtemp())
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, device {a.device}"
        + (f" ({torch.cuda.get_device_name()})" if a.device.startswith("cuda") else "")
    )
    model, x, y = model_and_data(a.device, a.n)
    for eps in (8 / 255, 1 / 255):  # many samples break early / almost none do
        pgd_bench(model, x, y, a.device, eps=eps)
    corruption_bench(x, a.device)


if __name__ == "__main__":
    main()

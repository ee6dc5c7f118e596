"""A synthetic 2-D "lesion" classification task (shared by the demo and the tests).

Each 64×64 image is a textured tissue background with acquisition noise;
positives carry a soft bright lesion whose mask is saved.  Every image has
a ``site`` (A, B, C: different contrast and noise) and a ``sex`` attribute,
and a ``patient_id`` (two images per patient).  With ``shortcut=True`` a
checkerboard site marker in the top-left corner correlates with the label (98 % of
positives, 2 % of negatives): a model can learn the marker instead of the
lesion.  ``test.npz`` never has the marker; ``test_shortcut.npz`` has it as
in training, which is where a shortcut model's explanations give it away.

    python examples/lesion/lesion_task.py OUT_DIR [--n-train 2000] [--n-test 600] [--seed 0]

writes ``train.npz``, ``train_shortcut.npz``, ``test.npz``, ``test_shortcut.npz``
(held-out, with the marker) and ``population.npz``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SIZE = 64
SITES = np.array(["A", "B", "C"])
SITE_CONTRAST = np.array([1.0, 0.8, 1.15])
SITE_NOISE = np.array([0.03, 0.05, 0.04])
SHORTCUT_RATE = (0.98, 0.02)  # share of positives / negatives carrying the site marker
MARKER = np.kron((np.indices((4, 4)).sum(0) % 2).astype(np.float32), np.ones((2, 2), np.float32))


def _smooth_field(rng: np.random.Generator, n: int, scale: int = 8) -> np.ndarray:
    """Low-frequency texture: coarse noise upsampled bilinearly (batched)."""
    coarse = rng.normal(size=(n, SIZE // scale + 1, SIZE // scale + 1))
    t = np.linspace(0, SIZE // scale, SIZE)
    i0 = np.floor(t).astype(int).clip(0, SIZE // scale - 1)
    f = (t - i0)[None, :]
    rows = coarse[:, i0, :] * (1 - f[..., None]) + coarse[:, i0 + 1, :] * f[..., None]
    return rows[:, :, i0] * (1 - f[:, None, :]) + rows[:, :, i0 + 1] * f[:, None, :]


def generate(
    n: int, *, seed: int = 0, shortcut: bool = False, positive_rate: float = 0.5, patient_offset: int = 0
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < positive_rate).astype(np.int64)
    site = rng.integers(0, 3, n)
    sex = np.where(rng.random(n) < 0.5, "F", "M")
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    # tissue: a broad disc with texture
    tissue = np.exp(-((((yy - 32) / 26) ** 2 + ((xx - 32) / 26) ** 2) ** 2))
    img = 0.25 + 0.35 * tissue[None] + 0.06 * _smooth_field(rng, n)
    # lesion: soft ellipse of random size, position and brightness inside the tissue
    cy, cx = rng.uniform(18, 46, n), rng.uniform(18, 46, n)
    ry, rx = rng.uniform(4, 8, n), rng.uniform(4, 8, n)
    d = ((yy[None] - cy[:, None, None]) / ry[:, None, None]) ** 2 + (
        (xx[None] - cx[:, None, None]) / rx[:, None, None]
    ) ** 2
    lesion = 1.0 / (1.0 + np.exp(np.minimum((d - 1.0) * 6.0, 50.0)))
    amp = rng.uniform(0.18, 0.3, n) * y
    img = img + amp[:, None, None] * lesion
    mask = (d <= 1.0) & (y[:, None, None] == 1)
    # site contrast, quantum-like and electronic noise
    img = 0.5 + (img - 0.5) * SITE_CONTRAST[site][:, None, None]
    img = rng.poisson(np.clip(img, 0, None) * 400) / 400.0
    img = img + rng.normal(size=img.shape) * SITE_NOISE[site][:, None, None]
    if shortcut:
        marked = rng.random(n) < np.where(y == 1, SHORTCUT_RATE[0], SHORTCUT_RATE[1])
        img[marked, 2:10, 2:10] = MARKER  # a checkerboard tag: nothing like a lesion
    x = np.clip(img, 0.0, 1.0).astype(np.float32)[:, None]
    return {
        "x": x,
        "y": y,
        "mask": mask.astype(np.uint8),
        "patient_id": np.array([f"P{patient_offset + i // 2:05d}" for i in range(n)]),
        "group_site": SITES[site],
        "group_sex": sex,
    }


def write(out: Path, *, n_train: int = 2000, n_test: int = 600, n_population: int = 1000, seed: int = 0) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    sets = {
        "train": generate(n_train, seed=seed),
        "train_shortcut": generate(n_train, seed=seed, shortcut=True),
        "test": generate(n_test, seed=seed + 1, patient_offset=100_000),
        # held-out images that carry the site marker as in the shortcut training data:
        # where a shortcut model looks at the marker instead of the lesion
        "test_shortcut": generate(n_test, seed=seed + 3, shortcut=True, patient_offset=300_000),
        "population": generate(n_population, seed=seed + 2, patient_offset=200_000),
    }
    for name, arrays in sets.items():
        np.savez(out / f"{name}.npz", **arrays)  # uncompressed: memory-mapped when read
    return {name: out / f"{name}.npz" for name in sets}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--n-test", type=int, default=600)
    ap.add_argument("--n-population", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    for name, path in write(
        a.out, n_train=a.n_train, n_test=a.n_test, n_population=a.n_population, seed=a.seed
    ).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()

"""Split pairs with planted leakage and known truth, for testing dataset audits.

:func:`images` draws anatomy-like 64×64 images (one shared disc, smooth
texture, acquisition noise: unrelated images look alike, as in a real
modality); :func:`plant` copies images of split A into split B under new
IDs, exactly or altered the ways re-exported data is (intensity shift,
gain, noise, 8-bit JPEG re-compression, a 1–2 pixel crop resized or
padded back, a flip, a 90° rotation, an inversion), and
gives some B images the patient IDs of A.  Nothing here is imported by the
runtime packages.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np

SIZE = 64


def images(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` float32 images N×1×64×64 in [0, 1]."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    disc = np.exp(-((((yy - 0.5) / 0.4) ** 2 + ((xx - 0.5) / 0.4) ** 2) ** 2))
    coarse = rng.normal(size=(n, 9, 9))
    t = np.linspace(0, 8, SIZE)
    i0 = np.floor(t).astype(int).clip(0, 7)
    f = t - i0
    rows = coarse[:, i0, :] * (1 - f)[None, :, None] + coarse[:, i0 + 1, :] * f[None, :, None]
    texture = rows[:, :, i0] * (1 - f)[None, None, :] + rows[:, :, i0 + 1] * f[None, None, :]
    img = 0.25 + 0.35 * disc[None] + 0.06 * texture + rng.normal(scale=0.03, size=(n, SIZE, SIZE))
    return np.clip(img, 0, 1).astype(np.float32)[:, None]


def _jpeg(x: np.ndarray, quality: int = 70) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((x[0] * 255).round().astype(np.uint8)).save(buf, format="JPEG", quality=quality)
    return (np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float32) / 255)[None]


def _crop(px: int, axis: int) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def crop(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from PIL import Image

        c = x[0, px:, :] if axis == 0 else x[0, :, px:]
        resized = Image.fromarray(c, mode="F").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
        return np.asarray(resized, dtype=np.float32)[None]

    return crop


#: The alterations a near copy gets, by name.
ALTERATIONS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "shift": lambda x, rng: x + 0.05,
    "gain": lambda x, rng: (x - 0.5) * 1.1 + 0.5,
    "noise": lambda x, rng: x + rng.normal(scale=0.02, size=x.shape),
    "jpeg": lambda x, rng: _jpeg(np.clip(x, 0, 1)),
    "crop1": _crop(1, 0),
    "crop2": _crop(2, 1),
    "flip-h": lambda x, rng: x[:, :, ::-1],
    "flip-v": lambda x, rng: x[:, ::-1, :],
    "rotate-90": lambda x, rng: np.rot90(x, 1, axes=(1, 2)),
    "invert": lambda x, rng: 1 - x,
    "crop-pad1": lambda x, rng: np.pad(x[:, :, 1:], ((0, 0), (0, 0), (0, 1)), mode="edge"),
    "crop-pad2": lambda x, rng: np.pad(x[:, 2:, :], ((0, 0), (0, 2), (0, 0)), mode="edge"),
}


def split(n: int, rng: np.random.Generator, prefix: str) -> dict[str, np.ndarray]:
    """One split: images, labels, two images per patient, ``site`` and ``sex`` subgroups."""
    return {
        "x": images(n, rng),
        "y": rng.integers(0, 2, n).astype(np.int64),
        "patient_id": np.array([f"{prefix}{i // 2:05d}" for i in range(n)]),
        "group_site": rng.choice(["A", "B", "C"], n),
        "group_sex": rng.choice(["F", "M"], n),
    }


def plant(
    a: dict[str, np.ndarray],
    b: dict[str, np.ndarray],
    rng: np.random.Generator,
    *,
    per_kind: int = 3,
    shared_patients: int = 3,
) -> dict[str, Any]:
    """Plant leakage from ``a`` into ``b`` (in place); return the truth.

    Truth: ``patients`` (IDs), ``duplicates`` and ``near`` (sets of (index in a,
    index in b)), with ``near_kind`` naming each near copy's alteration.
    """
    n_a, n_b = len(a["x"]), len(b["x"])
    kinds = ["exact", *ALTERATIONS]
    need = per_kind * len(kinds)
    src = rng.choice(n_a, need, replace=False)
    dst = rng.choice(n_b, need + shared_patients * 2, replace=False)
    truth: dict[str, Any] = {"duplicates": set(), "near": set(), "near_kind": {}, "patients": set()}
    b["x"] = np.array(b["x"])
    for k, kind in enumerate(kinds):
        for s, d in zip(src[k * per_kind : (k + 1) * per_kind], dst[k * per_kind : (k + 1) * per_kind], strict=True):
            if kind == "exact":
                b["x"][d] = a["x"][s]
                truth["duplicates"].add((int(s), int(d)))
            else:
                b["x"][d] = np.clip(ALTERATIONS[kind](a["x"][s].astype(np.float32), rng), 0, 1)
                truth["near"].add((int(s), int(d)))
                truth["near_kind"][(int(s), int(d))] = kind
    # shared patients: B images (not copies) take an A patient's ID
    pid_b = b["patient_id"].astype(object)
    for d, s in zip(dst[need : need + shared_patients], rng.choice(n_a, shared_patients, replace=False), strict=True):
        pid_b[d] = a["patient_id"][s]
        truth["patients"].add(str(a["patient_id"][s]))
    b["patient_id"] = pid_b.astype(str)
    return truth

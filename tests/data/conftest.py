"""Split pairs with planted leakage (govkit.testing.data_corpus), written as NPZ files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from govkit.testing.data_corpus import plant, split


def save(path: Path, arrays: dict) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="session")
def planted(tmp_path_factory):
    """train/test with 3 copies of every kind and 3 shared patients, and a clean test split."""
    rng = np.random.default_rng(7)
    out = tmp_path_factory.mktemp("planted")
    a, b, clean = split(800, rng, "A"), split(400, rng, "B"), split(400, rng, "C")
    truth = plant(a, b, rng, per_kind=3, shared_patients=3)
    return {
        "train": save(out / "train.npz", a),
        "test": save(out / "test.npz", b),
        "clean": save(out / "clean.npz", clean),
        "truth": truth,
        "arrays": (a, b),
    }

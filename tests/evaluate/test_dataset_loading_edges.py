"""Edges of datasets and model loading that once crashed (exit 3): each is now a one-line BadInput."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from govkit.errors import BadInput


def test_masks_on_some_rows_only_are_refused_with_one_line(tmp_path: Path) -> None:
    """A CSV manifest that gives a mask for row 0 and none for row 1: asking for both masks
    names the row without one (np.stack of an array and None used to crash)."""
    from govkit.models.datasets import open_dataset

    for name in ("a", "b"):
        np.save(tmp_path / f"{name}.npy", np.full((8, 8), 0.5, np.float32))
    np.save(tmp_path / "a_mask.npy", np.eye(8, dtype=np.float32))
    (tmp_path / "data.csv").write_text("path,label,mask_path\na.npy,0,a_mask.npy\nb.npy,1,\n")
    data = open_dataset(tmp_path / "data.csv")
    assert data.has_masks
    assert data.masks([0]).shape == (1, 8, 8) and data.masks([0])[0].trace() == 8
    with pytest.raises(BadInput, match=r"data.csv: image 1 has no mask \(give every row a mask_path, or none\)$"):
        data.masks(np.array([0, 1]))


def _spec(tmp_path: Path, **kw: Any) -> Any:
    from govkit.models.spec import InputSpec, ModelSpec

    return ModelSpec("m", "1", ("a", "b"), "binary", InputSpec(1, 8, 8), tmp_path, **kw)


def test_a_torchscript_spec_has_no_network_to_build(tmp_path: Path) -> None:
    from govkit.models.loading import build_network

    with pytest.raises(BadInput, match=r"^m@1: only an entrypoint spec can build its network"):
        build_network(_spec(tmp_path, artifact=tmp_path / "model.pt"))


def test_an_entrypoint_spec_without_weights_is_refused(tmp_path: Path) -> None:
    from govkit.models.loading import load_network

    (tmp_path / "net.py").write_text("import torch\n\ndef build():\n    return torch.nn.Linear(2, 2)\n")
    with pytest.raises(BadInput, match=r"^m@1: an entrypoint spec needs 'weights'$"):
        load_network(_spec(tmp_path, entrypoint="net.py:build"))

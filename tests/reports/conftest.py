"""Report fixtures: an untrained example model (it fails the demo policy), PDF text helpers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def pdftotext(pdf: Path, first: int | None = None, last: int | None = None, layout: bool = False) -> str:
    args = ["pdftotext"]
    if first:
        args += ["-f", str(first)]
    if last:
        args += ["-l", str(last)]
    if layout:
        args.append("-layout")
    return subprocess.run(
        [*args, "-raw" if not layout else "-nopgbrk", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def squash(text: str) -> str:
    """Without whitespace: table cells wrap long strings anywhere."""
    return "".join(text.split())


@pytest.fixture(scope="session")
def untrained_spec(tmp_path_factory) -> Path:
    """The example lesion CNN with its initial weights: AUROC near chance, so it fails the demo policy."""
    import importlib.util

    import torch

    out = tmp_path_factory.mktemp("untrained")
    shutil.copy(ROOT / "examples" / "lesion" / "model.py", out / "model.py")
    spec = importlib.util.spec_from_file_location("untrained_lesion_model", out / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    torch.save(module.build().state_dict(), out / "weights.pt")
    train = importlib.util.spec_from_file_location("lesion_train_spec", ROOT / "examples" / "lesion" / "train.py")
    tmod = importlib.util.module_from_spec(train)
    train.loader.exec_module(tmod)
    doc = {"name": "lesion-cnn", "version": "1.0", **tmod.SPEC}
    doc["card"] = {**doc["card"], "training_data": "Synthetic lesion images from the govkit example generator."}
    (out / "model.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return out / "model.yaml"


@pytest.fixture
def sqlite_db(tmp_path) -> str:
    """Reports read the registry; what they render does not depend on the backend (tested elsewhere)."""
    return f"sqlite:///{tmp_path / 'registry.sqlite'}"

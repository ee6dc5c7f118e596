from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def lesion_data(tmp_path_factory):
    task = _load("lesion_task", ROOT / "examples" / "lesion" / "lesion_task.py")
    return task.write(tmp_path_factory.mktemp("lesion"), n_train=600, n_test=300, n_population=200)


@pytest.fixture(scope="session")
def lesion_spec(lesion_data, tmp_path_factory):
    train = _load("lesion_train", ROOT / "examples" / "lesion" / "train.py")
    return train.train(lesion_data["train"], tmp_path_factory.mktemp("model"), "lesion-cnn", "1.0")

"""Model registration, safe loading, dataset forms, bad input, and recorded evaluations."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from govkit.errors import BadInput
from govkit.models.spec import load_spec


def test_register_and_evaluate_records_metrics(cli, registry, lesion_spec, lesion_data):
    db = registry.url
    res = cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", lesion_spec, "--json")
    assert res.code == 0 and res.json()["created"] is True
    again = cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", lesion_spec, "--json")
    assert again.json()["created"] is False
    assert cli("--db", db, "data", "register", "lesion-test", "--version", "1", lesion_data["test"]).code == 0
    res = cli(
        "--db",
        db,
        "eval",
        "performance",
        "lesion-cnn@1.0",
        "--data",
        lesion_data["test"],
        "--device",
        "cpu",
        "--bootstrap",
        "200",
        "--json",
    )
    assert res.code == 0, res.err
    body = res.json()
    overall = {m["name"]: m for m in body["metrics"] if not m["params"]}
    assert set(overall) == {"accuracy", "auroc", "sensitivity", "specificity", "ppv", "npv", "ece"}
    assert overall["auroc"]["value"] > 0.9 and overall["accuracy"]["n"] == 300
    assert all(m["ci_low"] <= m["value"] <= m["ci_high"] for m in overall.values())
    gaps = [m for m in body["metrics"] if m["name"] == "max_subgroup_gap"]
    assert {g["params"]["group"] for g in gaps} == {"site", "sex"}
    assert body["dataset"]["classes"] and body["dataset"]["subgroups"]["site"]
    from sqlalchemy import select

    from govkit.registry.tables import Evaluation, Metric

    with registry.unit_of_work() as s:
        ev = s.get(Evaluation, body["evaluation_id"])
        assert ev.kind == "performance" and ev.device == "cpu" and ev.seed == 0
        assert ev.dataset_version_id is not None and "torch" in ev.software
        n = len(s.scalars(select(Metric).where(Metric.evaluation_id == ev.id)).all())
        assert n == len(body["metrics"])
    log = cli("--db", db, "audit", "log", "--json").json()["events"]
    assert [e["action"] for e in log] == ["model.register", "dataset.register", "evaluation.performance"]


def _spec_copy(lesion_spec: Path, tmp_path: Path, **changes) -> Path:
    folder = tmp_path / "spec"
    shutil.copytree(lesion_spec.parent, folder)
    doc = yaml.safe_load((folder / "model.yaml").read_text())
    for k, v in changes.items():
        if v is None:
            doc.pop(k, None)
        else:
            doc[k] = v
    (folder / "model.yaml").write_text(yaml.safe_dump(doc))
    return folder / "model.yaml"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"artifact": "weights.pt"}, "exactly one"),
        ({"entrypoint": None}, "exactly one"),
        ({"entrypoint": "model.py:nope"}, "not a function"),
        ({"classes": ["only-one"]}, "at least two"),
        ({"weights": "missing.pt"}, "not found"),
    ],
)
def test_bad_specs_are_exit_2(cli, lesion_spec, lesion_data, tmp_path, changes, message):
    spec = _spec_copy(lesion_spec, tmp_path, **changes)
    res = cli("eval", "performance", spec, "--data", lesion_data["test"], "--device", "cpu")
    assert res.code == 2 and message in res.err and res.err.count("\n") == 1


def test_entrypoint_must_return_a_module(cli, lesion_spec, lesion_data, tmp_path):
    spec = _spec_copy(lesion_spec, tmp_path, entrypoint="model.py:not_a_module")
    model_py = spec.parent / "model.py"
    model_py.write_text(model_py.read_text() + "\ndef not_a_module():\n    return 42\n")
    res = cli("eval", "performance", spec, "--data", lesion_data["test"], "--device", "cpu")
    assert res.code == 2 and "not a torch.nn.Module" in res.err


def test_weights_are_never_unpickled(lesion_spec, tmp_path):
    import pickle

    from govkit.models.loading import load_network

    class Evil:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    spec_path = _spec_copy(lesion_spec, tmp_path)
    with open(spec_path.parent / "weights.pt", "wb") as fh:
        pickle.dump({"w": Evil()}, fh)
    with pytest.raises(BadInput, match="safely"):
        load_network(load_spec(spec_path))
    assert not (tmp_path / "pwned").exists()


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: _npz(p, x=np.zeros((4, 1, 32, 32), np.float32), y=np.zeros(4, np.int64)), "model expects"),
        (lambda p: _npz(p, x=np.zeros((4, 1, 64, 64), np.float32), y=np.array([0, 1, 2, 0])), "labels must be"),
        (lambda p: _npz(p, x=np.full((4, 1, 64, 64), np.nan, np.float32), y=np.zeros(4, np.int64)), "NaN"),
        (
            lambda p: p.with_suffix(".csv").write_text("path,label\nmissing.png,0\n") and p.with_suffix(".csv"),
            "not found",
        ),
        (lambda p: p, "does not exist"),
    ],
)
def test_bad_data_is_exit_2(cli, lesion_spec, tmp_path, make, message):
    data = make(tmp_path / "d.npz")
    res = cli("eval", "performance", lesion_spec, "--data", data, "--device", "cpu", "--bootstrap", "100")
    assert res.code == 2, res.err
    assert message in res.err


def test_csv_manifest_with_png_npy_and_dicom(tmp_path):
    import pydicom
    from PIL import Image
    from pydicom.data import get_testdata_file

    from govkit.models.datasets import open_dataset

    img = (np.arange(64 * 64).reshape(64, 64) % 256).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "a.png")
    np.save(tmp_path / "b.npy", np.full((1, 64, 64), 0.25, np.float32))
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "c.dcm")
    (tmp_path / "m.csv").write_text("path,label,patient_id,group_site\na.png,0,p1,A\nb.npy,1,p2,B\nc.dcm,1,p3,A\n")
    data = open_dataset(tmp_path / "m.csv", {"window_center": 40, "window_width": 400})
    assert data.image(0).shape == (1, 64, 64) and data.image(0).max() == pytest.approx(1.0)
    assert np.allclose(data.image(1), 0.25)
    ct = data.image(2)
    assert ct.shape == (1, 128, 128) and 0.0 <= ct.min() and ct.max() <= 1.0
    ds = pydicom.dcmread(tmp_path / "c.dcm")
    hu = pydicom.pixels.apply_modality_lut(ds.pixel_array, ds)
    assert ct[0][hu <= -160].max() == 0.0  # below the window
    assert list(data.groups) == ["site"] and list(data.patient_id) == ["p1", "p2", "p3"]


def test_npz_images_are_memory_mapped(lesion_data):
    from govkit.models.datasets import open_dataset

    data = open_dataset(lesion_data["test"])
    assert isinstance(data._x, np.memmap)
    assert data.has_masks and data.mask(int(np.nonzero(data.labels)[0][0])).any()


def test_loader_workers_give_the_same_batches(lesion_data):
    from govkit.models.datasets import open_dataset

    data = open_dataset(lesion_data["test"]).subset(np.arange(100))
    serial = [(i.tolist(), x.sum()) for i, x in data.batches(32)]
    parallel = [(i.tolist(), x.sum()) for i, x in data.batches(32, workers=2)]
    assert serial == parallel and [len(i) for i, _ in serial] == [32, 32, 32, 4]

"""Balance: classes, subgroups with Wilson intervals, intersections, and DICOM header distributions."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from govkit.evaluate.metrics import wilson
from tests.data.conftest import save

DEVICES = [
    ("ACME", "Scan 1", "Site North", "120", "1.25", None),
    ("ACME", "Scan 1", "Site North", "100", "2.5", None),
    ("Umbrella", "MR 3000", "Site South", None, "3.0", "1.5"),
    ("Umbrella", "MR 3000", "Site South", None, "3.0", "3"),
]


def _dicom(path, i, manufacturer, model, site, kvp, thickness, field):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT" if kvp else "MR"
    ds.Manufacturer, ds.ManufacturerModelName, ds.InstitutionName = manufacturer, model, site
    if kvp:
        ds.KVP = kvp
    ds.SliceThickness = thickness
    if field:
        ds.MagneticFieldStrength = field
    rng = np.random.default_rng(i)
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = rng.integers(0, 4096, (16, 16), dtype=np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_dicom_manifest_header_distributions(cli, tmp_path):
    rows = []
    for i in range(12):
        dev = DEVICES[i % 4]
        _dicom(tmp_path / f"img{i}.dcm", i, *dev)
        rows.append(
            {"path": f"img{i}.dcm", "label": i % 2, "patient_id": f"P{i // 2}", "group_site": dev[2].split()[1]}
        )
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    r = cli("data", "audit", manifest, "--json")
    assert r.code == 0, r.err
    d = r.json()["datasets"][0]["dicom"]
    assert d["n_files"] == 12 and d["unreadable"] == 0
    assert d["manufacturer"]["counts"] == {"ACME": 6, "Umbrella": 6}
    assert d["model"]["counts"] == {"MR 3000": 6, "Scan 1": 6}
    assert d["site"]["counts"] == {"Site North": 6, "Site South": 6}
    assert d["kvp"]["counts"] == {"100.0": 3, "120.0": 3} and d["kvp"]["missing"] == 6
    assert d["slice_thickness"]["counts"] == {"1.25": 3, "2.5": 3, "3.0": 6}
    assert d["slice_thickness"]["median"] == pytest.approx(2.75)
    assert d["field_strength"]["counts"] == {"1.5": 3, "3.0": 3}
    assert d["modality"]["counts"] == {"CT": 6, "MR": 6}


def test_classes_subgroups_and_small_cells(cli, tmp_path):
    rng = np.random.default_rng(0)
    n = 200
    y = np.r_[np.zeros(150, np.int64), np.ones(50, np.int64)]
    site = np.array(["A"] * 120 + ["B"] * 70 + ["C"] * 10)
    sex = np.array(["F", "M"] * 100)
    arrays = {
        "x": rng.random((n, 1, 16, 16), dtype=np.float32),
        "y": y,
        "patient_id": np.array([f"P{i}" for i in range(n)]),
        "group_site": site,
        "group_sex": sex,
    }
    r = cli("data", "audit", save(tmp_path / "d.npz", arrays), "--json")
    assert r.code == 0, r.err
    out = r.json()
    d = out["datasets"][0]
    assert d["classes"] == {"0": 150, "1": 50} and d["imbalance_ratio"] == pytest.approx(3.0)
    c = d["subgroups"]["site"]["C"]
    assert c["n"] == 10 and c["share"] == pytest.approx(0.05)
    assert (c["ci_low"], c["ci_high"]) == pytest.approx(wilson(10, 200))
    assert d["intersections"]["sex×site"]["F|C"] == 5
    assert any("site = C has fewer than 30" in w for w in out["warnings"])
    assert any("sex×site" in w for w in out["warnings"])
    assert not any("class(es)" in w for w in out["warnings"])
    names = {(m["name"], m["params"].get("subgroup")): m["value"] for m in out["metrics"]}
    assert names[("min_subgroup_n", "site")] == 10 and names[("min_subgroup_n", "sex")] == 100
    assert names[("min_class_n", None)] == 50 and names[("imbalance_ratio", None)] == pytest.approx(3.0)

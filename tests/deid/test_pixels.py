"""Burned-in PHI: OCR finds it, redaction removes it, for each encoding; verify catches what is left."""

from __future__ import annotations


import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from govkit.deid import phi
from govkit.deid.ocr import get_engine
from govkit.deid.pixels import clean_pixels, frames_for_ocr, residual_text
from govkit.deid.synthetic import burned_in

NAME = "KAUFMAN^SCOTT"


def _with_header(ds):
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = NAME, "MRN-0042-7781", "19430722"
    return ds


@pytest.fixture(scope="module")
def engine():
    return get_engine("tesseract")


def _deidentified(ds):
    from govkit.deid.engine import DeidConfig, deidentify
    from govkit.deid.pseudonyms import Pseudonymizer

    deidentify(ds, DeidConfig(frozenset({"clean-pixel-data"}), Pseudonymizer(b"k" * 32)))
    return ds


@pytest.mark.parametrize("photometric,frames", [("MONOCHROME2", 1), ("MONOCHROME1", 1), ("RGB", 1),
                                                ("MONOCHROME2", 3)])
def test_burned_in_name_is_found_and_removed(engine, photometric, frames):
    ds = _with_header(burned_in(["KAUFMAN SCOTT", "MRN-0042-7781", "07/22/1943"], photometric=photometric,
                                frames=frames))
    ids = phi.collect(ds)
    assert residual_text(ds, ids, engine), "the planted text must be readable before cleaning"
    before = ds.pixel_array.copy()
    report = clean_pixels(_deidentified(ds), ids, engine=engine)
    assert report.frames == frames and report.boxes
    assert residual_text(ds, ids, engine) == []
    after = ds.pixel_array
    assert after.shape == before.shape and ds.PhotometricInterpretation == photometric
    changed = (after != before).reshape(frames, -1).mean(1) if frames > 1 else [(after != before).mean()]
    assert all(0 < c < 0.25 for c in changed)  # text boxes only, every frame
    assert ds.BurnedInAnnotation == "NO"
    assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence][-1] == "113101"


def test_monochrome1_fill_is_dark_on_display(engine):
    ds = _with_header(burned_in(["KAUFMAN SCOTT"], photometric="MONOCHROME1"))
    ids = phi.collect(ds)
    clean_pixels(_deidentified(ds), ids, engine=engine)
    rendered = frames_for_ocr(ds)[1][0]
    assert rendered.mean() > 100  # rendering inverted MONOCHROME1 correctly (text dark on light)


@pytest.mark.parametrize("name,token", [("examples_palette.dcm", "PatientID"), ("examples_rgb_color.dcm", "InstitutionName")])
def test_real_burned_in_files(engine, name, token):
    ds = pydicom.dcmread(get_testdata_file(name))
    ids = phi.collect(ds)
    assert residual_text(ds, ids, engine), f"{name}: the burned-in {token} is read before cleaning"
    clean_pixels(_deidentified(ds), ids, engine=engine)
    assert residual_text(ds, ids, engine) == []


def test_compressed_source_is_rewritten_losslessly(engine):
    ds = pydicom.dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))
    assert ds.file_meta.TransferSyntaxUID.is_compressed and ds.PhotometricInterpretation.startswith("YBR")
    lossy = ds.get("LossyImageCompression")
    decoded = ds.pixel_array.copy()
    report = clean_pixels(_deidentified(ds), phi.collect(ds), engine=engine)
    assert report.transfer_syntax_changed
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.PhotometricInterpretation == "RGB" and np.array_equal(ds.pixel_array, decoded)
    assert ds.get("LossyImageCompression") == lossy


def test_overlay_with_text_and_icon_never_reach_the_output(engine):
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    text = burned_in(["KAUFMAN"], size=(64, 64), font_size=12)
    bits = (text.pixel_array > 128).astype(np.uint8)
    ds.add_new(0x60000010, "US", 64)
    ds.add_new(0x60000011, "US", 64)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60003000, "OW", np.packbits(bits.ravel(), bitorder="little").tobytes())
    icon = pydicom.Dataset()
    icon.Rows = icon.Columns = 8
    ds.IconImageSequence = [icon]
    ids = phi.collect(_with_header(ds))
    clean_pixels(_deidentified(ds), ids, engine=engine)  # the profile drops overlay groups and the icon
    assert not [t for t in ds.keys() if t.group == 0x6000] and "IconImageSequence" not in ds


def test_pipeline_and_verify_catch_a_planted_burned_in_name(cli, tmp_path, key_file):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    _with_header(burned_in(["KAUFMAN SCOTT", "MRN-0042-7781"])).save_as(src / "a.dcm", enforce_file_format=True)
    res = cli("deid", "run", src, dst, "--key", key_file, "--option", "clean-pixel-data", "--json")
    assert res.code == 0, res.err
    assert res.json()["counts"]["pixel-boxes"] >= 2
    assert cli("deid", "verify", dst, "--source", src, "--key", key_file).code == 0
    # now a file whose burned-in name was left in place: de-identify the header only
    dst2 = tmp_path / "dst2"
    assert cli("deid", "run", src, dst2, "--key", key_file).code == 0
    res = cli("deid", "verify", dst2, "--source", src, "--key", key_file, "--json")
    assert res.code == 1
    assert any(f["check"] == "pixels" for f in res.json()["findings"])

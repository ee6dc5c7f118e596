"""pydicom's own test corpus (shipped in the package: ``pydicom.data``), every file of it.

Each file is de-identified and verified, or skipped (not DICOM, a DICOMDIR),
or refused with a documented reason.  The refused files are listed here with
their reasons; a change in that list is a change in behaviour to look at.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from govkit.deid.batch.outputs import NO_UID_DIR
from govkit.deid.files import MANIFEST_DIR
from govkit.deid.refusals import REASONS

#: file -> reason code.  All genuinely defective, or not DICOM instances at all.
REFUSED = {
    "MR_truncated.dcm": "length-overrun",  # Pixel Data cut short: 8130 of 8192 bytes
    "rtplan_truncated.dcm": "length-overrun",  # cut inside a sequence
    "badVR.dcm": "pixel-attributes",  # Number of Frames '1A' is not an integer string
    # a private sequence and a 2-byte Pixel Data without Rows, Columns or any image attribute
    # (file meta UIDs empty: keyed UIDs would be given, but the pixels cannot be checked)
    "meta_missing_tsyntax.dcm": "pixel-attributes",
    "nested_priv_SQ.dcm": "pixel-attributes",  # the same, in an illegal private group 0001
    # compressed pixel data is decoded before it is written (fail closed); these are valid
    # images that the installed decoders (Pillow, pylibjpeg-openjpeg/-rle, pyjpegls) cannot decode:
    "JPEG-lossy.dcm": "pixel-decode",  # 12-bit JPEG Extended: Pillow decodes 8-bit only
    "JPGExtended.dcm": "pixel-decode",  # the same
    "SC_rgb_jpeg_gdcm.dcm": "pixel-no-decoder",  # JPEG Lossless (Process 14): no decoder installed
    "JPEG2000-embedded-sequence-delimiter.dcm": "pixel-decode",  # J2K header unreadable to openjpeg
}


def _pydicom_instance(path: Path) -> bool:
    try:
        return bool(pydicom.dcmread(path).get("SOPInstanceUID"))
    except Exception:  # noqa: BLE001 - whatever pydicom raises, it did not read an instance
        return False


@pytest.mark.slow
def test_pydicom_corpus(cli, tmp_path, key_file):
    src = tmp_path / "src"
    shutil.copytree(Path(get_testdata_file("CT_small.dcm")).parent, src)
    dst, report = tmp_path / "dst", tmp_path / "report.json"
    res = cli("deid", "run", src, dst, "--key", key_file, "--report", report, "--json")
    assert res.code == 1  # the defective files below
    files = json.loads(report.read_text())["files"]
    assert len(files) == sum(1 for p in src.rglob("*") if p.is_file())
    refused = {f["source"]: f["code"] for f in files if f["status"] == "failed"}
    assert refused == REFUSED
    skipped = {f["source"]: f["code"] for f in files if f["status"] == "skipped"}
    assert {s for s, c in skipped.items() if c == "dicomdir"} >= {
        "dicomdirtests/DICOMDIR",
        "dicomdirtests/TINY_ALPHA/DICOMDIR",
    }
    assert set(skipped.values()) <= {"not-dicom", "dicomdir"}
    # nothing that pydicom reads as an instance is skipped as "not DICOM"
    assert not [n for n, c in skipped.items() if c == "not-dicom" and _pydicom_instance(src / n)]
    for f in files:
        assert f["code"] is None or f["code"] in REASONS
        assert f["status"] in ("ok", "failed", "skipped", "duplicate"), f
    ok = [f for f in files if f["status"] == "ok"]
    assert len(ok) >= 120
    outs = [p for p in dst.rglob("*.dcm") if MANIFEST_DIR not in p.parts]
    assert len(outs) == len(ok)
    for out in outs:
        raw = out.read_bytes()
        assert raw[:132] == b"\x00" * 128 + b"DICM"
        assert pydicom.dcmread(out).PatientIdentityRemoved == "YES"
    # no SOP Class/Instance UID anywhere: keyed UIDs, under the documented folder, noted
    keyed = {f["source"]: f["output"] for f in ok if f["output"].split("/")[1] == NO_UID_DIR}
    assert list(keyed) == ["empty_charset_LEI.dcm"]
    assert any("keyed UIDs" in n for n in next(f for f in ok if f["source"] in keyed)["notes"])
    keyed_out = pydicom.dcmread(dst / keyed["empty_charset_LEI.dcm"])
    assert keyed_out.SOPInstanceUID.startswith("2.25.") and keyed_out.SOPClassUID.startswith("2.25.")
    ver = cli("deid", "verify", dst, "--source", src, "--key", key_file, "--no-pixels", "--json")
    assert ver.code == 0, ver.json()["findings"][:5]
    assert ver.json()["n_paired"] == len(ok)  # keyed-UID outputs included

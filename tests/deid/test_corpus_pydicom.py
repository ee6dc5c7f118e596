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
    # JPEG2000.dcm with 4 bytes of its codestream overwritten by a Sequence Delimiter (pydicom's
    # README: "almost certainly not a valid JPEG anymore"): openjpeg, Pillow and GDCM all fail
    "JPEG2000-embedded-sequence-delimiter.dcm": "pixel-decode",
}
#: compressed images decoded only since GDCM is a dependency: 12-bit JPEG Extended with invalid
#: SOS parameters, which GDCM decodes as it does JPGExtended.dcm (its fixed copy, with the same
#: SOP Instance UID: reported as a duplicate), and JPEG Lossless Process 14
GDCM_DECODED = ("JPEG-lossy.dcm", "SC_rgb_jpeg_gdcm.dcm")
#: a private sequence in the forbidden group 0001 and a 2-byte Pixel Data with no Rows or
#: Columns, no SOP UIDs: both removed with a note, the rest written under keyed UIDs
STRIPPED = ("meta_missing_tsyntax.dcm", "nested_priv_SQ.dcm")


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
    assert len(ok) >= 128  # pydicom 3.0.2: 128 written, 26 duplicates, 18 skipped, 4 refused
    outs = [p for p in dst.rglob("*.dcm") if MANIFEST_DIR not in p.parts]
    assert len(outs) == len(ok)
    for out in outs:
        raw = out.read_bytes()
        assert raw[:132] == b"\x00" * 128 + b"DICM"
        assert pydicom.dcmread(out).PatientIdentityRemoved == "YES"
    by_source = {f["source"]: f for f in ok}
    assert set(GDCM_DECODED) <= set(by_source)
    assert next(f for f in files if f["source"] == "JPGExtended.dcm")["status"] == "duplicate"
    # no SOP Class/Instance UID anywhere: keyed UIDs, under the documented folder, noted
    keyed = {f["source"]: f["output"] for f in ok if f["output"].split("/")[1] == NO_UID_DIR}
    assert sorted(keyed) == sorted(["empty_charset_LEI.dcm", *STRIPPED])
    for name, out_rel in keyed.items():
        assert any("keyed UIDs" in n for n in by_source[name]["notes"])
        keyed_out = pydicom.dcmread(dst / out_rel)
        assert keyed_out.SOPInstanceUID.startswith("2.25.") and keyed_out.SOPClassUID.startswith("2.25.")
    for name in STRIPPED:
        notes = " ".join(by_source[name]["notes"])
        assert "Pixel Data without Rows and Columns removed" in notes and "groups that DICOM forbids" in notes
        out = pydicom.dcmread(dst / keyed[name])
        assert "PixelData" not in out and not [t for t in out.keys() if t.group == 0x0001]
    ver = cli("deid", "verify", dst, "--source", src, "--key", key_file, "--no-pixels", "--json")
    # the sources refused as unreadable are findings of their own (nothing can be checked against
    # them); no other.  The JPEG 2000 one reads strictly: the run refuses it only on decoding its pixels
    unchecked = {f["output"] for f in ver.json()["findings"]}
    unreadable = {f"source {n}" for n, code in REFUSED.items() if code != "pixel-decode"}
    assert ver.code == 1 and unchecked == unreadable, ver.json()["findings"][:5]
    assert ver.json()["n_paired"] == len(ok)  # keyed-UID outputs included

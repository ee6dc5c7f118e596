"""Defective and hostile files: strict parsing, plain refusals, no escapes from SRC.

Every file here is built in the test, byte by byte where pydicom would not
write it, with a known defect; each must be refused with its documented
reason and nothing of it may reach DST.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

from govkit.deid.batch.outputs import path_uid
from govkit.deid.dicomio import parse, vr_conflict
from govkit.deid.files import MANIFEST_DIR, parse_size, printable
from govkit.deid.refusals import REASONS, Refusal

NAME, MRN, BIRTH = "KAUFMAN^SCOTT", "MRN-0042-7781", "19430722"


def outputs(dst: Path) -> list[Path]:
    return sorted(p for p in dst.rglob("*") if p.is_file() and MANIFEST_DIR not in p.relative_to(dst).parts)


def _dataset(**extra) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.9.7777.9.1"
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.9.7777.9.1"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.9.7777.9.2"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.9.7777.9.3"
    ds.StudyDescription = "CHEST"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = NAME, MRN, BIRTH
    for k, v in extra.items():
        setattr(ds, k, v)
    return ds


def _bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _element_at(data: bytes, tag: int) -> int:
    return data.index(struct.pack("<HH", tag >> 16, tag & 0xFFFF), 132)


def _overrun() -> bytes:
    """StudyDescription's length runs over the name, MRN and birth date that follow it."""
    data = _bytes(_dataset())
    i = _element_at(data, 0x00081030)
    return data[: i + 6] + struct.pack("<H", 0x200) + data[i + 8 :]


def _with_sequence(undefined_item: bool = False) -> bytes:
    """A dataset with an undefined-length sequence (and item) holding the name."""
    item = Dataset()
    item.PatientName = NAME
    ds = _dataset(OtherPatientIDsSequence=Sequence([item]))
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True, implicit_vr=False, little_endian=True)
    data = buf.getvalue()
    i = _element_at(data, 0x00101002)  # OtherPatientIDsSequence, SQ: tag VR 00 00 length(4)
    length = struct.unpack_from("<I", data, i + 8)[0]
    body = data[i + 12 : i + 12 + length]
    if undefined_item:
        item_len = struct.unpack_from("<I", body, 4)[0]
        body = body[:4] + b"\xff\xff\xff\xff" + body[8 : 8 + item_len] + bytes.fromhex("feff0de000000000")
    return data[: i + 8] + b"\xff\xff\xff\xff" + body + bytes.fromhex("feffdde000000000") + data[i + 12 + length :]


def _refusal(data: bytes) -> Refusal:
    with pytest.raises(Refusal) as exc:
        parse(data)
    return exc.value


# --------------------------------------------------------------------------- strict parsing


def test_sound_files_parse():
    assert parse(_bytes(_dataset())).PatientName == NAME
    assert parse(_with_sequence()).OtherPatientIDsSequence[0].PatientName == NAME
    assert parse(_with_sequence(undefined_item=True)).OtherPatientIDsSequence[0].PatientName == NAME


def test_length_overrun_is_refused_not_swallowed():
    data = _overrun()
    assert NAME.encode() in pydicom.dcmread(io.BytesIO(data)).StudyDescription.encode()  # what pydicom does
    r = _refusal(data)
    assert r.code == "length-overrun" and "(0008,1030)" in r.text and "file" in r.text


def test_length_overrun_inside_an_item_is_refused():
    data = _with_sequence()
    i = data.index(struct.pack("<HH", 0x0010, 0x0010), _element_at(data, 0x00101002))
    bad = data[: i + 6] + struct.pack("<H", 0x400) + data[i + 8 :]
    r = _refusal(bad)
    assert r.code == "length-overrun" and "(0010,0010)" in r.text


@pytest.mark.parametrize(
    ("cut", "code"), [(b"feffdde000000000", "unclosed-sequence"), (b"feff0de000000000", "unclosed-item")]
)
def test_unclosed_sequence_or_item_is_refused(cut, code):
    data = _with_sequence(undefined_item=True)
    data = data.replace(bytes.fromhex(cut.decode()), b"", 1)
    assert _refusal(data).code == code


def test_stray_delimiter_is_refused():
    data = _bytes(_dataset())
    i = _element_at(data, 0x00100010)
    bad = data[:i] + bytes.fromhex("feffdde000000000") + data[i:]
    assert _refusal(bad).code == "stray-delimiter"


def _renamed(data: bytes, old: int, new: int, start: int = 132) -> bytes:
    """``data`` with the element ``old`` (found after ``start``) given the tag ``new``, VR and value kept."""
    i = data.index(struct.pack("<HH", old >> 16, old & 0xFFFF), start)
    return data[:i] + struct.pack("<HH", new >> 16, new & 0xFFFF) + data[i + 4 :]


def _decoy_name(in_item: bool = False) -> bytes:
    """Patient Name twice: the real name, then a decoy stored as Patient's Birth Name (0010,1005),
    retagged (0010,0010) in place; pydicom keeps the decoy and never shows the first."""
    ds = _dataset()
    ds.PatientBirthName = "DOE^JOHN"
    ds.PatientSex = "M"
    if in_item:
        item = Dataset()
        item.PatientName = NAME
        item.PatientBirthName = "DOE^JOHN"
        ds = _dataset(OtherPatientIDsSequence=Sequence([item]))
        data = _bytes(ds)
        return _renamed(data, 0x00101005, 0x00100010, _element_at(data, 0x00101002))
    data = _bytes(ds)
    # (0010,0010) (0010,0020) (0010,0030) (0010,0040) (0010,1005): make the last a second (0010,0010)
    return _renamed(data, 0x00101005, 0x00100010)


@pytest.mark.parametrize("in_item", [False, True])
def test_an_element_twice_is_refused_not_read_as_its_decoy(in_item):
    data = _decoy_name(in_item)
    read = pydicom.dcmread(io.BytesIO(data))  # what pydicom does: the second copy wins
    holder = read.OtherPatientIDsSequence[0] if in_item else read
    assert holder.PatientName == "DOE^JOHN" and NAME.encode() in data
    r = _refusal(data)
    where = "sequence item" if in_item else "file"
    assert r.code == "duplicate-element" and r.text.startswith(f"element (0010,0010) appears twice in its {where}")


def test_elements_out_of_ascending_order_are_refused():
    data = _bytes(_dataset(PatientSex="M"))
    # Patient's Sex (0010,0040, CS) retagged Patient Orientation (0020,0020, CS): it then comes
    # before Study Instance UID (0020,000D), which PS3.5 7.1 forbids
    r = _refusal(_renamed(data, 0x00100040, 0x00200020))
    assert r.code == "element-order" and r.text.startswith("element (0020,000D) comes after (0020,0020) in its file")


def test_an_element_twice_is_a_failure_in_run_scan_and_verify(cli, tmp_path, key_file):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "decoy.dcm").write_bytes(_decoy_name())
    res = cli("deid", "run", src, dst, "--key", key_file, "--json")
    assert res.code == 1 and outputs(dst) == []
    (failure,) = res.json()["failures"]
    assert failure["code"] == "duplicate-element" and "(0010,0010) appears twice" in failure["reason"], failure
    scan = cli("deid", "scan", src, "--no-pixels", "--json")
    (item,) = scan.json()["files"]
    assert item["status"] == "unreadable" and "(0010,0010) appears twice" in item["reason"], item
    ver = cli("deid", "verify", dst, "--source", src, "--key", key_file, "--no-pixels", "--json")
    assert ver.code == 1, ver.out
    (finding,) = ver.json()["findings"]
    assert finding["check"] == "unreadable" and finding["output"] == "source decoy.dcm"
    assert "(0010,0010) appears twice" in finding["detail"] and "Traceback" not in ver.err


@pytest.mark.parametrize(("tag", "vr"), [(0x00280010, b"OB"), (0x00100010, b"LO"), (0x00100030, b"LO")])
def test_vr_contradicting_the_dictionary_is_refused(tag, vr):
    ds = _dataset(Rows=8)
    data = _bytes(ds)
    i = _element_at(data, tag)
    old_vr = data[i + 4 : i + 6]
    if vr == b"OB":  # long form: 2 reserved bytes and a 4-byte length
        length = struct.unpack_from("<H", data, i + 6)[0]
        bad = data[: i + 4] + b"OB\x00\x00" + struct.pack("<I", length) + data[i + 8 :]
    else:
        bad = data[: i + 4] + vr + data[i + 6 :]
    r = _refusal(bad)
    assert r.code == "vr-mismatch" and old_vr.decode() in r.text and vr.decode() in r.text


def test_unknown_vr_is_refused_so_no_output_carries_it():
    data = _bytes(_dataset())
    i = _element_at(data, 0x00081030)
    r = _refusal(data[: i + 4] + b"ZZ" + data[i + 6 :])
    assert r.code == "invalid-vr" and "(0008,1030)" in r.text


def test_vr_tolerance_is_narrow():
    assert vr_conflict(0x00081030, "SH") is None  # LO stored as SH: same kind, no rule depends on it
    assert vr_conflict(0x00280106, "SS") is None  # 'US or SS'
    assert vr_conflict(0x00090010, "OB") is None  # private: no dictionary
    assert vr_conflict(0x00100010, "LO") == "PN"
    assert vr_conflict(0x00101002, "OB") == "SQ"
    assert vr_conflict(0x00280010, "OB") == "US"


def test_file_cut_inside_its_header_is_refused():
    data = _bytes(_dataset())
    i = _element_at(data, 0x00100020)
    for cut in (i + 3, i + 9):  # inside the element header, inside the value
        assert _refusal(data[:cut]).code in ("truncated", "length-overrun")


def test_pixel_data_shorter_than_declared_is_refused(cli, tmp_path, key_file):
    ds = _dataset(
        Rows=16,
        Columns=16,
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7,
        PixelRepresentation=0,
        SamplesPerPixel=1,
        PhotometricInterpretation="MONOCHROME2",
    )
    ds.PixelData = b"\x00" * 200  # 256 declared
    src = tmp_path / "src"
    src.mkdir()
    (src / "short.dcm").write_bytes(_bytes(ds))
    res = cli("deid", "run", src, tmp_path / "dst", "--key", key_file, "--json")
    assert res.code == 1
    (failure,) = res.json()["failures"]
    assert failure["code"] == "pixel-data-size" and "200" in failure["reason"] and "256" in failure["reason"]
    assert not outputs(tmp_path / "dst")


def test_compressed_pixel_data_cut_short_is_refused():
    data = Path(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm")).read_bytes()
    r = _refusal(data[: len(data) - 100])
    assert r.code in ("length-overrun", "pixel-encapsulation")


def test_wrong_marker_is_failed_not_skipped(cli, tmp_path, key_file):
    src = tmp_path / "src"
    src.mkdir()
    data = _bytes(_dataset())
    (src / "dicx.dcm").write_bytes(data[:128] + b"DICX" + data[132:])
    res = cli("deid", "run", src, tmp_path / "dst", "--key", key_file, "--json")
    assert res.code == 1 and res.json()["failures"][0]["code"] == "bad-marker"


def test_hostile_batch_writes_no_phi(cli, tmp_path, key_file):
    src, dst, report = tmp_path / "src", tmp_path / "dst", tmp_path / "report.json"
    src.mkdir()
    (src / "overrun.dcm").write_bytes(_overrun())
    (src / "unclosed.dcm").write_bytes(_with_sequence().replace(bytes.fromhex("feffdde000000000"), b""))
    (src / "good.dcm").write_bytes(_bytes(_dataset(SOPInstanceUID="1.2.826.0.1.3680043.9.7777.9.9")))
    res = cli("deid", "run", src, dst, "--key", key_file, "--report", report, "--json")
    assert res.code == 1
    rep = json.loads(report.read_text())
    assert {f["source"]: f["status"] for f in rep["files"]} == {
        "overrun.dcm": "failed",
        "unclosed.dcm": "failed",
        "good.dcm": "ok",
    }
    (out,) = outputs(dst)
    raw = out.read_bytes()
    assert not any(v.encode() in raw for v in ("KAUFMAN", MRN, BIRTH))


# --------------------------------------------------------------------------- refusal reasons


def test_every_refusal_reason_is_documented_and_plain():
    for code, (status, text) in REASONS.items():
        assert status in ("failed", "skipped"), code
        assert "Error" not in text and "Exception" not in text, code
    with pytest.raises(KeyError):
        Refusal("made-up")


def test_reasons_never_name_an_exception(cli, tmp_path, key_file):
    src, report = tmp_path / "src", tmp_path / "report.json"
    src.mkdir()
    (src / "a.dcm").write_bytes(_overrun())
    (src / "b.dcm").write_bytes(_bytes(_dataset())[:300])
    cli("deid", "run", src, tmp_path / "dst", "--key", key_file, "--report", report)
    for f in json.loads(report.read_text())["files"]:
        assert f["code"] in REASONS and "Error" not in f["reason"] and "'" not in f["reason"]


# --------------------------------------------------------------------------- real-world files


@pytest.mark.parametrize(
    "name", ["ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm", "rtstruct.dcm", "SC_rgb_jpeg.dcm"]
)
def test_real_world_files_become_proper_part10(cli, tmp_path, key_file, name):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(get_testdata_file(name), src / name)
    dst = tmp_path / "dst"
    res = cli("deid", "run", src, dst, "--key", key_file, "--json")
    assert res.code == 0, res.out
    (out,) = outputs(dst)
    raw = out.read_bytes()
    assert raw[:128] == b"\x00" * 128 and raw[128:132] == b"DICM"
    ds = pydicom.dcmread(out)
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID and ds.PatientIdentityRemoved == "YES"
    assert ds.file_meta.TransferSyntaxUID
    ver = cli("deid", "verify", dst, "--source", src, "--key", key_file, "--no-pixels", "--json")
    assert ver.code == 0 and ver.json()["n_paired"] == 1, ver.out


def test_dicomdir_is_left_out_and_the_run_succeeds(cli, tmp_path, key_file):
    src = tmp_path / "cd"
    shutil.copytree(Path(get_testdata_file("DICOMDIR")).parent / "TINY_ALPHA", src)
    dst = tmp_path / "dst"
    res = cli("deid", "run", src, dst, "--key", key_file, "--json")
    assert res.code == 0, res.out
    body = res.json()
    assert body["n_failed"] == 0 and body["n_ok"] >= 40
    assert not [p for p in outputs(dst) if p.name.upper().startswith("DICOMDIR")]
    assert all(pydicom.dcmread(p).PatientIdentityRemoved == "YES" for p in outputs(dst))


# --------------------------------------------------------------------------- no escapes from SRC


def test_links_fifos_and_large_files_are_refused_per_file(cli, tmp_path, key_file):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), outside / "secret.dcm")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    shutil.copy(get_testdata_file("MR_small.dcm"), src / "mr.dcm")
    os.symlink(outside / "secret.dcm", src / "link.dcm")
    os.symlink("/dev/zero", src / "zero.dcm")
    os.symlink(outside, src / "linked-folder")
    os.mkfifo(src / "sub" / "fifo.dcm")
    dst, report = tmp_path / "dst", tmp_path / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "govkit.cli.main",
            "deid",
            "run",
            str(src),
            str(dst),
            "--key",
            str(key_file),
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # a FIFO read would hang forever
    assert proc.returncode == 1, proc.stderr
    files = {f["source"]: f for f in json.loads(report.read_text())["files"]}
    for name in ("link.dcm", "zero.dcm", "linked-folder", "sub/fifo.dcm"):
        assert files[name]["status"] == "failed" and files[name]["code"] == "not-regular-file", name
    assert files["mr.dcm"]["status"] == "ok"
    assert len(outputs(dst)) == 1  # the linked file was not read, nor written
    res = cli("deid", "run", src / "mr.dcm", tmp_path / "dst2", "--key", key_file, "--max-file-size", "1KiB", "--json")
    assert res.code == 1 and res.json()["failures"][0]["code"] == "too-large"
    assert "1 KiB" in res.json()["failures"][0]["reason"]


def test_size_parsing():
    assert parse_size("4GiB") == 4 << 30 and parse_size("500M") == 500 << 20 and parse_size("1024") == 1024
    for bad in ("", "0", "-1G", "lots"):
        with pytest.raises(Exception, match="not a positive size"):
            parse_size(bad)


def _no_tmp(*roots: Path) -> bool:
    return not [p for r in roots if r.exists() for p in r.rglob(".tmp-*")]


def test_bad_destinations_are_exit_2_before_any_work(cli, corpus, tmp_path, key_file):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    dst = tmp_path / "dst"
    res = cli("deid", "run", corpus, dst, "--key", key_file, "--report", folder)
    assert res.code == 2 and "is a folder" in res.err and not dst.exists()
    res = cli("deid", "run", corpus, dst, "--key", key_file, "--crosswalk", folder)
    assert res.code == 2 and not dst.exists()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    res = cli("deid", "run", corpus, a_file, "--key", key_file)
    assert res.code == 2 and "not a folder" in res.err
    res = cli("deid", "run", corpus, "/proc/govkit-out", "--key", key_file)
    assert res.code == 2 and "cannot write" in res.err
    res = cli("deid", "run", corpus, dst, "--key", key_file, "--crosswalk", "/proc/crosswalk.csv")
    assert res.code == 2 and "cannot write" in res.err and not outputs(dst)
    assert _no_tmp(tmp_path, corpus)


@pytest.mark.parametrize("inside", ["", ".govkit"])
def test_a_crosswalk_inside_dst_is_refused(cli, corpus, tmp_path, key_file, inside):
    """The crosswalk holds the original identifiers: never in DST, not even in its .govkit folder
    (which verify searches only for identifiers, as text)."""
    dst = tmp_path / "dst"
    res = cli("deid", "run", corpus, dst, "--key", key_file, "--crosswalk", dst / inside / "crosswalk.csv")
    assert res.code == 2 and "must be kept outside both SRC and DST" in res.err, res.err
    assert not dst.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_crosswalk_folder_is_exit_2(cli, corpus, tmp_path, key_file):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    res = cli("deid", "run", corpus, tmp_path / "dst", "--key", key_file, "--crosswalk", ro / "x.csv")
    assert res.code == 2 and not outputs(tmp_path / "dst") and _no_tmp(tmp_path)


def test_output_path_guard_checks_uids(cli, tmp_path, key_file):
    for bad in ("../../escape", "1.2.3/../4", "1.2." + "3" * 70, ""):
        with pytest.raises(Refusal):
            path_uid(Dataset() if not bad else _dataset(SOPInstanceUID=bad), "SOPInstanceUID")
    src = tmp_path / "src"
    src.mkdir()
    (src / "evil.dcm").write_bytes(_bytes(_dataset(SOPInstanceUID="../../../escaped")))
    res = cli("deid", "run", src, tmp_path / "dst", "--key", key_file, "--option", "retain-uids", "--json")
    assert res.code == 1 and res.json()["failures"][0]["code"] == "invalid-uid"
    assert not list(tmp_path.rglob("escaped*")) and not outputs(tmp_path / "dst")


# --------------------------------------------------------------------------- printing


def test_control_characters_in_names_are_escaped(cli, tmp_path, key_file):
    src = tmp_path / "src"
    src.mkdir()
    evil = "x\nFAILED forged.dcm: ok\x1b[2J\u202e.dcm"
    (src / evil).write_bytes(_overrun())
    res = cli("deid", "run", src, tmp_path / "dst", "--key", key_file)
    assert res.code == 1
    failed = [line for line in res.out.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and failed[0].startswith(f"FAILED {printable(evil)}: element (0008,1030)")
    assert "\x1b" not in res.out and "\u202e" not in res.out
    scan = cli("deid", "scan", src, "--no-pixels")
    assert scan.code == 0 and len(scan.out.strip().splitlines()) == 1 and "\x1b" not in scan.out
    assert printable("a\\b\udcff") == "a\\\\b\\xff"


def test_scan_reports_unreadable_files_per_file(cli, corpus, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(corpus, src)
    (src / "overrun.dcm").write_bytes(_overrun())
    os.mkfifo(src / "fifo")
    (src / "notes.txt").write_text("hello")
    res = cli("deid", "scan", src, "--no-pixels", "--json")
    assert res.code == 0
    files = {f["path"]: f for f in res.json()["files"]}
    assert files["overrun.dcm"]["status"] == "unreadable" and "(0008,1030)" in files["overrun.dcm"]["reason"]
    assert files["fifo"]["status"] == "unreadable" and "FIFO" in files["fifo"]["reason"]
    assert files["notes.txt"]["status"] == "skipped"
    assert sum(f["status"] == "scanned" for f in files.values()) == 6


def test_the_exception_behind_a_refusal_is_only_in_the_verbose_log(cli, tmp_path, key_file):
    """Compressed pixel data that is structurally sound but not decodable: with clean-pixel-data
    it cannot be cleaned, so it is refused; the decoder's exception shows only with -v."""
    ds = pydicom.dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))
    ds.PixelData = pydicom.encaps.encapsulate([b"\xff\xd8" + b"\x00" * 400])  # a JPEG that is not one
    src = tmp_path / "src"
    src.mkdir()
    ds.save_as(src / "bad-jpeg.dcm")
    args = ("deid", "run", src, tmp_path / "dst", "--key", key_file, "--option", "clean-pixel-data", "--json")
    quiet = cli(*args)
    assert quiet.code == 1 and quiet.json()["failures"][0]["code"] == "pixel-cleaning"
    assert "Traceback" not in quiet.err and "Error" not in quiet.json()["failures"][0]["reason"]
    loud = cli("-v", *args)
    assert loud.code == 1 and "Traceback" in loud.err and "bad-jpeg.dcm" in loud.err


def _recompressed(name: str, **change) -> bytes:
    ds = pydicom.dcmread(get_testdata_file(name))
    for k, v in change.items():
        setattr(ds, k, v) if k != "TransferSyntaxUID" else setattr(ds.file_meta, k, v)
    ds.PatientName, ds.PatientID = NAME, MRN
    return _bytes(ds)


@pytest.mark.parametrize(
    ("name", "change", "code"),
    [
        # the fragments are sound, the image in them is smaller than the header declares
        ("MR_small_RLE.dcm", {"Rows": 128}, "pixel-decode"),
        ("SC_rgb_jpeg_dcmtk.dcm", {"Columns": 300}, "pixel-decode"),
        ("SC_rgb_rle_2frame.dcm", {"NumberOfFrames": 3}, "pixel-decode"),
        # 12-bit JPEG Extended, decoded by GDCM (govkit.deid.gdcm12): the declared size still rules
        ("JPGExtended.dcm", {"Rows": 512}, "pixel-decode"),
        ("JPGExtended.dcm", {"Columns": 320}, "pixel-decode"),
        # JPEG Lossless, decoded by pydicom's GDCM plugin
        ("SC_rgb_jpeg_gdcm.dcm", {"Rows": 99}, "pixel-decode"),
        # a compressed transfer syntax (MPEG2) no installed decoder handles: fail closed
        ("MR_small_RLE.dcm", {"TransferSyntaxUID": "1.2.840.10008.1.2.4.100"}, "pixel-no-decoder"),
    ],
)
def test_compressed_pixel_data_is_decoded_to_its_declared_size(cli, tmp_path, key_file, name, change, code):
    src = tmp_path / "src"
    src.mkdir()
    (src / "bad.dcm").write_bytes(_recompressed(name, **change))
    (src / "good.dcm").write_bytes(_recompressed(name))
    res = cli("deid", "run", src, tmp_path / "dst", "--key", key_file, "--json")
    assert res.code == 1
    (failure,) = res.json()["failures"]
    assert failure["code"] == code and failure["source"] == "bad.dcm", failure
    assert len(outputs(tmp_path / "dst")) == 1


@pytest.mark.parametrize("name", ["JPGExtended.dcm", "SC_rgb_jpeg_gdcm.dcm"])
def test_gdcm_decoded_pixels_of_the_wrong_size_cannot_be_cleaned(cli, tmp_path, key_file, name):
    """With clean-pixel-data the pixels are decoded for OCR: a GDCM-decoded image smaller than
    its header declares is refused there too, never written."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "bad.dcm").write_bytes(_recompressed(name, Rows=64))
    args = ("--option", "clean-pixel-data", "--json")
    res = cli("deid", "run", src, tmp_path / "dst", "--key", key_file, *args)
    assert res.code == 1
    (failure,) = res.json()["failures"]
    assert failure["code"] == "pixel-cleaning" and "decoded" in failure["reason"], failure
    assert outputs(tmp_path / "dst") == []


def test_a_12bit_jpeg_stream_cut_short_is_refused(cli, tmp_path, key_file):
    """GDCM decodes 12-bit JPEG Extended; a stream without its end (the last 2 bytes, EOI) is
    refused, not padded to size."""
    from pydicom.encaps import encapsulate, generate_frames

    ds = pydicom.dcmread(get_testdata_file("JPGExtended.dcm"))
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([frame[:-2]])
    ds.PatientName, ds.PatientID = NAME, MRN
    src = tmp_path / "src"
    src.mkdir()
    (src / "cut.dcm").write_bytes(_bytes(ds))
    res = cli("deid", "run", src, tmp_path / "dst", "--key", key_file, "--json")
    assert res.code == 1
    (failure,) = res.json()["failures"]
    assert failure["code"] == "pixel-decode", failure
    assert outputs(tmp_path / "dst") == []


def test_pixel_data_without_rows_and_columns_is_removed_not_copied(cli, tmp_path, key_file):
    """A Pixel Data with neither Rows nor Columns (as in nested_priv_SQ.dcm) is not an image
    whose burned-in text can be checked: removed with a note, the rest written.  An element in
    a forbidden group (PS3.5 7.8.1), here inside a sequence item, is removed too.  With only
    Rows the image attributes are damaged: the file is refused."""
    item = Dataset()
    item.add_new(0x00011001, "LO", NAME)  # group 0001: no element may be there
    bare = _dataset(OtherPatientIDsSequence=Sequence([item]))
    bare.add_new(0x7FE00010, "OB", (NAME + " " + MRN).encode())  # "pixels" holding the name
    damaged = _dataset(Rows=16, SOPInstanceUID="1.2.826.0.1.3680043.9.7777.9.4")
    damaged.file_meta.MediaStorageSOPInstanceUID = damaged.SOPInstanceUID
    damaged.add_new(0x7FE00010, "OB", bytes(16 * 16))
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "bare.dcm").write_bytes(_bytes(bare))
    (src / "damaged.dcm").write_bytes(_bytes(damaged))
    res = cli("deid", "run", src, dst, "--key", key_file, "--report", tmp_path / "report.json", "--json")
    assert res.code == 1
    (failure,) = res.json()["failures"]
    assert failure["source"] == "damaged.dcm" and failure["code"] == "pixel-attributes", failure
    (out,) = outputs(dst)
    raw = out.read_bytes()
    assert NAME.split("^")[0].encode() not in raw and MRN.encode() not in raw
    written = pydicom.dcmread(out)
    assert "PixelData" not in written
    assert not [t for item in written.get("OtherPatientIDsSequence", []) for t in item.keys() if t.group == 1]
    report = json.loads((tmp_path / "report.json").read_text())
    notes = " ".join(n for f in report["files"] if f["source"] == "bare.dcm" for n in f["notes"])
    assert "Pixel Data without Rows and Columns removed" in notes and "groups that DICOM forbids" in notes
    ver = cli("deid", "verify", dst, "--source", src, "--key", key_file, "--no-pixels", "--json")
    (finding,) = ver.json()["findings"]  # the refused source: nothing can be checked against it
    assert ver.code == 1 and finding["output"] == "source damaged.dcm" and "Pixel Data" in finding["detail"], finding


def test_dataset_without_sop_uids_gets_keyed_uids_under_no_sop_uid(cli, tmp_path, key_file):
    ds = _dataset(Modality="OT")
    del ds.SOPClassUID, ds.SOPInstanceUID
    ds.file_meta.MediaStorageSOPClassUID = ds.file_meta.MediaStorageSOPInstanceUID = ""
    ds.preamble = b"\x00" * 128
    src = tmp_path / "src"
    src.mkdir()
    pydicom.dcmwrite(src / "fragment.dcm", ds, enforce_file_format=False)  # as nested_priv_SQ.dcm is
    outs, uids = [], []
    for run in ("a", "b"):  # the keyed UIDs are stable: same source bytes, same key
        res = cli("deid", "run", src, tmp_path / run, "--key", key_file, "--json")
        assert res.code == 0, res.output
        (out,) = outputs(tmp_path / run)
        assert out.relative_to(tmp_path / run).parts[1] == "no-sop-uid"
        got = pydicom.dcmread(out)
        uids.append((got.SOPClassUID, got.SOPInstanceUID, got.file_meta.MediaStorageSOPInstanceUID))
        outs.append(out.relative_to(tmp_path / run))
        raw = out.read_bytes()
        assert NAME.encode() not in raw and MRN.encode() not in raw
    assert outs[0] == outs[1] and uids[0] == uids[1]
    assert uids[0][0].startswith("2.25.") and uids[0][1] == uids[0][2] and uids[0][0] != uids[0][1]
    ver = cli("deid", "verify", tmp_path / "a", "--source", src, "--key", key_file, "--no-pixels", "--json")
    assert ver.code == 0, ver.json()["findings"]

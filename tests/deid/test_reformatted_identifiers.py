"""The patient's own identifiers written another way (issue 15, red-team repro 03/03b):
an ID with its digits regrouped, a name split by a backslash, the month and year of
birth.  ``deid run --option clean-descriptors`` must clean them, and ``deid verify``
must find each one planted in an output after the run."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from govkit.deid.text.identifiers import collect

from .hostile_corpus import base

PATIENT_ID = "87654321"
LEAKS = (
    "MRN 87-654-321",
    "pt 8765 4321",
    "id 8765.4321",
    "KAUF\\MAN",
    "DOB 03/1952",
    "born 3/52",
    "born March 1952",
    "dob 1952-03",
)
CLEAN = ("Series 1952", "CT 12345 kV", "Phantom 8765432 mAs", "Year 1952 scanner")


def _source(folder: Path, comment: str) -> Path:
    ds = base("9151", "KAUFMAN^SCOTT", PatientID=PATIENT_ID, ImageComments=comment)
    folder.mkdir(parents=True, exist_ok=True)
    ds.save_as(folder / "a.dcm", enforce_file_format=True)
    return folder


def _output(dst: Path) -> Path:
    (out,) = [p for p in dst.rglob("*.dcm") if not any(part.startswith(".") for part in p.relative_to(dst).parts)]
    return out


@pytest.mark.parametrize("text", LEAKS)
def test_identifiers_match_their_other_forms(text):
    ids = collect(base("9152", "KAUFMAN^SCOTT", PatientID=PATIENT_ID))
    assert ids.spans(text), text


@pytest.mark.parametrize("text", CLEAN)
def test_bare_year_and_other_numbers_are_not_identifiers(text):
    ids = collect(base("9153", "KAUFMAN^SCOTT", PatientID=PATIENT_ID))
    assert ids.spans(text) == [], text


@pytest.mark.parametrize("text", LEAKS)
def test_run_cleans_and_verify_finds_reformatted_identifiers(cli, key_file, tmp_path, text):
    src = _source(tmp_path / "src", text)
    dst = tmp_path / "dst"
    assert cli("deid", "run", src, dst, "--key", key_file, "--option", "clean-descriptors").code == 0
    kept = str(pydicom.dcmread(_output(dst)).get("ImageComments", ""))
    assert "***" in kept and not any(s in kept for s in ("1952", "/52", "KAUF", "87", "March")), kept
    assert cli("deid", "verify", dst, "--source", src, "--key", key_file, "--no-pixels").code == 0

    out = _output(dst)  # plant the form after the run: verify must find it on its own
    ds = pydicom.dcmread(out)
    ds.Manufacturer = text
    ds.save_as(out)
    res = cli("deid", "verify", dst, "--source", src, "--key", key_file, "--no-pixels", "--json")
    assert res.code == 1, res.out
    assert "Manufacturer" in {f["where"] for f in res.json()["findings"]}, res.out


def _japanese_source(folder: Path, encoding: str) -> Path:
    """A file declaring ISO 2022 IR 87 whose text elements hold the name in ``encoding``."""
    from pydicom.dataelem import DataElement

    ds = base("9154", "Yamada^Taro", ["ISO 2022 IR 100", "ISO 2022 IR 87"])
    ds.add(DataElement(0x00100010, "PN", "Yamada^Taro=山田^太郎".encode("iso2022_jp")))
    text = "患者 山田太郎 様".encode(encoding)
    text += b" " * (len(text) % 2)
    ds.add(DataElement(0x00204000, "LT", text))  # ImageComments
    ds.add(DataElement(0x00081090, "LO", text))  # ManufacturerModelName
    folder.mkdir(parents=True, exist_ok=True)
    ds.save_as(folder / "a.dcm", enforce_file_format=True)
    return folder


@pytest.mark.parametrize("encoding", ["euc_jp", "shift_jis"])
def test_cjk_name_in_an_undeclared_cjk_encoding_is_cleaned_and_found(cli, key_file, tmp_path, encoding):
    src = _japanese_source(tmp_path / "src", encoding)
    dst = tmp_path / "dst"
    assert cli("deid", "run", src, dst, "--key", key_file, "--option", "clean-descriptors").code == 0
    out = _output(dst)
    data = out.read_bytes()
    for codec in ("utf-8", "euc_jp", "shift_jis", "iso2022_jp"):
        assert "山田".encode(codec) not in data, codec
    assert cli("deid", "verify", dst, "--source", src, "--key", key_file, "--no-pixels").code == 0

    ds = pydicom.dcmread(out)  # plant the name after the run, in the same undeclared encoding
    ds.add_new(0x00081090, "LO", "患者 山田太郎 様".encode(encoding) + b" ")
    ds.save_as(out)
    res = cli("deid", "verify", dst, "--source", src, "--key", key_file, "--no-pixels", "--json")
    assert res.code == 1, res.out
    assert "ManufacturerModelName" in {f["where"] for f in res.json()["findings"]}, res.out


@pytest.mark.parametrize(
    ("vr", "value", "code"),
    [("OB", b"call 617-555-0199 or helen.doe88@gmail.com ", 1), ("UN", b"call 617-555-0199 ", 1), ("OB", b"1000", 0)],
)
def test_verify_checks_kept_safe_private_values_whatever_their_vr(cli, key_file, tmp_path, vr, value, code):
    """The run removes a safe-listed value that is not its VR or holds a contact
    (tests/deid/test_kept_values.py); planted after the run, verify finds it on its own."""
    from pydicom.dataelem import DataElement

    ds = base("9155", "KAUFMAN^SCOTT", PatientID=PATIENT_ID)
    ds.remove_private_tags()
    ds.add(DataElement(0x00190010, "LO", "SIEMENS MR HEADER"))
    ds.add(DataElement(0x0019100C, "IS", "1000"))  # B_value: on the safe-private list
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    ds.save_as(src / "a.dcm", enforce_file_format=True)
    assert cli("deid", "run", src, dst, "--key", key_file, "--option", "retain-safe-private").code == 0
    out = _output(dst)
    planted = pydicom.dcmread(out)
    assert planted[0x0019100C].value == 1000
    planted[0x0019100C] = DataElement(0x0019100C, vr, value)
    planted.save_as(out)
    res = cli("deid", "verify", dst, "--source", src, "--key", key_file, "--no-pixels", "--json")
    assert res.code == code, res.out
    assert bool(code) == ("(0019,100C)" in {f["where"] for f in res.json()["findings"]}), res.out

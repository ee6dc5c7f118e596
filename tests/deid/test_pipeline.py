"""The batch pipeline end to end, through the CLI, on generated and real files."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file

from govkit.deid.files import MANIFEST_DIR


def outputs(dst: Path) -> list[Path]:
    return sorted(p for p in dst.rglob("*.dcm") if MANIFEST_DIR not in p.parts)


def test_planted_corpus_deidentifies_clean(cli, corpus, tmp_path, key_file):
    dst = tmp_path / "dst"
    res = cli("deid", "run", corpus, dst, "--key", key_file, "--json")
    assert res.code == 0, res.err
    body = res.json()
    assert body["n_ok"] == 6 and body["n_failed"] == 0
    outs = outputs(dst)
    assert len(outs) == 6
    for out in outs:
        ds = pydicom.dcmread(out)  # every output reads back
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert "PixelData" in ds and ds.pixel_array.shape == (128, 128)
        rel = str(out.relative_to(dst))
        assert "KAUFMAN" not in rel.upper() and "MRN" not in rel
        assert rel.split("/")[1] == ds.StudyInstanceUID and rel.endswith(f"{ds.SOPInstanceUID}.dcm")
    ver = cli("deid", "verify", dst, "--source", corpus, "--key", key_file, "--json")
    assert ver.code == 0, ver.out
    assert ver.json()["n_paired"] == 6 and ver.json()["findings"] == []


def test_verify_catches_leaks(cli, corpus, tmp_path, key_file):
    dst = tmp_path / "dst"
    assert cli("deid", "run", corpus, dst, "--key", key_file).code == 0
    victim = outputs(dst)[0]
    ds = pydicom.dcmread(victim)
    src = pydicom.dcmread(next(p for p in corpus.iterdir() if pydicom.dcmread(p).PatientID))
    ds.Manufacturer = "scanned for Kaufman, Scott"  # kept attribute, name in another format
    ds.PatientBirthDate = "19430722"  # attribute the profile removes, original value
    ds.save_as(victim)
    res = cli("deid", "verify", dst, "--source", corpus, "--key", key_file, "--json")
    assert res.code == 1
    checks = {f["check"] for f in res.json()["findings"]}
    assert {"profile", "bytes"} <= checks
    assert src.PatientName  # the source really had PHI
    assert "Kaufman" not in res.out  # findings are masked


def test_same_key_same_uids_across_runs_and_workers(cli, corpus, tmp_path, key_file):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert cli("deid", "run", corpus, a, "--key", key_file).code == 0
    assert cli("deid", "run", corpus, b, "--key", key_file, "--workers", "2").code == 0
    rel = lambda d: [p.relative_to(d) for p in outputs(d)]  # noqa: E731
    assert rel(a) == rel(b)
    assert all((a / r).read_bytes() == (b / r).read_bytes() for r in rel(a))
    other = tmp_path / "other.key"
    other.write_text("cd" * 32)
    assert cli("deid", "run", corpus, c, "--key", other).code == 0
    assert set(rel(a)).isdisjoint(rel(c))


def test_references_stay_consistent(cli, corpus, tmp_path, key_file):
    dst = tmp_path / "dst"
    assert cli("deid", "run", corpus, dst, "--key", key_file).code == 0
    by_patient: dict[str, set] = {}
    for out in outputs(dst):
        ds = pydicom.dcmread(out)
        by_patient.setdefault(ds.PatientID, set()).add(ds.StudyInstanceUID)
    assert len(by_patient) == 2 and all(len(s) == 1 for s in by_patient.values())


def _bad_inputs(src: Path) -> dict[str, str]:
    good = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    (src / "truncated.dcm").write_bytes(good[: len(good) // 3])
    shutil.copy(get_testdata_file("ExplVR_LitEndNoMeta.dcm"), src / "no_preamble.dcm")
    (src / "notes.txt").write_text("Patient Scott Kaufman, not an image")
    huge = bytearray(good[:132]) + bytes.fromhex("02000000554c0400") + b"\x00\x00\x00\x00"
    huge += bytes.fromhex("08001000") + b"LO" + b"\xff\xff" + b"x" * 10
    (src / "huge_value.dcm").write_bytes(bytes(huge))
    (src / "..evil..dcm").write_bytes(good)
    return {
        "truncated.dcm": "failed",
        "no_preamble.dcm": "ok",
        "notes.txt": "skipped",
        "huge_value.dcm": "failed",
        "..evil..dcm": "ok",
    }


def test_bad_input_is_reported_and_never_written(cli, tmp_path, key_file):
    src, dst, report = tmp_path / "src", tmp_path / "dst", tmp_path / "report.json"
    src.mkdir()
    expected = _bad_inputs(src)
    res = cli("deid", "run", src, dst, "--key", key_file, "--report", report)
    assert res.code == 1
    assert "FAILED truncated.dcm" in res.out
    rep = json.loads(report.read_text())
    status = {f["source"]: f["status"] for f in rep["files"]}
    assert status == expected
    assert all(f["reason"] for f in rep["files"] if f["status"] != "ok")
    assert len(outputs(dst)) == 2  # the good file (whose name was hostile) and the bare dataset
    assert not [p for p in dst.rglob("*") if p.name.startswith(".tmp-")]
    assert all(".." not in p.name for p in dst.rglob("*"))


def test_paths_are_guarded(cli, corpus, tmp_path, key_file):
    res = cli("deid", "run", corpus, corpus / "out", "--key", key_file)
    assert res.code == 2 and "inside the source" in res.err
    dst = tmp_path / "dst"
    res = cli("deid", "run", corpus, dst, "--key", key_file, "--report", dst / "r.json")
    assert res.code == 2 and "outside" in res.err
    res = cli("deid", "run", corpus, dst, "--key", key_file, "--option", "retain-everything")
    assert res.code == 2 and "unknown de-identification option" in res.err
    binary = tmp_path / "binary.key"
    binary.write_bytes(b"\x9a\xff" * 16)
    res = cli("deid", "run", corpus, dst, "--key", binary)
    assert res.code == 2 and "not text" in res.err


def test_one_run_at_a_time_per_destination(cli, corpus, tmp_path, key_file):
    import fcntl

    dst = tmp_path / "dst"
    (dst / MANIFEST_DIR).mkdir(parents=True)
    with open(dst / MANIFEST_DIR / "lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a running govkit would
        res = cli("deid", "run", corpus, dst, "--key", key_file)
    assert res.code == 2 and "another govkit run" in res.err
    assert not outputs(dst)
    (dst / ".tmp-deadrun-x.dcm").write_bytes(b"half-written by a killed run")
    assert cli("deid", "run", corpus, dst, "--key", key_file).code == 0
    assert len(outputs(dst)) == 6 and not list(dst.glob(".tmp-*"))


def test_rerun_resumes(cli, corpus, tmp_path, key_file):
    dst = tmp_path / "dst"
    assert cli("deid", "run", corpus, dst, "--key", key_file).code == 0
    outs = outputs(dst)
    outs[0].unlink()
    res = cli("deid", "run", corpus, dst, "--key", key_file, "--json").json()
    assert res["n_ok"] == 1 and res["n_resumed"] == 5
    assert len(outputs(dst)) == 6
    manifests = list((dst / MANIFEST_DIR).glob("manifest-*.jsonl"))
    assert len(manifests) == 2
    text = "".join(m.read_text() for m in manifests)
    assert "KAUFMAN" not in text.upper() and "MRN-" not in text
    before = {p: p.read_bytes() for p in outputs(dst)}
    res = cli("deid", "run", corpus, dst, "--key", key_file, "--option", "retain-safe-private", "--json").json()
    assert res["n_duplicates"] == 6 and res["n_ok"] == res["n_resumed"] == 0  # other options, other bytes
    assert {p: p.read_bytes() for p in outputs(dst)} == before  # the earlier outputs are kept


def test_key_is_created_private_and_only_its_fingerprint_recorded(cli, corpus, tmp_path):
    home = Path(os.environ["GOVKIT_HOME"])
    dst, cross = tmp_path / "dst", tmp_path / "crosswalk.csv"
    res = cli("deid", "run", corpus, dst, "--crosswalk", cross, "--json")
    assert res.code == 0
    key = home / "deid.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    secret = key.read_text().strip()
    assert res.json()["key_fingerprint"] not in (secret, "")
    assert secret not in res.out
    assert secret not in (home / "registry.sqlite").read_bytes().decode("latin-1")
    assert stat.S_IMODE(cross.stat().st_mode) == 0o600
    rows = cross.read_text().splitlines()
    assert rows[0] == "attribute,original,pseudonym" and any(r.startswith("PatientID,MRN-") for r in rows)
    log = cli("audit", "log", "--json", "--action", "deid.run").json()["events"]
    assert log and log[-1]["payload"]["key_fingerprint"] == res.json()["key_fingerprint"]


def test_clean_descriptors_removes_header_values_in_every_format(cli, tmp_path, key_file):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName, ds.PatientBirthDate, ds.PatientID = "KAUFMAN^SCOTT", "19430722", "MRN-0042-7781"
    ds.StudyDescription = "XR CHEST AP PORTABLE for Scott Kaufman"
    ds.SeriesDescription = "Kaufman, Scott 07.22.1943"
    ds.ImageComments = "seen 22-JUL-1943 and 7/22/1943 ref MRN-0042-7781"
    ds.save_as(src / "a.dcm")
    res = cli("deid", "run", src, dst, "--key", key_file, "--option", "clean-descriptors")
    assert res.code == 0, res.err
    out = pydicom.dcmread(outputs(dst)[0])
    assert out.StudyDescription == "XR CHEST AP PORTABLE for ***"
    assert "Kaufman" not in out.SeriesDescription and "1943" not in out.SeriesDescription
    assert "1943" not in out.ImageComments and "7781" not in out.ImageComments
    assert [i.CodeValue for i in out.DeidentificationMethodCodeSequence] == ["113100", "113105"]
    assert cli("deid", "verify", dst, "--source", src, "--key", key_file).code == 0


def test_modified_dates_keep_intervals(cli, tmp_path, key_file):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    for i, date in enumerate(["20200101", "20200315"]):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.StudyDate, ds.SOPInstanceUID, ds.StudyInstanceUID = date, f"1.2.3.{i}", f"1.2.4.{i}"
        ds.save_as(src / f"{i}.dcm")
    assert cli("deid", "run", src, dst, "--key", key_file, "--option", "retain-longitudinal-modified-dates").code == 0
    import datetime as dt

    dates = sorted(dt.datetime.strptime(pydicom.dcmread(p).StudyDate, "%Y%m%d") for p in outputs(dst))
    assert (dates[1] - dates[0]).days == 74
    assert all(d.year < 2020 for d in dates)
    assert pydicom.dcmread(outputs(dst)[0]).LongitudinalTemporalInformationModified == "MODIFIED"


def test_recipe_applies_after_profile(cli, corpus, tmp_path, key_file):
    recipe = tmp_path / "deid.dicom"
    recipe.write_text("FORMAT dicom\n\n%header\n\nREPLACE Manufacturer ACME-REDACTED\n")
    dst = tmp_path / "dst"
    assert cli("deid", "run", corpus, dst, "--key", key_file, "--recipe", recipe).code == 0
    assert all(pydicom.dcmread(p).Manufacturer == "ACME-REDACTED" for p in outputs(dst))
    bad = tmp_path / "bad.txt"
    bad.write_text("not a recipe")
    assert cli("deid", "run", corpus, tmp_path / "d2", "--key", key_file, "--recipe", bad).code == 2


def test_real_file_with_burned_in_id_fails_verify_until_pixels_are_cleaned(cli, tmp_path, key_file):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(get_testdata_file("examples_palette.dcm"), src)  # PatientID burned into the header band
    assert cli("deid", "run", src, tmp_path / "a", "--key", key_file).code == 0
    res = cli("deid", "verify", tmp_path / "a", "--source", src, "--key", key_file, "--json")
    assert res.code == 1 and {f["check"] for f in res.json()["findings"]} == {"pixels"}
    assert cli("deid", "run", src, tmp_path / "b", "--key", key_file, "--option", "clean-pixel-data").code == 0
    assert cli("deid", "verify", tmp_path / "b", "--source", src, "--key", key_file).code == 0


def test_scan_lists_phi_without_writing(cli, corpus, tmp_path):
    before = sorted(corpus.rglob("*"))
    res = cli("deid", "scan", corpus, "--json")
    assert res.code == 0
    files = res.json()["files"]
    assert len(files) == 6 and all(f["status"] == "scanned" for f in files)
    attrs = {f["attribute"] for f in files[0]["findings"]}
    assert {"PatientName", "PatientBirthDate", "StudyDescription"} <= attrs
    assert files[0]["n_private"] >= 4
    assert sorted(corpus.rglob("*")) == before


def test_unknown_pixel_policy_or_engine_is_exit_2(cli, corpus, tmp_path, key_file):
    res = cli(
        "deid",
        "run",
        corpus,
        tmp_path / "dst",
        "--key",
        key_file,
        "--option",
        "clean-pixel-data",
        "--pixel-policy",
        "some-text",
    )
    assert res.code == 2

"""``deid verify`` as an independent check (issue #15).

Each hostile-corpus file is de-identified once; every test then plants a value
into a copy of the *output* (after the run, as a faulty tool or a person
would) and verify must find it, say where, and exit 1.  Clean outputs of the
same files verify with no finding.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from .hostile_corpus import CASES, DATE_TEXTS

pytestmark = pytest.mark.slow

KEY = "cd" * 32
RUN_CASES = ("forms", "japanese", "korean", "chinese", "undeclared-utf8", "dates", "sr", "places", "email")


def _govkit(*args: object) -> int:
    from govkit.cli.main import main

    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture(scope="module")
def runs_home(tmp_path_factory) -> Path:
    """The registry where the module's runs are recorded: verify reads each run's options there."""
    return tmp_path_factory.mktemp("runs-home")


@pytest.fixture(autouse=True)
def _runs_registry(request, _isolated_home, monkeypatch) -> None:
    """Tests of the module's runs verify against the registry that recorded them."""
    if {"runs", "script_runs"} & set(request.fixturenames):
        monkeypatch.setenv("GOVKIT_HOME", str(request.getfixturevalue("runs_home")))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, runs_home) -> dict[str, tuple[Path, Path]]:
    """(source folder, output folder) of each case, de-identified under its options."""
    root = tmp_path_factory.mktemp("verify-runs")
    key = root / "k.key"
    key.write_text(KEY)
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GOVKIT_HOME", str(runs_home))
        mp.delenv("GOVKIT_DB_URL", raising=False)
        for c in CASES:
            if c.name not in RUN_CASES:
                continue
            src, dst = root / c.name / "src", root / c.name / "dst"
            c.write(src)
            opts = [a for o in c.options for a in ("--option", o)]
            assert _govkit("deid", "run", src, dst, "--key", key, *opts) == 0, c.name
            out[c.name] = (src, dst)
    return out


@pytest.fixture
def key(tmp_path) -> Path:
    path = tmp_path / "k.key"
    path.write_text(KEY)
    return path


def the_output(dst: Path) -> Path:
    (out,) = [p for p in dst.rglob("*.dcm") if not any(part.startswith(".") for part in p.relative_to(dst).parts)]
    return out


def planted(
    runs,
    name: str,
    tmp_path: Path,
    change: Callable[[Dataset], None] | None = None,
    raw: Callable[[bytes], bytes] | None = None,
) -> tuple[Path, Path]:
    """A copy of case ``name``'s output with ``change`` applied to it (dataset, then bytes)."""
    src, dst = runs[name]
    copy = tmp_path / "dst"
    shutil.copytree(dst, copy)
    out = the_output(copy)
    if change is not None:
        ds = pydicom.dcmread(out)
        change(ds)
        ds.save_as(out)
    if raw is not None:
        out.write_bytes(raw(out.read_bytes()))
    return src, copy


def verify(cli, src: Path, dst: Path, key: Path, *extra: object):
    res = cli("deid", "verify", dst, "--source", src, "--key", key, "--no-pixels", "--json", *extra)
    assert res.code in (0, 1), (res.code, res.out, res.err)
    return res


def findings(res) -> list[dict]:
    return res.json()["findings"]


@pytest.mark.parametrize("name", RUN_CASES)
def test_clean_outputs_have_no_finding(cli, runs, key, name):
    src, dst = runs[name]
    res = verify(cli, src, dst, key)
    assert res.code == 0 and findings(res) == [], findings(res)


def private(value: bytes) -> Callable[[Dataset], None]:
    def change(ds: Dataset) -> None:
        ds.add_new(0x00090010, "LO", "ACME 1.0")
        ds.add_new(0x00091001, "OB", value + b"\x00" * (len(value) % 2))

    return change


# class 1, 2, 3: a name planted as raw bytes, in every encoding a DICOM file could use
@pytest.mark.parametrize(
    ("name", "needle", "encoding"),
    [
        ("forms", "Größner", "latin-1"),
        ("forms", "GRÖSSNER", "iso8859_2"),
        ("forms", "Иванов", "iso8859_5"),
        ("forms", "ИВАНОВ", "utf-8"),
        ("forms", "Nu\u0301n\u0303ez", "utf-8"),
        ("forms", "núñez", "utf-16-le"),
        ("forms", "Пётр", "utf-16-be"),
        ("japanese", "山田太郎", "iso2022_jp"),
        ("japanese", "やまだ", "shift_jis"),
        ("japanese", "たろう", "utf-8"),
        ("korean", "홍길동", "euc_kr"),
        ("korean", "吉洞", "utf-8"),
        ("chinese", "王小东", "gb18030"),
        ("chinese", "小东", "gbk"),
        ("undeclared-utf8", "jürgen", "utf-8"),
        ("undeclared-utf8", "MÜLLER", "latin-1"),
    ],
)
def test_planted_name_bytes_are_found_in_every_encoding(cli, runs, key, tmp_path, name, needle, encoding):
    src, dst = planted(runs, name, tmp_path, private(f"note: {needle}".encode(encoding)))
    res = verify(cli, src, dst, key)
    assert res.code == 1
    where = {f["where"] for f in findings(res) if f["check"] == "bytes"}
    assert any("(0009,1001)" in w for w in where), findings(res)
    assert needle not in res.out and needle.encode(encoding).decode("latin-1") not in res.out  # masked


@pytest.mark.parametrize(
    ("name", "charset", "text"),
    [
        ("japanese", ["", "ISO 2022 IR 87"], "担当 山田 太郎"),
        ("korean", ["", "ISO 2022 IR 149"], "환자 홍길동"),
        ("forms", "ISO_IR 192", "dr. nu\u0301n\u0303ez"),
        ("forms", "ISO_IR 144", "ИВАНОВ"),
        ("undeclared-utf8", "ISO_IR 100", "Jürgen"),
    ],
)
def test_planted_name_text_is_found_with_its_element_path(cli, runs, key, tmp_path, name, charset, text):
    def change(ds: Dataset) -> None:
        ds.SpecificCharacterSet = charset
        ds.Manufacturer = text

    src, dst = planted(runs, name, tmp_path, change)
    res = verify(cli, src, dst, key)
    assert res.code == 1
    assert "Manufacturer" in {f["where"] for f in findings(res)}, findings(res)


@pytest.mark.parametrize("text", DATE_TEXTS[:11])
def test_planted_dates_are_found_in_every_format(cli, runs, key, tmp_path, text):
    def change(ds: Dataset) -> None:
        ds.ProcedureCodeSequence = [Dataset()]
        item = ds.ProcedureCodeSequence[0]
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "1", "99X", f"done {text}"

    src, dst = planted(runs, "dates", tmp_path, change)
    res = verify(cli, src, dst, key)
    assert res.code == 1
    assert "ProcedureCodeSequence[0].CodeMeaning" in {f["where"] for f in findings(res)}, findings(res)


def test_sr_text_is_checked_by_ner_at_any_depth(cli, runs, key, tmp_path):
    def change(ds: Dataset) -> None:
        ds.ContentSequence[1].ContentSequence[0].TextValue = "Call Maria Schneider at (555) 867-5309."

    src, dst = planted(runs, "sr", tmp_path, change)
    res = verify(cli, src, dst, key)
    assert res.code == 1
    hits = [f for f in findings(res) if f["where"] == "ContentSequence[1].ContentSequence[0].TextValue"]
    assert {f["check"] for f in hits} == {"text"}, findings(res)


def test_retained_text_is_checked_by_ner(cli, runs, key, tmp_path):
    src, dst = planted(
        runs, "email", tmp_path, lambda ds: setattr(ds, "Manufacturer", "contact john.smith@hospital.example.org")
    )
    res = verify(cli, src, dst, key)
    assert res.code == 1
    assert any(f["check"] == "text" and f["where"] == "Manufacturer" for f in findings(res)), findings(res)


def test_preamble_and_file_meta_are_checked(cli, runs, key, tmp_path):
    def change(ds: Dataset) -> None:
        ds.preamble = b"KAUFMAN^SCOTT".ljust(128, b"\x00")
        ds.file_meta.SourcePresentationAddress = "http://example.org/PID61X"

    src, dst = planted(runs, "places", tmp_path, change)
    res = verify(cli, src, dst, key)
    assert res.code == 1
    where = {f["where"] for f in findings(res)}
    assert "preamble" in where and any(w.startswith("file meta") for w in where), findings(res)


def test_attributes_the_profile_removes_are_flagged_whatever_their_value(cli, runs, key, tmp_path):
    def change(ds: Dataset) -> None:
        ds.PatientBirthDate = "19000101"  # Z: must be empty; the value is not the source's
        ds.OtherPatientIDs = "NOT-A-REAL-ID"  # X: must be absent
        ds.add_new(0x00089998, "LO", "harmless")  # unknown public tag: removed by the run
        ds.add_new(0x00110010, "LO", "ACME 1.0")  # private block, retain-safe-private not selected
        ds.add_new(0x00111001, "LO", "harmless")

    src, dst = planted(runs, "places", tmp_path, change)
    res = verify(cli, src, dst, key)
    assert res.code == 1
    profile = {f["where"] for f in findings(res) if f["check"] == "profile"}
    assert {"PatientBirthDate", "OtherPatientIDs", "(0008,9998)", "(0011,1001)"} <= profile, findings(res)


def test_age_over_89_in_an_output_is_flagged(cli, tmp_path, key):
    src, dst = tmp_path / "src", tmp_path / "dst"
    next(c for c in CASES if c.name == "places").write(src)
    assert cli("deid", "run", src, dst, "--key", key, "--option", "retain-patient-characteristics").code == 0
    assert verify(cli, src, dst, key).code == 0  # PatientAge is kept (K) under this option
    out = the_output(dst)
    ds = pydicom.dcmread(out)
    ds.PatientAge = "093Y"
    ds.save_as(out)
    res = verify(cli, src, dst, key)
    assert res.code == 1 and {f["where"] for f in findings(res)} == {"PatientAge"}, findings(res)


def _in_pixels(needle: bytes) -> Callable[[bytes], bytes]:
    def raw(data: bytes) -> bytes:
        ds = pydicom.dcmread(__import__("io").BytesIO(data))
        pixels = bytes(ds.PixelData)
        start = data.find(pixels[:256])
        assert start > 0
        at = start + len(pixels) // 2
        return data[:at] + needle + data[at + len(needle) :]

    return raw


def test_short_values_inside_pixel_data_are_not_header_findings(cli, runs, key, tmp_path):
    src, dst = planted(runs, "places", tmp_path, raw=_in_pixels(b"SCOTT"))  # 5 characters: chance
    res = verify(cli, src, dst, key)
    assert res.code == 0, findings(res)
    src, dst = planted(runs, "places", tmp_path / "b", raw=_in_pixels(b"KAUFMAN^SCOTT"))
    res = verify(cli, src, dst, key)
    assert res.code == 1
    assert {f["where"] for f in findings(res)} == {"pixel data"}, findings(res)


def test_unreadable_outputs_are_per_file_results(cli, runs, key, tmp_path):
    src, dst = planted(runs, "places", tmp_path)
    out = the_output(dst)
    (out.parent / "junk.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 40)
    (out.parent / "cut.dcm").write_bytes(out.read_bytes()[:300])
    res = verify(cli, src, dst, key)
    assert res.code == 1
    unreadable = [f for f in findings(res) if f["check"] == "unreadable"]
    assert len(unreadable) == 2 and all(f["detail"] for f in unreadable)
    assert res.json()["n_outputs"] == 3


def test_a_fifo_or_link_in_dst_is_a_finding_not_a_hang(cli, runs, key, tmp_path):
    """Verify opens regular files only: a FIFO would block it forever, a link is no output govkit wrote."""
    import os

    src, dst = planted(runs, "places", tmp_path)
    out = the_output(dst)
    os.mkfifo(out.parent / "stray.dcm")
    (out.parent / "link.dcm").symlink_to(out)
    res = verify(cli, src, dst, key)
    assert res.code == 1
    unreadable = sorted(f["detail"] for f in findings(res) if f["check"] == "unreadable")
    assert len(unreadable) == 2 and any("FIFO" in d for d in unreadable) and any("link" in d for d in unreadable)


def test_an_output_with_a_sequence_never_closed_is_unreadable(cli, runs, key, tmp_path):
    unclosed = bytes.fromhex("faff faff") + b"SQ\x00\x00" + b"\xff" * 4 + bytes.fromhex("feff 00e0") + b"\xff" * 4
    src, dst = planted(runs, "places", tmp_path, raw=lambda data: data + unclosed)  # a sequence never closed
    res = verify(cli, src, dst, key)
    assert res.code == 1
    assert [f["check"] for f in findings(res)] == ["unreadable"], findings(res)


def test_accepted_false_positives_need_reason_and_signer(cli, tmp_path, key):
    src, dst = tmp_path / "src", tmp_path / "dst"
    next(c for c in CASES if c.name == "email").write(src)
    assert cli("deid", "run", src, dst, "--key", key, "--option", "clean-descriptors").code == 0
    out = the_output(dst)
    ds = pydicom.dcmread(out)
    ds.Manufacturer = "Siemens Healthineers Erlangen"  # NER may call this an organisation or a place
    ds.add_new(0x00091001, "LO", "x")
    ds.save_as(out)
    first = verify(cli, src, dst, key)
    assert first.code == 1
    ids = [f["id"] for f in findings(first)]
    assert ids and len(set(ids)) == len(ids)

    accept = tmp_path / "accept.yaml"
    accept.write_text("".join(f"- finding: {i}\n  reason: reviewed, vendor name\n" for i in ids))
    res = cli("deid", "verify", dst, "--source", src, "--key", key, "--no-pixels", "--accept", accept)
    assert res.code == 2 and "signer" in res.err  # no signer: refused

    accept.write_text(
        "".join(f"- finding: {i}\n  reason: reviewed, vendor name\n  signer: Dr. Jane Roe\n" for i in ids)
    )
    res = verify(cli, src, dst, key, "--accept", accept)
    assert res.code == 0, res.out
    body = res.json()
    assert body["n_accepted"] == len(ids) and body["findings"] == []
    assert {a["signer"] for a in body["accepted"]} == {"Dr. Jane Roe"}
    events = cli("audit", "log", "--json", "--action", "deid.verify.accept").json()["events"]
    assert len(events) == len(ids)
    assert {e["payload"]["reason"] for e in events} == {"reviewed, vendor name"}
    verdict = cli("audit", "log", "--json", "--action", "deid.verify").json()["events"][-1]["payload"]
    assert verdict["ok"] is True and verdict["n_accepted"] == len(ids) and verdict["n_findings"] == 0

    ds.PatientBirthDate = "19520314"  # a new finding is not covered by the old acceptances
    ds.save_as(out)
    assert verify(cli, src, dst, key, "--accept", accept).code == 1


# ---- every class planted after the run, in every encoding (issue 15 review item 3) ---------------
#: encoding id -> (declared Specific Character Set, None: undeclared; Python codec for raw
#: bytes, None: as pydicom writes that character set; patient's name; a word in that script;
#: the name in other groups, forms, letter cases and normalisations)
SCRIPTS: dict[str, tuple[str | list[str] | None, str | None, str, str, tuple[str, ...]]] = {
    "latin1": ("ISO_IR 100", None, "Müller^Jürgen", "geb.", ("Jürgen Müller", "MÜLLER, JÜRGEN", "jurgen mueller")),
    "utf8": ("ISO_IR 192", None, "Núñez^José", "né", ("Nu\u0301n\u0303ez", "JOSÉ NÚÑEZ", "Jose Nunez")),
    "ir87": (
        ["", "ISO 2022 IR 87"],
        None,
        "Yamada^Tarou=山田^太郎=やまだ^たろう",
        "受診",
        ("山田太郎", "やまだ たろう", "YAMADA Tarou", "ＹＡＭＡＤＡ"),
    ),
    "ir13": (
        ["ISO 2022 IR 13", "ISO 2022 IR 87"],
        None,
        "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう",
        "受診",
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ", "山田 太郎", "たろう"),
    ),
    "gb18030": ("GB18030", None, "Wang^XiaoDong=王^小东=", "出生", ("王小东", "小东", "Xiaodong Wang")),
    "cyrillic": ("ISO_IR 144", None, "Иванов^Пётр", "род.", ("Пётр Иванов", "ИВАНОВ", "иванов, пётр")),
    "undeclared-utf8": (None, "utf-8", "Müller^Jürgen", "geb.", ("Jürgen Müller", "MÜLLER", "müller, jürgen")),
    "utf16": ("ISO_IR 192", "utf-16-le", "Núñez^José", "né", ("José Núñez", "NÚÑEZ", "nunez")),
}
UN_TAG = 0x00080108  # Extended Code Meaning (LT), stored as UN


def _encode(text: str, charset, codec: str | None) -> bytes:
    from pydicom.charset import convert_encodings, encode_string

    data = text.encode(codec) if codec else encode_string(text, convert_encodings(charset or "ISO_IR 6"))
    return data + b" " * (len(data) % 2)


def _script_source(folder: Path, script: str) -> Path:
    charset, codec, name, _, _ = SCRIPTS[script]
    folder.mkdir(parents=True)
    if codec == "utf-8":  # the name in UTF-8 bytes, no character set declared
        next(c for c in CASES if c.name == "undeclared-utf8").write(folder)
        return folder
    from .hostile_corpus import base

    ds = base(f"97{list(SCRIPTS).index(script)}", name, charset)
    ds.save_as(folder / "a.dcm", enforce_file_format=True)
    return folder


@pytest.fixture(scope="module")
def script_runs(tmp_path_factory, runs_home) -> dict[str, tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("script-runs")
    key = root / "k.key"
    key.write_text(KEY)
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GOVKIT_HOME", str(runs_home))
        mp.delenv("GOVKIT_DB_URL", raising=False)
        for script in SCRIPTS:
            src, dst = _script_source(root / script / "src", script), root / script / "dst"
            assert _govkit("deid", "run", src, dst, "--key", key) == 0, script
            out[script] = (src, dst)
    return out


@pytest.mark.parametrize("script", SCRIPTS)
def test_clean_outputs_in_every_encoding_have_no_finding(cli, script_runs, key, script):
    src, dst = script_runs[script]
    res = verify(cli, src, dst, key)
    assert res.code == 0 and findings(res) == [], findings(res)


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_class_planted_in_every_encoding_is_found_where_it_is(cli, script_runs, key, tmp_path, script):
    """Names in every group and form, the birth and study dates in every listed format, SR text at
    depth, the preamble, the file meta and a UN value, all written in ``script``'s encoding
    after the run: verify reports each at its own place."""
    from pydicom.dataelem import DataElement
    from pydicom.sequence import Sequence

    charset, codec, _, word, names = SCRIPTS[script]
    texts = [f"{word} {n}" for n in names] + [f"{word} {d}" for d in DATE_TEXTS]  # birth and study date

    def change(ds: Dataset) -> None:
        if charset is None:
            del ds.SpecificCharacterSet
        else:
            ds.SpecificCharacterSet = charset
        items = []
        for text in texts:
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator = "1", "99X"
            item.add(DataElement(0x00080104, "LO", _encode(text, charset, codec)))  # CodeMeaning
            items.append(item)
        ds.ProcedureCodeSequence = Sequence(items)
        leaf = Dataset()
        leaf.add(DataElement(0x0040A160, "UT", _encode(f"{texts[0]}, {DATE_TEXTS[4]}", charset, codec)))
        node = Dataset()
        node.ContentSequence = Sequence([leaf])
        ds.ContentSequence = Sequence([node])
        ds.add(DataElement(UN_TAG, "UN", _encode(texts[1], charset, codec)))
        ds.preamble = _encode(names[0], charset, codec)[:128].ljust(128, b"\x00")
        ds.file_meta.PrivateInformationCreatorUID = "1.2.3.4"
        ds.file_meta.PrivateInformation = _encode(names[-1], charset, codec)

    src, dst = planted(script_runs, script, tmp_path, change)
    res = verify(cli, src, dst, key)
    assert res.code == 1
    where = {f["where"] for f in findings(res) if f["check"] in ("bytes", "text")}
    expected = {f"ProcedureCodeSequence[{i}].CodeMeaning" for i in range(len(texts))}
    expected |= {"ContentSequence[0].ContentSequence[0].TextValue", "ExtendedCodeMeaning", "preamble"}
    missing = sorted(expected - where)
    assert not missing, (missing, [texts[int(m.split("[")[1].split("]")[0])] for m in missing if "Procedure" in m])
    assert any(w.startswith("file meta") for w in where), where


# ---- the run's options come from its record, never from the output (red team round 2, 08) --------
#: codes an edited output appends to claim options: full dates, institution, UIDs, device identity
CLAIMED = {
    "113106": "retain-longitudinal-full-dates",
    "113112": "retain-institution-identity",
    "113110": "retain-uids",
    "113109": "retain-device-identity",
}


def _claims_options(src: Path) -> Callable[[Dataset], None]:
    """Put the source's dates and UIDs back, add an institution and a station, and declare
    the options that would allow them."""
    source = pydicom.dcmread(next(src.glob("*.dcm")))

    def change(ds: Dataset) -> None:
        for code in CLAIMED:
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code, "DCM", "Retain"
            ds.DeidentificationMethodCodeSequence.append(item)
        for kw in ("StudyDate", "StudyInstanceUID", "SeriesInstanceUID"):
            setattr(ds, kw, source.data_element(kw).value)
        ds.InstitutionName, ds.StationName = "JFK IMAGING CENTER", "CT-NORTH-3"

    return change


def test_options_an_output_declares_are_checked_against_the_runs_record(cli, runs, key, tmp_path):
    src, dst = planted(runs, "places", tmp_path, _claims_options(runs["places"][0]))  # run without options
    res = verify(cli, src, dst, key)
    assert res.code == 1
    by_where = {f["where"]: f["detail"] for f in findings(res)}
    declared = by_where["DeidentificationMethodCodeSequence"]
    assert "declares options the run did not use" in declared and "the run's record" in declared
    assert all(option in declared for option in CLAIMED.values()), declared
    profile = {f["where"] for f in findings(res) if f["check"] == "profile"}
    assert {"StudyDate", "InstitutionName", "StationName", "StudyInstanceUID", "SeriesInstanceUID"} <= profile


def test_without_a_run_record_only_options_the_user_states_are_used(cli, runs, key, tmp_path, monkeypatch):
    src, dst = planted(runs, "places", tmp_path, _claims_options(runs["places"][0]))
    monkeypatch.setenv("GOVKIT_HOME", str(tmp_path / "another-registry"))  # no record of the run
    res = verify(cli, src, dst, key)  # checked under no options: the output's word is not taken
    assert res.code == 1
    assert {"StudyDate", "InstitutionName", "StationName"} <= {f["where"] for f in findings(res)}
    assert any("pass --option" in w for w in res.json()["warnings"]), res.json()["warnings"]
    res = verify(cli, src, dst, key, "--option", "retain-uids")
    by_where = {f["where"]: f["detail"] for f in findings(res)}
    assert "declares options the run did not use" in by_where["DeidentificationMethodCodeSequence"]
    assert "retain-uids" not in by_where["DeidentificationMethodCodeSequence"]
    stated = [a for o in CLAIMED.values() for a in ("--option", o)]
    res = verify(cli, src, dst, key, *stated)  # the user vouches for them
    assert res.code == 0, findings(res)


def test_a_clean_output_of_a_run_with_options_needs_its_record_or_stated_options(cli, runs, key, monkeypatch, tmp_path):
    src, dst = runs["forms"]  # run with clean-descriptors
    assert verify(cli, src, dst, key).code == 0
    monkeypatch.setenv("GOVKIT_HOME", str(tmp_path / "another-registry"))
    assert verify(cli, src, dst, key).code == 1  # fail closed: the basic profile, without options
    assert verify(cli, src, dst, key, "--option", "clean-descriptors").code == 0


def test_a_changed_manifest_is_not_taken_for_the_runs_record(cli, runs, key, tmp_path):
    src, dst = planted(runs, "forms", tmp_path)  # an untouched copy of a run with clean-descriptors
    assert verify(cli, src, dst, key).code == 0
    (manifest,) = (dst / ".govkit").glob("manifest-*.jsonl")
    with manifest.open("a") as fh:  # e.g. a line naming an output a run with other options wrote
        fh.write("\n")
    res = verify(cli, src, dst, key)
    assert res.code == 1  # its record unused: the basic profile, without options
    assert any("is not the one the run recorded" in w for w in res.json()["warnings"]), res.json()["warnings"]


# ---- only DST/.govkit is the run's own folder, and it is checked too (red team round 2, 12) -------
@pytest.mark.parametrize("where", ["deep", "own", "own-no-suffix"])
def test_a_source_copy_in_a_govkit_folder_is_found(cli, runs, key, tmp_path, where):
    src, dst = planted(runs, "places", tmp_path)
    folder = the_output(dst).parent / ".govkit" if where == "deep" else dst / ".govkit"
    folder.mkdir(exist_ok=True)
    copy = folder / ("a" if where == "own-no-suffix" else "a.dcm")
    shutil.copy(next(src.glob("*.dcm")), copy)
    res = verify(cli, src, dst, key)
    rel = str(copy.relative_to(dst))
    hits = [f for f in findings(res) if f["output"] == rel]
    assert res.code == 1 and hits, findings(res)
    if where == "deep":  # ordinary content: checked like any output
        assert {"PatientName", "PatientID"} <= {f["where"] for f in hits}
    else:
        assert [f["detail"] for f in hits] == ["a DICOM file in the run's own folder, which holds no output"]


def test_identifiers_in_the_run_manifest_are_found(cli, runs, key, tmp_path):
    src, dst = planted(runs, "places", tmp_path)
    (manifest,) = (dst / ".govkit").glob("manifest-*.jsonl")
    source = pydicom.dcmread(next(src.glob("*.dcm")))
    with manifest.open("a") as fh:
        fh.write(f'{{"note": "{source.PatientName}, {source.PatientID}"}}\n')
    res = verify(cli, src, dst, key)
    hits = [f for f in findings(res) if f["output"] == str(manifest.relative_to(dst))]
    assert res.code == 1 and len(hits) >= 2 and all(f["check"] == "bytes" for f in hits), findings(res)

"""The shipped Annex E table, its generator, and PHI format expansion."""

from __future__ import annotations

import collections
import datetime as dt
import importlib.util
from pathlib import Path

import pytest

from govkit.deid.header.profile import OPTIONS, load_profile
from govkit.deid.text import identifiers as phi

ROOT = Path(__file__).resolve().parents[2]


def test_table_matches_the_standard_counts():
    profile = load_profile()
    assert profile.revision == "2024b" and len(profile.rules) == 621
    counts = collections.Counter(r.basic for r in profile.rules)
    assert counts == {"X": 384, "D": 92, "U": 54, "Z": 42, "X/D": 22, "X/Z": 11, "X/Z/D": 8, "Z/D": 6, "X/Z/U*": 2}
    used = {o for r in profile.rules for o in r.options}
    assert used == set(OPTIONS) - {"clean-pixel-data"}
    assert profile.rule_for(0x60023000).name == "Overlay Data"
    assert profile.rule_for(0x50FF1234).name == "Curve Data"
    assert profile.rule_for(0x00100010).keyword == "PatientName"


def test_generator_converts_rows():
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "gen_annex_e.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    rows = gen.convert(
        [
            {"name": "Patient's Name", "tag": "(0010,0010)", "stdCompIOD": "Y", "basicProfile": "Z", "id": "x"},
            {
                "name": "Overlay Data",
                "tag": "(60XX,3000)",
                "stdCompIOD": "Y",
                "basicProfile": "X",
                "cleanGraphOpt": "C",
                "id": "y",
            },
        ]
    )
    assert rows == [
        {
            "tag": "00100010",
            "name": "Patient's Name",
            "keyword": "PatientName",
            "in_std_comp_iod": True,
            "basic": "Z",
            "options": {},
        },
        {
            "tag": "60xx3000",
            "name": "Overlay Data",
            "keyword": "",
            "in_std_comp_iod": True,
            "basic": "X",
            "options": {"clean-graphics": "C"},
        },
    ]
    with pytest.raises(SystemExit):
        gen.convert([{"name": "?", "tag": "(0010,0010)", "stdCompIOD": "Y", "basicProfile": "Q", "id": "z"}])


def test_date_forms_cover_burned_in_formats():
    forms = phi.date_forms(dt.date(1943, 7, 22))
    assert {"19430722", "07.22.1943", "7/22/1943", "22-JUL-1943", "22-JUL-43", "1943-07-22"} <= forms


@pytest.mark.parametrize(
    "text",
    [
        "KAUFMAN^SCOTT",
        "Scott Kaufman",
        "Kaufman, Scott",
        "kaufman scott",
        "dob 07.22.1943",
        "7/22/1943",
        "22-JUL-1943",
        "id MRN-0042-7781",
    ],
)
def test_text_pattern_matches_every_format(text):
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.PatientName, ds.PatientBirthDate, ds.PatientID = "KAUFMAN^SCOTT", "19430722", "MRN-0042-7781"
    assert phi.collect(ds).spans(text)


def test_pattern_respects_word_boundaries_and_vocabulary():
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.OperatorsName = "LI^TEXT"  # too short / a DICOM word in another's name: only the full forms count
    ids = phi.collect(ds)
    assert not ids.spans("Linear TEXT value") and ids.spans("LI^TEXT")
    ds.PatientName = "LI^TEXT"  # the patient's own name: every part ≥ MIN_TOKEN counts, whatever it is
    assert phi.collect(ds).spans("Linear TEXT value") == [(7, 11)]
    assert ids.text_pattern().search(phi.raw_readings(b"\x00LI^TEXT\x00", ("latin-1",)))

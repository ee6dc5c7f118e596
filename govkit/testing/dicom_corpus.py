"""Synthetic DICOM with known, planted PHI: the corpus for tests, benchmarks and the demo.

:func:`plant_value` gives a PHI-bearing value for any attribute, consistent
with its VR; :func:`plant_every_listed_attribute` puts one in every attribute
of Table E.1-1 (repeating groups and private blocks included), at the top
level and inside a sequence.  :func:`phi_corpus` writes a small multi-patient
archive built on the real images shipped in pydicom's package.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from PIL import ImageFont

#: An unlisted, kept sequence used to carry nested PHI (PS3.3 General Image).
CARRIER_SEQUENCE = "DerivationCodeSequence"
UID_ROOT = "1.2.826.0.1.3680043.9.7777"


@dataclass(frozen=True)
class Patient:
    name: str = "KAUFMAN^SCOTT"
    patient_id: str = "MRN-0042-7781"
    birth_date: str = "19430722"
    accession: str = "ACC-99812"
    institution: str = "Saint Elsewhere Hospital"

    @property
    def display_name(self) -> str:
        family, given = self.name.split("^")[:2]
        return f"{given.title()} {family.title()}"


#: An element value as pydicom takes it for the VRs :func:`plant_value` covers.
PlantedValue = str | int | float | bytes | Sequence


def plant_value(tag: int, vr: str, patient: Patient, salt: str = "0") -> PlantedValue:
    """A PHI-bearing value for ``tag`` with VR ``vr``."""
    vr = vr.split(" or ")[0]
    text = f"{patient.display_name} born {_us_date(patient.birth_date)} MRN {patient.patient_id}"
    values: dict[str, PlantedValue] = {
        "PN": patient.name,
        "LO": f"XR CHEST for {patient.display_name}"[:64],
        "SH": patient.name.split("^")[0][:16],
        "LT": text,
        "ST": text,
        "UT": text,
        "UC": text,
        "CS": patient.name.split("^")[0][:16],
        "AE": patient.name.split("^")[0][:16],
        "DA": patient.birth_date,
        "TM": "101500",
        "DT": patient.birth_date + "101500",
        "AS": "081Y",
        "UI": f"{UID_ROOT}.{tag}.{salt}",
        "IS": "42",
        "DS": "42.5",
        "US": 42,
        "SS": 42,
        "UL": 42,
        "SL": 42,
        "SV": 42,
        "UV": 42,
        "FL": 42.0,
        "FD": 42.0,
        "AT": 0x00100010,
        "UR": "http://kaufman.example/scott",
        "OB": (patient.name.encode() + b"\x00")[: len(patient.name) + 1 & ~1 or 2],
        "OW": (patient.name.encode() + b"\x00\x00")[: (len(patient.name) + 2) & ~1],
        "UN": (patient.name.encode() + b"\x00")[: len(patient.name) + 1 & ~1 or 2],
        "OD": b"\x00" * 8,
        "OF": b"\x00" * 4,
        "OL": b"\x00" * 4,
        "OV": b"\x00" * 8,
        "SQ": Sequence([nested_item(patient, salt)]),
    }
    return values[vr]


def _us_date(da: str) -> str:
    return f"{da[4:6]}/{da[6:8]}/{da[0:4]}"


def nested_item(patient: Patient, salt: str = "0") -> Dataset:
    item = Dataset()
    item.PatientName = patient.name
    item.ReferencedSOPInstanceUID = f"{UID_ROOT}.1.{salt}"
    return item


def tag_vr(tag: int) -> str:
    return dictionary_VR(tag).split(" or ")[0]


def plant(ds: Dataset, tag: int, patient: Patient, salt: str = "0") -> None:
    vr = tag_vr(tag)
    ds.add_new(tag, vr, plant_value(tag, vr, patient, salt))


def plant_every_listed_attribute(ds: Dataset, patient: Patient, *, nested: bool = True, salt: str = "0") -> None:
    """Put PHI in every attribute of Table E.1-1, plus overlays, curves and private blocks."""
    from govkit.deid.header.profile import load_profile

    profile = load_profile()
    for tag in profile.exact:
        if _plantable(tag):
            plant(ds, tag, patient, salt)
    plant_repeating(ds, patient)
    _plant_private(ds, patient)
    if nested:
        item = Dataset()
        for tag in profile.exact:
            if _plantable(tag) and tag_vr(tag) != "SQ":
                plant(item, tag, patient, salt + ".9")
        _plant_private(item, patient)
        setattr(ds, CARRIER_SEQUENCE, Sequence([item]))


def _plantable(tag: int) -> bool:
    """Dataset attributes: not file meta (group 2) nor command elements (group 0)."""
    return tag >> 16 not in (0x0000, 0x0002)


def plant_repeating(ds: Dataset, patient: Patient) -> None:
    ds.add_new(0x60000010, "US", 8)  # Overlay Rows
    ds.add_new(0x60000011, "US", 8)  # Overlay Columns
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60003000, "OW", patient.name.encode()[:8].ljust(8, b"\x00"))
    ds.add_new(0x60004000, "LT", f"Overlay for {patient.display_name}")
    ds.add_new(0x50000005, "US", 1)
    ds.add_new(0x50003000, "OB", patient.name.encode()[:8].ljust(8, b"\x00"))


def _plant_private(ds: Dataset, patient: Patient) -> None:
    block = ds.private_block(0x0011, "ACME PHI 1.0", create=True)
    block.add_new(0x01, "LO", patient.name)
    block.add_new(0x02, "LO", patient.patient_id)
    block.add_new(0x03, "SQ", Sequence([nested_item(patient, "8")]))


def pydicom_sample(name: str) -> str:
    """The path of one of the sample files shipped in pydicom's package (``CT_small.dcm``...)."""
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    if not isinstance(path, str):
        raise FileNotFoundError(f"pydicom's sample file {name} is not installed")
    return path


def phi_corpus(out: Path, *, patients: int = 2, files_per_patient: int = 3) -> list[Path]:
    """Write a multi-patient archive with PHI planted everywhere; return the paths."""
    import pydicom

    base = pydicom.dcmread(pydicom_sample("CT_small.dcm"))
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for p in range(patients):
        patient = Patient(
            name=["KAUFMAN^SCOTT", "OKONKWO^ADAEZE", "LINDQVIST^BIRGITTA"][p % 3],
            patient_id=f"MRN-{4200 + p:04d}-77{p}",
            birth_date=f"19{43 + p}0722",
            accession=f"ACC-{99812 + p}",
        )
        study = f"{UID_ROOT}.100.{p}"
        series = f"{UID_ROOT}.200.{p}"
        for i in range(files_per_patient):
            ds = copy.deepcopy(base)
            plant_every_listed_attribute(ds, patient, salt=f"{p}.{i}")
            ds.PatientName, ds.PatientID, ds.PatientBirthDate = patient.name, patient.patient_id, patient.birth_date
            ds.AccessionNumber = patient.accession
            ds.InstitutionName = patient.institution
            ds.SOPClassUID = base.SOPClassUID
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            ds.SOPInstanceUID = f"{UID_ROOT}.300.{p}.{i}"
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.StudyDescription = f"CT CHEST for {patient.display_name}"
            path = out / f"{patient.name.replace('^', '_')}_{i}.dcm"  # PHI in the name, on purpose
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def undecodable_copy(path: Path, out: Path) -> Path:
    """Write a copy of ``path`` whose Pixel Data cannot be decoded (Bits Allocated 12
    on 16-bit data) under a new SOP Instance UID: a run refuses it and writes nothing."""
    import pydicom

    ds = pydicom.dcmread(path)
    ds.SOPInstanceUID += ".9"
    ds.BitsAllocated = 12
    ds.save_as(out)
    return out


def ct_archive(out: Path, n: int, *, patients: int = 1) -> list[Path]:
    """``n`` copies of pydicom's ``CT_small.dcm`` spread over ``patients``,
    each with its own SOP Instance UID: a light archive for throughput and
    scale-out runs (the PHI is the sample file's own header)."""
    import pydicom

    ds = pydicom.dcmread(pydicom_sample("CT_small.dcm"))
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for i in range(n):
        p = i % patients
        ds.PatientID = f"MRN-{7100 + p:04d}"
        ds.StudyInstanceUID = f"{UID_ROOT}.400.{p}"
        ds.SeriesInstanceUID = f"{UID_ROOT}.500.{p}"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = UID(f"{UID_ROOT}.600.{p}.{i}")
        path = out / f"f{i:06d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def burned_in(
    text_lines: list[str],
    *,
    size: tuple[int, int] = (256, 256),
    photometric: str = "MONOCHROME2",
    frames: int = 1,
    font_size: int = 18,
    seed: int = 0,
) -> Dataset:
    """A secondary-capture-like dataset with ``text_lines`` burned into every frame.

    The background is a smooth gradient with noise; text is drawn bright on
    dark (MONOCHROME1 stores it inverted, as the scanner would).
    """
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    rng = np.random.default_rng(seed)
    h, w = size
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", font_size)
    except OSError:
        font = ImageFont.load_default(size=font_size)
    planes: list[NDArray[np.uint8]] = []
    for _ in range(frames):
        base = np.linspace(20, 90, w)[None, :] + rng.normal(0, 4, (h, w))
        img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for i, line in enumerate(text_lines):
            draw.text((8, 8 + i * (font_size + 8)), line, fill=240, font=font)
        planes.append(np.asarray(img))
    grey = np.stack(planes)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.Modality = "OT"
    if photometric == "RGB":
        arr = np.stack([grey, grey, (grey * 0.8).astype(np.uint8)], -1)
    elif photometric == "MONOCHROME1":
        arr = 255 - grey
    else:
        arr = grey
    ds.set_pixel_data(arr if frames > 1 else arr[0], photometric, 8)
    return ds

"""Reading DICOM for de-identification: recognise, parse, check, walk.

:func:`sniff` tells a Part 10 file from a bare dataset or anything else;
:func:`read_dicom` parses one; :func:`check_pixel_data` refuses pixel data
that cannot be what the header declares; :func:`element_vr` and
:func:`walk_values` look at elements without decoding what need not be.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

DICM_OFFSET = 128


def sniff(data: bytes) -> str:
    """``part10``, ``raw`` (a dataset without preamble/meta) or ``other``."""
    if len(data) >= DICM_OFFSET + 4 and data[DICM_OFFSET : DICM_OFFSET + 4] == b"DICM":
        return "part10"
    if len(data) >= 8 and data[0:2] in (b"\x08\x00", b"\x02\x00", b"\x00\x08") and data[2:4] < b"\x10\x00":
        return "raw"
    return "other"


def read_dicom(path: Path) -> tuple[bytes, Dataset] | None:
    """(bytes, dataset) of a readable Part 10 file; None for anything else."""
    data = path.read_bytes()
    if sniff(data) != "part10":
        return None
    try:
        return data, pydicom.dcmread(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - unreadable files are reported by the caller
        return None


def check_pixel_data(ds: Dataset) -> None:
    """Refuse truncated pixel data: pydicom reads a cut-off file without complaint."""
    if "PixelData" not in ds:
        return
    from pydicom.encaps import parse_fragments
    from pydicom.pixels.utils import get_expected_length

    data = ds.PixelData
    if not data:
        raise ValueError("empty Pixel Data")
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        n_fragments, _ = parse_fragments(data)  # raises on a cut-off item
        if n_fragments == 0:
            raise ValueError("encapsulated Pixel Data holds no fragment")
    elif len(data) < get_expected_length(ds):
        raise ValueError(f"truncated Pixel Data: {len(data)} of {get_expected_length(ds)} bytes")


def element_vr(ds: Dataset, tag: int) -> str:
    """The VR of ``ds[tag]`` without decoding its value (dictionary VR for implicit files)."""
    from pydicom.datadict import dictionary_VR

    vr = ds.get_item(tag).VR
    if vr:
        return str(vr)
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def walk_values(ds: Dataset, path: str = "") -> Iterator[tuple[BaseTag, str, str, list[str]]]:
    """(tag, path, vr, values) for every public, non-sequence element, at every depth."""
    for tag in list(ds.keys()):
        vr = element_vr(ds, tag)
        elem = ds[tag]
        if vr == "SQ":
            for i, item in enumerate(elem.value or ()):
                yield from walk_values(item, f"{path}{elem.keyword or tag}[{i}].")
        elif not tag.is_private and elem.value not in (None, "", b""):
            values = list(elem.value) if elem.VM > 1 else [elem.value]
            yield tag, f"{path}{elem.keyword or tag}", vr, [str(v).strip() for v in values]

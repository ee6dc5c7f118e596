"""Reading and writing DICOM for de-identification: strict, and failing closed.

:func:`parse` accepts a Part 10 file or a bare dataset (no preamble, no file
meta, as older systems write them, PS3.5 section 7) and refuses, with a
reason from :mod:`govkit.deid.refusals`, anything whose structure is not
sound.  Before pydicom decodes it, every element of the file is walked
(:class:`_Walker`): a declared length that runs past the end of the file or
of its sequence item, a sequence or item of undefined length that is never
closed, a delimiter out of place, an invalid VR or a VR that contradicts the
data dictionary (Rows stored as OB, a Person Name stored as LO) are refused:
pydicom would read such an element's "value" as the rest of the header,
identifiers included.  So is an element that appears twice in one dataset or
item, or out of ascending tag order (PS3.5 7.1): pydicom keeps the last copy,
so a decoy second Patient Name would hide the real first one.  The walk follows pydicom's own rules for guessing
implicit or explicit VR, so both see the same elements.

:func:`parse_usable` also removes what cannot be de-identified but need not
cost the file (elements in the groups PS3.5 7.8.1 forbids, a Pixel Data
with no Rows and Columns); :func:`check_pixel_data` refuses pixel data that
cannot hold what the image attributes declare, and :func:`check_decodes`
compressed pixel data the installed decoders (:func:`register_decoders`)
cannot decode to that size; :func:`write_part10` writes a proper Part 10 file
(PS3.10 section 7.1) whatever the input had.  :func:`element_vr` and
:func:`walk_values` look at elements without decoding what need not be.
"""

from __future__ import annotations

import functools
import hashlib
import io
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.uid import UID

from govkit.deid.files import DEFAULT_MAX_FILE_BYTES, read_source
from govkit.deid.refusals import Refusal, refusal_for, tag_text

DICM_OFFSET = 128
MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage (DICOMDIR), PS3.10
MAX_DEPTH = 32
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
#: VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 Table 7.1-1)
LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"})
TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)
NUMBER_VRS = frozenset({"AT", "FL", "FD", "SL", "SS", "UL", "US", "SV", "UV"})
BULK_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW"})
VALID_VRS = TEXT_VRS | NUMBER_VRS | BULK_VRS | {"SQ", "UN"}
#: groups that shall not be used (PS3.5 section 7.8.1): no dictionary or private creator gives their
#: elements a meaning, so no de-identification rule can apply to them
ILLEGAL_GROUPS = frozenset({0x0001, 0x0003, 0x0005, 0x0007, 0xFFFF})
#: VRs that de-identification relies on: a value stored with another VR would escape its rules
#: (a name not matched as a name, a date not shifted, a sequence not descended into).
EXACT_VRS = frozenset({"PN", "DA", "DT", "AS", "UI", "SQ"})


def sniff(data: bytes) -> str:
    """``part10``, ``raw`` (a bare dataset), ``bad-marker`` (a preamble and file meta, but
    not ``DICM``) or ``other``."""
    if len(data) >= DICM_OFFSET + 4 and data[DICM_OFFSET : DICM_OFFSET + 4] == b"DICM":
        return "part10"
    if len(data) >= 8 and data[0:2] in (b"\x08\x00", b"\x02\x00", b"\x00\x08") and data[2:4] < b"\x10\x00":
        return "raw"
    if len(data) >= DICM_OFFSET + 12 and data[132:134] == b"\x02\x00" and data[136:138].isalpha():
        return "bad-marker"  # the first file meta element is where it belongs; the marker is not
    return "other"


def parse(data: bytes, *, require_uids: bool = True) -> Dataset:
    """The dataset in ``data``, walked strictly first; :class:`Refusal` when it is unsound.

    Bare datasets get a file meta whose Transfer Syntax is the encoding found
    (so :func:`write_part10` writes them as Part 10).  The SOP Class and
    Instance UIDs are taken from the file meta when the dataset lacks them;
    with ``require_uids=False`` a dataset with neither is returned without them
    (the de-identifying worker gives it keyed UIDs) instead of refused.
    """
    return _parse(data, require_uids)[0]


def parse_usable(data: bytes, *, require_uids: bool = True) -> tuple[Dataset, list[str]]:
    """:func:`parse`, then remove in place what cannot be de-identified but need not cost the
    whole file; the dataset and a note for each kind removed (no values named).

    * Elements in the groups PS3.5 7.8.1 forbids (0001, 0003, 0005, 0007, FFFF), at any
      depth: no rule of the profile can know what they hold.  The walk sees every element,
      so files without them (nearly all) cost nothing more.
    * A Pixel Data element with neither Rows nor Columns: not an image whose pixels can be
      checked for burned-in text (fail closed: removed, never copied).  With only one of
      them, or with invalid values, the image is damaged and :func:`check_pixel_data`
      refuses the file.
    """
    ds, forbidden = _parse(data, require_uids)
    notes = []
    if forbidden and _drop_groups(ds, ILLEGAL_GROUPS):
        notes.append("elements in groups that DICOM forbids (0001, 0003, 0005, 0007, FFFF; PS3.5 7.8.1) removed")
    if "PixelData" in ds and "Rows" not in ds and "Columns" not in ds:
        del ds.PixelData
        notes.append("Pixel Data without Rows and Columns removed: not an image that can be checked for burned-in text")
    return ds, notes


def _parse(data: bytes, require_uids: bool) -> tuple[Dataset, bool]:
    """:func:`parse`'s dataset, and whether the walk met an element in a forbidden group."""
    kind = sniff(data)
    if kind == "other":
        raise Refusal("not-dicom")
    if kind == "bad-marker":
        raise Refusal("bad-marker")
    start = DICM_OFFSET + 4 if kind == "part10" else 0
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=kind == "raw")
    except Exception as exc:
        walk(data, start)  # names the defect when it is one of structure
        raise refusal_for(exc) from exc
    if _is_dicomdir(ds):
        raise Refusal("dicomdir")
    implicit, little, forbidden = walk(data, start)
    ds.set_original_encoding(implicit, little)
    if "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta.TransferSyntaxUID = _syntax_for(implicit, little)
    for keyword, meta in (("SOPClassUID", "MediaStorageSOPClassUID"), ("SOPInstanceUID", "MediaStorageSOPInstanceUID")):
        if not str(ds.get(keyword, "") or "").strip():
            value = str(ds.file_meta.get(meta, "") or "").strip()
            if not value:
                if not require_uids:
                    continue
                raise Refusal("not-an-instance")
            setattr(ds, keyword, value)  # the file's own UID (PS3.10 7.1), not an invented one
    return ds, forbidden


def load(path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES, *, require_uids: bool = True) -> tuple[bytes, Dataset]:
    """(bytes, dataset) of the DICOM file at ``path`` (:func:`govkit.deid.files.read_source`,
    then :func:`parse_usable` and :func:`check_pixel_data`), read as ``deid run`` reads it;
    :class:`Refusal` otherwise."""
    data = read_source(path, max_bytes)
    ds, _ = parse_usable(data, require_uids=require_uids)
    try:
        check_pixel_data(ds)
    except Refusal:
        raise
    except Exception as exc:
        raise refusal_for(exc) from exc
    return data, ds


def give_keyed_uids(ds: Dataset, data: bytes, uid: Callable[[str], str]) -> bool:
    """Give a dataset that has no SOP Class or Instance UID (``parse(..., require_uids=False)``)
    keyed ones: ``uid("<keyword>:<SHA-256 of the source bytes>")``.  True when it did."""
    missing = [k for k in ("SOPClassUID", "SOPInstanceUID") if not str(ds.get(k, "") or "").strip()]
    if missing:
        digest = hashlib.sha256(data).hexdigest()
        for keyword in missing:
            setattr(ds, keyword, uid(f"{keyword}:{digest}"))
    return bool(missing)


def _is_dicomdir(ds: Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    return MEDIA_DIRECTORY in (
        str(ds.get("SOPClassUID", "")),
        str(meta.get("MediaStorageSOPClassUID", "") if meta is not None else ""),
    )


def _syntax_for(implicit: bool, little: bool) -> UID:
    if implicit:
        return pydicom.uid.ImplicitVRLittleEndian
    return pydicom.uid.ExplicitVRLittleEndian if little else pydicom.uid.ExplicitVRBigEndian


# --------------------------------------------------------------------------- the walk


class Layout(NamedTuple):
    """What :func:`walk` found: the dataset's encoding as pydicom reads it, and whether an
    element in a group PS3.5 7.8.1 forbids is anywhere in it."""

    implicit: bool
    little: bool
    forbidden_groups: bool = False


def walk(data: bytes, start: int) -> Layout:
    """Walk the file meta and the dataset of ``data`` from ``start``; raise :class:`Refusal` on a
    defect."""
    meta_end = _Walker(data, implicit=False, little=True).dataset(start, len(data), 0, top=True, meta=True)
    syntax = _meta_syntax(data, start, meta_end)
    if meta_end >= len(data):
        return Layout(syntax.is_implicit_VR, syntax.is_little_endian) if syntax else Layout(True, True)
    if syntax is None:  # no Transfer Syntax (or no file meta): guess as pydicom does
        group, _, vr = struct.unpack("<HH2s", data[meta_end : meta_end + 6].ljust(6, b"\0"))
        implicit, little = vr.decode("latin-1") not in VALID_VRS, True
        if not implicit and group >= 1024:
            little = False
    elif syntax == pydicom.uid.DeflatedExplicitVRLittleEndian:
        try:
            inflated = zlib.decompress(data[meta_end:], -zlib.MAX_WBITS)
        except zlib.error:
            raise Refusal("truncated", where="its deflated dataset") from None
        walker = _Walker(inflated, implicit=False, little=True)
        walker.dataset(0, len(inflated), 0, top=True)
        return Layout(*walker.top_encoding, walker.forbidden_groups)
    else:
        implicit = syntax.is_implicit_VR if syntax.is_transfer_syntax else False
        little = syntax.is_little_endian if syntax.is_transfer_syntax else True
    walker = _Walker(data, implicit=implicit, little=little)
    walker.dataset(meta_end, len(data), 0, top=True)
    return Layout(*walker.top_encoding, walker.forbidden_groups)


def _meta_syntax(data: bytes, start: int, end: int) -> UID | None:
    """The Transfer Syntax UID among the file meta elements in ``data[start:end]``."""
    pos = start
    while pos + 8 <= end:
        tag = struct.unpack("<I", data[pos + 2 : pos + 4] + data[pos : pos + 2])[0]
        vr = data[pos + 4 : pos + 6].decode("latin-1")
        if vr in LONG_VRS:
            length, head = struct.unpack("<I", data[pos + 8 : pos + 12])[0], 12
        elif vr in VALID_VRS:
            length, head = struct.unpack("<H", data[pos + 6 : pos + 8])[0], 8
        else:  # implicit VR file meta (seen in the wild)
            length, head = struct.unpack("<I", data[pos + 4 : pos + 8])[0], 8
        if tag == 0x00020010:
            return UID(data[pos + head : pos + head + length].decode("latin-1").strip("\0 "))
        pos += head + length
    return None


@functools.lru_cache(maxsize=4096)
def _dictionary_vrs(tag: int) -> frozenset[str] | None:
    from pydicom.datadict import dictionary_VR

    try:
        return frozenset(str(dictionary_VR(tag)).split(" or "))
    except KeyError:
        return None


def _vr_class(vr: str) -> str:
    return "text" if vr in TEXT_VRS else "number" if vr in NUMBER_VRS else "bulk" if vr in BULK_VRS else vr


def vr_conflict(tag: int, vr: str) -> str | None:
    """The dictionary VR(s) when ``vr`` contradicts them for a public tag (None: no conflict).

    Tolerated: UN (undecoded, PS3.5 6.2.2), and a VR of the same kind where the
    kind does not carry de-identification rules (LO for SH, IS for DS, US for SS).
    """
    if vr == "UN" or tag >> 16 & 1 or tag & 0xFFFF == 0:
        return None
    allowed = _dictionary_vrs(tag)
    if allowed is None or vr in allowed or "NONE" in allowed:
        return None
    if vr not in EXACT_VRS and not allowed & EXACT_VRS and {_vr_class(v) for v in allowed} == {_vr_class(vr)}:
        return None
    return " or ".join(sorted(allowed))


class _Walker:
    """Walks elements of ``data`` (PS3.5 section 7.1, 7.5) without decoding values."""

    def __init__(self, data: bytes, *, implicit: bool, little: bool) -> None:
        self.data = data
        self.implicit = implicit
        self.little = little
        self.u16 = struct.Struct("<H" if little else ">H")
        self.u32 = struct.Struct("<I" if little else ">I")
        self.top_encoding = (implicit, little)
        self.forbidden_groups = False  # an element in ILLEGAL_GROUPS was met

    def _tag(self, pos: int) -> int:
        group, element = struct.unpack_from("<HH" if self.little else ">HH", self.data, pos)
        return group << 16 | element

    def _detect(self, pos: int, end: int, implicit: bool, top: bool) -> bool:
        """pydicom's per-dataset guess (``filereader._is_implicit_vr``), so both walk the same elements."""
        if not top and implicit:
            return True
        if end - pos < 6:
            return implicit
        b0, b1 = self.data[pos + 4], self.data[pos + 5]
        found = not (0x40 < b0 < 0x5B and 0x40 < b1 < 0x5B)
        if found != implicit and found and not top:
            return True
        return found

    def dataset(
        self,
        pos: int,
        end: int,
        depth: int,
        *,
        top: bool = False,
        meta: bool = False,
        implicit: bool | None = None,
        in_item: int | None = None,
    ) -> int:
        """Walk a dataset from ``pos`` to ``end``; an item of undefined length (``in_item`` is its
        sequence's tag) ends at its delimiter.  Returns the position after it."""
        implicit = self._detect(pos, end, self.implicit if implicit is None else implicit, top)
        if top and not meta:
            self.top_encoding = (implicit, self.little)
        container = "file" if top else "sequence item"
        previous, seen = -1, set()
        while pos < end:
            if end - pos < 8:
                raise Refusal("truncated", where=f"the element header at byte {pos}")
            if meta and self.data[pos : pos + 2] != b"\x02\x00":
                return pos
            tag = self._tag(pos)
            if tag not in (ITEM, ITEM_END, SEQUENCE_END):
                # PS3.5 7.1: ascending order, each tag once; pydicom would keep only the last copy
                if tag in seen:
                    raise Refusal("duplicate-element", tag=tag_text(tag), container=container)
                if tag < previous:
                    raise Refusal("element-order", tag=tag_text(tag), previous=tag_text(previous), container=container)
                previous = tag
                seen.add(tag)
            if tag >> 16 in ILLEGAL_GROUPS:
                self.forbidden_groups = True
            if tag == ITEM_END and in_item is not None:
                return pos + 8
            if tag == SEQUENCE_END and in_item is not None:  # the sequence ends, its item never did
                raise Refusal("unclosed-item", tag=tag_text(in_item))
            if tag in (ITEM, ITEM_END, SEQUENCE_END):
                raise Refusal("stray-delimiter", tag=tag_text(tag))
            pos = self._element(pos, end, tag, depth, implicit, container)
        if in_item is not None:
            raise Refusal("unclosed-item", tag=tag_text(in_item))
        return pos

    def _element(self, pos: int, end: int, tag: int, depth: int, implicit: bool, container: str) -> int:
        data = self.data
        if implicit:
            vr, length, head = None, self.u32.unpack_from(data, pos + 4)[0], 8
        else:
            vr = data[pos + 4 : pos + 6].decode("latin-1")
            if vr not in VALID_VRS:
                raise Refusal("invalid-vr", tag=tag_text(tag))
            if vr in LONG_VRS:
                if end - pos < 12:
                    raise Refusal("truncated", where=f"the header of element {tag_text(tag)}")
                length, head = self.u32.unpack_from(data, pos + 8)[0], 12
            else:
                length, head = self.u16.unpack_from(data, pos + 6)[0], 8
            expected = vr_conflict(tag, vr)
            if expected is not None:
                raise Refusal("vr-mismatch", tag=tag_text(tag), vr=vr, expected=expected)
        start = pos + head
        if length == UNDEFINED:
            if tag == PIXEL_DATA or vr in ("OB", "OW"):  # encapsulated fragments (PS3.5 A.4)
                return self._items(start, end, tag, depth + 1, implicit, fragments=True)
            if vr in (None, "SQ"):
                return self._items(start, end, tag, depth + 1, implicit)
            if vr == "UN":  # a sequence encoded in implicit VR little endian (PS3.5 6.2.2)
                inner = _Walker(data, implicit=True, little=True)
                after = inner._items(start, end, tag, depth + 1, True)
                self.forbidden_groups |= inner.forbidden_groups
                return after
            raise Refusal("undefined-length", tag=tag_text(tag))
        if length > end - start:
            raise Refusal("length-overrun", tag=tag_text(tag), length=length, container=container)
        if vr == "SQ" or (vr is None and _dictionary_vrs(tag) == frozenset({"SQ"})):
            self._items(start, start + length, tag, depth + 1, implicit, defined=True)
        return start + length

    def _items(
        self,
        pos: int,
        end: int,
        seq: int,
        depth: int,
        implicit: bool,
        *,
        fragments: bool = False,
        defined: bool = False,
    ) -> int:
        if depth > MAX_DEPTH:
            raise Refusal("too-deep", depth=MAX_DEPTH)
        what = "compressed Pixel Data" if fragments else "sequence"
        while pos < end:
            if end - pos < 8:
                raise Refusal("truncated", where=f"an item header of {tag_text(seq)}")
            tag, length = self._tag(pos), self.u32.unpack_from(self.data, pos + 4)[0]
            if tag == SEQUENCE_END and not defined:
                return pos + 8
            if tag != ITEM:
                if fragments:
                    raise Refusal("pixel-encapsulation", detail="a fragment is not an item")
                raise Refusal("bad-sequence" if defined else "unclosed-sequence", tag=tag_text(seq))
            start = pos + 8
            if length == UNDEFINED:
                if fragments:
                    raise Refusal("pixel-encapsulation", detail="a fragment of undefined length")
                pos = self.dataset(start, end, depth, implicit=implicit, in_item=seq)
                continue
            if length > end - start:
                raise Refusal("length-overrun", tag=tag_text(seq), length=length, container=what)
            if not fragments:
                self.dataset(start, start + length, depth, implicit=implicit)
            pos = start + length
        if not defined:
            if fragments:
                raise Refusal("pixel-encapsulation", detail="the fragments are never closed (file cut short?)")
            raise Refusal("unclosed-sequence", tag=tag_text(seq))
        return pos


# --------------------------------------------------------------------------- pixels


def _drop_groups(ds: Dataset, groups: frozenset[int]) -> bool:
    """Remove the elements of ``groups`` from ``ds`` and its sequence items; whether any was."""
    dropped = False
    for tag in list(ds.keys()):
        if tag >> 16 in groups:
            del ds[tag]
            dropped = True
        elif element_vr(ds, tag) == "SQ":
            for item in ds[tag].value or ():
                dropped |= _drop_groups(item, groups)
    return dropped


def check_pixel_data(ds: Dataset) -> None:
    """Refuse pixel data that cannot be decoded to the size the image attributes declare, or
    whose transfer syntax DICOM does not define (no decoder can be trusted with it)."""
    if "PixelData" not in ds:
        return
    from pydicom.encaps import parse_fragments
    from pydicom.pixels.utils import get_expected_length

    try:
        if int(ds.Rows) < 1 or int(ds.Columns) < 1 or int(ds.BitsAllocated) < 1:
            raise ValueError
        expected = int(get_expected_length(ds))
    except (AttributeError, KeyError, TypeError, ValueError):
        raise Refusal(
            "pixel-attributes",
            detail="Rows, Columns, Bits Allocated, Samples per Pixel, "
            "Number of Frames or Photometric Interpretation missing "
            "or invalid",
        ) from None
    data = ds.PixelData
    if not data:
        raise Refusal("pixel-data-size", actual=0, expected=expected)
    syntax = ds.file_meta.TransferSyntaxUID
    if not syntax.is_transfer_syntax:
        raise Refusal("pixel-unknown-syntax", syntax=str(syntax))
    if syntax.is_compressed:
        try:
            n_fragments, _ = parse_fragments(data)
        except (ValueError, struct.error):
            raise Refusal("pixel-encapsulation", detail="a fragment is cut short") from None
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        if n_fragments < frames:
            raise Refusal("pixel-encapsulation", detail=f"{n_fragments} fragment(s) for {frames} frame(s)")
    elif len(data) < expected:
        raise Refusal("pixel-data-size", actual=len(data), expected=expected)


def check_decodes(ds: Dataset) -> None:
    """Refuse compressed pixel data that the installed decoders cannot decode, frame by
    frame, to Rows x Columns x Samples per Pixel values per frame and Number of Frames
    frames (fail closed: a transfer syntax no installed decoder handles is refused too).
    Uncompressed pixel data is fully checked by :func:`check_pixel_data`."""
    if "PixelData" not in ds or not ds.file_meta.TransferSyntaxUID.is_compressed:
        return
    from pydicom.pixels import get_decoder, iter_pixels

    syntax = ds.file_meta.TransferSyntaxUID
    try:
        available = get_decoder(syntax).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise Refusal("pixel-no-decoder", syntax=f"{syntax.name} ({syntax})")
    per_frame = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1) or 1)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    decoded = 0
    try:
        for frame in iter_pixels(ds, raw=True):
            if frame.size != per_frame:
                raise Refusal("pixel-decode", detail=f"frame {decoded + 1} holds {frame.size} of {per_frame} values")
            decoded += 1
    except Refusal:
        raise
    except Exception as exc:  # any decoder failure: the pixels are not what the header says
        raise Refusal("pixel-decode", detail=f"frame {decoded + 1} of {frames} does not decode") from exc
    if decoded != frames:
        raise Refusal("pixel-decode", detail=f"{decoded} of {frames} frames decoded")


@functools.cache
def register_decoders() -> None:
    """Arrange pydicom's decoding plugins (once per process).

    GDCM is moved to the end of each decoder's plugins: a last resort where Pillow,
    pylibjpeg-openjpeg/-rle and pyjpegls cannot decode (JPEG Lossless; a JPEG 2000
    file GDCM would read differently stays with openjpeg, as before GDCM was a
    dependency).  Then 12-bit JPEG Extended through GDCM (:mod:`govkit.deid.gdcm12`),
    which pydicom's plugins decline, goes last.  Run when this module is imported:
    every part of govkit that decodes pixel data (redaction, verify, scan,
    :func:`check_decodes`) imports it first.
    """
    from pydicom.pixels import get_decoder
    from pydicom.pixels.decoders import gdcm as pydicom_gdcm

    import govkit.deid.gdcm12 as gdcm12

    for syntax in pydicom_gdcm.DECODER_DEPENDENCIES:
        decoder = get_decoder(syntax)
        if "gdcm" in decoder.available_plugins:
            decoder.remove_plugin("gdcm")
            decoder.add_plugin("gdcm", (pydicom_gdcm.__name__, "_decode_frame"))  # pydicom's own entry
    decoder = get_decoder(pydicom.uid.JPEGExtended12Bit)
    if gdcm12.LABEL not in decoder.available_plugins:
        decoder.add_plugin(gdcm12.LABEL, (gdcm12.__name__, "decode_frame"))


register_decoders()


# --------------------------------------------------------------------------- writing


def write_part10(ds: Dataset, fh: BinaryIO) -> None:
    """Write ``ds`` as a Part 10 file: a zero preamble, ``DICM``, and a file meta built from
    the required elements only (PS3.10 7.1), in the dataset's own transfer syntax."""
    from govkit import __version__

    syntax = ds.file_meta.TransferSyntaxUID  # set by parse() for bare datasets
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"GOVKIT_{__version__}"[:16]
    ds.file_meta = meta
    ds.preamble = b"\x00" * DICM_OFFSET
    ds.save_as(fh, enforce_file_format=True)


# --------------------------------------------------------------------------- elements


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

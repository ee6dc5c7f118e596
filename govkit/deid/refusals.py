"""Why a file was not de-identified: the documented list of reasons.

Every file that a run does not write gets one of these codes and its text,
written for the data steward who must decide what to do with the file.  A
reason names elements by tag and sizes in bytes, never a value of the file
(values may be PHI).  The exception behind a reason, if any, is only in the
log at ``-v``.

``status`` is ``skipped`` for files that are not instances to de-identify
(the run still succeeds) and ``failed`` for files that are refused (the run
exits 1: someone has to look at them).
"""

from __future__ import annotations

import re
import struct

#: code -> (status, text for the data steward; ``{placeholders}`` are filled per file)
REASONS: dict[str, tuple[str, str]] = {
    # what the file is
    "not-dicom": ("skipped", "not a DICOM file"),
    "dicomdir": (
        "skipped",
        "a DICOMDIR (a media index holding patient names): left out; the de-identified tree has no DICOMDIR",
    ),
    "not-an-instance": ("failed", "holds no SOP Class or SOP Instance UID: not an image or other DICOM instance"),
    # reading it safely
    "not-regular-file": ("failed", "not a regular file ({kind}): not read"),
    "too-large": ("failed", "larger than the {cap} size limit (--max-file-size): not read"),
    "unreadable": ("failed", "cannot be read: {error}"),
    # its structure (PS3.5 section 7; PS3.10 section 7)
    "bad-marker": ("failed", "has a 128-byte preamble and file meta but not the 'DICM' marker: a damaged Part 10 file"),
    "bad-file-meta": ("failed", "its file meta information is damaged ({detail})"),
    "truncated": ("failed", "ends inside {where}: the file was cut short"),
    "length-overrun": ("failed", "element {tag} declares {length} bytes, more than is left in its {container}"),
    "unclosed-sequence": ("failed", "sequence {tag} of undefined length is never closed"),
    "unclosed-item": ("failed", "an item of sequence {tag} of undefined length is never closed"),
    "stray-delimiter": ("failed", "a sequence or item delimiter {tag} outside any sequence"),
    "bad-sequence": ("failed", "sequence {tag} holds something other than items"),
    "undefined-length": (
        "failed",
        "element {tag} has an undefined length, which only sequences and compressed Pixel Data may have",
    ),
    "too-deep": ("failed", "sequences nested more than {depth} deep"),
    "duplicate-element": (
        "failed",
        "element {tag} appears twice in its {container}: DICOM allows each element once (PS3.5 7.1), "
        "and a reader keeps only one of the values",
    ),
    "element-order": (
        "failed",
        "element {tag} comes after {previous} in its {container}: DICOM requires ascending tag order (PS3.5 7.1)",
    ),
    "invalid-vr": ("failed", "element {tag} has an invalid value representation"),
    "vr-mismatch": ("failed", "element {tag} is stored as {vr}, but the DICOM dictionary defines it as {expected}"),
    # its values
    "bad-text": ("failed", "element {tag} has a value that is not text in its declared character set"),
    "bad-value": ("failed", "element {tag} has a value that cannot be read as its value representation"),
    # its pixels
    "pixel-attributes": ("failed", "Pixel Data cannot be read: {detail}"),
    "pixel-data-size": (
        "failed",
        "Pixel Data holds {actual} bytes, fewer than the {expected} its image attributes declare",
    ),
    "pixel-encapsulation": ("failed", "compressed Pixel Data is damaged: {detail}"),
    "pixel-no-decoder": (
        "failed",
        "compressed Pixel Data in {syntax} cannot be decoded by any installed decoder, "
        "so its size cannot be checked: not written",
    ),
    "pixel-unknown-syntax": (
        "failed",
        "its Transfer Syntax UID {syntax} is not one that DICOM defines (a private or unknown encoding), "
        "so its Pixel Data cannot be decoded and checked: not written",
    ),
    "pixel-decode": (
        "failed",
        "compressed Pixel Data cannot be decoded to its declared size by the installed decoders: {detail}",
    ),
    "pixel-cleaning": ("failed", "burned-in text could not be cleaned: {detail}"),
    # the output
    "invalid-uid": ("failed", "{keyword} is not a valid UID after de-identification"),
    "recipe": ("failed", "the site recipe failed on this file"),
    "cannot-write": ("failed", "the output cannot be written: {error}"),
    "internal": ("failed", "govkit could not process this file (an internal error; rerun with -v for details)"),
}


class Refusal(Exception):
    """A file govkit will not de-identify, with a reason from :data:`REASONS`."""

    def __init__(self, code: str, **fields: object) -> None:
        if code not in REASONS:
            raise KeyError(f"undocumented refusal reason {code!r}")
        self.code = code
        self.status = REASONS[code][0]
        self.text = REASONS[code][1].format(**fields)
        super().__init__(self.text)


_TAG = re.compile(r"\(([0-9A-Fa-f]{4}),\s*([0-9A-Fa-f]{4})\)")


def tag_text(tag: int) -> str:
    """``(0008,0008)``: how reasons name an element."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def refusal_for(exc: BaseException) -> Refusal:
    """The documented reason for an exception raised while processing a file.

    pydicom names the element in its messages (``With tag (0008,0008) got
    exception: …``); only the tag is kept, never the message.
    """
    if isinstance(exc, Refusal):
        return exc
    m = _TAG.search(str(exc))
    tag = f"({m.group(1).upper()},{m.group(2).upper()})" if m else "(unknown)"
    if isinstance(exc, (UnicodeError, LookupError)) and m:
        return Refusal("bad-text", tag=tag)
    if isinstance(exc, MemoryError):
        return Refusal("bad-value", tag=tag)
    if m and isinstance(exc, (ValueError, TypeError, OverflowError, struct.error)):
        return Refusal("bad-value", tag=tag)
    return Refusal("internal")

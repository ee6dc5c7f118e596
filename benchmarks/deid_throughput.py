#!/usr/bin/env python3
"""Header de-identification throughput, side by side with its floor and with deid.

    .venv/bin/python benchmarks/deid_throughput.py [--files 300] [--repeats 3]

Measures, on N copies of pydicom's CT_small.dcm (distinct SOP Instance UIDs):

* plain pydicom read + write of every file (the floor: parse plus write);
* govkit's pipeline (basic profile) with 1 and 2 worker processes;
* the ``deid`` package's default recipe (``replace_identifiers`` + save).

Each figure is the median of the repeats, in files/s, and govkit's is also
given as a ratio to the plain read+write of the same run.  Wall time and CPU
time (this process's user+sys, ``time.process_time``) are both reported; on a
shared machine only the CPU figures mean anything.  govkit-2's work runs in
worker processes, so it has a wall figure only.
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


def plain(paths: list[Path], out: Path) -> None:
    for p in paths:
        pydicom.dcmread(p).save_as(out / p.name)


def deid_default(paths: list[Path], out: Path) -> None:
    import contextlib
    import io

    from deid.dicom import replace_identifiers
    from deid.logger import bot

    bot.level = 0
    with contextlib.redirect_stdout(io.StringIO()):
        for p in paths:
            ds = replace_identifiers([str(p)], save=False)[0]
            ds.save_as(out / p.name)


def timed(fn, *args) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process)."""
    t, c = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - t, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from govkit.deid.batch.coordinator import run

    work = Path(tempfile.mkdtemp(prefix="govkit-bench-"))
    os.environ["GOVKIT_HOME"] = str(work / "home")
    src = work / "src"
    src.mkdir()
    paths = ct_archive(src, args.files)
    results: dict[str, list[float]] = {k: [] for k in ("plain", "govkit-1", "govkit-2", "deid")}
    cpu: dict[str, list[float]] = {k: [] for k in ("plain", "govkit-1", "deid")}
    for r in range(args.repeats):
        for name, fn in (
            ("plain", lambda o: plain(paths, o)),
            ("govkit-1", lambda o: run(src, o, workers=1)),
            ("govkit-2", lambda o: run(src, o, workers=2)),
            ("deid", lambda o: deid_default(paths, o)),
        ):
            out = work / f"out-{name}-{r}"
            out.mkdir()
            wall, used = timed(fn, out)
            results[name].append(args.files / wall)
            if name in cpu:
                cpu[name].append(args.files / used)
            shutil.rmtree(out)
    med = {k: statistics.median(v) for k, v in results.items()}
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, pydicom {pydicom.__version__}"
    )
    print(f"files: {args.files} x CT_small.dcm, repeats: {args.repeats} (median files/s)")
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    for k, v in med.items():
        line = f"  {k:9s} {v:7.1f} files/s wall ({v / med['plain']:.2f} x plain read+write)"
        if k in med_cpu:
            c = med_cpu[k]
            line += f"   {c:7.1f} files/CPU-s ({c / med_cpu['plain']:.2f} x plain)"
        print(line)
    print(f"  scaling 1 -> 2 workers: {med['govkit-2'] / med['govkit-1']:.2f}x")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()

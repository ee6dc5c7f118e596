#!/usr/bin/env python3
"""De-identification throughput on a Dask cluster, against the local executor.

    .venv/bin/python benchmarks/deid_dask.py [--files 600] [--repeats 3] [--workers 1 2]

On N copies of pydicom's CT_small.dcm (``govkit.testing.dicom_corpus.ct_archive``),
basic profile, measures files/s of

* the local executor with 1 worker process (the baseline), and
* ``--executor dask`` on a ``LocalCluster`` with 1 and 2 worker processes
  (one thread each), after a warm-up run so that workers have imported govkit.

Each figure is the median of the repeats; the Dask ones are also given as a
ratio to the local baseline measured in the same run.  Every Dask output is
checked byte-identical to the local one.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from govkit.deid.batch import coordinator as pipeline
from govkit.testing.dicom_corpus import ct_archive


def outputs(dst: Path) -> dict[str, bytes]:
    return {str(p.relative_to(dst)): p.read_bytes() for p in dst.rglob("*.dcm") if ".govkit" not in p.parts}


def timed_run(src: Path, dst: Path, key: Path, **kw) -> float:
    shutil.rmtree(dst, ignore_errors=True)
    t0 = time.perf_counter()
    summary = pipeline.run(src, dst, key_path=key, **kw)
    elapsed = time.perf_counter() - t0
    assert summary.n_ok == summary.n_files, summary.n_failed
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    from distributed import LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        key = root / "k.key"
        key.write_text("7c" * 32)
        src = root / "src"
        ct_archive(src, args.files, patients=10)
        warm = root / "warm"
        ct_archive(warm, 8)
        local = statistics.median(timed_run(src, root / "local", key) for _ in range(args.repeats))
        reference = outputs(root / "local")
        rows = [("local, 1 process", args.files / local, 1.0)]
        for n in args.workers:
            with LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
            ) as cluster:
                kw = {"executor": "dask", "scheduler": cluster.scheduler_address}
                timed_run(warm, root / "warm-out", key, **kw)
                t = statistics.median(timed_run(src, root / "dask", key, **kw) for _ in range(args.repeats))
                assert outputs(root / "dask") == reference, "Dask output differs from the local run"
            rows.append((f"dask, {n} worker{'s' * (n > 1)}", args.files / t, local / t))
    print(
        f"{args.files} files, median of {args.repeats}; {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print(f"{'executor':<20} {'files/s':>8} {'x local':>8}")
    for name, rate, ratio in rows:
        print(f"{name:<20} {rate:8.1f} {ratio:8.2f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Time to render a model card and an audit report from a populated registry.

    make demo && .venv/bin/python benchmarks/report_speed.py demo-output/home lesion-cnn@1.0

Renders each report 5 times (after one warm-up) and prints the median.
Target: a model card in at most 3 s.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    home, ref = Path(sys.argv[1]).resolve(), sys.argv[2]
    os.environ["GOVKIT_HOME"] = str(home)
    from govkit.config import default_db_url
    from govkit.registry import open_registry
    from govkit.reports.api import audit_report, model_card

    reg = open_registry(default_db_url())
    out = Path(tempfile.mkdtemp())
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    for name, fn in (("model card", model_card), ("audit report", audit_report)):
        fn(reg, ref, out / "warm.pdf")
        times = []
        for i in range(5):
            t = time.perf_counter()
            fn(reg, ref, out / f"{i}.pdf")
            times.append(time.perf_counter() - t)
        print(f"{name}: median {statistics.median(times):.2f} s over 5 renders (min {min(times):.2f} s)")


if __name__ == "__main__":
    main()

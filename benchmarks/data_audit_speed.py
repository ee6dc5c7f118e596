"""Speed and recall of ``govkit data audit``'s duplicate search (issue 20).

    .venv/bin/python benchmarks/data_audit_speed.py [--large 100000] [--small 10000] [--per-kind 20]

1. **Scale**: two splits of ``large / 2`` 64×64 images with planted leakage
   (``govkit.testing.data_corpus``: ``per-kind`` exact copies and as many of
   each near-copy alteration, 20 shared patients); the wall time of the
   command ``govkit data audit A --against B --json`` on 2 cores, and whether
   it finds exactly the planted pairs.
2. **Against brute force**, on ``small`` images (two halves): the same
   command with the index (``--search lsh``) and with the exhaustive search
   over govkit's embedding (``--search exhaustive``), and an exact
   brute-force comparison of every cross-split pair of images at full
   resolution (pixels centred on the mean image, distance 1 − Pearson r,
   threshold 0.45: planted copies ≤ 0.35, unrelated pairs ≥ 0.6 in this
   corpus).  Each must find exactly the planted pairs; the times are
   measured in one run, as ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from govkit.testing.data_corpus import plant, split

PIXEL_THRESHOLD = 0.45
ENV = {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}


def make_pair(out: Path, n: int, per_kind: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    half = n // 2
    parts_a, parts_b = [], []
    for start in range(0, half, 5000):  # generate in chunks: bounded temporaries
        k = min(5000, half - start)
        parts_a.append(split(k, rng, f"A{start}_"))
        parts_b.append(split(k, rng, f"B{start}_"))
    a = {key: np.concatenate([p[key] for p in parts_a]) for key in parts_a[0]}
    b = {key: np.concatenate([p[key] for p in parts_b]) for key in parts_b[0]}
    truth = plant(a, b, rng, per_kind=per_kind, shared_patients=20)
    np.savez(out / "a.npz", **a)
    np.savez(out / "b.npz", **b)
    return {"a": out / "a.npz", "b": out / "b.npz", "truth": truth}


def audit(pair: dict, home: Path, search: str) -> tuple[tuple[float, float], dict]:
    cmd = [
        str(Path(sys.executable).parent / "govkit"),
        "data",
        "audit",
        str(pair["a"]),
        "--against",
        str(pair["b"]),
        "--search",
        search,
        "--json",
    ]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0,1", *cmd]
    start = clocks()
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **ENV, "GOVKIT_HOME": str(home)})
    took = since(start)
    if r.returncode not in (0, 1):
        raise SystemExit(f"audit failed ({r.returncode}): {r.stderr.strip()}")
    return took, json.loads(r.stdout)


def check(out: dict, truth: dict) -> dict:
    a, b = out["datasets"][0]["name"], out["datasets"][1]["name"]
    want_dup = {(f"{a}[{s}]", f"{b}[{d}]") for s, d in truth["duplicates"]}
    want_near = {(f"{a}[{s}]", f"{b}[{d}]") for s, d in truth["near"]}
    got_dup = {(p["a"], p["b"]) for p in out["leakage"]["pairs"] if p["kind"] == "duplicate"}
    got_near = {(p["a"], p["b"]) for p in out["leakage"]["pairs"] if p["kind"] == "near-duplicate"}
    got_pat = {p["patient"] for p in out["leakage"]["pairs"] if p["kind"] == "patient"}
    return {
        "planted_pairs": len(want_dup) + len(want_near),
        "missed": len(want_dup - got_dup) + len(want_near - got_near),
        "false": len(got_dup - want_dup) + len(got_near - want_near),
        "patients_found": len(got_pat & truth["patients"]),
        "patients_planted": len(truth["patients"]),
        "method": out["search"]["method"],
    }


def clocks() -> tuple[float, float]:
    """(wall, CPU of this process and its finished children) in seconds."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter(), me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def since(start: tuple[float, float]) -> tuple[float, float]:
    now = clocks()
    return now[0] - start[0], now[1] - start[1]


def govkit_search(pair: dict, search: str) -> tuple[tuple[float, float], set]:
    """govkit's detection in-process, from the files: signatures of both splits, then the search."""
    from govkit.data.hashing import signatures
    from govkit.data.leakage import DEFAULT_THRESHOLD, Split, image_pairs
    from govkit.models.datasets import open_dataset

    start = clocks()
    splits = [Split(k, d, signatures(d)) for k, d in (("a", open_dataset(pair["a"])), ("b", open_dataset(pair["b"])))]
    found, _ = image_pairs(splits, DEFAULT_THRESHOLD, method=search)
    took = since(start)
    return took, {(int(p["a"][2:-1]), int(p["b"][2:-1])) for p in found[1].duplicate + found[1].near}


def pixel_brute_force(pair: dict) -> tuple[tuple[float, float], set]:
    """Every cross pair at full resolution, from the files: 1 − Pearson r of mean-image-centred pixels."""
    start = clocks()
    xa, xb = np.load(pair["a"])["x"], np.load(pair["b"])["x"]
    mu = (xa.reshape(len(xa), -1).mean(0) + xb.reshape(len(xb), -1).mean(0)) / 2

    def prep(x: np.ndarray) -> np.ndarray:
        v = x.reshape(len(x), -1).astype(np.float32) - mu
        v -= v.mean(1, keepdims=True)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    va, vb = prep(xa), prep(xb)
    found = set()
    for s in range(0, len(va), 1024):
        sim = va[s : s + 1024] @ vb.T
        i, j = np.nonzero(sim >= 1 - PIXEL_THRESHOLD)
        found |= {(int(s + a), int(b)) for a, b in zip(i, j, strict=True)}
    return since(start), found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--large", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--per-kind", type=int, default=20)
    a = ap.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"numpy {np.__version__}; load average before: {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        rows = []
        if a.small:
            d = tmp_path / "small"
            d.mkdir()
            pair = make_pair(d, a.small, a.per_kind, seed=1)
            want = pair["truth"]["duplicates"] | pair["truth"]["near"]
            t_lsh, out_lsh = audit(pair, tmp_path / "home", "lsh")
            t_ex, out_ex = audit(pair, tmp_path / "home", "exhaustive")
            s_lsh, f_lsh = govkit_search(pair, "lsh")
            s_ex, f_ex = govkit_search(pair, "exhaustive")
            t_bf, f_bf = pixel_brute_force(pair)

            def res(found: set) -> dict:
                return {"planted_pairs": len(want), "missed": len(want - found), "false": len(found - want)}

            n = f"{a.small:,} images"
            rows += [
                (f"{n}: `data audit --search lsh` (whole command)", t_lsh, check(out_lsh, pair["truth"])),
                (f"{n}: `data audit --search exhaustive` (whole command)", t_ex, check(out_ex, pair["truth"])),
                (f"{n}: govkit signatures + index search (in-process)", s_lsh, {**res(f_lsh), "method": "lsh"}),
                (
                    f"{n}: govkit signatures + exhaustive search (in-process)",
                    s_ex,
                    {**res(f_ex), "method": "exhaustive"},
                ),
                (f"{n}: brute-force pixel comparison of every cross pair (in-process)", t_bf, res(f_bf)),
            ]
            for name, s in (("index", s_lsh), ("exhaustive", s_ex)):
                print(f"brute force / govkit {name} search: wall {t_bf[0] / s[0]:.1f}×, CPU {t_bf[1] / s[1]:.1f}×")
            shutil.rmtree(d)
        if a.large:
            d = tmp_path / "large"
            d.mkdir()
            pair = make_pair(d, a.large, a.per_kind, seed=2)
            t_large, out_large = audit(pair, tmp_path / "home", "auto")
            rows.append(
                (
                    f"{a.large:,} images (2 × {a.large // 2:,}): `data audit` (whole command)",
                    t_large,
                    check(out_large, pair["truth"]),
                )
            )
        print("| run | wall s | CPU s | planted pairs | missed | false pairs | search |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
        for name, (wall, cpu), r in rows:
            print(
                f"| {name} | {wall:.1f} | {cpu:.1f} | {r['planted_pairs']} | {r['missed']} | {r['false']} | "
                f"{r.get('method', '—')} |"
            )
        print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

"""Speed and recall of ``govkit data audit``'s duplicate search (issue 20).

    .venv/bin/python benchmarks/data_audit_speed.py [--large 100000] [--small 10000] [--per-kind 20]

1. **Scale**: two splits of ``large / 2`` 64×64 images with planted leakage
   (``govkit.testing.data_corpus``: ``per-kind`` exact copies and as many of
   each near-copy alteration, 20 shared patients); the wall time of the
   command ``govkit data audit A --against B --json`` on 2 cores, and whether
   it finds exactly the planted pairs.
2. **Against brute force**, on ``small`` images (two halves): the same
   command and govkit's detection in-process (signatures + search, ``auto``
   and each search forced), against an exact brute force that is fair to
   the transform variants: every cross-split pair of images compared at
   full resolution (64×64, after a Gaussian low-pass of σ = 1 px that the
   1–2 pixel shifts need) under each of the 16 variants of the DATA image
   (8 flips/rotations in the pixel domain, each as stored and inverted),
   distance 1 − Pearson r of the images less the mean image (averaged over
   the 8 symmetries; an inverted variant is compared with the other image
   inverted), threshold :data:`PIXEL_THRESHOLD` (planted copies ≤ 0.27,
   unrelated pairs ≥ 0.33 in this corpus); and the per-variant search over
   govkit's own embedding (each variant's embedding against every other
   image, one product per variant: the search before the sign-class
   products).  Each must find exactly the planted pairs; times are measured
   in one run, as ratios, in CPU seconds (user + system, BLAS threads
   included) and wall seconds.
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

PIXEL_THRESHOLD = 0.3
BLUR = 1.0  # px, σ of the Gaussian low-pass before the pixel comparison
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


def govkit_search(pair: dict, search: str) -> tuple[tuple[float, float], set, str]:
    """govkit's detection in-process, from the files: signatures of both splits, then the search."""
    from govkit.data.hashing import signatures
    from govkit.data.leakage import DEFAULT_THRESHOLD, Split, image_pairs
    from govkit.models.datasets import open_dataset

    start = clocks()
    splits = [Split(k, d, signatures(d)) for k, d in (("a", open_dataset(pair["a"])), ("b", open_dataset(pair["b"])))]
    found, info = image_pairs(splits, DEFAULT_THRESHOLD, method=search)
    took = since(start)
    return took, {(int(p["a"][2:-1]), int(p["b"][2:-1])) for p in found[1].duplicate + found[1].near}, info["method"]


def _pixel_variant(x: np.ndarray, name: str) -> np.ndarray:
    """The dihedral part of ``VARIANTS[name]`` in the pixel domain (transpose, then flip rows, then columns)."""
    from govkit.data.hashing import VARIANTS

    transpose, flip_rows, flip_cols, _ = VARIANTS[name]
    if transpose:
        x = x.swapaxes(-1, -2)
    if flip_rows:
        x = x[..., ::-1, :]
    if flip_cols:
        x = x[..., ::-1]
    return np.ascontiguousarray(x)


def pixel_brute_force(pair: dict) -> tuple[tuple[float, float], set]:
    """Every cross pair at full resolution under the 16 variants of A's image (see the module docstring)."""
    from scipy.ndimage import gaussian_filter

    from govkit.data.hashing import VARIANTS

    start = clocks()
    xa, xb = (gaussian_filter(np.load(p)["x"][:, 0], (0, BLUR, BLUR), mode="nearest") for p in (pair["a"], pair["b"]))
    dihedral = [k for k, v in VARIANTS.items() if not v[3]]
    mu = np.concatenate([xa, xb]).mean(0)
    mu = np.mean([_pixel_variant(mu, k) for k in dihedral], axis=0)  # symmetric: every variant is centred alike

    def prep(x: np.ndarray) -> np.ndarray:
        v = (x - mu).reshape(len(x), -1).astype(np.float32)
        v -= v.mean(1, keepdims=True)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    # "g then invert" of an A image matches a B image y when g(A) matches 1 − y
    vb, vb_inv = prep(xb), prep(1 - xb)
    found = set()
    for name in dihedral:
        for s in range(0, len(xa), 1024):
            q = prep(_pixel_variant(xa[s : s + 1024], name))
            for index in (vb, vb_inv):
                i, j = np.nonzero(q @ index.T >= 1 - PIXEL_THRESHOLD)
                found |= {(int(s + a), int(b)) for a, b in zip(i, j, strict=True)}
    return since(start), found


def band_per_variant(pair: dict) -> tuple[tuple[float, float], set]:
    """govkit's signatures, then each of the 16 variants' embeddings against every B image (one product each)."""
    from govkit.data.hashing import VARIANTS, embed, facing, signatures, transform_coeffs
    from govkit.data.leakage import DEFAULT_THRESHOLD
    from govkit.models.datasets import open_dataset

    start = clocks()
    sa, sb = (signatures(open_dataset(pair[k])) for k in ("a", "b"))
    n_a = len(sa.digest)
    coeffs, flat = np.concatenate([sa.coeffs, sb.coeffs]), np.concatenate([sa.flat, sb.flat])
    sign, stats = facing(coeffs, flat)
    faced = coeffs * sign[:, None]
    emb_b = embed(faced[n_a:], flat[n_a:], stats)
    found = {(int(i), int(j)) for i, j in zip(*np.nonzero(sa.digest[:, None] == sb.digest[None, :]), strict=True)}
    for name in VARIANTS:
        q = embed(transform_coeffs(faced[:n_a], name), flat[:n_a], stats)
        for s in range(0, n_a, 1024):
            i, j = np.nonzero(q[s : s + 1024] @ emb_b.T >= 1 - DEFAULT_THRESHOLD)
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
            t_cmd, out_cmd = audit(pair, tmp_path / "home", "auto")
            runs = {search: govkit_search(pair, search) for search in ("auto", "exhaustive", "lsh")}
            t_band, f_band = band_per_variant(pair)
            t_bf, f_bf = pixel_brute_force(pair)

            def res(found: set) -> dict:
                return {"planted_pairs": len(want), "missed": len(want - found), "false": len(found - want)}

            n = f"{a.small:,} images"
            rows.append(
                (f"{n}: `data audit A --against B --json` (whole command)", t_cmd, check(out_cmd, pair["truth"]))
            )
            for search, (took, found, used) in runs.items():
                rows.append(
                    (f"{n}: govkit signatures + search `{search}` (in-process)", took, {**res(found), "method": used})
                )
            rows += [
                (f"{n}: govkit signatures + each of the 16 variants searched alone (in-process)", t_band, res(f_band)),
                (f"{n}: brute force, every cross pair at full resolution × 16 variants (in-process)", t_bf, res(f_bf)),
            ]
            for name, took in (("whole command", t_cmd), ("in-process auto", runs["auto"][0])):
                print(f"brute force / govkit {name}: wall {t_bf[0] / took[0]:.1f}×, CPU {t_bf[1] / took[1]:.1f}×")
            print(f"per-variant search / govkit in-process auto: CPU {t_band[1] / runs['auto'][0][1]:.1f}×")
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

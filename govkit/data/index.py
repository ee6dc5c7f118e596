"""Near-neighbour pairs under a cosine-distance threshold.

:func:`near_pairs` finds every pair of unit vectors with ``1 − cos ≤ T``
that involves at least one vector of the first split.  Two searches give the
same answer up to the index's stated miss rate:

* ``exhaustive``: all pairs, blocked matrix products (exact; cost ∝ pairs);
  :func:`flip_pairs` is its form for a query split against an index split
  under the flips and inversion of the DCT band (one blocked product gives
  all 8 variants, see there);
* ``lsh``: random-hyperplane locality-sensitive hashing (Charikar 2002,
  "Similarity estimation techniques from rounding algorithms"): each of ``L``
  tables keys a vector by the signs of ``bits`` random projections; two
  vectors at angle θ share a table's key with probability ``(1 − θ/π)^bits``
  (``bits`` ≈ log2 N).
  ``L`` is chosen so that a pair exactly *at* the threshold is missed with
  probability at most ``1 − recall`` (closer pairs: far less); candidates are
  then verified with the exact distance, so the index never reports a pair
  above the threshold.  Cost ∝ N·L plus the candidates.

``auto`` takes whichever costs less by those counts, with the CPU seconds
per pair and per vector-table measured on this code (:data:`PAIR_COST`,
:data:`LSH_ROW_COST`): the exhaustive search up to about 240 × the number
of tables (≈ 100,000 vectors at the default threshold), the index beyond;
across splits under the 16 variants (:func:`cross_method`) the exhaustive
search up to about 700 × the number of tables per split (≈ 300,000 images).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from govkit.errors import BadInput

METHODS = ("auto", "lsh", "exhaustive")
MAX_BITS = 16  # keys are uint16: a stable argsort is then a radix sort
RECALL = 0.999
MAX_TABLES = 512
TABLES_PER_PASS = 8
TILE = (256, 1024)  # query rows × index rows of one step of flip_pairs: its 7 buffers (7 MB) stay in cache
#: CPU seconds per unit of work, measured on the developer machine (x86_64,
#: float32, OpenBLAS; only the ratios matter, they decide ``auto``): a pair compared by the exhaustive search,
#: a pair compared under the 8 flip/invert variants and their transposes by
#: :func:`flip_pairs` (two passes), and one vector hashed into one LSH table
#: (≈ log2 N bits) with its bucket's candidates verified.
PAIR_COST = 5e-9
FLIP_PAIR_COST = 1.4e-8
LSH_ROW_COST = 6e-7
SLACK = 1e-4  # float32 rounding margin of flip_pairs' filter (its survivors are verified exactly)


@dataclass(frozen=True)
class LshPlan:
    bits: int
    tables: int
    miss_at_threshold: float


def lsh_plan(threshold: float, n: int, recall: float = RECALL) -> LshPlan:
    """Key length and tables so that a pair at ``threshold`` is found with probability ≥ ``recall``.

    Keys of about log2(n) bits keep a bucket at a few unrelated vectors on
    average: longer keys need more tables, shorter ones more verifications.
    """
    bits = int(min(MAX_BITS, max(8, math.floor(math.log2(max(n, 2))))))
    theta = math.acos(max(-1.0, min(1.0, 1.0 - threshold)))
    q = (1.0 - theta / math.pi) ** bits
    tables = math.ceil(math.log(1.0 - recall) / math.log1p(-q)) if q < 1 else 1
    return LshPlan(bits, tables, (1.0 - q) ** tables)


def near_pairs(
    emb: np.ndarray, first: np.ndarray, threshold: float, *, method: str = "auto", recall: float = RECALL, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Pairs ``(i, j, distance)`` with ``i < j``, ``1 − cos ≤ threshold`` and ``first[i] or first[j]``.

    ``emb`` holds unit vectors (rows of zeros take no part); ``first`` marks the
    rows of the split under audit.  Returns the method actually used too.
    """
    if method not in METHODS:
        raise BadInput(f"unknown search method {method!r}: use {', '.join(METHODS)}")
    if not 0 < threshold < 1:
        raise BadInput(f"the near-duplicate threshold must be between 0 and 1 (a cosine distance), got {threshold}")
    active = np.nonzero(np.linalg.norm(emb, axis=1) > 0.5)[0]
    n = len(active)
    n_first = int(first[active].sum())
    plan = lsh_plan(threshold, n, recall)
    exhaustive_cost = (n_first * (n_first - 1) / 2 + n_first * (n - n_first)) * PAIR_COST
    lsh_cost = n * plan.tables * LSH_ROW_COST
    if method == "auto":
        method = "exhaustive" if exhaustive_cost <= lsh_cost or plan.tables > MAX_TABLES else "lsh"
    if method == "lsh" and plan.tables > MAX_TABLES:
        raise BadInput(
            f"threshold {threshold} is too loose for the index ({plan.tables} tables); use a smaller threshold"
        )
    e = np.ascontiguousarray(emb[active], dtype=np.float32)
    f = first[active].astype(bool)
    if method == "exhaustive":
        i, j, dist = _exhaustive(e, f, threshold)
    else:
        i, j, dist = _lsh(e, f, threshold, plan, seed)
    return active[i], active[j], dist, method


def cross_method(m: int, n: int, threshold: float, variants: int, recall: float = RECALL) -> str:
    """The cheaper search for ``m`` queries under ``variants`` variants against ``n`` rows.

    ``exhaustive`` (:func:`flip_pairs`, two passes) costs ``m·n`` pairs;
    ``lsh`` hashes the ``n`` rows and every variant of each query in every
    table of :func:`lsh_plan` and verifies the candidates.
    """
    plan = lsh_plan(threshold, n, recall)
    if plan.tables > MAX_TABLES:
        return "exhaustive"
    exhaustive = m * n * FLIP_PAIR_COST
    lsh = (n + variants * m) * plan.tables * LSH_ROW_COST
    return "exhaustive" if exhaustive <= lsh else "lsh"


def _exhaustive(e: np.ndarray, first: np.ndarray, threshold: float) -> tuple[np.ndarray, ...]:
    """Each pair with a ``first`` row once: a block of first rows against the later first rows and the rest."""
    order = np.r_[np.nonzero(first)[0], np.nonzero(~first)[0]]  # first rows, then the others
    eo = np.ascontiguousarray(e[order])
    n_first = int(first.sum())

    def work(s: int) -> tuple[np.ndarray, ...]:
        h = min(TILE[0], n_first - s)
        sim = eo[s : s + h] @ eo[s:].T
        a, b = np.nonzero(sim >= 1.0 - threshold)
        keep = b > a  # not itself, nor a row of the block already compared with it
        a, b = a[keep], b[keep]
        i, j = order[s + a], order[s + b]
        return np.minimum(i, j), np.maximum(i, j), 1.0 - sim[a, b]

    parts = _in_threads(work, range(0, n_first, TILE[0]))
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True)) if parts else _none()


def _in_threads(work: Callable[[int], tuple[np.ndarray, ...]], starts: range) -> list[tuple[np.ndarray, ...]]:
    """``work(start)`` for each block start, on at most two threads with single-threaded BLAS."""
    workers = max(1, min(2, len(os.sched_getaffinity(0)), len(starts)))
    with single_threaded_blas(), ThreadPoolExecutor(workers) as pool:
        return [p for p in pool.map(work, starts) if len(p[0])]


def _none() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)


def bucket_pairs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of positions with equal keys (vectorised; work ∝ pairs)."""
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    starts = np.r_[0, np.nonzero(k[1:] != k[:-1])[0] + 1]
    sizes = np.diff(np.r_[starts, len(k)])
    run_end = np.repeat(starts + sizes, sizes)  # exclusive end of each position's run
    pos = np.nonzero(run_end - np.arange(len(k)) > 1)[0]
    a_parts, b_parts = [], []
    offset = 1
    while len(pos):
        a_parts.append(order[pos])
        b_parts.append(order[pos + offset])
        offset += 1
        pos = pos[run_end[pos] - pos > offset]
    if not a_parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(a_parts), np.concatenate(b_parts)


def _lsh(e: np.ndarray, first: np.ndarray, threshold: float, plan: LshPlan, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    # keys by one float product: block-diagonal powers of two (exact below 2**24)
    weights = np.kron(np.eye(TABLES_PER_PASS, dtype=np.float32), (2.0 ** np.arange(plan.bits))[:, None])
    n = len(e)
    found: list[np.ndarray] = []
    for t0 in range(0, plan.tables, TABLES_PER_PASS):
        n_t = min(TABLES_PER_PASS, plan.tables - t0)
        planes = rng.standard_normal((e.shape[1], n_t * plan.bits)).astype(np.float32)
        keys = ((e @ planes > 0).astype(np.float32) @ weights[: n_t * plan.bits, :n_t]).astype(np.uint16)
        for t in range(n_t):
            a, b = bucket_pairs(keys[:, t])
            keep = first[a] | first[b]
            a, b = a[keep], b[keep]
            sim = np.einsum("ij,ij->i", e[a], e[b])
            ok = sim >= 1.0 - threshold
            lo, hi = np.minimum(a[ok], b[ok]), np.maximum(a[ok], b[ok])
            found.append(lo.astype(np.int64) * n + hi)
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    code = np.unique(np.concatenate(found))
    i, j = code // n, code % n
    dist = 1.0 - np.einsum("ij,ij->i", e[i], e[j])
    return i, j, dist


def query_pairs(
    index: np.ndarray, queries: np.ndarray, threshold: float, *, recall: float = RECALL, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(query q, index row j, distance)`` with ``1 − cos ≤ threshold``, by the LSH index.

    The index is hashed once per table, each query is hashed with the same
    planes and verified against the rows of its bucket only (sorted keys,
    binary search), with the miss rate of :func:`lsh_plan`.
    """
    ia = np.nonzero(np.linalg.norm(index, axis=1) > 0.5)[0]
    qa = np.nonzero(np.linalg.norm(queries, axis=1) > 0.5)[0]
    e = np.ascontiguousarray(index[ia], dtype=np.float32)
    q = np.ascontiguousarray(queries[qa], dtype=np.float32)
    plan = lsh_plan(threshold, len(e), recall)
    rng = np.random.default_rng(seed)
    weights = np.kron(np.eye(TABLES_PER_PASS, dtype=np.float32), (2.0 ** np.arange(plan.bits))[:, None])
    found = []
    for t0 in range(0, plan.tables, TABLES_PER_PASS):
        n_t = min(TABLES_PER_PASS, plan.tables - t0)
        planes = rng.standard_normal((e.shape[1], n_t * plan.bits)).astype(np.float32)
        w = weights[: n_t * plan.bits, :n_t]
        ke = ((e @ planes > 0).astype(np.float32) @ w).astype(np.uint16)
        kq = ((q @ planes > 0).astype(np.float32) @ w).astype(np.uint16)
        for t in range(n_t):
            order = np.argsort(ke[:, t], kind="stable")
            sorted_keys = ke[order, t]
            lo = np.searchsorted(sorted_keys, kq[:, t], "left")
            counts = np.searchsorted(sorted_keys, kq[:, t], "right") - lo
            qi = np.repeat(np.arange(len(q)), counts)
            start = np.repeat(np.cumsum(counts) - counts, counts)
            j = order[np.repeat(lo, counts) + np.arange(len(qi)) - start]
            ok = np.einsum("ij,ij->i", q[qi], e[j]) >= 1.0 - threshold
            found.append(qi[ok].astype(np.int64) * len(e) + j[ok])
    code = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
    qi, j = code // max(len(e), 1), code % max(len(e), 1)
    dist = 1.0 - np.einsum("ij,ij->i", q[qi], e[j])
    return qa[qi], ia[j], dist


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """The BLAS library's own threads limited to one inside the block (restored after).

    :func:`flip_pairs` runs many small products in parallel Python threads
    (numpy releases the GIL); OpenBLAS's own threads on products that small
    cost several times the CPU time of one thread.  ``threadpoolctl`` finds
    whichever BLAS numpy was built with.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def flip_pairs(
    q: np.ndarray, q_inv: np.ndarray, e: np.ndarray, classes: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(query row, index row)`` that some flip of ``q`` or of ``q_inv`` brings within ``threshold``.

    ``classes`` (0–3) splits the dimensions into four sign classes: class 0
    keeps its sign under the two flips, class 1 changes sign under the first,
    class 2 under the second, class 3 under both (for the DCT band,
    :data:`govkit.data.hashing.PARITY`).  The 4 flips of a query ``x`` are
    then the sign patterns ``s = (1, a, b, a·b)``, ``a, b = ±1``, and with the
    partial products ``D_k = x_k · y_k`` over each class::

        max over the flips of cos(flip(x), y) = D_0 + max(|D_1 + D_2| + D_3, |D_1 − D_2| − D_3)

    so one product split in four class blocks gives all 4 exactly, with no
    product per variant.  ``q_inv`` (the queries inverted, embedded) must equal
    ``−r·q`` outside class 0 for some ``r ≥ 0`` per row (inversion then
    centring on a mean that is zero outside class 0); its flips cost one more
    class-0 product: ``P_inv + r·max(|D_1 + D_2| − D_3, |D_1 − D_2| + D_3)``.

    Exact up to float32 rounding: the filter keeps every pair within
    ``threshold + SLACK``, a superset the caller verifies with the exact
    distance.  Cost ∝ pairs (the flops of one product over ``d + d_0``
    dimensions), in tiles of :data:`TILE` on at most two threads.
    """
    fixed = classes == 0
    rest = ~fixed
    nq, ni = np.linalg.norm(q[:, rest], axis=1), np.linalg.norm(q_inv[:, rest], axis=1)
    r = np.where(nq > 0, ni / np.maximum(nq, 1e-30), 1.0)
    if not np.allclose(q_inv[:, rest], -r[:, None] * q[:, rest], atol=1e-5):
        raise RuntimeError("flip_pairs: the inverted queries are not −r·q outside the sign-invariant class")
    t = 1.0 - threshold - SLACK
    m, n = len(q), len(e)
    # the threshold rides in the products (a column of ones): a hit is a value ≥ 0;
    # the inverted queries are divided by r (> 0), which keeps the sign of (value − t)
    r = np.maximum(r, 1e-12)[:, None]
    e0 = np.ascontiguousarray(np.vstack([e[:, fixed].T, np.ones((1, n))]), dtype=np.float32)
    ek = [np.ascontiguousarray(e[:, classes == k].T, dtype=np.float32) for k in (1, 2, 3)]
    p = np.hstack([q[:, fixed], np.full((m, 1), -t)]).astype(np.float32)
    p_inv = (np.hstack([q_inv[:, fixed], np.full((m, 1), -t)]) / r).astype(np.float32)
    qk = [np.ascontiguousarray(q[:, classes == k], dtype=np.float32) for k in (1, 2, 3)]
    rows, cols = TILE
    buffers = threading.local()

    def work(s: int) -> tuple[np.ndarray, ...]:
        if not hasattr(buffers, "x"):
            buffers.x = np.empty((7, rows, cols), np.float32)
        h = min(rows, m - s)
        hits_a: list[np.ndarray] = []
        hits_b: list[np.ndarray] = []
        for c in range(0, n, cols):
            w = min(cols, n - c)
            d0, d0_inv, d1, d2, d3, plus, minus = buffers.x[:, :h, :w]
            np.matmul(p[s : s + h], e0[:, c : c + w], out=d0)
            np.matmul(p_inv[s : s + h], e0[:, c : c + w], out=d0_inv)
            for x, y, out in zip(qk, ek, (d1, d2, d3), strict=True):
                np.matmul(x[s : s + h], y[:, c : c + w], out=out)
            np.abs(np.add(d1, d2, out=plus), out=plus)  # |D1 + D2|
            np.abs(np.subtract(d1, d2, out=minus), out=minus)  # |D1 − D2|
            # the term added to |D1 + D2|: D0 + D3 (flips of q) or (D0_inv − D3)/r (of q_inv)
            np.maximum(np.add(d0, d3, out=d1), np.subtract(d0_inv, d3, out=d2), out=d1)
            # the term added to |D1 − D2|: D0 − D3 or (D0_inv + D3)/r
            np.maximum(np.subtract(d0, d3, out=d0), np.add(d0_inv, d3, out=d0_inv), out=d0)
            np.add(plus, d1, out=plus)
            np.add(minus, d0, out=minus)
            hit = np.maximum(plus, minus, out=plus) >= 0
            if hit.any():
                a, b = np.nonzero(hit)
                hits_a.append(s + a)
                hits_b.append(c + b)
        return (np.concatenate(hits_a), np.concatenate(hits_b)) if hits_a else _none()[:2]

    parts = _in_threads(work, range(0, m, rows))
    if not parts:
        return _none()[:2]
    return np.concatenate([a for a, _ in parts]), np.concatenate([b for _, b in parts])

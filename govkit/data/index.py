"""Near-neighbour pairs under a cosine-distance threshold.

:func:`near_pairs` finds every pair of unit vectors with ``1 − cos ≤ T``
that involves at least one vector of the first split.  Two searches give the
same answer up to the index's stated miss rate:

* ``exhaustive``: all pairs, blocked matrix products (exact; cost ∝ pairs);
* ``lsh``: random-hyperplane locality-sensitive hashing (Charikar 2002,
  "Similarity estimation techniques from rounding algorithms"): each of ``L``
  tables keys a vector by the signs of ``bits`` random projections; two
  vectors at angle θ share a table's key with probability ``(1 − θ/π)^bits``
  (``bits`` ≈ log2 N).
  ``L`` is chosen so that a pair exactly *at* the threshold is missed with
  probability at most ``1 − recall`` (closer pairs: far less); candidates are
  then verified with the exact distance, so the index never reports a pair
  above the threshold.  Cost ∝ N·L plus the candidates.

``auto`` takes whichever costs fewer operations by that count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from govkit.errors import BadInput

METHODS = ("auto", "lsh", "exhaustive")
MAX_BITS = 16  # keys are uint16: a stable argsort is then a radix sort
RECALL = 0.999
MAX_TABLES = 512
TABLES_PER_PASS = 8
BLOCK = 2048


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
    n, d = len(active), emb.shape[1]
    n_first = int(first[active].sum())
    plan = lsh_plan(threshold, n, recall)
    exhaustive_cost = n_first * n * d
    lsh_cost = n * plan.tables * plan.bits * d + n * plan.tables * 8
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


def _exhaustive(e: np.ndarray, first: np.ndarray, threshold: float) -> tuple[np.ndarray, ...]:
    rows = np.nonzero(first)[0]
    out_i, out_j, out_d = [], [], []
    for s in range(0, len(rows), BLOCK):
        r = rows[s : s + BLOCK]
        sim = e[r] @ e.T
        a, b = np.nonzero(sim >= 1.0 - threshold)
        ia, jb = r[a], b
        # each unordered pair once: drop self-pairs and the mirror of first×first pairs
        keep = (ia != jb) & (~first[jb] | (ia < jb))
        out_i.append(np.minimum(ia, jb)[keep])
        out_j.append(np.maximum(ia, jb)[keep])
        out_d.append(1.0 - sim[a, b][keep])
    return _cat(out_i, out_j, out_d)


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
    index: np.ndarray, queries: np.ndarray, threshold: float, *, method: str, recall: float = RECALL, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(query q, index row j, distance)`` with ``1 − cos ≤ threshold``.

    ``method`` is ``exhaustive`` (every query against every row) or ``lsh``:
    the index is hashed once per table, each query is hashed with the same
    planes and verified against the rows of its bucket only (sorted keys,
    binary search), with the miss rate of :func:`lsh_plan`.
    """
    ia = np.nonzero(np.linalg.norm(index, axis=1) > 0.5)[0]
    qa = np.nonzero(np.linalg.norm(queries, axis=1) > 0.5)[0]
    e = np.ascontiguousarray(index[ia], dtype=np.float32)
    q = np.ascontiguousarray(queries[qa], dtype=np.float32)
    if method == "exhaustive":
        found = []
        for s in range(0, len(q), BLOCK):
            a, b = np.nonzero(q[s : s + BLOCK] @ e.T >= 1.0 - threshold)
            found.append((s + a).astype(np.int64) * len(e) + b)
    else:
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


def _cat(*parts: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    return tuple(np.concatenate(p) if p else np.zeros(0) for p in parts)

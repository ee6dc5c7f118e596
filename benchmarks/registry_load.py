#!/usr/bin/env python3
"""Concurrent audit writers: N processes × M events each, then verify the chain.

    .venv/bin/python benchmarks/registry_load.py --db postgresql+psycopg://govkit@127.0.0.1:PORT/DB \\
        [--procs 8] [--events 1000]

Every event is its own transaction (the worst case).  Prints events/s and
whether every event is on the chain and the chain verifies.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time


def writer(url: str, worker: int, n: int) -> None:
    from govkit.registry import open_registry
    from govkit.registry.audit import append_event

    reg = open_registry(url)
    for i in range(n):
        with reg.unit_of_work() as s:
            append_event(s, "load.write", "worker", worker, {"i": i})
    reg.dispose()


def run(url: str, procs: int, events: int) -> dict:
    from govkit.registry import open_registry
    from govkit.registry.audit import list_events, verify_chain

    open_registry(url).dispose()  # migrate once, before the writers start
    ctx = mp.get_context("spawn")
    ps = [ctx.Process(target=writer, args=(url, w, events)) for w in range(procs)]
    t = time.perf_counter()
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    elapsed = time.perf_counter() - t
    reg = open_registry(url)
    with reg.unit_of_work() as s:
        report = verify_chain(s)
        got = {(e.entity_id, e.payload["i"]) for e in list_events(s, action="load.write")}
    reg.dispose()
    expected = {(str(w), i) for w in range(procs) for i in range(events)}
    return {
        "seconds": elapsed,
        "events_per_s": procs * events / elapsed,
        "chain_ok": report.ok,
        "all_events": got == expected,
        "exit_codes": [p.exitcode for p in ps],
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--events", type=int, default=1000)
    a = ap.parse_args()
    r = run(a.db, a.procs, a.events)
    print(
        f"{a.procs} writers x {a.events} events ({a.db.split(':')[0]}): {r['seconds']:.1f} s, "
        f"{r['events_per_s']:.0f} events/s, every event on the chain: {r['all_events']}, "
        f"chain verifies: {r['chain_ok']}"
    )

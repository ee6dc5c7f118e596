#!/usr/bin/env python3
"""`govkit audit verify` on a long chain.

    .venv/bin/python benchmarks/audit_verify.py [--events 100000] [--db URL]

Builds a valid chain of N events with the same hashing as
``govkit.registry.audit.append_event`` (bulk-inserted, one transaction), then
times ``govkit audit verify`` through the CLI.  Target (issue 11): 100,000
events in at most 10 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--db")
    a = ap.parse_args()
    from govkit.registry import open_registry
    from govkit.registry.audit import GENESIS_HASH, compute_hash
    from govkit.registry.tables import AuditEvent

    url = a.db or f"sqlite:///{tempfile.mkdtemp()}/registry.sqlite"
    reg = open_registry(url)
    prev, rows = GENESIS_HASH, []
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for i in range(1, a.events + 1):
        ev = AuditEvent(seq=i, occurred_at=(t0 + dt.timedelta(seconds=i)).isoformat(timespec="microseconds"),
                        actor="bench", action="bench.event", entity_type="thing", entity_id=str(i % 97),
                        payload={"i": i, "note": "benchmark event"}, prev_hash=prev)
        ev.hash = compute_hash(ev)
        prev = ev.hash
        rows.append({c: getattr(ev, c) for c in ("seq", "occurred_at", "actor", "action", "entity_type",
                                                 "entity_id", "payload", "prev_hash", "hash")})
    with reg.unit_of_work() as s:
        s.execute(AuditEvent.__table__.insert(), rows)
    reg.dispose()
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "govkit.cli.main", "--db", url, "audit", "verify"],
                         capture_output=True, text=True, env={**os.environ})
    dt_s = time.perf_counter() - t
    print(out.stdout.strip())
    print(f"audit verify, {a.events:,} events ({url.split(':')[0]}): {dt_s:.2f} s (exit {out.returncode}), "
          "CLI start-up included")


if __name__ == "__main__":
    main()

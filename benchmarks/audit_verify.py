#!/usr/bin/env python3
"""`govkit audit verify` on a long chain whose events bind registry rows.

    .venv/bin/python benchmarks/audit_verify.py [--events 100000] [--db URL]

Builds a valid chain of N events with the same hashing as
``govkit.registry.audit.append_event``, each event binding one metric row
(so verify re-hashes N rows as well as N events), bulk-inserted in one
transaction, then times ``govkit audit verify`` through the CLI.  Target
(issue 11): 100,000 events in at most 10 s.
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
    from govkit.registry import tables as m
    from govkit.registry.audit import append_event, chain_head, compute_hash, row_content_hash

    url = a.db or f"sqlite:///{tempfile.mkdtemp()}/registry.sqlite"
    reg = open_registry(url)
    with reg.unit_of_work() as s:  # a model version and an evaluation, bound by a real event
        mv = m.ModelVersion(
            model=m.Model(name="bench"),
            version="1",
            artifact_sha256="0" * 64,
            spec={},
            spec_sha256="0" * 64,
            created_by="bench",
        )
        s.add(mv)
        s.flush()
        ev = m.Evaluation(
            model_version_id=mv.id, kind="performance", config={}, device="cpu", software={}, created_by="bench"
        )
        s.add(ev)
        s.flush()
        append_event(s, "bench.setup", "evaluation", ev.id)
        eval_id, (seq0, prev) = ev.id, chain_head(s)
    events, metrics = [], []
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for i in range(1, a.events + 1):
        row = {
            "id": i,
            "evaluation_id": eval_id,
            "name": "auroc",
            "value": 0.5 + (i % 1000) / 2000,
            "ci_low": 0.4,
            "ci_high": 0.9,
            "ci_level": 0.95,
            "n": 300,
            "params": {"i": i},
            "status": "ok",
        }
        metrics.append(row)
        e = m.AuditEvent(
            seq=seq0 + i,
            occurred_at=(t0 + dt.timedelta(seconds=i)).isoformat(timespec="microseconds"),
            actor="bench",
            action="bench.event",
            entity_type="thing",
            entity_id=str(i % 97),
            payload={"i": i, "bound_rows": {"metrics": {str(i): row_content_hash(row)}}},
            prev_hash=prev,
        )
        e.hash = compute_hash(e)
        prev = e.hash
        events.append(
            {
                c: getattr(e, c)
                for c in (
                    "seq",
                    "occurred_at",
                    "actor",
                    "action",
                    "entity_type",
                    "entity_id",
                    "payload",
                    "prev_hash",
                    "hash",
                )
            }
        )
    with reg.engine.begin() as conn:  # Core inserts: no session, so no automatic binding
        conn.execute(m.Metric.__table__.insert(), metrics)
        conn.execute(m.AuditEvent.__table__.insert(), events)
    reg.dispose()
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "govkit.cli.main", "--db", url, "audit", "verify"],
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    dt_s = time.perf_counter() - t
    print(out.stdout.strip()[:300], out.stderr.strip()[:300])
    print(
        f"audit verify, {a.events:,} events binding {a.events:,} rows ({url.split(':')[0]}): {dt_s:.2f} s "
        f"(exit {out.returncode}), CLI start-up included"
    )


if __name__ == "__main__":
    main()

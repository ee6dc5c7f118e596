"""The hash-chained audit log: linking, tamper detection, concurrency."""

from __future__ import annotations

import itertools
import multiprocessing as mp

import pytest
from sqlalchemy import text

from govkit.registry import open_registry
from govkit.registry.audit import GENESIS_HASH, append_event, compute_hash, list_events, verify_chain


def _append(registry, n, prefix="e"):
    for i in range(n):
        with registry.unit_of_work() as s:
            append_event(s, f"{prefix}.created", "thing", i, {"i": i, "text": "Ünïcode ✓"})


def test_events_link_into_a_chain(registry):
    _append(registry, 5)
    with registry.unit_of_work() as s:
        events = list_events(s)
        report = verify_chain(s)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert all(compute_hash(e) == e.hash for e in events)
    assert report.ok and report.n_events == 5 and report.head_hash == events[-1].hash
    assert events[0].actor == "test-user"


def test_rolled_back_work_leaves_no_event(registry):
    def fail() -> None:
        with registry.unit_of_work() as s:
            append_event(s, "x", "thing", 1)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail()
    with registry.unit_of_work() as s:
        assert verify_chain(s).n_events == 0


def _tamper(db_url: str, sql: str) -> None:
    """Edit audit rows behind the triggers' back."""
    reg = open_registry(db_url)
    with reg.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(sql))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
            conn.execute(text(sql))
    reg.dispose()


def test_edited_row_is_detected_by_cli(db_url, cli):
    reg = open_registry(db_url)
    _append(reg, 4)
    reg.dispose()
    assert cli("--db", db_url, "audit", "verify").code == 0
    _tamper(db_url, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    res = cli("--db", db_url, "audit", "verify", "--json")
    assert res.code == 1
    body = res.json()
    assert body["ok"] is False and body["first_broken_seq"] == 3 and "edited" in body["reason"]
    human = cli("--db", db_url, "audit", "verify")
    assert human.code == 1 and "seq=3" in human.out


def test_deleted_row_is_detected(db_url, cli):
    reg = open_registry(db_url)
    _append(reg, 4)
    reg.dispose()
    _tamper(db_url, "DELETE FROM audit_events WHERE seq = 2")
    res = cli("--db", db_url, "audit", "verify", "--json")
    assert res.code == 1 and res.json()["first_broken_seq"] == 3


def test_rehashed_edit_is_detected_by_the_next_link(registry):
    """Recomputing an edited event's own hash still breaks the following link."""
    _append(registry, 3)
    with registry.unit_of_work() as s:
        ev = list_events(s)[1]
        ev.payload = {"i": 999}
        forged = compute_hash(ev)
        s.expunge(ev)
    _tamper(registry.url, f"UPDATE audit_events SET payload = '{{\"i\": 999}}', hash = '{forged}' WHERE seq = 2")
    with registry.unit_of_work() as s:
        report = verify_chain(s)
    assert not report.ok and report.first_broken_seq == 3


def test_audit_log_cli(registry, cli):
    _append(registry, 3)
    res = cli("--db", registry.url, "audit", "log", "--json", "--limit", "2")
    assert res.code == 0
    assert [e["seq"] for e in res.json()["events"]] == [2, 3]
    text_out = cli("--db", registry.url, "audit", "log").out
    assert text_out.count("thing:") == 3


def _writer(url: str, worker: int, n: int) -> None:
    reg = open_registry(url)
    for i in range(n):
        with reg.unit_of_work() as s:
            append_event(s, "load.write", "worker", worker, {"i": i})
    reg.dispose()


@pytest.mark.slow
def test_concurrent_writers_lose_no_event(registry):
    """The load test: 8 writers × 400 events on PostgreSQL, 4 × 250 on SQLite, one transaction each.

    Eight concurrent writers are what exercise the chain's locking; the
    benchmark (``benchmarks/registry_load.py``) runs 8 × 1,000.
    """
    n_proc, n_each = (8, 400) if registry.engine.dialect.name == "postgresql" else (4, 250)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(registry.url, w, n_each)) for w in range(n_proc)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(600)
    assert [p.exitcode for p in procs] == [0] * n_proc
    with registry.unit_of_work() as s:
        report = verify_chain(s)
        events = list_events(s)
    assert report.ok and report.n_events == n_proc * n_each
    per_worker = {w: sorted(e.payload["i"] for e in events if e.entity_id == str(w)) for w in range(n_proc)}
    assert per_worker == {w: list(range(n_each)) for w in range(n_proc)}

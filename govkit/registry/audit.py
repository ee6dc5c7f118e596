"""The hash-chained, append-only audit log.

Each event stores ``prev_hash`` (the previous event's ``hash``, or 64 zeros
for the first) and ``hash = SHA-256(canonical JSON of the event body)``, the
body being ``seq, occurred_at, actor, action, entity_type, entity_id,
payload, prev_hash``.  Editing, deleting or reordering any event breaks the
chain at that event, which :func:`verify_chain` reports.

Appends are serialised: on PostgreSQL by a transaction-scoped advisory lock,
on SQLite by the ``BEGIN IMMEDIATE`` write lock every govkit transaction
takes.  ``seq`` is also UNIQUE, so a lost race can never fork the chain.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from dataclasses import dataclass
from typing import Any, Iterator

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from govkit.canonical import canonical_json, sha256_hex
from govkit.registry.tables import AuditEvent

GENESIS_HASH = "0" * 64
_PG_AUDIT_LOCK = 7146032


def current_actor() -> str:
    """The person or service acting: ``GOVKIT_ACTOR``, else the OS user."""
    env = os.environ.get("GOVKIT_ACTOR")
    if env:
        return env
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def event_body(ev: AuditEvent) -> dict[str, Any]:
    return {
        "seq": ev.seq,
        "occurred_at": ev.occurred_at,
        "actor": ev.actor,
        "action": ev.action,
        "entity_type": ev.entity_type,
        "entity_id": ev.entity_id,
        "payload": ev.payload,
        "prev_hash": ev.prev_hash,
    }


def compute_hash(ev: AuditEvent) -> str:
    return sha256_hex(canonical_json(event_body(ev)))


def append_event(
    session: Session,
    action: str,
    entity_type: str,
    entity_id: str | int,
    payload: dict[str, Any] | None = None,
    actor: str | None = None,
) -> AuditEvent:
    """Append one event to the chain inside ``session``'s transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    ev = AuditEvent(
        seq=(last.seq + 1) if last else 1,
        occurred_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds"),
        actor=actor or current_actor(),
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        payload=payload or {},
        prev_hash=last.hash if last else GENESIS_HASH,
    )
    ev.hash = compute_hash(ev)
    session.add(ev)
    session.flush()
    return ev


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    n_events: int
    head_hash: str
    first_broken_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "n_events": self.n_events,
            "head_hash": self.head_hash,
            "first_broken_seq": self.first_broken_seq,
            "reason": self.reason,
        }


def _stream(session: Session) -> Iterator[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=2000)
    for ev in session.scalars(stmt):
        yield ev
        session.expunge(ev)


def verify_chain(session: Session) -> ChainReport:
    """Recompute every hash and link; report the first broken event."""
    prev = GENESIS_HASH
    n = 0
    for ev in _stream(session):
        n += 1
        if ev.seq != n:
            return ChainReport(False, n, prev, ev.seq, f"sequence gap: expected {n}, found {ev.seq}")
        if ev.prev_hash != prev:
            return ChainReport(False, n, prev, ev.seq, "prev_hash does not match the previous event")
        if compute_hash(ev) != ev.hash:
            return ChainReport(False, n, prev, ev.seq, "content does not match its hash (edited)")
        prev = ev.hash
    return ChainReport(True, n, prev)


def list_events(
    session: Session,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
    limit: int | None = None,
) -> list[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.seq)
    if entity_type:
        stmt = stmt.where(AuditEvent.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(AuditEvent.entity_id == entity_id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if limit:
        stmt = stmt.order_by(None).order_by(AuditEvent.seq.desc()).limit(limit)
        return list(reversed(session.scalars(stmt).all()))
    return list(session.scalars(stmt))

"""The hash-chained, append-only audit log, and every registry row bound into it.

Each event stores ``prev_hash`` (the previous event's ``hash``, or 64 zeros
for the first) and ``hash = SHA-256(canonical JSON of the event body)``, the
body being ``seq, occurred_at, actor, action, entity_type, entity_id,
payload, prev_hash``.  Editing, deleting or reordering any event breaks the
chain at that event, which :func:`verify_chain` reports.

**Rows are bound too.**  Every row inserted through a registry session
(:meth:`govkit.registry.db.Registry.unit_of_work`) is tracked; the next
:func:`append_event` in the same unit of work puts each tracked row's
content hash (:func:`row_hash`) into its payload under ``bound_rows``
(``{table: {primary key: hash}}``), and rows inserted after the last event
of a unit of work are bound by a ``registry.bind`` event at commit.  So
:func:`verify_chain` can re-hash every row of every table: an edited row, a
deleted row, or a row inserted behind govkit's back (database triggers
dropped) is reported by table and primary key.  Callers do nothing special:
insert rows and call ``append_event`` in one unit of work, as before.

Appends are serialised: on PostgreSQL by a transaction-scoped advisory lock,
on SQLite by the ``BEGIN IMMEDIATE`` write lock every govkit transaction
takes.  ``seq`` is also UNIQUE, so a lost race can never fork the chain.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, MetaData, Row, RowMapping, Table, inspect, select, text
from sqlalchemy.orm import Session

from govkit.canonical import canonical_json, sha256_hex
from govkit.registry.tables import AuditEvent, Base

GENESIS_HASH = "0" * 64
_PG_AUDIT_LOCK = 7146032
BOUND = "bound_rows"
_UNBOUND = "govkit_unbound_rows"
_CHAIN_TABLE = AuditEvent.__tablename__


def current_actor() -> str:
    """The person or service acting: ``GOVKIT_ACTOR``, else the OS user."""
    env = os.environ.get("GOVKIT_ACTOR")
    if env:
        return env
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def _plain(value: Any) -> Any:
    """A column value in the form it hashes in: timestamps as UTC ISO-8601."""
    if isinstance(value, dt.datetime):
        aware = value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value
        return aware.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")
    return value


def row_content_hash(values: RowMapping | Mapping[str, Any]) -> str:
    """SHA-256 of a row's canonical content: every non-NULL column, keys sorted.

    NULL columns are left out, so adding a nullable column in a later
    migration does not change the hash of older rows.
    """
    return sha256_hex(canonical_json({k: _plain(v) for k, v in values.items() if v is not None}))


def row_hash(obj: Base) -> str:
    """:func:`row_content_hash` of an ORM row, from its mapped columns."""
    table = obj.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{type(obj).__name__} is not mapped to one table")
    return row_content_hash({c.name: getattr(obj, _attr(type(obj), c.name)) for c in table.columns})


def _attr(cls: type, column: str) -> str:
    return str(inspect(cls).get_property_by_column(inspect(cls).local_table.c[column]).key)


def _row_key(obj: Base) -> tuple[str, str]:
    ident = inspect(obj).identity
    if ident is None:
        raise ValueError(f"{type(obj).__name__} row has no primary key yet (not flushed)")
    return str(obj.__tablename__), ":".join(str(v) for v in ident)


def track_new_rows(session: Session, objects: Iterable[object]) -> None:
    """Remember rows just flushed so the next event binds them (an ``after_flush`` hook)."""
    pending = session.info.setdefault(_UNBOUND, [])
    pending.extend(o for o in objects if isinstance(o, Base) and not isinstance(o, AuditEvent))


def _take_unbound(session: Session) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for obj in session.info.pop(_UNBOUND, []):
        table, key = _row_key(obj)
        out.setdefault(table, {})[key] = row_hash(obj)
    return out


def bind_pending_rows(session: Session) -> None:
    """Bind rows inserted after the unit of work's last event (a ``before_commit`` hook)."""
    session.flush()
    if session.info.get(_UNBOUND):
        append_event(session, "registry.bind", "registry", "rows")


def event_body(ev: AuditEvent | Row[Any]) -> dict[str, Any]:
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


def compute_hash(ev: AuditEvent | Row[Any]) -> str:
    return sha256_hex(canonical_json(event_body(ev)))


def append_event(
    session: Session,
    action: str,
    entity_type: str,
    entity_id: str | int,
    payload: dict[str, Any] | None = None,
    actor: str | None = None,
) -> AuditEvent:
    """Append one event to the chain inside ``session``'s transaction.

    Rows inserted in this unit of work so far are bound into the event
    (``payload["bound_rows"]``).
    """
    session.flush()
    bound = _take_unbound(session)
    if bound:
        payload = {**(payload or {}), BOUND: {**(payload or {}).get(BOUND, {}), **bound}}
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
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
    """What :func:`verify_chain` found.  ``problems`` lists rows (``table #key``)
    that no longer match the chain, then any other finding (signatures)."""

    ok: bool
    n_events: int
    head_hash: str
    first_broken_seq: int | None = None
    reason: str | None = None
    problems: tuple[str, ...] = field(default=())
    n_rows: int = 0

    @property
    def head_seq(self) -> int:
        return self.n_events

    def with_problems(self, extra: Iterable[str]) -> ChainReport:
        more = tuple(extra)
        if not more:
            return self
        return ChainReport(
            False,
            self.n_events,
            self.head_hash,
            self.first_broken_seq,
            self.reason or more[0],
            self.problems + more,
            self.n_rows,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "n_events": self.n_events,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_broken_seq": self.first_broken_seq,
            "reason": self.reason,
            "n_rows": self.n_rows,
            "problems": list(self.problems),
        }


def _stream(session: Session) -> Iterator[Row[Any]]:
    """Every event as a plain row, oldest first (no ORM objects: verify reads 100,000s)."""
    stmt = select(AuditEvent.__table__).order_by(AuditEvent.seq).execution_options(yield_per=5000)
    yield from session.execute(stmt)


def chain_head(session: Session) -> tuple[int, str]:
    """``(seq, hash)`` of the newest event (``(0, GENESIS_HASH)`` for an empty chain).

    Print it in reports or keep it elsewhere; ``audit verify --head SEQ:HASH``
    later proves that the chain still holds that event, i.e. nothing up to it
    was cut off or rewritten.
    """
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    return (int(last.seq), str(last.hash)) if last else (0, GENESIS_HASH)


def parse_head(value: str) -> tuple[int, str]:
    """``SEQ:HASH`` as printed by reports and ``audit verify``."""
    from govkit.errors import BadInput

    seq, sep, digest = value.partition(":")
    if not sep or not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise BadInput(f"--head must be SEQ:HASH (the hash is 64 lower-case hex digits), got {value!r}")
    return int(seq), digest


def verify_chain(session: Session, *, head: tuple[int, str] | None = None, rows: bool = True) -> ChainReport:
    """Recompute every hash and link, then re-hash every row of every table.

    Reports the first broken event; with ``rows``, every row that is edited,
    deleted or not bound to the chain; with ``head``, whether the anchored
    event is still in the chain with the same hash.
    """
    prev = GENESIS_HASH
    n = 0
    bound: dict[tuple[str, str], tuple[str, int]] = {}
    anchored: str | None = None
    for ev in _stream(session):
        n += 1
        if ev.seq != n:
            return ChainReport(False, n, prev, ev.seq, f"sequence gap: expected {n}, found {ev.seq}")
        if ev.prev_hash != prev:
            return ChainReport(False, n, prev, ev.seq, "prev_hash does not match the previous event")
        if compute_hash(ev) != ev.hash:
            return ChainReport(False, n, prev, ev.seq, "content does not match its hash (edited)")
        for table, hashes in (ev.payload.get(BOUND) or {}).items():
            for key, digest in hashes.items():
                bound[(table, key)] = (digest, n)
        if head is not None and n == head[0]:
            anchored = ev.hash
        prev = ev.hash
    report = ChainReport(True, n, prev)
    if head is not None:
        if head[0] > n:
            return ChainReport(
                False,
                n,
                prev,
                None,
                f"chain cut off: the anchored head seq {head[0]} is missing (the chain ends at {n})",
            )
        if head[0] > 0 and anchored != head[1]:
            return ChainReport(
                False, n, prev, head[0], f"event seq {head[0]} is not the anchored head (the chain was rewritten)"
            )
    if rows:
        problems, n_rows = _verify_rows(session, bound)
        report = ChainReport(True, n, prev, n_rows=n_rows).with_problems(problems)
    return report


def _orm_tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if t.name != _CHAIN_TABLE]


def _key(row: RowMapping | Mapping[str, Any], table: Table) -> str:
    return ":".join(str(row[c.name]) for c in table.primary_key.columns)


def _verify_rows(session: Session, bound: dict[tuple[str, str], tuple[str, int]]) -> tuple[list[str], int]:
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    n_rows = 0
    for table in _orm_tables():
        for row in session.execute(select(table)).mappings():
            n_rows += 1
            key = (table.name, _key(row, table))
            seen.add(key)
            have = bound.get(key)
            if have is None:
                problems.append(f"{table.name} #{key[1]}: not bound to the audit chain (inserted behind govkit's back)")
            elif row_content_hash(row) != have[0]:
                problems.append(
                    f"{table.name} #{key[1]}: edited (does not match the hash bound at event seq {have[1]})"
                )
    for key, (_, seq) in bound.items():
        if key not in seen:
            problems.append(f"{key[0]} #{key[1]}: deleted (bound at event seq {seq})")
    return problems, n_rows


def reflected_row_hashes(conn: Connection) -> dict[str, dict[str, str]]:
    """Hashes of every row already in the database (for the migration that starts binding).

    Columns are read with govkit's own column types, limited to those the
    database has at that revision, so the hashes equal those computed later.
    """
    present = MetaData()
    present.reflect(bind=conn)
    out: dict[str, dict[str, str]] = {}
    for table in _orm_tables():
        if table.name not in present.tables:
            continue
        cols = [c for c in table.columns if c.name in present.tables[table.name].c]
        for row in conn.execute(select(*cols)).mappings():
            out.setdefault(table.name, {})[_key(row, table)] = row_content_hash(row)
    return out


#: Every action govkit itself appends to the chain (``incident.<status>`` for each incident status).
ACTIONS = frozenset(
    {
        "approval.sign",
        "card.revise",
        "data.audit",
        "dataset.register",
        "deid.run",
        "deid.verify",
        "deid.verify.accept",
        "document.attach",
        "incident.report",
        "incident.triaged",
        "incident.closed",
        "model.promote",
        "model.promote.refused",
        "model.register",
        "policy.attach",
        "policy.check",
        "registry.bind",
        "report.export",
        "report.render",
        "risk.revise",
        "signer.add",
        "signer.revoke",
    }
)


def known_actions(session: Session) -> list[str]:
    """The actions govkit writes and any other already recorded in this chain, sorted."""
    return sorted(ACTIONS | set(session.scalars(select(AuditEvent.action).distinct())))


def list_events(
    session: Session,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
    limit: int | None = None,
) -> list[AuditEvent]:
    """Events, oldest first; an ``action`` that is not known (:func:`known_actions`) is :class:`BadInput`."""
    if action and action not in ACTIONS and action not in (known := known_actions(session)):
        from govkit.errors import BadInput

        raise BadInput(f"unknown audit action {action!r}; known: {', '.join(known)}")
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

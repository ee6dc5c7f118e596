"""``govkit audit``: read and verify the hash-chained audit log."""

from __future__ import annotations

import click

from govkit.cli.app import App, json_option, pass_app


@click.group()
def audit() -> None:
    """Inspect the append-only, hash-chained audit log."""


@audit.command()
@json_option
@pass_app
def verify(app: App) -> None:
    """Recompute the chain; exit 1 naming the first broken event."""
    from govkit.registry.audit import verify_chain

    with app.registry().unit_of_work() as session:
        report = verify_chain(session)
    if report.ok:
        human = f"audit chain OK: {report.n_events} events, head {report.head_hash[:16]}"
    else:
        human = f"audit chain BROKEN at event seq={report.first_broken_seq}: {report.reason}"
    app.emit(report.as_dict(), human)
    if not report.ok:
        app.fail_check()


@audit.command("log")
@click.option("--entity-type", help="Only events about this kind of record.")
@click.option("--entity-id", help="Only events about this record.")
@click.option("--action", help="Only events of this action.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N events.")
@json_option
@pass_app
def log(app: App, entity_type: str | None, entity_id: str | None, action: str | None, limit: int | None) -> None:
    """List audit events, oldest first."""
    from govkit.registry.audit import event_body, list_events

    with app.registry().unit_of_work() as session:
        events = [
            {**event_body(e), "hash": e.hash}
            for e in list_events(
                session, entity_type=entity_type, entity_id=entity_id, action=action, limit=limit
            )
        ]
    app.emit(
        {"events": events},
        lambda: "\n".join(
            f"{e['seq']:>6}  {e['occurred_at']}  {e['actor']:<12} {e['action']:<24} "
            f"{e['entity_type']}:{e['entity_id']}"
            for e in events
        )
        or "no events",
    )

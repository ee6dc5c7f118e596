"""``govkit audit``: read and verify the hash-chained audit log."""

from __future__ import annotations

import click

from govkit.cli.app import App, json_option, pass_app


@click.group()
def audit() -> None:
    """Inspect the append-only, hash-chained audit log."""


@audit.command()
@click.option(
    "--head",
    "head",
    metavar="SEQ:HASH",
    help="A chain head recorded earlier (printed by every report): prove it is still in the chain.",
)
@json_option
@pass_app
def verify(app: App, head: str | None) -> None:
    """Recompute the chain, re-hash every row of every table, verify every signature.

    Exit 1 naming the first broken event, or each edited, deleted or unbound
    row and each invalid signature.
    """
    from govkit.governance.signatures import verify_registry
    from govkit.registry.audit import parse_head

    anchor = parse_head(head) if head else None
    with app.registry().unit_of_work() as session:
        report = verify_registry(session, head=anchor)
    if report.ok:
        human = (
            f"audit chain OK: {report.n_events} events, {report.n_rows} rows re-hashed, signatures valid; "
            f"head {report.head_seq}:{report.head_hash}"
        )
    elif report.first_broken_seq is not None or not report.problems:
        human = f"audit chain BROKEN at event seq={report.first_broken_seq}: {report.reason}"
    else:
        human = "\n".join(
            [f"audit chain BROKEN: {len(report.problems)} problem(s)", *(f"  {p}" for p in report.problems)]
        )
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
            for e in list_events(session, entity_type=entity_type, entity_id=entity_id, action=action, limit=limit)
        ]
    app.emit(
        {"events": events},
        lambda: (
            "\n".join(
                f"{e['seq']:>6}  {e['occurred_at']}  {e['actor']:<12} {e['action']:<24} "
                f"{e['entity_type']}:{e['entity_id']}"
                for e in events
            )
            or "no events"
        ),
    )

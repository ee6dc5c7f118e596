"""``govkit incident``: field reports of wrong model outputs."""

from __future__ import annotations

import click

from govkit.cli.app import App, json_option, pass_app


@click.group()
def incident() -> None:
    """Report, triage and close field incidents."""


@incident.command()
@click.argument("ref", metavar="NAME@VERSION")
@click.option("--description", required=True)
@click.option("--case-ref", help="A reference to the case (no PHI: use a pseudonymous case number).")
@click.option(
    "--severity", type=click.Choice(["low", "medium", "high", "critical"]), default="medium", show_default=True
)
@json_option
@pass_app
def report(app: App, ref: str, description: str, case_ref: str | None, severity: str) -> None:
    """Record a wrong output seen in use."""
    from govkit.governance.incidents import report as do_report
    from govkit.registry.lookup import model_version

    with app.registry().unit_of_work() as s:
        inc = do_report(s, model_version(s, ref), description, case_ref=case_ref, severity=severity)
        out = {"id": inc.id, "model": ref, "severity": severity, "status": "open"}
    app.emit(out, f"incident {out['id']} opened for {ref} ({severity})")


@incident.command("list")
@click.argument("ref", metavar="NAME@VERSION", required=False)
@json_option
@pass_app
def list_incidents(app: App, ref: str | None) -> None:
    """Incidents, of one model version or all."""
    from govkit.governance.incidents import listing
    from govkit.registry.lookup import model_version

    with app.registry().unit_of_work() as s:
        rows = listing(s, model_version(s, ref) if ref else None)
    app.emit(
        {"incidents": rows},
        lambda: (
            "\n".join(f"{r['id']:>4} [{r['status']}] {r['severity']:<8} {r['description']}" for r in rows)
            or "no incidents"
        ),
    )


def _update(status: str):
    @click.argument("incident_id", type=int)
    @click.option("--note", help="What was found or done.")
    @json_option
    @pass_app
    def command(app: App, incident_id: int, note: str | None) -> None:
        from govkit.governance.incidents import update

        with app.registry().unit_of_work() as s:
            update(s, incident_id, status, note)
        app.emit({"id": incident_id, "status": status}, f"incident {incident_id} {status}")

    command.__doc__ = f"Mark an incident {status}."
    return command


incident.command("triage")(_update("triaged"))
incident.command("close")(_update("closed"))

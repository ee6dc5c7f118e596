"""``govkit approve``: sign a model version (21 CFR Part 11 style signature)."""

from __future__ import annotations

import click

from govkit.cli.app import App, json_option, pass_app


@click.command()
@click.argument("ref", metavar="NAME@VERSION")
@click.option("--role", required=True, help="The signer's role, e.g. clinical-lead.")
@click.option("--decision", required=True, type=click.Choice(["approve", "reject", "conditional"]))
@click.option("--meaning", required=True, help="What this signature means (e.g. 'clinical validation reviewed').")
@click.option("--signer", help="Printed name of the signer (default: GOVKIT_ACTOR or the OS user).")
@json_option
@pass_app
def approve(app: App, ref: str, role: str, decision: str, meaning: str, signer: str | None) -> None:
    """Record a signature: signer, role, decision, meaning and time."""
    from govkit.governance.lifecycle import approve as do_approve
    from govkit.registry.lookup import model_version

    with app.registry().unit_of_work() as s:
        row = do_approve(s, model_version(s, ref), role=role, decision=decision, meaning=meaning, signer=signer)
        out = {"model": ref, "id": row.id, "signer": row.signer, "role": row.role, "decision": row.decision,
               "meaning": row.meaning, "signed_at": row.signed_at.isoformat()}
    app.emit(out, f"{out['signer']} ({role}) signed {ref}: {decision} — {meaning}")

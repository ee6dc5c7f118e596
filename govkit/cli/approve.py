"""``govkit approve``: sign a decision on a model version (21 CFR Part 11 electronic signature)."""

from __future__ import annotations

from pathlib import Path

import click

from govkit.cli.app import App, json_option, pass_app


@click.command()
@click.argument("ref", metavar="NAME@VERSION")
@click.option("--role", required=True, help="The role signed in; it must be one of the signer's roster roles.")
@click.option("--decision", required=True, type=click.Choice(["approve", "reject", "conditional"]))
@click.option("--meaning", required=True, help="What this signature means (e.g. 'clinical validation reviewed').")
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The signer's private key; the passphrase is prompted (or GOVKIT_SIGNING_PASSPHRASE).",
)
@json_option
@pass_app
def approve(app: App, ref: str, role: str, decision: str, meaning: str, key_path: Path) -> None:
    """Sign a decision: the signer (from the key), role, decision, meaning and time, bound to the
    model's artifact, code, evidence and policy hashes."""
    from govkit.cli.signer import unlock
    from govkit.governance.signatures import sign_approval
    from govkit.registry.lookup import model_version

    key = unlock(key_path)
    with app.registry().unit_of_work() as s:
        row = sign_approval(s, model_version(s, ref), key, role=role, decision=decision, meaning=meaning)
        out = {
            "model": ref,
            "id": row.id,
            "signer": row.signer,
            "role": row.role,
            "decision": row.decision,
            "meaning": row.meaning,
            "signed_at": row.signed_at.isoformat(),
            "fingerprint": row.fingerprint,
        }
    app.emit(
        out,
        f"{out['signer']} ({role}) signed {ref}: {decision} — {meaning} "
        f"[key {str(out['fingerprint'])[:16]}…, {out['signed_at']}]",
    )

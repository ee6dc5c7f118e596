"""``govkit model``: registered models and their versions."""

from __future__ import annotations

from pathlib import Path

import click

from govkit.cli.app import App, json_option, pass_app


@click.group()
def model() -> None:
    """Register, inspect and promote models."""


@model.command()
@click.argument("name")
@click.option("--version", "version", required=True, help="Model version label.")
@click.option(
    "--spec",
    "spec_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The model spec (YAML).",
)
@click.option(
    "--train-data",
    multiple=True,
    metavar="NAME@VERSION",
    help="Registered dataset version the model was trained on (repeatable).",
)
@click.option("--code-version", help="Code version (e.g. a git commit) that produced the model.")
@click.option(
    "--key",
    "key_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The registrant's roster signing key (passphrase as for approve); without it the registrant is "
    "unauthenticated and no approval can satisfy a sign-off requirement for this version.",
)
@json_option
@pass_app
def register(
    app: App,
    name: str,
    version: str,
    spec_path: Path,
    train_data: tuple[str, ...],
    code_version: str | None,
    key_path: Path | None,
) -> None:
    """Register NAME@VERSION from its spec and artifact (stored with its sha256)."""
    from govkit.cli.signer import unlock
    from govkit.governance.registration import register_model

    key = unlock(key_path) if key_path is not None else None
    out = register_model(
        app.registry(), name, version, spec_path, training_data=list(train_data), code_version=code_version, key=key
    )
    registrant = out.get("registrant_fingerprint")
    app.emit(
        out,
        f"{'registered' if out['created'] else 'already registered'} {out['model']} "
        f"(artifact sha256 {out['artifact_sha256'][:16]}…"
        + (f", code sha256 {out['code_sha256'][:16]}…" if out["code_sha256"] else "")
        + (f", signed by key {registrant[:16]}…)" if registrant else ")")
        + (
            "; no --key: registrant unauthenticated, no approval can pass a sign-off"
            if out["created"] and not registrant
            else ""
        ),
    )


@model.command("list")
@json_option
@pass_app
def list_models(app: App) -> None:
    """List registered models and versions."""
    from sqlalchemy import select

    from govkit.registry.tables import Model

    with app.registry().unit_of_work() as session:
        rows = [
            {"name": m.name, "versions": [v.version for v in m.versions]}
            for m in session.scalars(select(Model).order_by(Model.name))
        ]
    app.emit(
        {"models": rows},
        lambda: "\n".join(f"{r['name']}: {', '.join(r['versions'])}" for r in rows) or "no models",
    )


@model.command()
@click.argument("ref", metavar="NAME@VERSION")
@json_option
@pass_app
def show(app: App, ref: str) -> None:
    """Show one registered model version."""
    from govkit.registry.lookup import model_version

    with app.registry().unit_of_work() as session:
        mv = model_version(session, ref)
        info = {
            "name": mv.model.name,
            "version": mv.version,
            "artifact_sha256": mv.artifact_sha256,
            "spec_sha256": mv.spec_sha256,
            "code_sha256": mv.code_sha256,
            "code_version": mv.code_version,
            "tags": mv.tags,
            "created_by": mv.created_by,
            "created_at": mv.created_at.isoformat(),
            "spec": mv.spec,
        }
    app.emit(info, lambda: "\n".join(f"{k}: {v}" for k, v in info.items() if k != "spec"))


@model.command()
@click.argument("ref", metavar="NAME@VERSION")
@click.option(
    "--to",
    "to_state",
    required=True,
    type=click.Choice(["validated", "approved", "deployed", "retired"]),
    help="Target state.",
)
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Gate on this policy; if it is not the attached one, --override is needed.",
)
@click.option(
    "--override",
    "override_key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="KEY_FILE",
    help="Sign an override with this key (a signer holding an override role).",
)
@click.option("--reason", help="Why (recorded with the transition; required with --override).")
@json_option
@pass_app
def promote(
    app: App, ref: str, to_state: str, policy_path: Path | None, override_key: Path | None, reason: str | None
) -> None:
    """Move a model version along draft → validated → approved → deployed (or to retired).

    Exit 1 when the policy or the approvals do not allow it; the refusal is audited.
    """
    from govkit.errors import BadInput
    from govkit.governance.lifecycle import promote as do_promote
    from govkit.governance.policy import load_policy
    from govkit.registry.lookup import model_version

    policy = load_policy(policy_path) if policy_path else None
    if override_key is not None and not (reason or "").strip():
        raise BadInput("--override needs --reason TEXT")
    key = None
    if override_key is not None:
        from govkit.cli.signer import unlock

        key = unlock(override_key)
    with app.registry().unit_of_work() as s:
        result = do_promote(s, model_version(s, ref), to_state, policy=policy, reason=reason, override_key=key)
    body = result.as_dict()

    def human() -> str:
        head = (
            f"{result.model}: {result.from_state} → {result.to_state} "
            f"{'done' if result.allowed else 'REFUSED'} ({result.reason})"
        )
        rows = [
            f"  {o.status.upper():<15} {o.id:<28} {o.detail}" for o in (result.report.outcomes if result.report else [])
        ]
        return "\n".join([head, *rows])

    app.emit(body, human)
    if not result.allowed:
        app.fail_check()


@model.command("history")
@click.argument("ref", metavar="NAME@VERSION")
@json_option
@pass_app
def stage_history(app: App, ref: str) -> None:
    """The full lifecycle history of a model version."""
    from govkit.governance.lifecycle import current_state, history
    from govkit.registry.lookup import model_version

    with app.registry().unit_of_work() as s:
        mv = model_version(s, ref)
        rows, state = history(s, mv), current_state(s, mv)
    app.emit(
        {"model": ref, "state": state, "history": rows},
        lambda: "\n".join(
            [f"{ref}: {state}"]
            + [f"  {r['at']}  {r['from'] or '-'} → {r['to']}  {r['actor']}: {r['reason']}" for r in rows]
        ),
    )


@model.command()
@click.argument("ref", metavar="NAME@VERSION")
@json_option
@pass_app
def coverage(app: App, ref: str) -> None:
    """Which ONC HTI-1 predictive DSI source attributes the card and evidence answer."""
    from govkit.governance.card import current_card, hti1_coverage, recorded_evidence
    from govkit.registry.lookup import model_version

    with app.registry().unit_of_work() as s:
        mv = model_version(s, ref)
        items = hti1_coverage(current_card(s, mv), recorded_evidence(s, mv))
    n = sum(i["answered"] for i in items)
    app.emit(
        {"model": ref, "hti1": items, "answered": n, "total": len(items)},
        lambda: "\n".join(
            [f"HTI-1 source attributes answered: {n}/{len(items)}"]
            + [
                f"  [{'x' if i['answered'] else ' '}] {i['group']}: {i['text']}" + (f"  ({i['by']})" if i["by"] else "")
                for i in items
            ]
        ),
    )


@model.command("revise-card")
@click.argument("ref", metavar="NAME@VERSION")
@click.option(
    "--card",
    "card_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML file holding the corrected card (the spec's 'card' mapping).",
)
@click.option("--reason", required=True, help="Why the card changes (no PHI).")
@json_option
@pass_app
def revise_card(app: App, ref: str, card_path: Path, reason: str) -> None:
    """Record a corrected model card (schema- and PHI-checked; evidence stays attached)."""
    from govkit.governance.card import revise_card as do_revise
    from govkit.registry.lookup import model_version
    from govkit.yamlio import load_file

    card = load_file(card_path, "card")
    with app.registry().unit_of_work() as s:
        row = do_revise(s, model_version(s, ref), card, reason)
        out = {"model": ref, "revision": row.revision, "fields": sorted(row.card)}
    app.emit(out, f"{ref}: card revision {out['revision']}")


@model.command("attach-document")
@click.argument("ref", metavar="NAME@VERSION")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(
        ["harmonised-standards", "declaration-of-conformity", "clinical-evaluation", "instructions-for-use"]
    ),
    help="What the document evidences.",
)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@pass_app
def attach_document(app: App, ref: str, kind: str, path: Path) -> None:
    """Record a document (name and SHA-256) as evidence, e.g. the EU declaration of conformity."""
    from govkit.governance.card import attach_document as do_attach
    from govkit.registry.lookup import model_version

    with app.registry().unit_of_work() as s:
        row = do_attach(s, model_version(s, ref), kind, path)
        out = {"model": ref, "kind": row.kind, "name": row.name, "sha256": row.sha256}
    app.emit(out, f"{ref}: {kind} document {row.name} (sha256 {row.sha256[:16]}…)")


@model.command("card-template")
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the template to this .yaml file instead of printing it.",
)
@click.option("--force", is_flag=True, help="Replace the -o file if it exists.")
@json_option
@pass_app
def card_template(app: App, out: Path | None, force: bool) -> None:
    """Print a commented model card: every field, what to write, and the HTI-1 and CHAI items it answers."""
    from govkit.atomicio import write_atomic
    from govkit.errors import BadInput
    from govkit.models.card import CARD_SCHEMA
    from govkit.reports.card_template import card_template as template

    text = template()
    if out is None:
        app.emit({"template": text, "fields": list(CARD_SCHEMA)}, text.rstrip("\n"))
        return
    if out.suffix.lower() not in (".yaml", ".yml"):
        raise click.BadParameter(f"{out.name} must end in .yaml or .yml", param_hint="'-o' / '--output'")
    if out.exists() and not force:
        raise BadInput(f"{out} exists; pass --force to replace it")
    if not out.parent.is_dir():
        raise BadInput(f"folder {out.parent} does not exist")
    write_atomic(out, text.encode())
    app.emit({"path": str(out), "fields": list(CARD_SCHEMA)}, f"wrote {out} ({len(CARD_SCHEMA)} card fields)")

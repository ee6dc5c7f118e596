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
@click.option("--spec", "spec_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The model spec (YAML).")
@click.option("--train-data", multiple=True, metavar="NAME@VERSION",
              help="Registered dataset version the model was trained on (repeatable).")
@click.option("--code-version", help="Code version (e.g. a git commit) that produced the model.")
@json_option
@pass_app
def register(app: App, name: str, version: str, spec_path: Path, train_data: tuple[str, ...],
             code_version: str | None) -> None:
    """Register NAME@VERSION from its spec and artifact (stored with its sha256)."""
    from govkit.registry.catalog import register_model

    out = register_model(app.registry(), name, version, spec_path, training_data=list(train_data),
                         code_version=code_version)
    app.emit(out, f"{'registered' if out['created'] else 'already registered'} {out['model']} "
                  f"(artifact sha256 {out['artifact_sha256'][:16]}…)")


@model.command("list")
@json_option
@pass_app
def list_models(app: App) -> None:
    """List registered models and versions."""
    from sqlalchemy import select

    from govkit.registry.models import Model

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
            "code_version": mv.code_version,
            "tags": mv.tags,
            "created_by": mv.created_by,
            "created_at": mv.created_at.isoformat(),
            "spec": mv.spec,
        }
    app.emit(info, lambda: "\n".join(f"{k}: {v}" for k, v in info.items() if k != "spec"))

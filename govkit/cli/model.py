"""``govkit model``: registered models and their versions."""

from __future__ import annotations

import click

from govkit.cli.app import App, json_option, pass_app


@click.group()
def model() -> None:
    """Register, inspect and promote models."""


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

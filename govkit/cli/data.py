"""``govkit data``: register datasets."""

from __future__ import annotations

from pathlib import Path

import click

from govkit.cli.app import App, json_option, pass_app


@click.group()
def data() -> None:
    """Register datasets (NPZ or CSV manifests) with their content hash and lineage."""


@data.command()
@click.argument("name")
@click.option("--version", "version", required=True, help="Dataset version label.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--deid-run", help="The de-identification run the data came from (found automatically "
                                 "when PATH lies in a govkit de-identified folder).")
@json_option
@pass_app
def register(app: App, name: str, version: str, path: Path, deid_run: str | None) -> None:
    """Register the dataset at PATH as NAME@VERSION."""
    from govkit.registry.catalog import register_dataset

    out = register_dataset(app.registry(), name, version, path, deid_run_id=deid_run)
    app.emit(out, f"{'registered' if out['created'] else 'already registered'} {out['dataset']} "
                  f"(sha256 {out['content_sha256'][:16]}…)")

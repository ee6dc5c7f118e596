"""``govkit report``: PDF model cards, audit reports, de-identification reports, exports."""

from __future__ import annotations

from pathlib import Path

import click

from govkit.cli.app import App, json_option, pass_app

OutPath = click.Path(dir_okay=False, path_type=Path)


@click.group()
def report() -> None:
    """Render PDF/A-3b reports with the evidence attached."""


def _emit(app: App, out: dict) -> None:
    app.emit(out, f"wrote {out['path']} (sha256 {out.get('pdf_sha256', out.get('sha256'))[:16]}…, "
                  f"document {out['document_id'][:16]}…)")


@report.command("model-card")
@click.argument("ref", metavar="NAME@VERSION")
@click.option("-o", "--output", "out", required=True, type=OutPath)
@json_option
@pass_app
def model_card(app: App, ref: str, out: Path) -> None:
    """Model card (Mitchell et al. 2019 sections, HTI-1 coverage)."""
    from govkit.reports.api import model_card as render

    _emit(app, render(app.registry(), ref, out))


@report.command()
@click.argument("ref", metavar="NAME@VERSION")
@click.option("-o", "--output", "out", required=True, type=OutPath)
@json_option
@pass_app
def audit(app: App, ref: str, out: Path) -> None:
    """Audit report: everything on record for a model version."""
    from govkit.reports.api import audit_report

    _emit(app, audit_report(app.registry(), ref, out))


@report.command()
@click.argument("run_id", metavar="RUN_ID")
@click.option("-o", "--output", "out", required=True, type=OutPath)
@json_option
@pass_app
def deid(app: App, run_id: str, out: Path) -> None:
    """De-identification report for data stewards (Safe Harbor checklist)."""
    from govkit.reports.api import deid_report

    _emit(app, deid_report(app.registry(), run_id, out))


@report.command()
@click.argument("ref", metavar="NAME@VERSION")
@click.option("--format", "fmt", type=click.Choice(["json", "mct-json"]), default="json", show_default=True)
@click.option("-o", "--output", "out", required=True, type=OutPath)
@json_option
@pass_app
def export(app: App, ref: str, fmt: str, out: Path) -> None:
    """Export the evidence (govkit JSON or Model Card Toolkit JSON)."""
    from govkit.reports.api import export as do_export

    _emit(app, do_export(app.registry(), ref, fmt, out))

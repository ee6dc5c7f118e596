"""``govkit report``: PDF model cards, audit reports, de-identification reports, exports, CHAI card checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from govkit.cli.app import App, json_option, pass_app

OutPath = click.Path(dir_okay=False, path_type=Path)
EXTENSIONS = {"json": ".json", "mct-json": ".json", "chai-xml": ".xml", "pdf": ".pdf"}


def _output(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``-o/--output``, refused (exit 2) when its extension does not match what is written."""
    want = EXTENSIONS[kind]

    def check(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
        fmt = ctx.params.get("fmt", kind)
        expected = EXTENSIONS.get(fmt, want)
        if value.suffix.lower() != expected:
            raise click.BadParameter(
                f"{value.name} must end in {expected} (the file written is {'a PDF' if expected == '.pdf' else fmt})",
                ctx=ctx,
                param=param,
            )
        return value

    return click.option(
        "-o", "--output", "out", required=True, type=OutPath, callback=check, help=f"The file to write ({want})."
    )


@click.group()
def report() -> None:
    """Render PDF/A-3b reports with the evidence attached; export and verify model cards."""


def _emit(app: App, out: dict) -> None:
    line = (
        f"wrote {out['path']} (sha256 {(out.get('pdf_sha256') or out['sha256'])[:16]}…, "
        f"document {out['document_id'][:16]}…)"
    )
    if out.get("signer"):
        line += f"\nsigned by {out['signer']} (key {out['fingerprint'][:16]}…)"
    if out.get("missing"):
        line += (
            f"\n{len(out['missing'])} required CHAI element(s) have no source in the record and are empty: "
            + ", ".join(f"{m['element']} ({m['source']})" for m in out["missing"])
        )
    app.emit(out, line)


@report.command("model-card")
@click.argument("ref", metavar="NAME@VERSION")
@_output("pdf")
@json_option
@pass_app
def model_card(app: App, ref: str, out: Path) -> None:
    """Model card: summary on page 1, then the Mitchell et al. (2019) sections and HTI-1 coverage."""
    from govkit.reports.api import model_card as render

    _emit(app, render(app.registry(), ref, out))


@report.command()
@click.argument("ref", metavar="NAME@VERSION")
@_output("pdf")
@json_option
@pass_app
def audit(app: App, ref: str, out: Path) -> None:
    """Audit report: verdict, incidents, risks, signatures on page 1; then everything on record."""
    from govkit.reports.api import audit_report

    _emit(app, audit_report(app.registry(), ref, out))


@report.command()
@click.argument("run_id", metavar="RUN_ID")
@_output("pdf")
@json_option
@pass_app
def deid(app: App, run_id: str, out: Path) -> None:
    """De-identification report: release verdict, failures, HIPAA pathway (Safe Harbor, Limited Data Set,
    Expert Determination)."""
    from govkit.reports.api import deid_report

    _emit(app, deid_report(app.registry(), run_id, out))


@report.command()
@click.argument("ref", metavar="NAME@VERSION")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "mct-json", "chai-xml"]),
    default="json",
    show_default=True,
    is_eager=True,
    help="json: govkit evidence; mct-json: Model Card Toolkit; chai-xml: CHAI Applied Model Card v0.2.",
)
@_output("json")
@click.option("--sign", is_flag=True, help="Sign the CHAI card (XML digital signature) with --key.")
@click.option(
    "--key",
    "key_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A roster signer's private key; the passphrase is prompted (or GOVKIT_SIGNING_PASSPHRASE).",
)
@json_option
@pass_app
def export(app: App, ref: str, fmt: str, out: Path, sign: bool, key_path: Path | None) -> None:
    """Export the evidence (govkit JSON, Model Card Toolkit JSON) or a CHAI Applied Model Card (XML,
    validated offline against the CHAI XSD)."""
    from govkit.reports.api import export as do_export

    if sign != (key_path is not None):
        raise click.UsageError("--sign and --key go together")
    secret = None
    if sign:
        from govkit.cli.signer import passphrase

        secret = passphrase()
    _emit(app, do_export(app.registry(), ref, fmt, out, sign_key=key_path, passphrase=secret))


@report.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@pass_app
def verify(app: App, path: Path) -> None:
    """Check a signed CHAI card: schema, digest and signature under the roster key (exit 1 when not valid)."""
    from govkit.reports.api import verify_card

    out = verify_card(app.registry(), path)
    app.emit(
        out,
        (
            f"{path}: {out['reason']}"
            + (f" (signer {out['signer']}, key {out['fingerprint'][:16]}…)" if out["signer"] else "")
        ),
    )
    if not out["ok"]:
        app.fail_check()

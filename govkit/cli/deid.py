"""``govkit deid``: de-identify DICOM, verify the output, scan for PHI."""

from __future__ import annotations

from pathlib import Path

import click

from govkit.cli.app import App, json_option, pass_app

PathArg = click.Path(path_type=Path)
OCR_ENGINES = click.Choice(["rapidocr", "tesseract"])  # govkit.deid.pixels.ocr.ENGINES, without importing it


@click.group()
def deid() -> None:
    """De-identify DICOM per PS3.15 Annex E, verify it, scan for PHI."""


@deid.command("run")
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@click.argument("dst", type=PathArg)
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="NAME",
    help="Annex E option, repeatable (e.g. retain-longitudinal-modified-dates).",
)
@click.option(
    "--recipe",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="pydicom/deid recipe applied after the profile.",
)
@click.option(
    "--key",
    "key_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Pseudonymisation key file (default: $GOVKIT_HOME/deid.key, created on first use).",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes (--executor local)."
)
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="Run here, or on an existing Dask distributed cluster (needs --scheduler).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (SRC and DST on a shared file system).",
)
@click.option("--report", type=PathArg, help="Write the run report (JSON, with per-file reasons) here, outside DST.")
@click.option(
    "--crosswalk", type=PathArg, help="Write the original-to-pseudonym map (CSV, mode 0600) here, outside DST."
)
@click.option(
    "--pixel-policy",
    type=click.Choice(["phi", "all-text"]),
    default="phi",
    show_default=True,
    help="With clean-pixel-data: redact PHI text only, or every text but orientation/scale marks.",
)
@click.option(
    "--ocr-engine",
    type=OCR_ENGINES,
    default="rapidocr",
    show_default=True,
    help="OCR for burned-in text (see benchmarks/RESULTS.md for recall and speed).",
)
@click.option(
    "--max-file-size",
    default="4GiB",
    show_default=True,
    metavar="SIZE",
    help="Refuse larger files without reading them (e.g. 500MiB, 8GiB).",
)
@json_option
@pass_app
def run_cmd(
    app: App,
    src: Path,
    dst: Path,
    options: tuple[str, ...],
    recipe: Path | None,
    key_path: Path | None,
    workers: int,
    executor: str,
    scheduler: str | None,
    report: Path | None,
    crosswalk: Path | None,
    pixel_policy: str,
    ocr_engine: str,
    max_file_size: str,
) -> None:
    """De-identify every DICOM file under SRC into DST.

    Exit 0 when every DICOM instance was written (files that are not DICOM,
    and DICOMDIRs, are skipped with a note); 1 if a file was refused (each
    with a reason from the documented list); 2 for bad arguments, before any
    work; 4 if workers or the cluster failed (rerun the same command to resume).
    """
    from govkit.deid.batch.coordinator import record_run, run
    from govkit.deid.files import parse_size, printable

    summary = run(
        src,
        dst,
        options=options,
        key_path=key_path,
        workers=workers,
        executor=executor,
        scheduler=scheduler,
        report=report,
        crosswalk=crosswalk,
        recipe=recipe,
        pixel_policy=pixel_policy,
        ocr_engine=ocr_engine,
        progress=lambda it, n: app.progress(it, n, "de-identifying"),
        max_file_bytes=parse_size(max_file_size),
    )
    record_run(app.registry(), summary)

    def human() -> str:
        lines = [
            f"run {summary.run_id}: {summary.n_ok} written, {summary.n_resumed} already done, "
            f"{summary.n_failed} failed, {summary.n_skipped} skipped (not DICOM, or a DICOMDIR), "
            f"{summary.n_duplicates} duplicate SOP Instance UIDs",
            f"actions: {', '.join(f'{k}={v}' for k, v in summary.counts.items()) or 'none'}",
        ]
        lines += [f"FAILED {printable(f.source)}: {f.reason}" for f in summary.files if f.status == "failed"]
        return "\n".join(lines)

    app.emit(
        summary.as_dict(with_files=False)
        | {
            "failures": [
                {"source": f.source, "reason": f.reason, "code": f.code} for f in summary.files if f.status == "failed"
            ],
        },
        human,
    )
    if not summary.ok:
        app.fail_check()


@deid.command()
@click.argument("dst", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--source",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The original files the output was made from.",
)
@click.option(
    "--key",
    "key_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Pseudonymisation key used for the run.",
)
@click.option(
    "--pixels/--no-pixels",
    default=True,
    show_default=True,
    help="Also OCR the output pixels for burned-in header values.",
)
@click.option(
    "--ocr-engine",
    type=OCR_ENGINES,
    default="rapidocr",
    show_default=True,
    help="OCR for the pixel check; a different engine from the run's gives an independent reading.",
)
@click.option(
    "--accept",
    "accept_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML list of findings accepted as false positives: {finding: ID, reason: ..., signer: ...}.",
)
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="NAME",
    help="Annex E option the run used, repeatable: only for outputs of no run recorded in this registry "
    "(default: none, the strictest check).",
)
@json_option
@pass_app
def verify(
    app: App,
    dst: Path,
    source: Path,
    key_path: Path | None,
    pixels: bool,
    ocr_engine: str,
    accept_path: Path | None,
    options: tuple[str, ...],
) -> None:
    """Check DST for residual PHI; exit 1 with a list of findings.

    Each output is checked under the options of the run that wrote it, as the
    registry records them (never as the output declares them).  A finding is
    accepted as a false positive only through --accept, with a reason and a
    signer; each acceptance is recorded in the audit chain."""
    from govkit.deid.header.profile import validate_options
    from govkit.deid.verify import load_acceptances
    from govkit.deid.verify import verify as do_verify

    accept = load_acceptances(accept_path) if accept_path is not None else []
    stated = validate_options(options) if options else None
    recorded, changed = _recorded_options(app, dst)
    report = do_verify(
        dst,
        source,
        key_path,
        pixel_check=pixels,
        ocr_engine=ocr_engine,
        accept=accept,
        run_options=recorded,
        options=stated,
        progress=app.progress,
    )
    report.warnings += [
        f"the manifest of run {r} is not the one the run recorded (changed since): its record is not used"
        for r in changed
    ]
    _record_verification(app, dst, report)

    def human() -> str:
        head = (
            f"{report.n_outputs} outputs checked ({report.n_paired} paired with a source): "
            f"{'no residual PHI found' if report.ok else f'{len(report.findings)} finding(s)'}"
        )
        body = [f"[{f.check}] {f.id} {f.output}: {f.detail}" for f in report.findings]
        body += [f"accepted {a['id']} ({a['where']}): {a['reason']} (signed {a['signer']})" for a in report.accepted]
        body += [f"warning: {w}" for w in report.warnings]
        return "\n".join([head, *body])

    app.emit(report.as_dict(), human)
    if not report.ok:
        app.fail_check()


def _recorded_options(app: App, dst: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Run id -> options, from the registry's record of each run whose manifest is in DST and is
    still the one the run recorded (its SHA-256); and the ids of the runs whose manifest changed."""
    import hashlib

    from govkit.deid.files import MANIFEST_DIR, read_source
    from govkit.deid.refusals import Refusal
    from govkit.registry.tables import DeidRun

    options, changed = {}, []
    with app.registry().unit_of_work() as s:
        for manifest in sorted((dst / MANIFEST_DIR).glob("manifest-*.jsonl")):
            run_id = manifest.stem.removeprefix("manifest-")
            row = s.get(DeidRun, run_id)
            if row is None:
                continue
            try:
                digest: str | None = hashlib.sha256(read_source(manifest)).hexdigest()
            except Refusal:
                digest = None
            if digest == row.manifest_sha256:
                options[run_id] = list(row.options)
            else:
                changed.append(run_id)
    return options, changed


def _record_verification(app: App, dst: Path, report) -> None:
    """Append the verdict to the audit chain of every run whose manifest is in DST."""
    from govkit.deid.files import MANIFEST_DIR
    from govkit.registry.audit import append_event
    from govkit.registry.tables import DeidRun

    run_ids = sorted(p.stem.removeprefix("manifest-") for p in (dst / MANIFEST_DIR).glob("manifest-*.jsonl"))
    with app.registry().unit_of_work() as s:
        known = [r for r in run_ids if s.get(DeidRun, r) is not None]
        # acceptances are recorded even when no run of DST is registered here: they must never go unrecorded
        for run_id in known or (["unregistered"] if report.accepted else []):
            for a in report.accepted:
                append_event(s, "deid.verify.accept", "deid_run", run_id, dict(a))
            append_event(
                s,
                "deid.verify",
                "deid_run",
                run_id,
                {
                    "ok": report.ok,
                    "n_findings": len(report.findings),
                    "n_accepted": report.n_accepted,
                    "accepted": [a["id"] for a in report.accepted],
                    "n_outputs": report.n_outputs,
                    "n_paired": report.n_paired,
                    "by_check": {
                        c: sum(f.check == c for f in report.findings)
                        for c in ("profile", "bytes", "text", "pixels", "unreadable")
                    },
                },
            )


@deid.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--pixels/--no-pixels",
    default=True,
    show_default=True,
    help="Also OCR the pixels and list every text box, with whether it is PHI.",
)
@click.option("--ocr-engine", type=OCR_ENGINES, default="rapidocr", show_default=True)
@json_option
@pass_app
def scan(app: App, path: Path, pixels: bool, ocr_engine: str) -> None:
    """List the PHI found in DICOM files, without writing anything."""
    from govkit.deid.files import printable
    from govkit.deid.scan import as_dicts
    from govkit.deid.scan import scan as do_scan

    items = do_scan(path, ocr_engine=ocr_engine if pixels else None, progress=app.progress)

    def human() -> str:
        out = []
        for it in items:
            n_phi = sum(b["phi"] for b in it.text_boxes)
            if it.reason:
                out.append(f"{printable(it.path)}: {it.status}: {it.reason}")
                continue
            out.append(
                f"{printable(it.path)}: {it.status}, {len(it.findings)} PHI finding(s), {it.n_private} "
                f"private, {len(it.text_boxes)} text box(es) in the pixels, {n_phi} PHI"
            )
            out += [
                f"  {f['attribute']} {f['tag']} [{f['kind']}] action {f['action']}: {f['value']}" for f in it.findings
            ]
            out += [
                f"  pixels frame {b['frame']} at ({b['x']}, {b['y']}, {b['w']}x{b['h']}): {printable(b['text'])} "
                f"{'PHI' if b['phi'] else 'annotation outside the image regions' if b['redact'] else 'not PHI'}"
                for b in it.text_boxes
            ]
            out += [f"  pixels: {it.pixel_error}"] if it.pixel_error else []
        return "\n".join(out) or "no files"

    app.emit({"files": as_dicts(items)}, human)


@deid.group(invoke_without_command=True)
@json_option
@pass_app
@click.pass_context
def runs(ctx: click.Context, app: App) -> None:
    """List recorded runs: id, times (UTC), manifest hash (no DST path is recorded), counts, verify status."""
    if ctx.invoked_subcommand is not None:
        return
    from govkit.registry.catalog import deid_runs

    with app.registry().unit_of_work() as s:
        rows = deid_runs(s)
    app.emit(
        {"runs": rows},
        lambda: (
            "\n".join(
                f"{r['id']}  {r['started_at']}  manifest {(r['manifest_sha256'] or 'none')[:12]}  "
                f"{r['n_files']} files: {r['n_ok']} ok, {r['n_failed']} failed, {r['n_skipped']} skipped  "
                f"verify {r['verify']}"
                for r in rows
            )
            or "no de-identification runs"
        ),
    )


@runs.command("show")
@click.argument("run_id")
@json_option
@pass_app
def runs_show(app: App, run_id: str) -> None:
    """One run (its id or an unambiguous prefix): the record, counts, failed files by keyed token."""
    import json

    from govkit.registry.catalog import deid_runs

    with app.registry().unit_of_work() as s:
        (row,) = deid_runs(s, run_id)
    app.emit(row, lambda: json.dumps(row, indent=2, sort_keys=True, default=str))

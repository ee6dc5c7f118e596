"""``govkit data``: register datasets with their datasheet, and audit them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from govkit.cli.app import App, json_option, pass_app


@click.group()
def data() -> None:
    """Register datasets (NPZ or CSV manifests) and audit them for leakage and balance."""


@data.command()
@click.argument("name")
@click.option("--version", "version", required=True, help="Dataset version label.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--deid-run",
    help="The de-identification run the data came from (found automatically "
    "when PATH lies in a govkit de-identified folder).",
)
@click.option(
    "--datasheet",
    "datasheet_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Datasheet YAML (schema: policies/datasheet-schema.yaml).",
)
@click.option("--source", help="Where the data comes from.")
@click.option("--site", help="The acquiring site(s).")
@click.option(
    "--external/--internal",
    "external",
    default=None,
    help="From another site or source than the training data (or not).",
)
@click.option("--consent", help="Consent under which the data was collected.")
@click.option("--legal-basis", help="Legal basis for processing.")
@json_option
@pass_app
def register(
    app: App,
    name: str,
    version: str,
    path: Path,
    deid_run: str | None,
    datasheet_path: Path | None,
    source: str | None,
    site: str | None,
    external: bool | None,
    consent: str | None,
    legal_basis: str | None,
) -> None:
    """Register the dataset at PATH as NAME@VERSION, with its datasheet and provenance."""
    from govkit.data.datasheet import build_datasheet
    from govkit.registry.catalog import register_dataset

    sheet = build_datasheet(
        datasheet_path,
        {"source": source, "site": site, "external": external, "consent": consent, "legal_basis": legal_basis},
    )
    out = register_dataset(app.registry(), name, version, path, deid_run_id=deid_run, datasheet=sheet)
    out["datasheet"] = sheet is not None
    app.emit(
        out,
        f"{'registered' if out['created'] else 'already registered'} {out['dataset']} "
        f"(sha256 {out['content_sha256'][:16]}…)"
        + ("" if out["created"] or sheet is None else "; the datasheet of the first registration stays"),
    )


@data.command()
@click.argument("data_ref", metavar="DATA")
@click.option(
    "--against",
    "against",
    multiple=True,
    metavar="OTHER",
    help="Another split (NAME@VERSION or path) to check for leakage; repeatable.",
)
@click.option(
    "--near-duplicate-threshold",
    "threshold",
    type=float,
    default=None,
    help="Cosine distance (0–1) under which two images are near-duplicates [default: 0.15].",
)
@click.option("--model", help="NAME@VERSION (or spec) whose predictions flag label-issue candidates.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N] (with --model).")
@click.option(
    "--search",
    "method",
    type=click.Choice(["auto", "lsh", "exhaustive"]),
    default="auto",
    show_default=True,
    help="Near-duplicate search: the index, all pairs, or whichever is cheaper.",
)
@json_option
@pass_app
def audit(
    app: App,
    data_ref: str,
    against: tuple[str, ...],
    threshold: float | None,
    model: str | None,
    device: str,
    method: str,
) -> None:
    """Leakage (patients, duplicates, near-duplicates), balance and label sanity of DATA.

    Exit 1 when leakage is found between DATA and an OTHER.
    """
    from govkit.data.audit import run_audit
    from govkit.data.leakage import DEFAULT_THRESHOLD

    out = run_audit(
        app.registry(),
        data_ref,
        list(against),
        threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
        model=model,
        method=method,
        device=device,
    )
    app.emit(out, lambda: _human(out))
    if out["leakage"]["found"]:
        app.fail_check()


def _human(out: dict[str, Any]) -> str:
    leak = out["leakage"]
    lines = []
    for d in out["datasets"]:
        pats = "no patient IDs" if d["n_patients"] is None else f"{d['n_patients']} patients"
        classes = ", ".join(f"{k}: {v}" for k, v in d["classes"].items())
        shown = d["name"] if d["source"] == d["name"] else f"{d['source']} ({d['name']})"
        lines.append(
            f"{shown}: {d['n']} images, {pats}; classes {classes}"
            + (f" (imbalance {d['imbalance_ratio']:.2f})" if d["imbalance_ratio"] else "")
        )
    for a in out["against"]:
        po = "unknown" if a["patient_overlap"] is None else a["patient_overlap"]
        lines.append(
            f"vs {a['against']}: {po} shared patient(s), {a['duplicates']} exact and "
            f"{a['near_duplicates']} near-duplicate pair(s)"
        )
    for p in leak["pairs"][:20]:
        dist = "" if p["distance"] is None else f" (distance {p['distance']:.3f})"
        lines.append(
            f"  {p['kind']}: {p['a']} ~ {p['b']}{dist}" + (f" patient {p['patient']}" if "patient" in p else "")
        )
    if len(leak["pairs"]) > 20:
        lines.append(f"  … {len(leak['pairs']) - 20} more (--json lists them all)")
    if "label_issues" in out:
        li = out["label_issues"]
        lines.append(
            f"label issues: {li['n_candidates']} of {li['n']} images confidently contradicted by {li['model']}"
        )
        lines += [
            f"  [{c['index']}] given {c['given']}, model says {c['suggested']} (p={c['p_suggested']:.2f})"
            for c in li["candidates"][:10]
        ]
    lines += [f"warning: {w}" for w in out["warnings"]]
    if out["against"]:
        scope = out["search"]["scope"]
        lines.append(
            f"near-duplicate search (calibrated at threshold {scope['at_threshold']}) finds {scope['finds']}; "
            f"it may miss {scope['may_miss']}"
        )
    lines.append(
        "LEAKAGE FOUND"
        if leak["found"]
        else "no leakage found (near copies: within the scope above)"
        if out["against"]
        else "no other split given: leakage not checked"
    )
    if out["audit_id"] is not None:
        lines.append(f"recorded as data audit {out['audit_id']}")
    return "\n".join(lines)

"""``govkit explain run``: attributions with quantitative checks and pass/fail verdicts."""

from __future__ import annotations

from pathlib import Path

import click

from govkit.cli.app import App, NamesOption, json_option, pass_app


def _method_names() -> list[str]:
    from govkit.explain.methods import ATTRIBUTION_METHODS

    return list(ATTRIBUTION_METHODS)


def _check_names() -> list[str]:
    from govkit.explain.checks import EXPLANATION_CHECKS

    return list(EXPLANATION_CHECKS)


def _names(_ctx, _param, value: str | None):
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None


@click.group()
def explain() -> None:
    """Explainability: attributions and checks of them."""


@explain.command()
@click.argument("model", metavar="MODEL")
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--methods",
    callback=_names,
    metavar="LIST",
    help="Comma-separated attribution methods (default: integrated-gradients, saliency, grad-cam).",
    cls=NamesOption,
    names=_method_names,
    validate=True,
)
@click.option(
    "--checks",
    "--tests",
    "checks",
    callback=_names,
    metavar="LIST",
    help="Comma-separated explanation checks (default: all).",
    cls=NamesOption,
    names=_check_names,
    validate=True,
)
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Images to explain (faithfulness needs at least 50).",
)
@click.option(
    "--thresholds",
    "thresholds_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Check thresholds (default: policies/explain/default.yaml).",
)
@click.option("--device", default="auto", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Write overlay PNGs here.")
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
@pass_app
def run(
    app: App,
    model: str,
    data_path: Path,
    methods,
    checks,
    samples: int,
    thresholds_path: Path | None,
    device: str,
    out_dir: Path | None,
    seed: int,
) -> None:
    """Explain a model and check the explanations (randomisation, faithfulness, localisation, stability)."""
    from govkit.explain.api import run_explainability

    out = run_explainability(
        app.registry(),
        model,
        data_path,
        methods=methods,
        checks=checks,
        samples=samples,
        device=device,
        out_dir=out_dir,
        thresholds_path=thresholds_path,
        seed=seed,
        progress=app.progress,
    )

    def human() -> str:
        lines = [f"{out['model']}: {out['n']} images"]
        for t in out["checks"]:
            val = "n/a" if t["value"] is None else f"{t['value']:.3f}"
            lines.append(
                f"  {'PASS' if t['passed'] else 'FAIL'}  {t['check']:<23} {t['method']:<21} {val:>7}  {t['detail']}"
            )
        lines += [f"note: {n}" for n in out["notes"]] + [f"overlay: {f}" for f in out["overlays"]]
        return "\n".join(lines)

    app.emit(out, human)

"""``govkit eval``: clinical performance with confidence intervals and subgroup fairness."""

from __future__ import annotations

from pathlib import Path

import click

from govkit.cli.app import App, json_option, pass_app

device_option = click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
threshold_option = click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Operating point on p(positive) for binary tasks.",
)
bootstrap_option = click.option(
    "--bootstrap", "n_boot", type=click.IntRange(min=100), default=1000, show_default=True, help="Resamples per CI."
)
seed_option = click.option("--seed", type=int, default=0, show_default=True)
workers_option = click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="DataLoader worker processes reading the images.",
)


@click.group("eval")
def eval_group() -> None:
    """Evaluate models: performance and fairness."""


@eval_group.command()
@click.argument("model", metavar="MODEL")
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@device_option
@threshold_option
@bootstrap_option
@seed_option
@click.option("--amp", is_flag=True, help="Mixed precision on GPU.")
@workers_option
@json_option
@pass_app
def performance(
    app: App,
    model: str,
    data_path: Path,
    device: str,
    threshold: float,
    n_boot: int,
    seed: int,
    amp: bool,
    workers: int,
) -> None:
    """Accuracy, AUROC, sensitivity/specificity/PPV/NPV, calibration, subgroups (95% CIs)."""
    from govkit.evaluate.api import run_performance

    out = run_performance(
        app.registry(),
        model,
        data_path,
        device=device,
        threshold=threshold,
        n_boot=n_boot,
        seed=seed,
        amp=amp,
        workers=workers,
    )

    def human() -> str:
        lines = [f"{out['model']} on {out['data']} ({out['dataset']['n']} images, device {out['device']})"]
        for m in out["metrics"]:
            if m["params"]:
                continue
            ci = f"[{m['ci_low']:.3f}, {m['ci_high']:.3f}]" if m["ci_low"] is not None else "[n/a]"
            val = f"{m['value']:.3f}" if m["value"] is not None else "n/a"
            lines.append(f"  {m['name']:<12} {val}  95% CI {ci}  n={m['n']}")
        gaps = [m for m in out["metrics"] if m["name"] == "max_subgroup_gap"]
        pvals = {
            (m["params"]["group"], m["params"]["metric"]): m["value"]
            for m in out["metrics"]
            if m["name"] == "subgroup_gap_p_value"
        }
        lines += [
            f"  gap {g['params']['metric']} across {g['params']['group']}: {g['value']:.3f}"
            f" (heterogeneity p={pvals.get((g['params']['group'], g['params']['metric']), float('nan')):.3g})"
            for g in gaps
            if g["value"] is not None
        ]
        lines += [f"warning: {w}" for w in out["warnings"]]
        lines.append(
            f"recorded as evaluation {out['evaluation_id']}"
            if out["evaluation_id"]
            else "not recorded: the model is not registered"
        )
        return "\n".join(lines)

    app.emit(out, human)


@eval_group.command()
@click.argument("model", metavar="MODEL")
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="New data (same formats) to compare with the registered baseline.",
)
@device_option
@threshold_option
@bootstrap_option
@seed_option
@json_option
@pass_app
def drift(app: App, model: str, data_path: Path, device: str, threshold: float, n_boot: int, seed: int) -> None:
    """Compare performance and inputs on new data with the baseline; exit 1 when drift is flagged."""
    from govkit.evaluate.api import run_drift

    out = run_drift(app.registry(), model, data_path, device=device, threshold=threshold, n_boot=n_boot, seed=seed)

    def human() -> str:
        lines = [
            f"{out['model']} on {out['data']} vs evaluation {out['baseline_evaluation']}: "
            f"{'DRIFT' if out['drifted'] else 'no drift flagged'}"
        ]
        for m in out["metrics"]:
            if m["name"].startswith("delta_") or m["name"] == "psi_image_mean":
                ci = f" [{m['ci_low']:+.3f}, {m['ci_high']:+.3f}]" if m["ci_low"] is not None else ""
                lines.append(f"  {m['name']:<18} {m['value']:+.3f}{ci}")
        return "\n".join(lines + [f"flag: {f}" for f in out["flags"]] + [f"warning: {w}" for w in out["warnings"]])

    app.emit(out, human)
    if out["drifted"]:
        app.fail_check()


@eval_group.command()
@click.argument("model_a", metavar="A")
@click.argument("model_b", metavar="B")
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The cases both models are scored on (the formats 'eval performance' takes).",
)
@device_option
@threshold_option
@bootstrap_option
@seed_option
@workers_option
@json_option
@pass_app
def compare(
    app: App,
    model_a: str,
    model_b: str,
    data_path: Path,
    device: str,
    threshold: float,
    n_boot: int,
    seed: int,
    workers: int,
) -> None:
    """Compare two models on the same cases: paired differences B − A with 95% CIs and paired tests."""
    from govkit.evaluate.compare import run_compare

    out = run_compare(
        app.registry(),
        model_a,
        model_b,
        data_path,
        device=device,
        threshold=threshold,
        n_boot=n_boot,
        seed=seed,
        workers=workers,
    )

    def num(v: float | None, fmt: str = ".3f") -> str:
        return "n/a" if v is None else format(v, fmt)

    def human() -> str:
        unit = f"{out['patients']} patients" if out["patients"] is not None else "cases"
        lines = [
            f"A = {out['a']}, B = {out['b']} on {out['data']} ({out['n']} images; "
            f"{out['bootstrap']} bootstrap resamples of {unit}, the same for both)",
            f"  {'metric':<12} {'A':>6} {'B':>6}  {'B − A':>7}  95% CI             p        test",
        ]
        for r in out["comparisons"]:
            ci = f"[{num(r['ci_low'], '+.3f')}, {num(r['ci_high'], '+.3f')}]"
            verdict = f"  {r['better']} better" if r["better"] else ""
            lines.append(
                f"  {r['metric']:<12} {num(r['a']):>6} {num(r['b']):>6}  {num(r['difference'], '+.3f'):>7}  "
                f"{ci:<18} {num(r['p_value'], '.3g'):<8} {r['test']} n={r['n']}{verdict}"
                + (f"  UNSUPPORTED: {r['reason']}" if r["status"] != "ok" else "")
            )
        lines.append("not recorded: a comparison is not evidence for either model's policy")
        return "\n".join(lines)

    app.emit(out, human)

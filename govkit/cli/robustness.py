"""``govkit robustness run``: corruptions and adversarial attacks against a model."""

from __future__ import annotations

from pathlib import Path

import click

from govkit.cli.app import App, NamesOption, json_option, pass_app


def _corruption_names() -> list[str]:
    from govkit.robustness.corruptions import CORRUPTIONS

    return sorted(CORRUPTIONS)


def _attack_names() -> list[str]:
    from govkit.robustness.attacks import ADVERSARIAL_ATTACKS  # imports torch: only for --help

    return sorted(ADVERSARIAL_ATTACKS)


def _eps_list(_ctx, _param, value: str | None):
    if value is None:
        return None
    try:
        return [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter("a comma-separated list of numbers, e.g. 0.0039,0.0078") from None


@click.group()
def robustness() -> None:
    """Robustness to medical noise, artefacts and adversarial attacks."""


@robustness.command()
@click.argument("model", metavar="MODEL")
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--suite",
    "suite_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Suite YAML (default: policies/robustness/default.yaml).",
)
@click.option(
    "--corruption",
    "corruptions",
    multiple=True,
    metavar="NAME[:SEVERITY]",
    help="Corruption to run (repeatable); replaces the suite's lists.",
    cls=NamesOption,
    names=_corruption_names,
)
@click.option(
    "--attack",
    "attacks",
    multiple=True,
    metavar="NAME",
    help="Adversarial attack to run (repeatable).",
    cls=NamesOption,
    names=_attack_names,
)
@click.option("--eps", callback=_eps_list, help="ε grid in image space [0, 1], comma-separated.")
@click.option("--steps", type=click.IntRange(min=1), help="Attack iterations.")
@click.option("--restarts", type=click.IntRange(min=1), help="Random restarts.")
@click.option("--device", default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
@pass_app
def run(
    app: App,
    model: str,
    data_path: Path,
    suite_path: Path | None,
    corruptions: tuple[str, ...],
    attacks: tuple[str, ...],
    eps,
    steps: int | None,
    restarts: int | None,
    device: str,
    seed: int,
) -> None:
    """Accuracy under corruptions (severity 1-5) and adversarial attacks (ε grid)."""
    from govkit.robustness.api import run_robustness

    out = run_robustness(
        app.registry(),
        model,
        data_path,
        suite_path=suite_path,
        corruptions=corruptions,
        attacks=attacks,
        eps=eps,
        steps=steps,
        restarts=restarts,
        device=device,
        seed=seed,
        progress=app.progress,
    )
    body = {
        k: out[k]
        for k in (
            "model",
            "evaluation_id",
            "device",
            "clean_accuracy",
            "n",
            "corruptions",
            "adversarial",
            "warnings",
            "metrics",
        )
    }

    def human() -> str:
        lines = [f"{out['model']}: clean accuracy {out['clean_accuracy']:.3f} (n={out['n']})"]
        by_c: dict[str, list] = {}
        for c in out["corruptions"]:
            by_c.setdefault(c["name"], []).append(f"s{c['severity']} {c['accuracy']:.3f}")
        lines += [f"  {name:<18} {'  '.join(v)}" for name, v in by_c.items()]
        by_a: dict[str, list] = {}
        for a in out["adversarial"]:
            by_a.setdefault(a["attack"], []).append(f"ε={a['eps']:g}: {a['accuracy']:.3f}")
        lines += [f"  {name:<18} {'  '.join(v)}" for name, v in by_a.items()]
        return "\n".join(lines + [f"warning: {w}" for w in out["warnings"]])

    app.emit(body, human)

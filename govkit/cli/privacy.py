"""``govkit privacy audit``: membership-inference attacks against a trained model."""

from __future__ import annotations

from pathlib import Path

import click

from govkit.cli.app import App, NamesOption, json_option, pass_app

DataPath = click.Path(exists=True, dir_okay=False, path_type=Path)


def _attack_names() -> list[str]:
    from govkit.privacy.attacks import MIA_ATTACKS

    return list(MIA_ATTACKS)


@click.group()
def privacy() -> None:
    """Membership-inference privacy audits."""


@privacy.command()
@click.argument("model", metavar="MODEL")
@click.option("--members", required=True, type=DataPath, help="D1: the target model's training data.")
@click.option("--non-members", required=True, type=DataPath, help="D2: held-out data.")
@click.option("--population", type=DataPath, help="D3: extra data for reference models and comparisons.")
@click.option(
    "--attack",
    "attacks",
    multiple=True,
    metavar="NAME",
    help="Attack to run (repeatable; default: loss).",
    cls=NamesOption,
    names=_attack_names,
    validate=True,
)
@click.option("--reference-models", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--rmia-mode", type=click.Choice(["offline", "online"]), default="offline", show_default=True)
@click.option(
    "--lira-variance-threshold",
    type=click.IntRange(min=2),
    default=64,
    show_default=True,
    help="LiRA fits per-record variances from this many reference models on, one global variance below.",
)
@click.option("--patient-level", is_flag=True, help="Membership per patient (patient_id), not per image.")
@click.option(
    "--control/--no-control",
    default=True,
    show_default=True,
    help="Null control: tests that the sets differ only by membership; when it fires every "
    "membership figure is marked unreliable.",
)
@click.option("--device", default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=50), default=300, show_default=True)
@json_option
@pass_app
def audit(
    app: App,
    model: str,
    members: Path,
    non_members: Path,
    population: Path | None,
    attacks: tuple[str, ...],
    reference_models: int,
    rmia_mode: str,
    lira_variance_threshold: int,
    patient_level: bool,
    control: bool,
    device: str,
    seed: int,
    n_boot: int,
) -> None:
    """Run membership-inference attacks; report AUC, TPR at low FPR and an empirical ε."""
    from govkit.privacy.audit import run_audit

    out = run_audit(
        app.registry(),
        model,
        members,
        non_members,
        population,
        attacks=attacks or ("loss",),
        reference_models=reference_models,
        patient_level=patient_level,
        control=control,
        device=device,
        rmia_mode=rmia_mode,
        seed=seed,
        n_boot=n_boot,
        lira_variance_threshold=lira_variance_threshold,
        progress=app.progress,
    )

    def human() -> str:
        lines = [f"{out['model']}: membership inference"]

        def num(v: float | None, fmt: str = ".3f") -> str:
            return "n/a" if v is None else format(v, fmt)

        for a in out["attacks"]:
            lo, hi = a["auc_ci"]
            lines.append(
                f"  {a['attack']:<13} AUC {a['auc']:.3f} [{num(lo)}, {num(hi)}]  "
                f"TPR@0.1%FPR {num(a['tpr_at_fpr']['0.001'])}  TPR@1%FPR {num(a['tpr_at_fpr']['0.01'])}  "
                f"ε ≥ {a['epsilon_lower_bound']:.2f} (δ=0, {a['epsilon_confidence']:.0%} joint)  "
                f"(n={a['n_members']}+{a['n_non_members']})"
            )
        c = out["control"]
        if c and c["available"]:
            for t in c["tests"]:
                lines.append(
                    f"  control: {t['test']}: AUC {t['auc']:.3f}, p={t['p_value']:.2g}"
                    f"{'  FIRED' if t['rejected'] else ''}"
                )
        lines += [f"warning: {w}" for w in out["warnings"]]
        return "\n".join(lines)

    app.emit(out, human)

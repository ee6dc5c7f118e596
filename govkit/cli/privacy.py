"""``govkit privacy audit``: membership-inference attacks against a trained model."""

from __future__ import annotations

from pathlib import Path

import click

from govkit.cli.app import App, json_option, pass_app

DataPath = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def privacy() -> None:
    """Membership-inference privacy audits."""


@privacy.command()
@click.argument("model", metavar="MODEL")
@click.option("--members", required=True, type=DataPath, help="D1: the target model's training data.")
@click.option("--non-members", required=True, type=DataPath, help="D2: held-out data.")
@click.option("--population", type=DataPath, help="D3: extra data for reference models and comparisons.")
@click.option("--attack", "attacks", multiple=True,
              type=click.Choice(["loss", "population", "lira-offline", "lira-online", "rmia"]),
              help="Attack to run (repeatable; default: loss).")
@click.option("--reference-models", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--rmia-mode", type=click.Choice(["offline", "online"]), default="offline", show_default=True)
@click.option("--patient-level", is_flag=True, help="Membership per patient (patient_id), not per image.")
@click.option("--control", is_flag=True, help="Also audit non-members against non-members (null control).")
@click.option("--device", default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=50), default=300, show_default=True)
@json_option
@pass_app
def audit(app: App, model: str, members: Path, non_members: Path, population: Path | None,
          attacks: tuple[str, ...], reference_models: int, rmia_mode: str, patient_level: bool, control: bool,
          device: str, seed: int, n_boot: int) -> None:
    """Run membership-inference attacks; report AUC, TPR at low FPR and an empirical ε."""
    from govkit.privacy.audit import run_audit

    out = run_audit(app.registry(), model, members, non_members, population, attacks=attacks or ("loss",),
                    reference_models=reference_models, patient_level=patient_level, control=control,
                    device=device, rmia_mode=rmia_mode, seed=seed, n_boot=n_boot)

    def human() -> str:
        lines = [f"{out['model']}: membership inference"]
        for a in out["attacks"]:
            lines.append(f"  {a['attack']:<13} AUC {a['auc']:.3f} [{a['auc_ci'][0]:.3f}, {a['auc_ci'][1]:.3f}]  "
                         f"TPR@0.1%FPR {a['tpr_at_fpr']['0.001']:.3f}  TPR@1%FPR {a['tpr_at_fpr']['0.01']:.3f}  "
                         f"ε ≥ {a['epsilon_lower_bound']:.2f}  (n={a['n_members']}+{a['n_non_members']})")
        if out["control"]:
            c = out["control"]
            lines.append(f"  control       AUC {c['auc']:.3f} (null band {c['null_band'][0]:.3f}–{c['null_band'][1]:.3f})"
                         f"{' BIASED' if c['biased'] else ''}")
        lines += [f"warning: {w}" for w in out["warnings"]]
        return "\n".join(lines)

    app.emit(out, human)

"""``govkit risk``: ISO 14971 risk items, versioned assessments, suggestions from evidence."""

from __future__ import annotations

import click

from govkit.cli.app import App, json_option, pass_app


@click.group()
def risk() -> None:
    """Manage a model version's ISO 14971 risk assessment."""


@risk.command()
@click.argument("ref", metavar="NAME@VERSION")
@click.option("--hazard", required=True)
@click.option("--situation", required=True, help="The hazardous situation.")
@click.option("--harm", required=True)
@click.option("--severity", required=True, help="S1..S5")
@click.option("--probability", required=True, help="P1..P5")
@click.option("--control", "controls", multiple=True, help="A risk control (repeatable).")
@click.option(
    "--control-evidence",
    "evidence",
    multiple=True,
    type=int,
    help="Evaluation id verifying the control at the same position (repeatable).",
)
@click.option("--residual-severity")
@click.option("--residual-probability")
@json_option
@pass_app
def add(
    app: App,
    ref: str,
    hazard: str,
    situation: str,
    harm: str,
    severity: str,
    probability: str,
    controls: tuple[str, ...],
    evidence: tuple[int, ...],
    residual_severity: str | None,
    residual_probability: str | None,
) -> None:
    """Add a risk item (writes a new assessment revision)."""
    from govkit.errors import BadInput
    from govkit.governance.risk import ItemInput, add_item, as_dict, parse_level
    from govkit.registry.lookup import model_version

    if len(evidence) > len(controls):
        raise BadInput("--control-evidence needs a --control at the same position")
    if (residual_severity is None) != (residual_probability is None):
        raise BadInput("give both --residual-severity and --residual-probability, or neither")
    item = ItemInput(
        hazard,
        situation,
        harm,
        parse_level(severity, "S"),
        parse_level(probability, "P"),
        [{"control": c, "evidence": evidence[i] if i < len(evidence) else None} for i, c in enumerate(controls)],
        parse_level(residual_severity, "S") if residual_severity else None,
        parse_level(residual_probability, "P") if residual_probability else None,
    )
    with app.registry().unit_of_work() as s:
        out = as_dict(add_item(s, model_version(s, ref), item))
    last = out["items"][-1]
    app.emit(
        out,
        f"revision {out['revision']}: {hazard} — risk {last['risk_level']} ({last['acceptability']})"
        + (f", residual {last['residual_level']}" if last["residual_level"] else ""),
    )


def _table(out: dict) -> str:
    lines = [f"risk assessment revision {out['revision']} by {out['author']}"]
    for i, it in enumerate(out["items"], 1):
        lines.append(
            f"  {i}. {it['hazard']} [{it['severity']}/{it['probability']} = {it['risk_level']}, "
            f"{it['acceptability']}] residual {it['residual_level'] or 'n/a'}"
        )
    return "\n".join(lines)


def _assessment(app: App, ref: str, number: int | None, with_matrix: bool) -> dict:
    """One revision (default: the current one) as a dict; NotFound when there is none."""
    from govkit.errors import NotFound
    from govkit.governance.risk import as_dict, current, revision
    from govkit.registry.lookup import model_version

    with app.registry().unit_of_work() as s:
        mv = model_version(s, ref)
        ra = revision(s, mv, number) if number else current(s, mv)
        if ra is None:
            raise NotFound(f"{ref} has no risk assessment yet")
        return {**as_dict(ra), **({"matrix": ra.matrix} if with_matrix else {})}


@risk.command("list")
@click.argument("ref", metavar="NAME@VERSION")
@json_option
@pass_app
def list_items(app: App, ref: str) -> None:
    """The current revision's risk items."""
    out = _assessment(app, ref, None, with_matrix=False)
    app.emit(out, lambda: _table(out))


@risk.command()
@click.argument("ref", metavar="NAME@VERSION")
@click.option("--revision", "number", type=int, help="A past revision (default: current).")
@json_option
@pass_app
def show(app: App, ref: str, number: int | None) -> None:
    """One revision of the assessment, with its acceptability matrix."""
    out = _assessment(app, ref, number, with_matrix=True)
    app.emit(out, lambda: _table(out))


@risk.command()
@click.argument("ref", metavar="NAME@VERSION")
@json_option
@pass_app
def suggest(app: App, ref: str) -> None:
    """Hazards suggested by the recorded evidence (privacy, robustness, shortcuts, fairness)."""
    from govkit.governance.risk import suggest_hazards
    from govkit.registry.lookup import model_version

    with app.registry().unit_of_work() as s:
        items = suggest_hazards(s, model_version(s, ref))
    app.emit(
        {"suggestions": items},
        lambda: (
            "\n".join(
                f"- {i['hazard']} ({i['severity']}/{i['probability']}; evidence {i['evidence']['metric']}="
                f"{i['evidence']['value']:.3g})"
                for i in items
            )
            or "no hazards suggested by the evidence on record"
        ),
    )

"""``govkit policy``: check a model version against a deployment policy."""

from __future__ import annotations

from pathlib import Path

import click

from govkit.cli.app import App, json_option, pass_app


@click.group()
def policy() -> None:
    """Deployment policies (YAML) checked against recorded evidence."""


@policy.command()
@click.argument("model", metavar="MODEL")
@click.option(
    "--policy",
    "policy_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Policy YAML file.",
)
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Also write JUnit XML here.")
@json_option
@pass_app
def check(app: App, model: str, policy_path: Path, junit: Path | None) -> None:
    """Print every requirement as pass, fail or missing evidence; exit 1 unless all pass."""
    from govkit.errors import BadInput
    from govkit.governance.policy import check_policy, junit_xml, load_policy, record_policy
    from govkit.models.spec import load_spec
    from govkit.registry.audit import append_event
    from govkit.registry.lookup import model_version

    pol = load_policy(policy_path)
    registry = app.registry()
    if Path(model).suffix.lower() in (".yaml", ".yml"):
        model = load_spec(model).ref
    with registry.unit_of_work() as s:
        try:
            mv = model_version(s, model)
        except BadInput as exc:
            raise BadInput(f"{exc}: register the model before checking a policy") from None
        record_policy(s, pol)
        report = check_policy(s, mv, pol)
        append_event(
            s,
            "policy.check",
            "model_version",
            report.model,
            {
                "policy": report.policy,
                "sha256": pol.sha256,
                "passed": report.passed,
                "statuses": {o.id: o.status for o in report.outcomes},
            },
        )
    if junit:
        junit.write_text(junit_xml(report))
    body = report.as_dict()

    def human() -> str:
        lines = [
            f"policy {report.policy} (sha256 {pol.sha256[:12]}…) on {report.model}: "
            f"{'PASSED' if report.passed else 'NOT PASSED'}"
        ]
        lines += [f"  {o.status.upper():<15} {o.id:<28} {o.detail}" for o in report.outcomes]
        return "\n".join(lines)

    app.emit(body, human)
    if not report.passed:
        app.fail_check()


@policy.command()
@click.argument("model", metavar="NAME@VERSION")
@click.option(
    "--policy",
    "policy_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Policy YAML file.",
)
@json_option
@pass_app
def attach(app: App, model: str, policy_path: Path) -> None:
    """Attach a policy to a model version: promotions are gated by it."""
    from govkit.governance.lifecycle import attach_policy
    from govkit.governance.policy import load_policy
    from govkit.registry.lookup import model_version

    pol = load_policy(policy_path)
    with app.registry().unit_of_work() as s:
        attach_policy(s, model_version(s, model), pol)
    app.emit(
        {"model": model, "policy": pol.ref, "sha256": pol.sha256},
        f"{model} is gated by {pol.ref} (sha256 {pol.sha256[:12]}…)",
    )

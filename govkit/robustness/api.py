"""The robustness entry point the CLI calls (and notebooks can too)."""

from __future__ import annotations

from pathlib import Path

from govkit.progress import Progress, silent


def run_robustness(
    registry,
    model_ref: str,
    data_path: str | Path,
    *,
    suite_path: str | Path | None = None,
    corruptions: tuple[str, ...] = (),
    attacks: tuple[str, ...] = (),
    eps: list[float] | None = None,
    steps: int | None = None,
    restarts: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: Progress = silent,
) -> dict:
    """Corruptions and attacks from a suite file, overridden by explicit choices; ``progress`` shows the work."""
    from govkit.errors import BadInput
    from govkit.evidence.records import load_for_eval, record_evaluation
    from govkit.robustness.attacks import ADVERSARIAL_ATTACKS
    from govkit.robustness.suite import load_suite, parse_corruption, run_suite

    suite = load_suite(suite_path)
    if corruptions or attacks:  # explicit choices replace the suite's lists
        suite.corruptions = dict(parse_corruption(c) for c in corruptions)
        bad = [a for a in attacks if a not in ADVERSARIAL_ATTACKS]
        if bad:
            raise BadInput(f"unknown attack(s) {bad}; known: {', '.join(ADVERSARIAL_ATTACKS)}")
        suite.attacks = list(attacks)
    if eps is not None:
        if any(e < 0 for e in eps):
            raise BadInput("--eps values must be ≥ 0")
        suite.eps = suite.eps_l2 = sorted(eps)
    suite.steps = steps or suite.steps
    suite.restarts = restarts or suite.restarts
    ref, model, data, dev = load_for_eval(registry, model_ref, data_path, device)
    result = run_suite(model, data, suite, device=dev, seed=seed, progress=progress)
    metrics = result.pop("metrics")
    config = {
        "suite": suite.__dict__,
        "data": str(data_path),
        "corruption_results": result["corruptions"],
        "adversarial_results": result["adversarial"],
        "warnings": result["warnings"],
    }
    eval_id = record_evaluation(
        registry,
        ref,
        "robustness",
        config=config,
        seed=seed,
        device=dev,
        metrics=metrics,
        data_sha256=data.content_sha256(),
    )
    return {
        "model": ref.spec.ref,
        "evaluation_id": eval_id,
        "device": dev,
        **result,
        "metrics": [m.as_dict() for m in metrics],
    }

"""The explainability entry point the CLI calls (and notebooks can too)."""

from __future__ import annotations

from pathlib import Path

from govkit.progress import Progress, silent


def run_explainability(
    registry,
    model_ref: str,
    data_path: str | Path,
    *,
    methods=None,
    checks=None,
    samples: int = 64,
    device: str = "auto",
    out_dir: str | Path | None = None,
    thresholds_path: str | Path | None = None,
    seed: int = 0,
    progress: Progress = silent,
) -> dict:
    """Attribution methods and their checks; verdicts recorded as an explainability evaluation.

    Metric params carry ``check`` and, for policies written before the rename, ``test`` (same value);
    the recorded config repeats ``checks`` as ``tests`` for the report templates.
    """
    from govkit.evidence.metric import MetricValue
    from govkit.evidence.records import load_for_eval, record_evaluation
    from govkit.explain.checks import EXPLANATION_CHECKS
    from govkit.explain.run import DEFAULT_METHODS, run_explain, thresholds

    ref, model, data, dev = load_for_eval(registry, model_ref, data_path, "cpu" if device == "auto" else device)
    out = run_explain(
        model,
        data,
        methods=tuple(methods or DEFAULT_METHODS),
        checks=tuple(checks or EXPLANATION_CHECKS),
        samples=samples,
        seed=seed,
        out_dir=Path(out_dir) if out_dir else None,
        cfg=thresholds(thresholds_path),
        binary=ref.spec.n_classes == 2,
        progress=progress,
    )
    metrics = []
    for t in out["checks"]:
        p = {"check": t["check"], "test": t["check"], "method": t["method"]}
        metrics.append(MetricValue("passed", float(t["passed"]), None, None, t["n"], p))
        if t["value"] is not None:
            metrics.append(MetricValue("score", t["value"], None, None, t["n"], {**p, "baseline": t["baseline"]}))
    artifacts = [(Path(f).name, Path(f), "image/png") for f in out["overlays"]]
    config = {"data": str(data_path), **out, "tests": out["checks"]}
    eval_id = record_evaluation(
        registry,
        ref,
        "explainability",
        config=config,
        seed=seed,
        device=dev,
        metrics=metrics,
        data_sha256=data.content_sha256(),
        artifacts=artifacts,
    )
    return {"model": ref.spec.ref, "evaluation_id": eval_id, **out}

"""The evaluation entry points the CLI calls (and notebooks can too)."""

from __future__ import annotations

from pathlib import Path


def load_for_eval(registry, model_ref: str, data_path: str | Path, device: str = "auto"):
    """(ModelRef, torch model on device, ImageData, device) with validation done."""
    from govkit.evaluate.records import resolve_model
    from govkit.models.datasets import open_dataset
    from govkit.models.device import resolve_device
    from govkit.models.loading import load_model

    ref = resolve_model(registry, model_ref)
    dev = resolve_device(device)
    data = open_dataset(data_path, ref.spec.input.dicom)
    data.validate(ref.spec)
    return ref, load_model(ref.spec, dev), data, dev


def run_performance(registry, model_ref: str, data_path: str | Path, *, device: str = "auto",
                    threshold: float = 0.5, n_boot: int = 1000, seed: int = 0, amp: bool = False,
                    workers: int = 0) -> dict:
    from govkit.evaluate.performance import evaluate_performance, predict_proba
    from govkit.evaluate.records import record_evaluation

    ref, model, data, dev = load_for_eval(registry, model_ref, data_path, device)
    probs = predict_proba(model, data, device=dev, amp=amp, workers=workers)
    result = evaluate_performance(
        probs, data.labels, ref.spec.classes, patient_id=data.patient_id, groups=data.groups,
        threshold=threshold, n_boot=n_boot, seed=seed,
    )
    from govkit.evaluate.drift import input_profile

    sha = data.content_sha256()
    config = {"threshold": threshold, "bootstrap": n_boot, "patient_level": data.patient_id is not None,
              "data": str(data_path), "confusion_matrix": result.confusion, "reliability": result.reliability,
              "dataset": result.dataset, "warnings": result.warnings, "input_profile": input_profile(data)}
    eval_id = record_evaluation(registry, ref, "performance", config=config, seed=seed, device=dev,
                                metrics=result.metrics, data_sha256=sha)
    return {"model": ref.spec.ref, "data": str(data_path), "device": dev, "evaluation_id": eval_id,
            **result.as_dict()}


def run_drift(registry, model_ref: str, data_path: str | Path, *, device: str = "auto", threshold: float = 0.5,
              n_boot: int = 1000, seed: int = 0) -> dict:
    """Compare performance and inputs on new data with the newest performance evaluation."""
    from sqlalchemy import select

    from govkit.errors import BadInput
    from govkit.evaluate.drift import PSI_FLAG, compare, input_profile, psi
    from govkit.evaluate.metrics import MetricValue
    from govkit.evaluate.performance import evaluate_performance, predict_proba
    from govkit.evaluate.records import record_evaluation
    from govkit.registry.models import Evaluation

    ref, model, data, dev = load_for_eval(registry, model_ref, data_path, device)
    if ref.model_version_id is None:
        raise BadInput(f"{ref.spec.ref} is not registered: drift needs its registered baseline")
    with registry.unit_of_work() as s:
        base = s.scalar(select(Evaluation).where(Evaluation.model_version_id == ref.model_version_id,
                                                 Evaluation.kind == "performance")
                        .order_by(Evaluation.id.desc()).limit(1))
        if base is None:
            raise BadInput(f"{ref.spec.ref} has no performance evaluation to serve as baseline")
        baseline = {m.name: {"value": m.value, "ci_low": m.ci_low, "ci_high": m.ci_high}
                    for m in base.metrics if not m.params}
        base_id, base_profile = base.id, base.config.get("input_profile")
    probs = predict_proba(model, data, device=dev)
    result = evaluate_performance(probs, data.labels, ref.spec.classes, patient_id=data.patient_id,
                                  groups=data.groups, threshold=threshold, n_boot=n_boot, seed=seed)
    deltas, degraded = compare(baseline, result.metrics)
    profile = input_profile(data)
    metrics = result.metrics + deltas
    flags = [f"{name} degraded (95% CI of the change excludes 0)" for name in degraded]
    if base_profile:
        value = psi(base_profile["image_mean_hist"], profile["image_mean_hist"])
        metrics.append(MetricValue("psi_image_mean", value, None, None, len(data), {}))
        if value > PSI_FLAG:
            flags.append(f"input distribution shifted (PSI {value:.3f} > {PSI_FLAG})")
    config = {"baseline_evaluation": base_id, "data": str(data_path), "threshold": threshold,
              "bootstrap": n_boot, "flags": flags, "input_profile": profile, "warnings": result.warnings}
    eval_id = record_evaluation(registry, ref, "drift", config=config, seed=seed, device=dev, metrics=metrics,
                                data_sha256=data.content_sha256())
    return {"model": ref.spec.ref, "data": str(data_path), "baseline_evaluation": base_id,
            "evaluation_id": eval_id, "drifted": bool(flags), "flags": flags,
            "metrics": [m.as_dict() for m in metrics], "warnings": result.warnings}


def run_robustness(registry, model_ref: str, data_path: str | Path, *, suite_path: str | Path | None = None,
                   corruptions: tuple[str, ...] = (), attacks: tuple[str, ...] = (), eps: list[float] | None = None,
                   steps: int | None = None, restarts: int | None = None, device: str = "auto",
                   seed: int = 0) -> dict:
    """Corruptions and attacks from a suite file, overridden by explicit choices."""
    from govkit.errors import BadInput
    from govkit.evaluate.records import record_evaluation
    from govkit.robustness.attacks import ATTACKS
    from govkit.robustness.suite import load_suite, parse_corruption, run_suite

    suite = load_suite(suite_path)
    if corruptions or attacks:  # explicit choices replace the suite's lists
        suite.corruptions = dict(parse_corruption(c) for c in corruptions)
        bad = [a for a in attacks if a not in ATTACKS]
        if bad:
            raise BadInput(f"unknown attack(s) {bad}; known: {', '.join(ATTACKS)}")
        suite.attacks = list(attacks)
    if eps is not None:
        if any(e < 0 for e in eps):
            raise BadInput("--eps values must be ≥ 0")
        suite.eps = suite.eps_l2 = sorted(eps)
    suite.steps = steps or suite.steps
    suite.restarts = restarts or suite.restarts
    ref, model, data, dev = load_for_eval(registry, model_ref, data_path, device)
    result = run_suite(model, data, suite, device=dev, seed=seed)
    metrics = result.pop("metrics")
    config = {"suite": suite.__dict__, "data": str(data_path), "corruption_results": result["corruptions"],
              "adversarial_results": result["adversarial"], "warnings": result["warnings"]}
    eval_id = record_evaluation(registry, ref, "robustness", config=config, seed=seed, device=dev, metrics=metrics,
                                data_sha256=data.content_sha256())
    return {"model": ref.spec.ref, "evaluation_id": eval_id, "device": dev, **result,
            "metrics": [m.as_dict() for m in metrics]}


def run_explainability(registry, model_ref: str, data_path: str | Path, *, methods=None, tests=None,
                       samples: int = 64, device: str = "auto", out_dir: str | Path | None = None,
                       thresholds_path: str | Path | None = None, seed: int = 0) -> dict:
    """Attribution methods and their tests; verdicts recorded as an explainability evaluation."""
    from govkit.evaluate.metrics import MetricValue
    from govkit.evaluate.records import record_evaluation
    from govkit.explain.checks import TESTS
    from govkit.explain.run import DEFAULT_METHODS, run_explain, thresholds

    ref, model, data, dev = load_for_eval(registry, model_ref, data_path, "cpu" if device == "auto" else device)
    out = run_explain(model, data, methods=tuple(methods or DEFAULT_METHODS), tests=tuple(tests or TESTS),
                      samples=samples, seed=seed, out_dir=Path(out_dir) if out_dir else None,
                      cfg=thresholds(thresholds_path), binary=ref.spec.n_classes == 2)
    metrics = []
    for t in out["tests"]:
        p = {"test": t["test"], "method": t["method"]}
        metrics.append(MetricValue("passed", float(t["passed"]), None, None, t["n"], p))
        if t["value"] is not None:
            metrics.append(MetricValue("score", t["value"], None, None, t["n"], {**p, "baseline": t["baseline"]}))
    artifacts = [(Path(f).name, Path(f), "image/png") for f in out["overlays"]]
    eval_id = record_evaluation(registry, ref, "explainability", config={"data": str(data_path), **out},
                                seed=seed, device=dev, metrics=metrics, data_sha256=data.content_sha256(),
                                artifacts=artifacts)
    return {"model": ref.spec.ref, "evaluation_id": eval_id, **out}

"""The evaluation entry points the CLI calls (and notebooks can too)."""

from __future__ import annotations

from pathlib import Path


def run_performance(
    registry,
    model_ref: str,
    data_path: str | Path,
    *,
    device: str = "auto",
    threshold: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
    amp: bool = False,
    workers: int = 0,
) -> dict:
    from govkit.evaluate.performance import evaluate_performance, predict_proba
    from govkit.evidence.records import load_for_eval, record_evaluation

    ref, model, data, dev = load_for_eval(registry, model_ref, data_path, device)
    probs = predict_proba(model, data, device=dev, amp=amp, workers=workers)
    result = evaluate_performance(
        probs,
        data.labels,
        ref.spec.classes,
        patient_id=data.patient_id,
        groups=data.groups,
        threshold=threshold,
        n_boot=n_boot,
        seed=seed,
    )
    from govkit.evaluate.drift import input_profile

    sha = data.content_sha256()
    config = {
        "threshold": threshold,
        "bootstrap": n_boot,
        "patient_level": data.patient_id is not None,
        "data": str(data_path),
        "confusion_matrix": result.confusion,
        "reliability": result.reliability,
        "dataset": result.dataset,
        "warnings": result.warnings,
        "input_profile": input_profile(data),
    }
    eval_id = record_evaluation(
        registry, ref, "performance", config=config, seed=seed, device=dev, metrics=result.metrics, data_sha256=sha
    )
    return {"model": ref.spec.ref, "data": str(data_path), "device": dev, "evaluation_id": eval_id, **result.as_dict()}


def run_drift(
    registry,
    model_ref: str,
    data_path: str | Path,
    *,
    device: str = "auto",
    threshold: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """Compare performance and inputs on new data with the newest performance evaluation."""
    from sqlalchemy import select

    from govkit.errors import BadInput
    from govkit.evaluate.drift import PSI_ALPHA, PSI_FLAG, compare, input_profile, psi_test
    from govkit.evaluate.performance import evaluate_performance, predict_proba
    from govkit.evidence.metric import MetricValue
    from govkit.evidence.records import load_for_eval, record_evaluation
    from govkit.registry.tables import Evaluation

    ref, model, data, dev = load_for_eval(registry, model_ref, data_path, device)
    if ref.model_version_id is None:
        raise BadInput(f"{ref.spec.ref} is not registered: drift needs its registered baseline")
    with registry.unit_of_work() as s:
        base = s.scalar(
            select(Evaluation)
            .where(Evaluation.model_version_id == ref.model_version_id, Evaluation.kind == "performance")
            .order_by(Evaluation.id.desc())
            .limit(1)
        )
        if base is None:
            raise BadInput(f"{ref.spec.ref} has no performance evaluation to serve as baseline")
        baseline = {
            m.name: {"value": m.value, "ci_low": m.ci_low, "ci_high": m.ci_high} for m in base.metrics if not m.params
        }
        base_id, base_profile = base.id, base.config.get("input_profile")
    probs = predict_proba(model, data, device=dev)
    result = evaluate_performance(
        probs,
        data.labels,
        ref.spec.classes,
        patient_id=data.patient_id,
        groups=data.groups,
        threshold=threshold,
        n_boot=n_boot,
        seed=seed,
    )
    deltas, degraded = compare(baseline, result.metrics)
    profile = input_profile(data)
    metrics = result.metrics + deltas
    flags = [f"{name} degraded (95% CI of the change excludes 0)" for name in degraded]
    warnings = list(result.warnings)
    if base_profile:
        t = psi_test(base_profile["image_mean_hist"], profile["image_mean_hist"], seed=seed)
        metrics.append(MetricValue("psi_image_mean", t["psi"], None, None, len(data), {}))
        metrics.append(MetricValue("psi_p_value", t["p_value"], None, None, len(data), {"permutations": 2000}))
        if t["too_small"]:
            warnings.append(
                f"{t['n_new']} new and {t['n_baseline']} baseline images are too few for "
                f"{len(profile['image_mean_hist'])} bins: PSI exceeds {t['chance_psi_95']:.3f} by "
                f"chance 5 % of the time (flag threshold {PSI_FLAG}); rely on the p-value"
            )
        if t["drifted"]:
            flags.append(
                f"input distribution shifted (PSI {t['psi']:.3f} > {PSI_FLAG}, permutation "
                f"p={t['p_value']:.3g} < {PSI_ALPHA})"
            )
    config = {
        "baseline_evaluation": base_id,
        "data": str(data_path),
        "threshold": threshold,
        "bootstrap": n_boot,
        "flags": flags,
        "input_profile": profile,
        "warnings": warnings,
    }
    eval_id = record_evaluation(
        registry, ref, "drift", config=config, seed=seed, device=dev, metrics=metrics, data_sha256=data.content_sha256()
    )
    return {
        "model": ref.spec.ref,
        "data": str(data_path),
        "baseline_evaluation": base_id,
        "evaluation_id": eval_id,
        "drifted": bool(flags),
        "flags": flags,
        "metrics": [m.as_dict() for m in metrics],
        "warnings": warnings,
    }

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
    sha = data.content_sha256()
    config = {"threshold": threshold, "bootstrap": n_boot, "patient_level": data.patient_id is not None,
              "data": str(data_path), "confusion_matrix": result.confusion, "reliability": result.reliability,
              "dataset": result.dataset, "warnings": result.warnings}
    eval_id = record_evaluation(registry, ref, "performance", config=config, seed=seed, device=dev,
                                metrics=result.metrics, data_sha256=sha)
    return {"model": ref.spec.ref, "data": str(data_path), "device": dev, "evaluation_id": eval_id,
            **result.as_dict()}

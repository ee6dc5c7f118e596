"""Evidence recording shared by every evaluation kind (performance, privacy,
robustness, explainability): resolve the model under evaluation, load it with
its data, and store the results in the registry.

An evaluation carries its kind, config, seed, device, software versions,
typed metrics (value, CI, n, selector params) and artifacts with their
SHA-256, and is appended to the audit chain.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from govkit.canonical import sha256_file

if TYPE_CHECKING:
    import torch
    from sqlalchemy.orm import Session

    from govkit.evidence.metric import MetricValue
    from govkit.models.datasets import ImageData
    from govkit.models.spec import ModelSpec
    from govkit.registry.db import Registry

_K = TypeVar("_K")


@overload
def json_safe(obj: dict[_K, Any]) -> dict[_K, Any]: ...
@overload
def json_safe(obj: object) -> object: ...


def json_safe(obj: object) -> object:
    """Replace NaN and infinities (which JSON cannot hold) by None, recursively."""
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def software_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("govkit", "torch", "numpy", "pydicom", "scikit-learn", "captum"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


@dataclass
class ModelRef:
    """A model named on the command line: a registered version or a spec file."""

    spec: ModelSpec
    model_version_id: int | None


def resolve_model(registry: Registry, ref: str) -> ModelRef:
    """``NAME@VERSION`` from the registry, or a spec file path.

    A registered model's artifact and entrypoint code must still match their
    recorded SHA-256 (:class:`BadInput` naming the changed file).  A spec file
    is linked to its registered version when one exists with the same
    artifact and code; otherwise results are computed but not recorded.
    """
    from sqlalchemy import select

    from govkit.errors import BadInput
    from govkit.models.spec import load_spec, parse_spec
    from govkit.registry.lookup import model_version
    from govkit.registry.tables import Model, ModelVersion

    if Path(ref).suffix.lower() in (".yaml", ".yml") or Path(ref).is_file():
        spec = load_spec(ref)
        with registry.unit_of_work() as s:
            mv = s.scalar(
                select(ModelVersion).join(Model).where(Model.name == spec.name, ModelVersion.version == spec.version)
            )
            same = mv is not None and spec.changed_file(mv.artifact_sha256, mv.spec.get("code_files")) is None
            mv_id = mv.id if mv is not None and same else None
        return ModelRef(spec, mv_id)
    with registry.unit_of_work() as s:
        mv = model_version(s, ref)
        stored, mv_id, sha = mv.spec, mv.id, mv.artifact_sha256
    spec = parse_spec(stored["spec"], Path(stored["base_dir"]), ref)
    changed = spec.changed_file(sha, stored.get("code_files"))
    if changed is not None:
        raise BadInput(f"{ref}: {changed} changed since registration (sha256 mismatch); register a new version")
    return ModelRef(spec, mv_id)


def dataset_version_id(session: Session, content_sha256: str) -> int | None:
    from sqlalchemy import select

    from govkit.registry.tables import DatasetVersion

    return session.scalar(select(DatasetVersion.id).where(DatasetVersion.content_sha256 == content_sha256).limit(1))


def record_evaluation(
    registry: Registry,
    model: ModelRef,
    kind: str,
    *,
    config: dict[str, Any],
    seed: int | None,
    device: str,
    metrics: Sequence[MetricValue],
    data_sha256: str | None = None,
    artifacts: Sequence[tuple[str, Path, str]] = (),
) -> int | None:
    """Insert an evaluation with metrics and artifacts; return its id (None if unregistered)."""
    if model.model_version_id is None:
        return None
    from govkit.registry.audit import append_event, current_actor
    from govkit.registry.tables import Artifact, Evaluation, Metric

    with registry.unit_of_work() as s:
        ev = Evaluation(
            model_version_id=model.model_version_id,
            dataset_version_id=dataset_version_id(s, data_sha256) if data_sha256 else None,
            kind=kind,
            config=json_safe({**config, "data_sha256": data_sha256}),
            seed=seed,
            device=device,
            software=software_versions(),
            created_by=current_actor(),
        )
        s.add(ev)
        s.flush()
        for m in metrics:
            s.add(
                Metric(
                    evaluation_id=ev.id,
                    name=m.name,
                    value=m.value,
                    ci_low=m.ci_low,
                    ci_high=m.ci_high,
                    ci_level=m.ci_level,
                    n=m.n,
                    params=m.params,
                    status=m.status,
                    reason=m.reason,
                )
            )
        for name, path, media in artifacts:
            s.add(Artifact(evaluation_id=ev.id, name=name, path=str(path), sha256=sha256_file(path), media_type=media))
        append_event(
            s,
            f"evaluation.{kind}",
            "evaluation",
            ev.id,
            {
                "model": model.spec.ref,
                "n_metrics": len(metrics),
                "device": device,
                "seed": seed,
            },
        )
        return ev.id


def load_for_eval(
    registry: Registry, model_ref: str, data_path: str | Path, device: str = "auto"
) -> tuple[ModelRef, torch.nn.Module, ImageData, str]:
    """(ModelRef, torch model on device, ImageData, device) with validation done."""
    from govkit.models.datasets import open_dataset
    from govkit.models.device import resolve_device
    from govkit.models.loading import load_model

    ref = resolve_model(registry, model_ref)
    dev = resolve_device(device)
    data = open_dataset(data_path, ref.spec.input.dicom)
    data.validate(ref.spec)
    return ref, load_model(ref.spec, dev), data, dev

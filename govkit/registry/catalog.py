"""Register models and datasets (insert-only, audited)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from govkit.errors import BadInput
from govkit.registry.audit import append_event, current_actor
from govkit.registry.lookup import dataset_version, deid_run
from govkit.registry.tables import (
    Dataset,
    DatasetVersion,
    Model,
    ModelTrainingData,
    ModelVersion,
    StageTransition,
)


def register_model(registry, name: str, version: str, spec_path: str | Path,
                   *, training_data: list[str] = (), code_version: str | None = None) -> dict:
    """Store the spec and artifact hash as ``NAME@VERSION`` (state ``draft``)."""
    from govkit.models.spec import load_spec

    spec = load_spec(spec_path)
    if (spec.name, spec.version) != (name, version):
        raise BadInput(f"spec {spec_path} describes {spec.ref}, not {name}@{version}")
    artifact_sha, spec_sha = spec.artifact_sha256(), spec.spec_sha256()
    with registry.unit_of_work() as s:
        model = _get_or_create(s, Model, name)
        existing = next((v for v in model.versions if v.version == version), None)
        if existing is not None:
            if existing.artifact_sha256 == artifact_sha and existing.spec_sha256 == spec_sha:
                return {"model": f"{name}@{version}", "artifact_sha256": artifact_sha, "created": False}
            raise BadInput(f"{name}@{version} is already registered with another artifact or spec; "
                           "register a new version")
        lineage = [dataset_version(s, ref) for ref in training_data]
        mv = ModelVersion(
            model_id=model.id, version=version, artifact_sha256=artifact_sha,
            spec={"spec": spec.raw, "base_dir": str(spec.base_dir)}, spec_sha256=spec_sha,
            code_version=code_version, tags=spec.tags, created_by=current_actor(),
        )
        s.add(mv)
        s.flush()
        for dv in lineage:
            s.add(ModelTrainingData(model_version_id=mv.id, dataset_version_id=dv.id, role="train"))
        s.add(StageTransition(model_version_id=mv.id, from_state=None, to_state="draft", actor=current_actor(),
                              reason="registered"))
        append_event(s, "model.register", "model_version", f"{name}@{version}", {
            "artifact_sha256": artifact_sha, "spec_sha256": spec_sha, "training_data": list(training_data),
        })
    return {"model": f"{name}@{version}", "artifact_sha256": artifact_sha, "created": True}


def _get_or_create(session, cls, name: str):
    row = session.scalar(select(cls).where(cls.name == name))
    if row is None:
        row = cls(name=name)
        session.add(row)
        session.flush()
    return row


def find_deid_run(path: Path) -> str | None:
    """The run whose manifest sits in a parent folder of ``path`` (a de-identified DST)."""
    for parent in [path.resolve().parent, *path.resolve().parents]:
        manifests = sorted((parent / ".govkit").glob("manifest-*.jsonl"))
        if manifests:
            return manifests[-1].stem.removeprefix("manifest-")
    return None


def register_dataset(registry, name: str, version: str, path: str | Path, *, deid_run_id: str | None = None) -> dict:
    from govkit.models.datasets import open_dataset

    path = Path(path)
    data = open_dataset(path)
    sha = data.content_sha256()
    run_id = deid_run_id or find_deid_run(path)
    manifest = {
        "path": str(path.resolve()),
        "format": path.suffix.lower().lstrip("."),
        "n": len(data),
        "label_counts": {str(k): int(v) for k, v in zip(*_unique(data.labels))},
        "subgroups": sorted(data.groups),
        "has_patient_id": data.patient_id is not None,
        "has_masks": data.has_masks,
    }
    with registry.unit_of_work() as s:
        if run_id is not None:
            deid_run(s, run_id)
        ds = _get_or_create(s, Dataset, name)
        existing = next((v for v in ds.versions if v.version == version), None)
        if existing is not None:
            if existing.content_sha256 == sha:
                return {"dataset": f"{name}@{version}", "content_sha256": sha, "created": False}
            raise BadInput(f"dataset {name}@{version} is already registered with other content")
        s.add(DatasetVersion(dataset_id=ds.id, version=version, content_sha256=sha, manifest=manifest,
                             deid_run_id=run_id, created_by=current_actor()))
        append_event(s, "dataset.register", "dataset_version", f"{name}@{version}",
                     {"content_sha256": sha, "deid_run": run_id})
    return {"dataset": f"{name}@{version}", "content_sha256": sha, "deid_run": run_id, "created": True}


def _unique(a):
    import numpy as np

    return np.unique(a, return_counts=True)

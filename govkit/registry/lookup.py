"""Find records by the names users type (``NAME@VERSION``, run ids)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from govkit.errors import BadInput, NotFound
from govkit.registry.models import (
    Dataset,
    DatasetVersion,
    DeidRun,
    Model,
    ModelVersion,
)


def split_ref(ref: str, what: str = "model") -> tuple[str, str]:
    """Split ``NAME@VERSION``; both parts are required."""
    name, sep, version = ref.rpartition("@")
    if not sep or not name or not version:
        raise BadInput(f"expected {what} reference NAME@VERSION, got {ref!r}")
    return name, version


def model_version(session: Session, ref: str) -> ModelVersion:
    """The registered model version ``NAME@VERSION``, or :class:`NotFound`."""
    name, version = split_ref(ref)
    model = session.scalar(select(Model).where(Model.name == name))
    if model is None:
        raise NotFound(f"unknown model {name!r}")
    mv = session.scalar(
        select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == version)
    )
    if mv is None:
        known = ", ".join(v.version for v in model.versions) or "none"
        raise NotFound(f"unknown version {version!r} of model {name!r} (known: {known})")
    return mv


def dataset_version(session: Session, ref: str) -> DatasetVersion:
    name, version = split_ref(ref, "dataset")
    ds = session.scalar(select(Dataset).where(Dataset.name == name))
    if ds is None:
        raise NotFound(f"unknown dataset {name!r}")
    dv = session.scalar(
        select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id, DatasetVersion.version == version)
    )
    if dv is None:
        raise NotFound(f"unknown version {version!r} of dataset {name!r}")
    return dv


def deid_run(session: Session, run_id: str) -> DeidRun:
    run = session.get(DeidRun, run_id)
    if run is None:
        raise NotFound(f"unknown de-identification run {run_id!r}")
    return run

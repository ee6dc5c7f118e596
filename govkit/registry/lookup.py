"""Find records by the names users type (``NAME@VERSION``, run ids)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from govkit.errors import BadInput, NotFound
from govkit.registry.tables import (
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


def _versioned(session: Session, ref: str, parent, child, what: str):
    """Resolve ``NAME@VERSION`` for a (parent, versions) pair of tables."""
    name, version = split_ref(ref, what)
    owner = session.scalar(select(parent).where(parent.name == name))
    if owner is None:
        raise NotFound(f"unknown {what} {name!r}")
    row = next((v for v in owner.versions if v.version == version), None)
    if row is None:
        known = ", ".join(v.version for v in owner.versions) or "none"
        raise NotFound(f"unknown version {version!r} of {what} {name!r} (known: {known})")
    return row


def model_version(session: Session, ref: str) -> ModelVersion:
    """The registered model version ``NAME@VERSION``, or :class:`NotFound`."""
    return _versioned(session, ref, Model, ModelVersion, "model")


def dataset_version(session: Session, ref: str) -> DatasetVersion:
    """The registered dataset version ``NAME@VERSION``, or :class:`NotFound`."""
    return _versioned(session, ref, Dataset, DatasetVersion, "dataset")


def deid_run(session: Session, run_id: str) -> DeidRun:
    run = session.get(DeidRun, run_id)
    if run is None:
        raise NotFound(f"unknown de-identification run {run_id!r}")
    return run

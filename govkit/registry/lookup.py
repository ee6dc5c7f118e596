"""Find records by the names users type (``NAME@VERSION``, run ids)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

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


V = TypeVar("V", ModelVersion, DatasetVersion)


def _versioned(versions: Sequence[V] | None, name: str, version: str, what: str) -> V:
    """Pick ``version`` from the versions of ``name`` (None: ``name`` is unknown)."""
    if versions is None:
        raise NotFound(f"unknown {what} {name!r}")
    row = next((v for v in versions if v.version == version), None)
    if row is None:
        known = ", ".join(v.version for v in versions) or "none"
        raise NotFound(f"unknown version {version!r} of {what} {name!r} (known: {known})")
    return row


def model_version(session: Session, ref: str) -> ModelVersion:
    """The registered model version ``NAME@VERSION``, or :class:`NotFound`."""
    name, version = split_ref(ref, "model")
    owner = session.scalar(select(Model).where(Model.name == name))
    return _versioned(owner.versions if owner else None, name, version, "model")


def dataset_version(session: Session, ref: str) -> DatasetVersion:
    """The registered dataset version ``NAME@VERSION``, or :class:`NotFound`."""
    name, version = split_ref(ref, "dataset")
    owner = session.scalar(select(Dataset).where(Dataset.name == name))
    return _versioned(owner.versions if owner else None, name, version, "dataset")


def deid_run(session: Session, run_id: str) -> DeidRun:
    run = session.get(DeidRun, run_id)
    if run is None:
        raise NotFound(f"unknown de-identification run {run_id!r}")
    return run

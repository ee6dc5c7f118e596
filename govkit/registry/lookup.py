"""Find records by the names users type (``NAME@VERSION``, run ids), or an unambiguous prefix of them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


def by_prefix(typed: str, candidates: Iterable[str], what: str) -> str | None:
    """The candidate equal to ``typed``, else the only one it begins; None when none does.

    Several: :class:`BadInput` listing them."""
    names = sorted(set(candidates))
    if typed in names:
        return typed
    hits = [c for c in names if c.startswith(typed)]
    if len(hits) > 1:
        shown = ", ".join(hits[:10]) + (f" and {len(hits) - 10} more" if len(hits) > 10 else "")
        raise BadInput(f"ambiguous {what} {typed!r}: it begins {shown}")
    return hits[0] if hits else None


def _full_ref(session: Session, ref: str, owner: type[Model] | type[Dataset], what: str) -> str:
    """``ref`` completed from an unambiguous prefix of a registered ``NAME@VERSION``."""
    versions = ModelVersion if owner is Model else DatasetVersion
    refs = session.execute(select(owner.name, versions.version).join(owner.versions)).all()
    return by_prefix(ref, (f"{n}@{v}" for n, v in refs), what) or ref


def model_version(session: Session, ref: str) -> ModelVersion:
    """The registered model version ``NAME@VERSION`` (or an unambiguous prefix), or :class:`NotFound`."""
    name, version = split_ref(_full_ref(session, ref, Model, "model"), "model")
    owner = session.scalar(select(Model).where(Model.name == name))
    return _versioned(owner.versions if owner else None, name, version, "model")


def dataset_version(session: Session, ref: str) -> DatasetVersion:
    """The registered dataset version ``NAME@VERSION`` (or an unambiguous prefix), or :class:`NotFound`."""
    name, version = split_ref(_full_ref(session, ref, Dataset, "dataset"), "dataset")
    owner = session.scalar(select(Dataset).where(Dataset.name == name))
    return _versioned(owner.versions if owner else None, name, version, "dataset")


def deid_run(session: Session, run_id: str) -> DeidRun:
    """The run with this id or an unambiguous prefix of it, or :class:`NotFound`."""
    like = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    ids = session.scalars(select(DeidRun.id).where(DeidRun.id.like(like, escape="\\"))).all()
    full = by_prefix(run_id, ids, "de-identification run")
    run = session.get(DeidRun, full) if full else None
    if run is None:
        raise NotFound(f"unknown de-identification run {run_id!r}")
    return run

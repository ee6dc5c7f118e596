"""Register datasets (insert-only, audited); models are registered by :mod:`govkit.governance.registration`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from govkit.errors import BadInput
from govkit.registry.audit import append_event, current_actor
from govkit.registry.lookup import deid_run
from govkit.registry.tables import Dataset, DatasetVersion, DeidRun, Model

if TYPE_CHECKING:
    import numpy as np

    from govkit.registry.db import Registry


N = TypeVar("N", Model, Dataset)


def get_or_create(session: Session, cls: type[N], name: str) -> N:
    """The model or dataset called ``name``, created when new."""
    row = session.scalar(select(cls).where(cls.name == name))
    if row is None:
        row = cls(name=name)
        session.add(row)
        session.flush()
    return row


def find_deid_run(session: Session, path: Path) -> str | None:
    """The de-identification run that wrote ``path``: among the runs whose manifests sit in the
    nearest parent folder of ``path`` holding any (a de-identified DST), the one that finished last
    by its recorded time.  A manifest with no recorded run (a run killed before it ended) is ignored."""
    for parent in [path.resolve().parent, *path.resolve().parents]:
        ids = [m.stem.removeprefix("manifest-") for m in (parent / ".govkit").glob("manifest-*.jsonl")]
        if ids:
            runs = session.scalars(select(DeidRun).where(DeidRun.id.in_(ids))).all()
            return max(runs, key=lambda r: (r.finished_at, r.started_at, r.id)).id if runs else None
    return None


def register_dataset(
    registry: Registry,
    name: str,
    version: str,
    path: str | Path,
    *,
    deid_run_id: str | None = None,
    datasheet: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``datasheet``: provenance and datasheet sections, already checked (:mod:`govkit.data.datasheet`)."""
    from govkit.models.datasets import open_dataset

    path = Path(path)
    data = open_dataset(path)
    sha = data.content_sha256()
    manifest = {
        "path": str(path.resolve()),
        "format": path.suffix.lower().lstrip("."),
        "n": len(data),
        "label_counts": {str(k): int(v) for k, v in zip(*_unique(data.labels), strict=True)},
        "subgroups": sorted(data.groups),
        "has_patient_id": data.patient_id is not None,
        "has_masks": data.has_masks,
    }
    if datasheet:
        manifest["datasheet"] = datasheet
    with registry.unit_of_work() as s:
        run_id = deid_run_id or find_deid_run(s, path)
        if run_id is not None:
            run_id = deid_run(s, run_id).id  # a prefix names the full id
        ds = get_or_create(s, Dataset, name)
        existing = next((v for v in ds.versions if v.version == version), None)
        if existing is not None:
            if existing.content_sha256 == sha:
                return {"dataset": f"{name}@{version}", "content_sha256": sha, "created": False}
            raise BadInput(f"dataset {name}@{version} is already registered with other content")
        s.add(
            DatasetVersion(
                dataset_id=ds.id,
                version=version,
                content_sha256=sha,
                manifest=manifest,
                deid_run_id=run_id,
                created_by=current_actor(),
            )
        )
        append_event(
            s,
            "dataset.register",
            "dataset_version",
            f"{name}@{version}",
            {"content_sha256": sha, "deid_run": run_id, "external": (datasheet or {}).get("external")},
        )
    return {"dataset": f"{name}@{version}", "content_sha256": sha, "deid_run": run_id, "created": True}


def _unique(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    values, counts = np.unique(a, return_counts=True)
    return values, counts


def deid_runs(session: Session, run_id: str | None = None) -> list[dict[str, Any]]:
    """Recorded de-identification runs, oldest first (or the one ``run_id`` or its prefix names),
    each with the verdict of the newest ``deid.verify`` event about it.  A run records no DST path
    (paths may hold PHI): it is identified by its manifest's SHA-256, written in DST/.govkit/."""
    from govkit.registry.tables import AuditEvent

    runs = [deid_run(session, run_id)] if run_id is not None else session.scalars(select(DeidRun)).all()
    verdicts = {
        e.entity_id: e.payload
        for e in session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "deid.verify", AuditEvent.entity_type == "deid_run")
            .order_by(AuditEvent.seq)
        )
    }
    out = []
    for run in sorted(runs, key=lambda r: (r.started_at, r.id)):
        v = verdicts.get(run.id)
        out.append(
            {
                "id": run.id,
                "started_at": run.started_at.isoformat(),
                "finished_at": run.finished_at.isoformat(),
                "manifest_sha256": run.manifest_sha256,
                "options": run.options,
                "n_files": run.n_files,
                "n_ok": run.n_ok,
                "n_failed": run.n_failed,
                "n_skipped": run.n_skipped,
                "verify": "not verified"
                if v is None
                else "passed"
                if v.get("ok")
                else f"failed: {int(v.get('n_findings') or 0)} finding(s)",
                "created_by": run.created_by,
            }
            | (
                {
                    "profile_revision": run.profile_revision,
                    "key_fingerprint": run.key_fingerprint,
                    "counts": run.counts,
                    "software": run.software,
                    "details": run.details,
                }
                if run_id is not None
                else {}
            )
        )
    return out

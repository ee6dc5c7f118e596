"""The model card of a registered version, its revisions, attached documents,
and HTI-1 coverage.

The card's schema lives with the spec (:mod:`govkit.models.card`).  Fixing
the card of a registered version is a *card revision* (:func:`revise_card`:
schema-checked, PHI-checked, audited); the version's artifact and code are
unchanged, so its evidence stays attached.  :func:`current_card` is the
newest revision, else the spec's card.

Coverage is honest: :func:`hti1_coverage` reports, for each of the 31
attributes (``policies/hti1-source-attributes.yaml``), whether it is answered
and by which card field or recorded evidence; "validity in external data" is
answered only by a performance evaluation on a dataset registered as external
(its datasheet says ``external: true``, :mod:`govkit.data.datasheet`).  EU AI Act Annex IV items 7 and 8 are evidenced
only by attached documents of that kind (:func:`attach_document`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govkit.errors import BadInput
from govkit.registry.tables import CardRevision, DatasetVersion, Document, Evaluation, Metric, ModelVersion

#: Kinds of documents that can be attached as evidence (EU AI Act Annex IV items 7 and 8, and others).
DOCUMENT_KINDS = ("harmonised-standards", "declaration-of-conformity", "clinical-evaluation", "instructions-for-use")


def current_card(session: Session, mv: ModelVersion) -> dict[str, Any]:
    """The newest card revision of ``mv``, else the card in its registered spec."""
    rev = session.scalar(
        select(CardRevision)
        .where(CardRevision.model_version_id == mv.id)
        .order_by(CardRevision.revision.desc())
        .limit(1)
    )
    if rev is not None:
        return dict(rev.card)
    return dict((mv.spec.get("spec") or {}).get("card") or {})


def revise_card(session: Session, mv: ModelVersion, card: object, reason: str) -> CardRevision:
    """Record a corrected card for ``mv`` (schema- and PHI-checked, audited)."""
    from govkit.models.card import card_texts, validate_card
    from govkit.phiguard import check_text
    from govkit.registry.audit import append_event, current_actor

    checked = validate_card(card, "card")
    if not reason.strip():
        raise BadInput("a card revision needs --reason")
    check_text(reason, "reason")
    for field, text in card_texts(checked):
        check_text(text, field)
    last = session.scalar(
        select(CardRevision.revision)
        .where(CardRevision.model_version_id == mv.id)
        .order_by(CardRevision.revision.desc())
        .limit(1)
    )
    row = CardRevision(
        model_version_id=mv.id, revision=(last or 0) + 1, card=checked, reason=reason, created_by=current_actor()
    )
    session.add(row)
    session.flush()
    append_event(
        session,
        "card.revise",
        "model_version",
        f"{mv.model.name}@{mv.version}",
        {"revision": row.revision, "reason": reason, "fields": sorted(checked)},
    )
    return row


def card_revisions(session: Session, mv: ModelVersion) -> list[dict[str, Any]]:
    return [
        {
            "revision": r.revision,
            "reason": r.reason,
            "by": r.created_by,
            "at": r.created_at.isoformat(),
            "fields": sorted(r.card),
        }
        for r in session.scalars(
            select(CardRevision).where(CardRevision.model_version_id == mv.id).order_by(CardRevision.revision)
        )
    ]


def attach_document(session: Session, mv: ModelVersion, kind: str, path: Path) -> Document:
    """Record a document (by name and SHA-256) as evidence of ``kind`` for ``mv``."""
    from govkit.canonical import sha256_file
    from govkit.phiguard import check_text
    from govkit.registry.audit import append_event, current_actor

    if kind not in DOCUMENT_KINDS:
        raise BadInput(f"document kind must be one of {', '.join(DOCUMENT_KINDS)}")
    if not path.is_file():
        raise BadInput(f"document {path} not found")
    check_text(path.name, "document name")
    row = Document(
        model_version_id=mv.id, kind=kind, name=path.name, sha256=sha256_file(path), created_by=current_actor()
    )
    session.add(row)
    session.flush()
    append_event(
        session,
        "document.attach",
        "model_version",
        f"{mv.model.name}@{mv.version}",
        {"kind": kind, "name": path.name, "sha256": row.sha256},
    )
    return row


def documents(session: Session, mv: ModelVersion) -> list[dict[str, Any]]:
    """Attached documents; reports add ``document.<kind>`` to the coverage facts."""
    return [
        {"kind": d.kind, "name": d.name, "sha256": d.sha256, "by": d.created_by, "at": d.created_at.isoformat()}
        for d in session.scalars(select(Document).where(Document.model_version_id == mv.id).order_by(Document.id))
    ]


@functools.lru_cache(maxsize=1)
def hti1_items() -> list[dict[str, Any]]:
    from govkit.resources import resource_dir
    from govkit.yamlio import load_file

    doc = load_file(resource_dir("policies") / "hti1-source-attributes.yaml")
    return [{**item, "group": g["name"]} for g in doc["groups"] for item in g["items"]]


def hti1_coverage(card: dict[str, Any], evidence: set[str]) -> list[dict[str, Any]]:
    """Each attribute with ``answered`` and ``by`` (the first source that answers it).

    ``evidence`` holds ``kind`` and ``kind.metric`` strings of recorded
    evaluations (e.g. ``performance.auroc``).
    """
    out: list[dict[str, Any]] = []
    for item in hti1_items():
        by = None
        for source in item["answered_by"]:
            kind, _, name = source.partition(".")
            if kind == "card" and card.get(name) not in (None, "", []):
                by = source
            elif kind == "evidence" and name in evidence:
                by = source
            if by:
                break
        out.append(
            {"group": item["group"], "id": item["id"], "text": item["text"], "answered": by is not None, "by": by}
        )
    return out


def recorded_evidence(session: Session, mv: ModelVersion) -> set[str]:
    """``kind`` and ``kind.metric`` of the recorded evaluations, plus ``external_performance``
    when a performance evaluation ran on a dataset registered as external."""
    rows = session.execute(
        select(Evaluation.kind, Metric.name, DatasetVersion.manifest)
        .join(Metric, Metric.evaluation_id == Evaluation.id)
        .outerjoin(DatasetVersion, DatasetVersion.id == Evaluation.dataset_version_id)
        .where(Evaluation.model_version_id == mv.id)
    ).all()
    out = {k for k, _, _ in rows} | {f"{k}.{n}" for k, n, _ in rows}
    if any(
        k == "performance" and ((manifest or {}).get("datasheet") or {}).get("external") is True
        for k, _, manifest in rows
    ):
        out.add("external_performance")
    return out

"""Field incident reports: wrong model outputs seen in use.

An incident row never changes; its status lives in insert-only
:class:`~govkit.registry.tables.IncidentUpdate` rows (open → triaged → closed).
Open incidents can block promotion through a policy's ``incident`` requirement.
Descriptions and notes are checked for PHI and case references must be
pseudonymous IDs (:mod:`govkit.phiguard`): nothing is stored otherwise.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from govkit.errors import BadInput, NotFound
from govkit.phiguard import check_case_ref, check_text
from govkit.registry.audit import append_event, current_actor
from govkit.registry.tables import Incident, IncidentUpdate, ModelVersion

SEVERITIES = ("low", "medium", "high", "critical")


def report(
    session: Session, mv: ModelVersion, description: str, *, case_ref: str | None = None, severity: str = "medium"
) -> Incident:
    if severity not in SEVERITIES:
        raise BadInput(f"severity must be one of {', '.join(SEVERITIES)}")
    if not description.strip():
        raise BadInput("an incident needs a description")
    check_text(description, "description")
    if case_ref is not None:
        check_case_ref(case_ref)
    inc = Incident(
        model_version_id=mv.id,
        description=description,
        case_ref=case_ref,
        severity=severity,
        reported_by=current_actor(),
    )
    session.add(inc)
    session.flush()
    session.add(IncidentUpdate(incident_id=inc.id, status="open", note="reported", actor=current_actor()))
    append_event(
        session,
        "incident.report",
        "incident",
        inc.id,
        {"model": f"{mv.model.name}@{mv.version}", "severity": severity, "case_ref": case_ref},
    )
    return inc


def status(session: Session, inc: Incident) -> str:
    return (
        session.scalar(
            select(IncidentUpdate.status)
            .where(IncidentUpdate.incident_id == inc.id)
            .order_by(IncidentUpdate.id.desc())
            .limit(1)
        )
        or "open"
    )


def update(session: Session, incident_id: int, new_status: str, note: str | None) -> Incident:
    inc = session.get(Incident, incident_id)
    if inc is None:
        raise NotFound(f"unknown incident {incident_id}")
    old = status(session, inc)
    if old == "closed":
        raise BadInput(f"incident {incident_id} is closed")
    if note:
        check_text(note, "note")
    session.add(IncidentUpdate(incident_id=inc.id, status=new_status, note=note, actor=current_actor()))
    append_event(session, f"incident.{new_status}", "incident", inc.id, {"from": old, "note": note})
    return inc


def listing(session: Session, mv: ModelVersion | None = None) -> list[dict[str, object]]:
    stmt = select(Incident).order_by(Incident.id)
    if mv is not None:
        stmt = stmt.where(Incident.model_version_id == mv.id)
    return [
        {
            "id": i.id,
            "model_version_id": i.model_version_id,
            "description": i.description,
            "case_ref": i.case_ref,
            "severity": i.severity,
            "reported_by": i.reported_by,
            "reported_at": i.reported_at.isoformat(),
            "status": status(session, i),
        }
        for i in session.scalars(stmt)
    ]

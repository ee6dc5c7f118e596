"""ISO 14971-style risk assessments: versioned, with controls, residual risk and suggestions.

An assessment is a revision: adding or changing an item writes a new
:class:`~govkit.registry.tables.RiskAssessment` that supersedes the previous
one and carries all its items, so every earlier state stays on record.  Risk
levels come from the acceptability matrix in ``policies/risk-matrix.yaml``.

:func:`suggest_hazards` turns recorded evidence into proposed hazards: a high
membership-inference TPR (privacy), an accuracy drop under corruption
(misdiagnosis for noisy acquisitions), a failed localisation test (shortcut
learning), a large subgroup gap (fairness).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govkit.errors import BadInput
from govkit.registry.audit import append_event, current_actor
from govkit.registry.tables import Evaluation, Metric, ModelVersion, RiskAssessment, RiskItem


@functools.lru_cache(maxsize=1)
def matrix() -> dict[str, Any]:
    from govkit.resources import resource_dir
    from govkit.yamlio import load_file

    doc = load_file(resource_dir("policies") / "risk-matrix.yaml", "risk matrix")
    if not isinstance(doc, dict):
        raise BadInput("policies/risk-matrix.yaml must be a mapping")
    return doc


def parse_level(value: str | int, axis: str) -> int:
    """``S3``/``3`` -> 3 (axis ``S`` severity or ``P`` probability)."""
    m = re.fullmatch(rf"{axis}?([1-5])", str(value).strip().upper())
    if not m:
        raise BadInput(f"{'severity' if axis == 'S' else 'probability'} must be {axis}1..{axis}5, got {value!r}")
    return int(m.group(1))


def risk_level(severity: int, probability: int) -> str:
    return str(matrix()["level"][f"S{severity}"][probability - 1])


def acceptability(level: str) -> str:
    mx = matrix()
    if level in mx["acceptable"]:
        return "acceptable"
    return "alarp" if level in mx["alarp"] else "unacceptable"


@dataclass
class ItemInput:
    hazard: str
    situation: str
    harm: str
    severity: int
    probability: int
    controls: list[dict[str, Any]]
    residual_severity: int | None = None
    residual_probability: int | None = None
    source: str | None = None


def current(session: Session, mv: ModelVersion) -> RiskAssessment | None:
    return session.scalar(
        select(RiskAssessment)
        .where(RiskAssessment.model_version_id == mv.id)
        .order_by(RiskAssessment.revision.desc())
        .limit(1)
    )


def revision(session: Session, mv: ModelVersion, number: int) -> RiskAssessment:
    ra = session.scalar(
        select(RiskAssessment).where(RiskAssessment.model_version_id == mv.id, RiskAssessment.revision == number)
    )
    if ra is None:
        raise BadInput(f"no risk assessment revision {number} for this model")
    return ra


def _copy(item: RiskItem) -> RiskItem:
    cols = (
        "hazard",
        "hazardous_situation",
        "harm",
        "severity",
        "probability",
        "risk_level",
        "controls",
        "residual_severity",
        "residual_probability",
        "residual_level",
        "residual_acceptable",
        "source",
    )
    return RiskItem(**{c: getattr(item, c) for c in cols})


def add_item(session: Session, mv: ModelVersion, item: ItemInput) -> RiskAssessment:
    """Write a new revision holding the previous items plus ``item``."""
    from govkit.phiguard import check_text

    for name, value in (
        ("hazard", item.hazard),
        ("situation", item.situation),
        ("harm", item.harm),
        *(("control", str(c.get("control", ""))) for c in item.controls),
    ):
        check_text(value, name)
    for c in item.controls:
        if c.get("evidence") is not None and session.get(Evaluation, int(c["evidence"])) is None:
            raise BadInput(f"control evidence {c['evidence']} is not a recorded evaluation")
    prev = current(session, mv)
    ra = RiskAssessment(
        model_version_id=mv.id,
        revision=(prev.revision + 1) if prev else 1,
        supersedes_id=prev.id if prev else None,
        matrix=matrix(),
        author=current_actor(),
    )
    session.add(ra)
    session.flush()
    for old in prev.items if prev else []:
        copy = _copy(old)
        copy.assessment_id = ra.id
        session.add(copy)
    rs, rp = item.residual_severity, item.residual_probability
    residual = risk_level(rs, rp) if rs and rp else None
    session.add(
        RiskItem(
            assessment_id=ra.id,
            hazard=item.hazard,
            hazardous_situation=item.situation,
            harm=item.harm,
            severity=item.severity,
            probability=item.probability,
            risk_level=risk_level(item.severity, item.probability),
            controls=item.controls,
            residual_severity=rs,
            residual_probability=rp,
            residual_level=residual,
            residual_acceptable=(acceptability(residual) != "unacceptable") if residual else None,
            source=item.source,
        )
    )
    session.flush()
    session.refresh(ra)
    append_event(
        session,
        "risk.revise",
        "model_version",
        f"{mv.model.name}@{mv.version}",
        {"revision": ra.revision, "hazard": item.hazard, "risk_level": risk_level(item.severity, item.probability)},
    )
    return ra


def as_dict(ra: RiskAssessment) -> dict[str, Any]:
    return {
        "revision": ra.revision,
        "author": ra.author,
        "created_at": ra.created_at.isoformat(),
        "supersedes": ra.supersedes_id,
        "items": [
            {
                "hazard": i.hazard,
                "hazardous_situation": i.hazardous_situation,
                "harm": i.harm,
                "severity": f"S{i.severity}",
                "probability": f"P{i.probability}",
                "risk_level": i.risk_level,
                "acceptability": acceptability(i.risk_level),
                "controls": i.controls,
                "residual_severity": f"S{i.residual_severity}" if i.residual_severity else None,
                "residual_probability": f"P{i.residual_probability}" if i.residual_probability else None,
                "residual_level": i.residual_level,
                "residual_acceptable": i.residual_acceptable,
                "source": i.source,
            }
            for i in ra.items
        ],
    }


#: (evaluation kind, metric, params filter, predicate, hazard template)
Suggestion = tuple[str, str, dict[str, str], Callable[[float], bool], tuple[str, str, str, int, int]]
SUGGESTIONS: tuple[Suggestion, ...] = (
    (
        "privacy",
        "tpr_at_fpr_0.001",
        {},
        lambda v: v > 0.01,
        (
            "Training-patient membership can be inferred from model outputs",
            "An adversary with query access tests whether a patient's images were in the training set",
            "Disclosure of a patient's participation and condition (privacy breach)",
            3,
            2,
        ),
    ),
    (
        "robustness",
        "accuracy_drop",
        {},
        lambda v: v > 0.1,
        (
            "Accuracy drops on noisy or artefact-laden acquisitions",
            "Images acquired with noise or artefacts like the tested corruptions are read by the model",
            "Misdiagnosis: missed or false findings on degraded acquisitions",
            4,
            3,
        ),
    ),
    (
        "explainability",
        "passed",
        {"test": "localisation"},
        lambda v: v < 1,
        (
            "The model relies on features outside the lesion (shortcut learning)",
            "Deployment data lacks the spurious cue present in training data",
            "Misdiagnosis when the shortcut does not hold",
            4,
            3,
        ),
    ),
    (
        "performance",
        "max_subgroup_gap",
        {},
        lambda v: v > 0.05,
        (
            "Performance differs between patient subgroups",
            "The model is used on patients of the worse-served subgroup",
            "Unequal quality of care (fairness harm)",
            3,
            3,
        ),
    ),
)


def suggest_hazards(session: Session, mv: ModelVersion) -> list[dict[str, Any]]:
    out = []
    for kind, name, where, predicate, (hazard, situation, harm, sev, prob) in SUGGESTIONS:
        rows = session.execute(
            select(Metric, Evaluation.id)
            .join(Evaluation, Metric.evaluation_id == Evaluation.id)
            .where(Evaluation.model_version_id == mv.id, Evaluation.kind == kind, Metric.name == name)
            .order_by(Evaluation.id.desc())
        ).all()
        for metric, ev_id in rows:
            params = metric.params or {}
            if metric.value is None or any(str(params.get(k)) != str(v) for k, v in where.items()):
                continue
            if predicate(metric.value):
                out.append(
                    {
                        "hazard": hazard,
                        "hazardous_situation": situation,
                        "harm": harm,
                        "severity": f"S{sev}",
                        "probability": f"P{prob}",
                        "evidence": {"evaluation": ev_id, "metric": name, "value": metric.value, "params": params},
                    }
                )
                break
    return out

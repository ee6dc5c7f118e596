"""The model card section of a spec: schema validation and HTI-1 coverage.

:data:`CARD_SCHEMA` lists every field a card may hold: the Mitchell et al.
(2019) sections plus the fields that answer ONC HTI-1's predictive DSI source
attributes.  :func:`hti1_coverage` reports, for each of the 31 attributes
(``policies/hti1-source-attributes.yaml``), whether it is answered and by
which card field or recorded evidence.
"""

from __future__ import annotations

import functools

from govkit.errors import BadInput

TEXT, LIST = "text", "list"
CARD_SCHEMA: dict[str, str] = {
    # Mitchell et al. 2019
    "details": TEXT, "intended_use": TEXT, "out_of_scope_uses": TEXT, "factors": TEXT, "metrics": TEXT,
    "training_data": TEXT, "evaluation_data": TEXT, "ethical_considerations": TEXT,
    "caveats_and_limitations": TEXT, "recommendations": TEXT, "owners": LIST, "license": TEXT,
    # HTI-1 source attributes not covered above
    "funding": TEXT, "output_description": TEXT, "output_type": TEXT, "intended_population": TEXT,
    "intended_users": TEXT, "decision_role": TEXT, "sensitive_input_features": TEXT,
    "training_demographics": TEXT, "training_data_relevance": TEXT, "fairness_approach": TEXT,
    "bias_mitigation": TEXT, "external_validation": TEXT, "external_validation_party": TEXT,
    "external_demographics": TEXT, "external_validation_process": TEXT, "external_validity": TEXT,
    "external_fairness": TEXT, "outcome_evaluation_refs": TEXT, "monitoring": TEXT,
    "fairness_monitoring": TEXT, "update_schedule": TEXT, "revalidation_schedule": TEXT,
}


def validate_card(card: object, where: str = "card") -> dict:
    """Check field names and types; :class:`BadInput` names the first problem."""
    if card in (None, {}):
        return {}
    if not isinstance(card, dict):
        raise BadInput(f"{where}: must be a mapping of card fields")
    unknown = sorted(set(card) - CARD_SCHEMA.keys())
    if unknown:
        raise BadInput(f"{where}: unknown field(s) {', '.join(unknown)}; see govkit.governance.card.CARD_SCHEMA")
    for key, value in card.items():
        kind = CARD_SCHEMA[key]
        ok = isinstance(value, str) if kind == TEXT else (
            isinstance(value, list) and all(isinstance(v, str) for v in value))
        if not ok:
            raise BadInput(f"{where}.{key}: must be {'text' if kind == TEXT else 'a list of text'}")
    return card


@functools.lru_cache(maxsize=1)
def hti1_items() -> list[dict]:
    import yaml

    from govkit.resources import resource_dir

    doc = yaml.safe_load((resource_dir("policies") / "hti1-source-attributes.yaml").read_text())
    return [{**item, "group": g["name"]} for g in doc["groups"] for item in g["items"]]


def hti1_coverage(card: dict, evidence: set[str]) -> list[dict]:
    """Each attribute with ``answered`` and ``by`` (the first source that answers it).

    ``evidence`` holds ``kind`` and ``kind.metric`` strings of recorded
    evaluations (e.g. ``performance.auroc``).
    """
    out = []
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
        out.append({"group": item["group"], "id": item["id"], "text": item["text"], "answered": by is not None,
                    "by": by})
    return out


def recorded_evidence(session, mv) -> set[str]:
    from sqlalchemy import select

    from govkit.registry.models import Evaluation, Metric

    rows = session.execute(select(Evaluation.kind, Metric.name).join(Metric, Metric.evaluation_id == Evaluation.id)
                           .where(Evaluation.model_version_id == mv.id)).all()
    return {k for k, _ in rows} | {f"{k}.{n}" for k, n in rows}

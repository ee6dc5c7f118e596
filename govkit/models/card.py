"""The model card section of a spec: its schema and validation.

:data:`CARD_SCHEMA` lists every field a card may hold: the Mitchell et al.
(2019) sections, the fields that answer ONC HTI-1's predictive DSI source
attributes (coverage of those is computed by :mod:`govkit.governance.card`)
and four CHAI Applied Model Card elements (:mod:`govkit.reports.chai`);
``govkit model card-template`` prints them all with what each answers.
"""

from __future__ import annotations

from typing import Any

from govkit.errors import BadInput

TEXT, LIST = "text", "list"
CARD_SCHEMA: dict[str, str] = {
    # Mitchell et al. 2019
    "details": TEXT,
    "intended_use": TEXT,
    "out_of_scope_uses": TEXT,
    "factors": TEXT,
    "metrics": TEXT,
    "training_data": TEXT,
    "evaluation_data": TEXT,
    "ethical_considerations": TEXT,
    "caveats_and_limitations": TEXT,
    "recommendations": TEXT,
    "owners": LIST,
    "license": TEXT,
    "model_type": TEXT,
    "citation": TEXT,
    "contact": TEXT,
    # HTI-1 source attributes not covered above
    "funding": TEXT,
    "output_description": TEXT,
    "output_type": TEXT,
    "intended_population": TEXT,
    "intended_users": TEXT,
    "decision_role": TEXT,
    "sensitive_input_features": TEXT,
    "training_demographics": TEXT,
    "training_data_relevance": TEXT,
    "fairness_approach": TEXT,
    "bias_mitigation": TEXT,
    "external_validation": TEXT,
    "external_validation_party": TEXT,
    "external_demographics": TEXT,
    "external_validation_process": TEXT,
    "external_validity": TEXT,
    "external_fairness": TEXT,
    "outcome_evaluation_refs": TEXT,
    "monitoring": TEXT,
    "fairness_monitoring": TEXT,
    "update_schedule": TEXT,
    "revalidation_schedule": TEXT,
    # CHAI Applied Model Card v0.2 elements no field above answers
    "global_availability": TEXT,
    "regulatory_approval": TEXT,
    "stakeholders_consulted": TEXT,
    "patient_consent": TEXT,
}


#: Fields that name the people, parties, authors or licence responsible (never patients): not PHI-checked.
PARTY_FIELDS = frozenset({"owners", "contact", "citation", "external_validation_party", "funding", "license"})


def card_texts(card: dict[str, Any]) -> list[tuple[str, str]]:
    """``(field, text)`` of every free text a card holds that must be free of PHI."""
    out = []
    for key, value in card.items():
        if key not in PARTY_FIELDS:
            out += [(f"card field {key}", v) for v in (value if isinstance(value, list) else [value])]
    return out


def validate_card(card: object, where: str = "card") -> dict[str, Any]:
    """Check field names and types; :class:`BadInput` names the first problem."""
    if card in (None, {}):
        return {}
    if not isinstance(card, dict):
        raise BadInput(f"{where}: must be a mapping of card fields")
    unknown = sorted(set(card) - CARD_SCHEMA.keys())
    if unknown:
        raise BadInput(f"{where}: unknown field(s) {', '.join(unknown)}; see govkit.models.card.CARD_SCHEMA")
    for key, value in card.items():
        kind = CARD_SCHEMA[key]
        ok = (
            isinstance(value, str)
            if kind == TEXT
            else (isinstance(value, list) and all(isinstance(v, str) for v in value))
        )
        if not ok:
            raise BadInput(f"{where}.{key}: must be {'text' if kind == TEXT else 'a list of text'}")
    return card

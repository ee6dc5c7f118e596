"""A commented model-card template: every field of the card schema and what it answers.

Each field of :data:`govkit.models.card.CARD_SCHEMA` is printed with what to
write, the ONC HTI-1 predictive decision-support source attributes it
answers (45 CFR 170.315(b)(11)(iv)(B), from
``policies/hti1-source-attributes.yaml``, :func:`govkit.governance.card.hti1_items`)
and the CHAI Applied Model Card v0.2 elements it fills (read off the export
itself, :func:`govkit.reports.chai.card_field_elements`).  Fields follow
Mitchell et al., "Model Cards for Model Reporting" (FAT* 2019), where they
have a counterpart there.

Every value is left empty (YAML null); an empty field fails the spec's
validation, so a field is either written or deleted, never registered blank.
"""

from __future__ import annotations

from govkit.models.card import CARD_SCHEMA, LIST

#: What to write in each card field (one line).  Every schema field needs one (tests check it).
FIELD_HELP: dict[str, str] = {
    "details": "What the model is: developer, date, version, architecture in a few sentences.",
    "intended_use": "The clinical task and workflow it is meant for.",
    "out_of_scope_uses": "Uses, settings and populations it must not be applied to.",
    "factors": "Groups, instruments and environments across which performance may differ.",
    "metrics": "The performance measures reported and why they were chosen (goals, thresholds).",
    "training_data": "Training data: sources, inclusion and exclusion criteria.",
    "evaluation_data": "Evaluation data: sources, selection, how it differs from the training data.",
    "ethical_considerations": "Ethical considerations and known biases.",
    "caveats_and_limitations": "Known risks and limitations.",
    "recommendations": "How to use the output; what a user should do and check.",
    "owners": "The developers responsible (list of names and organisations).",
    "license": "The licence under which the model is distributed.",
    "model_type": "Model type, e.g. 'convolutional neural network, binary classifier'.",
    "citation": "How to cite the model (peer-reviewed publications).",
    "contact": "Contact for questions and reports (a role address, not a patient).",
    "funding": "Funding source of the model's development and technical implementation.",
    "output_description": "The value the model produces as output and how to read it.",
    "output_type": "Prediction, classification, recommendation, evaluation, analysis or other.",
    "intended_population": "The patient population(s) it is intended for.",
    "intended_users": "The intended users (e.g. radiologists at the point of reading).",
    "decision_role": "Its decision-making role: informs, augments or replaces clinical management.",
    "sensitive_input_features": "Use of race, ethnicity, language, sex, gender identity, date of birth, "
    "social determinants or health status as input features (or 'none').",
    "training_demographics": "Demographic representativeness of the training data.",
    "training_data_relevance": "Relevance of the training data to the intended deployed setting.",
    "fairness_approach": "The approach taken to make the output fair across subgroups.",
    "bias_mitigation": "Approaches to manage, reduce or eliminate bias.",
    "external_validation": "Data source, clinical setting or environment of external validation.",
    "external_validation_party": "The party that conducted the external testing.",
    "external_demographics": "Demographic representativeness of the external validation data.",
    "external_validation_process": "How the external validation was done.",
    "external_validity": "Validity found in external data.",
    "external_fairness": "Fairness found in external data.",
    "outcome_evaluation_refs": "References to evaluations of the model's effect on patient outcomes.",
    "monitoring": "Process and frequency by which validity is monitored over time.",
    "fairness_monitoring": "Process and frequency by which fairness is monitored over time.",
    "update_schedule": "The update schedule.",
    "revalidation_schedule": "The schedule of continued validation and fairness assessment.",
    "global_availability": "Where the model is or will be available (regions, sites).",
    "regulatory_approval": "Regulatory clearances or approvals (e.g. FDA 510(k) number), or 'none'.",
    "stakeholders_consulted": "Stakeholders consulted in development (clinicians, patients, ethics board).",
    "patient_consent": "Whether and how patients are informed of or consent to its use.",
}


def card_template() -> str:
    """The commented YAML template of a model card (the mapping under a spec's ``card:``)."""
    from govkit.governance.card import hti1_items
    from govkit.reports.chai import card_field_elements

    missing = sorted(CARD_SCHEMA.keys() - FIELD_HELP.keys())
    if missing:  # a schema field without help is a bug in this module
        raise RuntimeError(f"card template: no help for field(s) {', '.join(missing)}")
    hti1: dict[str, list[dict]] = {}
    for item in hti1_items():
        for source in item["answered_by"]:
            kind, _, name = source.partition(".")
            if kind == "card":
                hti1.setdefault(name, []).append(item)
    chai = card_field_elements()
    lines = [
        "# Model card template (govkit model card-template): every field of the card schema.",
        "# Use it as the file of `govkit model revise-card --card FILE`, or indent it under `card:`",
        "# in a model spec.  Write every field you can answer; delete the rest (an empty field",
        "# fails validation).",
        "# Per field: what to write; which ONC HTI-1 decision-support source attribute it answers",
        "# (45 CFR 170.315(b)(11)(iv)(B)); which CHAI Applied Model Card v0.2 element it fills.",
        "# Text fields take a string (use `|` for several lines); list fields a list of strings.",
        "# Patient data never belongs in a card: text fields are checked for PHI.",
    ]
    for name, kind in CARD_SCHEMA.items():
        answers = hti1.get(name, [])
        elements = chai[name]
        lines += [
            "",
            f"# {FIELD_HELP[name]}{' (a list)' if kind == LIST else ''}",
            *(f"#   HTI-1: {item['group']}: {item['text']} [{item['id']}]" for item in answers),
            *([] if answers else ["#   HTI-1: none"]),
            f"#   CHAI: {', '.join(elements) if elements else 'none'}",
            f"{name}:",
        ]
    return "\n".join(lines) + "\n"

"""HTI-1 coverage of a model card and its recorded evidence.

The card's schema lives with the spec (:mod:`govkit.models.card`).
:func:`hti1_coverage` reports, for each of the 31 attributes
(``policies/hti1-source-attributes.yaml``), whether it is answered and by
which card field or recorded evidence.
"""

from __future__ import annotations

import functools


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

    from govkit.registry.tables import Evaluation, Metric

    rows = session.execute(select(Evaluation.kind, Metric.name).join(Metric, Metric.evaluation_id == Evaluation.id)
                           .where(Evaluation.model_version_id == mv.id)).all()
    return {k for k, _ in rows} | {f"{k}.{n}" for k, n in rows}

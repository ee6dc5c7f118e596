"""Data evidence in the registry (contract 3 between the data audit, policies and reports).

* :func:`record_audit` stores one ``DataAudit`` row and its audit-chain event
  in one unit of work.  The stored result holds no patient IDs and no paths
  (pairs name images by dataset and index).
* :func:`data_metrics` gives the figures policies gate on: for each dataset
  the model version was trained on, the newest audit's dataset figures and,
  per other split, the newest comparison with it (``against``), with the
  other split's ``role`` for this model: its training-data role, else
  ``test`` when one of the model's evaluations used it, else ``other``.
* :func:`data_section` gives what the model card and the audit report show
  (``templates/_data_section.html``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govkit.canonical import canonical_json, sha256_hex
from govkit.evidence.metric import MetricValue
from govkit.registry.tables import DataAudit, DatasetVersion, Evaluation, ModelTrainingData, ModelVersion

MAX_STORED_PAIRS = 1000


def stored_result(result: dict[str, Any]) -> dict[str, Any]:
    """The registry's copy: no patient IDs, no paths, at most MAX_STORED_PAIRS pairs per list."""
    from govkit.evidence.records import json_safe

    def pairs(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in p.items() if k != "patient"} for p in items[:MAX_STORED_PAIRS]]

    out = {k: v for k, v in result.items() if k not in ("audit_id", "label_issues")}
    out["datasets"] = [{k: v for k, v in d.items() if k != "source"} for d in result["datasets"]]
    out["leakage"] = {
        **result["leakage"],
        "pairs": pairs(result["leakage"]["pairs"]),
        "pairs_total": len(result["leakage"]["pairs"]),
    }
    within = result["balance"]["within_duplicates"]
    out["balance"] = {**result["balance"], "within_duplicates": {**within, "pairs": pairs(within["pairs"])}}
    if "label_issues" in result:
        out["label_issues"] = {k: v for k, v in result["label_issues"].items() if k != "candidates"}
    return json_safe(out)


def record_audit(registry: Any, dataset_version_id: int, against: list[str], result: dict[str, Any]) -> int:
    from govkit.registry.audit import append_event, current_actor

    sha = sha256_hex(canonical_json(result))
    with registry.unit_of_work() as s:
        dv = s.get(DatasetVersion, dataset_version_id)
        row = DataAudit(
            dataset_version_id=dataset_version_id,
            against=list(against),
            result=result,
            sha256=sha,
            created_by=current_actor(),
        )
        s.add(row)
        s.flush()
        leak = result["leakage"]
        append_event(
            s,
            "data.audit",
            "data_audit",
            row.id,
            {
                "dataset": f"{dv.dataset.name}@{dv.version}",
                "against": list(against),
                "sha256": sha,
                "patient_overlap": leak["patient_overlap"],
                "duplicates": leak["duplicates"],
                "near_duplicates": leak["near_duplicates"],
            },
        )
        return row.id


def _ref(dv: DatasetVersion) -> str:
    return f"{dv.dataset.name}@{dv.version}"


def _links(session: Session, mv: ModelVersion) -> tuple[list[tuple[DatasetVersion, str]], set[int]]:
    """(training dataset versions with their roles, ids of the datasets the model was evaluated on)."""
    trained = [
        (dv, role)
        for dv, role in session.execute(
            select(DatasetVersion, ModelTrainingData.role)
            .join(ModelTrainingData, ModelTrainingData.dataset_version_id == DatasetVersion.id)
            .where(ModelTrainingData.model_version_id == mv.id)
            .order_by(ModelTrainingData.id)
        ).all()
    ]
    evaluated = {
        i
        for i in session.scalars(select(Evaluation.dataset_version_id).where(Evaluation.model_version_id == mv.id))
        if i is not None
    }
    return trained, evaluated


def _role(other_id: int | None, trained: list[tuple[DatasetVersion, str]], evaluated: set[int]) -> str:
    for dv, role in trained:
        if dv.id == other_id:
            return role
    return "test" if other_id in evaluated else "other"


def _audits(session: Session, dv: DatasetVersion) -> list[DataAudit]:
    return list(
        session.scalars(select(DataAudit).where(DataAudit.dataset_version_id == dv.id).order_by(DataAudit.id.desc()))
    )


def _figures(session: Session, mv: ModelVersion) -> list[tuple[DatasetVersion, DataAudit, dict[str, Any], str | None]]:
    """(training dataset, audit, metric dict, role of the other split or None) of the evidence used."""
    trained, evaluated = _links(session, mv)
    out: list[tuple[DatasetVersion, DataAudit, dict[str, Any], str | None]] = []
    for dv, _ in trained:
        audits = _audits(session, dv)
        if not audits:
            continue
        for m in audits[0].result.get("metrics", []):
            if "against" not in m["params"]:
                out.append((dv, audits[0], m, None))
        compared: set[str] = set()
        for audit in audits:  # newest comparison with each other split
            ids = {a["against"]: a.get("dataset_version_id") for a in audit.result.get("against", [])}
            for other in sorted(set(ids) - compared):
                role = _role(ids[other], trained, evaluated)
                out += [
                    (dv, audit, m, role) for m in audit.result.get("metrics", []) if m["params"].get("against") == other
                ]
            compared |= set(ids)
    return out


def data_metrics(session: Session, model_version: ModelVersion) -> list[MetricValue]:
    """Figures of the newest data audits of the model version's training data (see the module docstring)."""
    out = []
    for dv, audit, m, role in _figures(session, model_version):
        params = {**m["params"], "dataset": _ref(dv), "audit": audit.id}
        if role is not None:
            params["role"] = role
        out.append(
            MetricValue(
                m["name"],
                m["value"],
                m.get("ci_low"),
                m.get("ci_high"),
                m["n"],
                params,
                ci_level=m.get("ci_level", 0.95),
                status=m.get("status", "ok"),
                reason=m.get("reason"),
            )
        )
    return out


def _augmentations(mv: ModelVersion) -> list[str]:
    recipe = (mv.spec.get("spec") or {}).get("train")
    if not recipe:
        return ["The spec has no train recipe: the augmentations are not on record."]
    out = [f"Recipe: {', '.join(f'{k} {v}' for k, v in sorted(recipe.items()) if k != 'augment')}."]
    if recipe.get("augment"):
        from govkit.models.training import augment

        out.append(f"Augmentation: {(augment.__doc__ or 'on').strip().splitlines()[0]}")
    else:
        out.append("Augmentation: none (augment: false).")
    return out


def _dataset_info(session: Session, dv: DatasetVersion, role: str) -> dict[str, Any]:
    from govkit.data.datasheet import summary

    audits = _audits(session, dv)
    sheet = summary(dv.manifest.get("datasheet"))
    info: dict[str, Any] = {
        "dataset": _ref(dv),
        "role": role,
        "n": dv.manifest.get("n"),
        "classes": dv.manifest.get("label_counts", {}),
        "subgroups": {},
        "deid_run": dv.deid_run_id,
        "datasheet": sheet,
        "external": sheet.get("external"),
        "audit": None
        if not audits
        else {"id": audits[0].id, "created_at": audits[0].created_at.isoformat(), "as_other": False},
    }
    found = _entry_for(session, dv)
    if found is not None:
        audit, entry = found
        info.update(
            classes=entry["classes"],
            subgroups=entry["subgroups"],
            n_patients=entry["n_patients"],
            imbalance_ratio=entry["imbalance_ratio"],
        )
        if info["audit"] is None:
            info["audit"] = {"id": audit.id, "created_at": audit.created_at.isoformat(), "as_other": True}
    return info


def _entry_for(session: Session, dv: DatasetVersion) -> tuple[DataAudit, dict[str, Any]] | None:
    """The dataset's summary from the newest audit that covered it (as DATA or as an OTHER)."""
    ref = _ref(dv)
    for audit in session.scalars(select(DataAudit).order_by(DataAudit.id.desc())):
        for entry in audit.result.get("datasets", []):
            if entry.get("name") == ref:
                return audit, entry
    return None


def _pooled(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """Class and subgroup counts summed over datasets, as shares."""
    n = sum(i["n"] or 0 for i in infos)
    classes: dict[str, int] = {}
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for i in infos:
        for c, k in i["classes"].items():
            classes[c] = classes.get(c, 0) + k
        for attr, cells in i["subgroups"].items():
            for v, cell in cells.items():
                slot = groups.setdefault(attr, {}).setdefault(v, {"n": 0})
                slot["n"] += cell["n"]
    for cells in groups.values():
        for cell in cells.values():
            cell["share"] = cell["n"] / n if n else None
    return {"n": n, "classes": classes, "subgroups": groups}


def data_section(session: Session, model_version: ModelVersion) -> dict[str, Any] | None:
    """The Data section of the model card and audit report, or None when no data is on record."""
    from govkit.data.balance import compare_shares
    from govkit.data.charts import share_bars

    trained, evaluated = _links(session, model_version)
    if not trained and not evaluated:
        return None
    training = [_dataset_info(session, dv, role) for dv, role in trained]
    evaluation = [
        _dataset_info(session, dv, "test")
        for dv in session.scalars(
            select(DatasetVersion).where(DatasetVersion.id.in_(evaluated)).order_by(DatasetVersion.id)
        )
    ]
    leakage: list[dict[str, Any]] = []
    for dv, audit, m, role in _figures(session, model_version):
        if role is None or m["name"] not in ("patient_overlap", "duplicates", "near_duplicates"):
            continue
        against = m["params"]["against"]
        row = next((r for r in leakage if r["dataset"] == _ref(dv) and r["against"] == against), None)
        if row is None:
            row = {
                "dataset": _ref(dv),
                "against": against,
                "role": role,
                "audit": audit.id,
                "created_at": audit.created_at.isoformat(),
                "scope": (audit.result.get("search") or {}).get("scope"),
            }
            leakage.append(row)
        row[m["name"]] = m["value"]
        row[m["name"] + "_status"] = m.get("status", "ok")
    for row in leakage:
        vals = [row.get(k) for k in ("patient_overlap", "duplicates", "near_duplicates")]
        row["verdict"] = (
            "leakage" if any(v for v in vals if v) else "clean" if all(v is not None for v in vals) else "incomplete"
        )
    scopes: list[dict[str, Any]] = []  # what each near-duplicate search could find, once each
    for row in leakage:
        if row["scope"] and row["scope"] not in scopes:
            scopes.append(row["scope"])
    chart = None
    balance = {}
    if training and evaluation:
        balance = compare_shares(_pooled(training), _pooled(evaluation))
        chart = share_bars(balance, "training", "evaluation", "Class and subgroup shares")
    external = [i["external"] for i in evaluation]
    return {
        "training": training,
        "evaluation": evaluation,
        "leakage": leakage,
        "scopes": scopes,
        "audited": any(i["audit"] for i in training),
        "external_evaluation": (
            True
            if any(e is True for e in external)
            else False
            if external and all(e is False for e in external)
            else None
        ),
        "augmentations": _augmentations(model_version),
        "balance": balance,
        "chart": chart,
    }

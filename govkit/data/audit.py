"""``govkit data audit``: one dataset against the other splits it is used with.

:func:`run_audit` resolves DATA and each OTHER (a registered ``NAME@VERSION``,
whose files must still match the recorded content hash, or a dataset path),
computes image signatures once per split, and reports patient leakage, exact
and near-duplicate pairs, balance, DICOM acquisition distributions and,
with a model, label-issue candidates.  When DATA is a registered dataset
version the result is recorded (:func:`govkit.data.records.record_audit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from govkit.data.balance import SMALL_CELL, summarise
from govkit.data.hashing import Signatures, signatures
from govkit.data.leakage import DEFAULT_THRESHOLD, Split, image_pairs, patient_overlap
from govkit.data.records import record_audit, stored_result
from govkit.errors import BadInput
from govkit.evidence.metric import MetricValue
from govkit.models.datasets import ImageData, open_dataset


@dataclass
class Resolved:
    shown: str  # what the user typed (a ref or a path)
    key: str  # NAME@VERSION, or unregistered:sha256:<16 hex> (never a path: paths may hold PHI)
    path: Path
    data: ImageData
    content_sha256: str
    dataset_version_id: int | None


def resolve(registry: Any, ref: str) -> Resolved:
    """A registered ``NAME@VERSION`` or a dataset file, checked against the registry."""
    from govkit.evidence.records import dataset_version_id
    from govkit.registry.lookup import dataset_version
    from govkit.registry.tables import DatasetVersion

    p = Path(ref)
    if p.is_file():
        data = open_dataset(p)
        sha = data.content_sha256()
        with registry.unit_of_work() as s:
            dv_id = dataset_version_id(s, sha)
            dv = s.get(DatasetVersion, dv_id) if dv_id is not None else None
            key = f"{dv.dataset.name}@{dv.version}" if dv is not None else f"unregistered:sha256:{sha[:16]}"
        return Resolved(ref, key, p, data, sha, dv_id)
    if "@" not in ref:
        raise BadInput(f"dataset {ref} not found (give a file path or a registered NAME@VERSION)")
    with registry.unit_of_work() as s:
        dv = dataset_version(s, ref)
        path, sha, dv_id = Path(dv.manifest["path"]), dv.content_sha256, dv.id
    if not path.is_file():
        raise BadInput(f"{ref}: its data is no longer at {path}")
    data = open_dataset(path)
    if data.content_sha256() != sha:
        raise BadInput(f"{ref}: the data at {path} changed since it was registered (sha256 mismatch)")
    return Resolved(ref, ref, path, data, sha, dv_id)


def _signatures(r: Resolved, shown: int = 5) -> Signatures:
    """Signatures of a split; one with NaN or infinite pixels is bad input.

    Such an image has no embedding, so no near copy of it could be found:
    the audit refuses the split rather than report it clean.
    """
    sig = signatures(r.data)
    bad = np.nonzero(~sig.finite)[0]
    if len(bad):
        listed = ", ".join(str(i) for i in bad[:shown]) + (", …" if len(bad) > shown else "")
        raise BadInput(
            f"{r.shown}: {len(bad)} image(s) hold NaN, infinite or overflowing pixel values (index {listed}); "
            "fix or drop them before the audit"
        )
    return sig


def _metric(
    name: str, value: float | None, n: int, params: dict[str, Any] | None = None, reason: str | None = None
) -> dict[str, Any]:
    status = "ok" if reason is None else "unsupported"
    return MetricValue(
        name, value if reason is None else None, None, None, n, dict(params or {}), status=status, reason=reason
    ).as_dict()


def _dataset_metrics(entry: dict[str, Any]) -> list[dict[str, Any]]:
    n = entry["n"]
    out = [_metric("n", float(n), n)]
    out.append(
        _metric("n_patients", float(entry["n_patients"]), n)
        if entry["n_patients"] is not None
        else _metric("n_patients", None, n, reason="the dataset has no patient_id")
    )
    classes = entry["classes"]
    out.append(
        _metric("min_class_n", float(min(classes.values())), n)
        if classes
        else _metric("min_class_n", None, n, reason="no images")
    )
    out.append(
        _metric("imbalance_ratio", entry["imbalance_ratio"], n)
        if entry["imbalance_ratio"] is not None
        else _metric("imbalance_ratio", None, n, reason="no images")
    )
    if not entry["subgroups"]:
        out.append(_metric("min_subgroup_n", None, n, reason="the dataset has no group_<name> columns"))
    for attr, cells in entry["subgroups"].items():
        out.append(_metric("min_subgroup_n", float(min(c["n"] for c in cells.values())), n, {"subgroup": attr}))
    return out


def run_audit(
    registry: Any,
    data_ref: str,
    against: list[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    model: str | None = None,
    method: str = "auto",
    device: str = "auto",
    record: bool = True,
) -> dict[str, Any]:
    """The audit's JSON object (see the README); recorded when DATA is registered."""
    main = resolve(registry, data_ref)
    others = [resolve(registry, r) for r in against]
    seen = {main.content_sha256: main.shown}
    for o in others:
        if o.content_sha256 in seen:
            raise BadInput(f"{o.shown} has the same content as {seen[o.content_sha256]}: audit distinct splits")
        seen[o.content_sha256] = o.shown
    splits = [Split(r.key, r.data, _signatures(r)) for r in (main, *others)]
    warnings: list[str] = []
    datasets = []
    for r in (main, *others):
        entry, warn = summarise(r.key, r.data)
        entry["source"] = r.shown
        datasets.append(entry)
        warnings += warn
    by_split, search = image_pairs(splits, threshold, method=method)
    n_main = len(main.data)
    metrics = _dataset_metrics(datasets[0])
    pairs: list[dict[str, Any]] = []
    totals = {"patient_overlap": 0, "duplicates": 0, "near_duplicates": 0}
    per_other = []
    for k, o in enumerate(others, start=1):
        found = by_split[k]
        patients = patient_overlap(splits[0], splits[k])
        params = {"against": o.key}
        if patients is None:
            warnings.append(f"patient leakage between {main.key} and {o.key} cannot be checked: no patient_id")
            metrics.append(
                _metric("patient_overlap", None, n_main, params, reason="patient IDs missing in one of the splits")
            )
        else:
            metrics.append(_metric("patient_overlap", float(len(patients)), datasets[k]["n_patients"], params))
            totals["patient_overlap"] += len(patients)
            pairs += patients
        metrics.append(_metric("duplicates", float(len(found.duplicate)), n_main + len(o.data), params))
        metrics.append(_metric("near_duplicates", float(len(found.near)), n_main + len(o.data), params))
        totals["duplicates"] += len(found.duplicate)
        totals["near_duplicates"] += len(found.near)
        pairs += found.duplicate + found.near
        per_other.append(
            {
                "against": o.key,
                "dataset_version_id": o.dataset_version_id,
                "patient_overlap": None if patients is None else len(patients),
                "duplicates": len(found.duplicate),
                "near_duplicates": len(found.near),
            }
        )
    within = by_split[0]
    metrics.append(_metric("duplicates", float(len(within.duplicate)), n_main, {"scope": "within"}))
    metrics.append(_metric("near_duplicates", float(len(within.near)), n_main, {"scope": "within"}))
    if within.duplicate or within.near:
        warnings.append(
            f"{main.key}: {len(within.duplicate)} exact and {len(within.near)} near-duplicate "
            "pair(s) inside the dataset (they inflate its size and weight those images)"
        )
    if search["flat_images"]:
        warnings.append(f"{search['flat_images']} image(s) without contrast: only exact duplicates searched")
    leaked = any(v for v in totals.values())
    result: dict[str, Any] = {
        "dataset": main.key,
        "against": per_other,
        "datasets": datasets,
        "leakage": {**totals, "found": leaked, "pairs": pairs},
        "balance": {
            "small_cell": SMALL_CELL,
            "imbalance_ratio": {d["name"]: d["imbalance_ratio"] for d in datasets},
            "within_duplicates": {
                "duplicates": len(within.duplicate),
                "near_duplicates": len(within.near),
                "pairs": within.duplicate + within.near,
            },
        },
        "search": search,
        "metrics": metrics,
        "warnings": warnings,
    }
    if model is not None:
        result["label_issues"] = _label_issues(registry, model, main.path, device)
    result["audit_id"] = None
    if record and main.dataset_version_id is not None:
        result["audit_id"] = record_audit(
            registry, main.dataset_version_id, [o.key for o in others], stored_result(result)
        )
    return result


def _label_issues(registry: Any, model: str, path: Path, device: str) -> dict[str, Any]:
    from govkit.data.labels import label_issues
    from govkit.evaluate.performance import predict_proba
    from govkit.evidence.records import load_for_eval

    ref, net, data, dev = load_for_eval(registry, model, path, device)
    probs = predict_proba(net, data, device=dev)
    return {"model": ref.spec.ref, **label_issues(probs, data.labels, list(ref.spec.classes))}

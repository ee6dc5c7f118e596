"""Balance of one dataset: classes, subgroups with Wilson intervals, intersections,
and the acquisition devices and parameters of DICOM manifests.

Cells with fewer than :data:`SMALL_CELL` images are flagged: a metric computed
on them (per class, per subgroup) cannot support a verdict, the same floor
the performance evaluation warns at.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from govkit.evaluate.metrics import wilson
from govkit.models.datasets import ImageData

SMALL_CELL = 30
#: DICOM attributes whose distribution is reported: (key, keyword, numeric)
DICOM_FIELDS = (
    ("manufacturer", "Manufacturer", False),
    ("model", "ManufacturerModelName", False),
    ("site", "InstitutionName", False),
    ("modality", "Modality", False),
    ("kvp", "KVP", True),
    ("slice_thickness", "SliceThickness", True),
    ("field_strength", "MagneticFieldStrength", True),
)


def _counts(values: np.ndarray) -> dict[str, int]:
    keys, n = np.unique(values.astype(str), return_counts=True)
    return {str(k): int(c) for k, c in zip(keys, n, strict=True)}


def _shares(counts: dict[str, int], total: int) -> dict[str, dict[str, Any]]:
    out = {}
    for value, k in sorted(counts.items()):
        lo, hi = wilson(k, total)
        out[value] = {"n": k, "share": k / total if total else None, "ci_low": lo, "ci_high": hi}
    return out


def summarise(name: str, data: ImageData) -> tuple[dict[str, Any], list[str]]:
    """The dataset entry of the audit (n, patients, classes, subgroups) and its warnings."""
    n = len(data)
    warnings: list[str] = []
    classes = _counts(data.labels)
    sizes = list(classes.values())
    ratio = max(sizes) / min(sizes) if sizes else None
    small = sorted(c for c, k in classes.items() if k < SMALL_CELL)
    if small:
        warnings.append(f"{name}: class(es) {', '.join(small)} have fewer than {SMALL_CELL} images")
    subgroups = {attr: _shares(_counts(v), n) for attr, v in sorted(data.groups.items())}
    for attr, cells in subgroups.items():
        few = sorted(v for v, c in cells.items() if c["n"] < SMALL_CELL)
        if few:
            warnings.append(f"{name}: {attr} = {', '.join(few)} has fewer than {SMALL_CELL} images")
    intersections: dict[str, dict[str, int]] = {}
    for a, b in combinations(sorted(data.groups), 2):
        pairs = Counter(zip(data.groups[a].astype(str).tolist(), data.groups[b].astype(str).tolist(), strict=True))
        key = f"{a}×{b}"
        intersections[key] = {f"{x}|{y}": k for (x, y), k in sorted(pairs.items())}
        few = sorted(c for c, k in intersections[key].items() if k < SMALL_CELL)
        if few:
            warnings.append(
                f"{name}: {len(few)} cell(s) of {key} have fewer than {SMALL_CELL} images "
                f"({', '.join(few[:5])}{', …' if len(few) > 5 else ''})"
            )
    n_patients = None if data.patient_id is None else len(np.unique(data.patient_id.astype(str)))
    if n_patients is None:
        warnings.append(f"{name}: no patient_id: patient leakage cannot be checked")
    entry: dict[str, Any] = {
        "name": name,
        "n": n,
        "n_patients": n_patients,
        "classes": classes,
        "imbalance_ratio": ratio,
        "subgroups": subgroups,
        "intersections": intersections,
    }
    if data.paths is not None and any(p.suffix.lower() not in (".png", ".npy") for p in data.paths):
        entry["dicom"] = dicom_distributions(data.paths)
    return entry, warnings


def dicom_distributions(paths: list[Path]) -> dict[str, Any]:
    """Counts of device and acquisition values read from the DICOM headers (pixels not read)."""
    import pydicom

    values: dict[str, list[Any]] = {key: [] for key, _, _ in DICOM_FIELDS}
    unreadable = 0
    for p in paths:
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - any unreadable header is counted, never fatal here
            unreadable += 1
            continue
        for key, keyword, numeric in DICOM_FIELDS:
            v = ds.get(keyword)
            if v in (None, ""):
                values[key].append(None)
            elif numeric:
                try:
                    values[key].append(round(float(v), 3))
                except (TypeError, ValueError):
                    values[key].append(None)
            else:
                values[key].append(str(v).strip())
    out: dict[str, Any] = {"n_files": len(paths), "unreadable": unreadable}
    for key, _, numeric in DICOM_FIELDS:
        vals = values[key]
        present = [v for v in vals if v is not None]
        dist: dict[str, Any] = {
            "missing": len(vals) - len(present),
            "counts": {str(k): c for k, c in sorted(Counter(present).items(), key=str)},
        }
        if numeric and present:
            arr = np.asarray(present, dtype=float)
            dist.update(min=float(arr.min()), median=float(np.median(arr)), max=float(arr.max()))
        out[key] = dist
    return out


def compare_shares(a: dict[str, Any], b: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Share of each class and subgroup value in ``a`` and ``b`` (e.g. training vs evaluation)."""
    out: dict[str, dict[str, float | None]] = {}
    for label in sorted(set(a["classes"]) | set(b["classes"])):
        out[f"class {label}"] = {
            "a": a["classes"].get(label, 0) / max(a["n"], 1),
            "b": b["classes"].get(label, 0) / max(b["n"], 1),
        }
    for attr in sorted(set(a["subgroups"]) & set(b["subgroups"])):
        for v in sorted(set(a["subgroups"][attr]) | set(b["subgroups"][attr])):
            out[f"{attr} {v}"] = {
                "a": a["subgroups"][attr].get(v, {}).get("share", 0.0),
                "b": b["subgroups"][attr].get(v, {}).get("share", 0.0),
            }
    return out

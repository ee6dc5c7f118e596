"""The Basic Application Level Confidentiality Profile, DICOM PS3.15 Annex E.

The profile is data: Table E.1-1 (revision 2024b) is generated from the
standard by ``scripts/gen_annex_e.py`` into
``policies/deid/ps3.15-table-e.1-1-2024b.json``.  This module loads it and
answers one question: *which action applies to this attribute under these
options?*  :mod:`govkit.deid.header.engine` carries the action out.

Action codes (PS3.15 Table E.1-1a): ``D`` dummy value, ``Z`` zero length or
dummy, ``X`` remove, ``K`` keep (sequences are still cleaned), ``C`` clean,
``U`` replace UID.  Type-dependent codes (``Z/D``, ``X/Z``, ``X/D``,
``X/Z/D``, ``X/Z/U*``) are resolved per SOP Class by :func:`resolve_type_dependent`
from ``policies/deid/attribute-types.yaml``.

Options (PS3.15 E.3) override the basic action with their column's action.
When several selected options name different actions for one attribute,
the most protective wins (X > Z > D > U > C > K): for example
``clean-descriptors`` (C) beats ``retain-device-identity`` (K).
``retain-longitudinal-full-dates`` and ``retain-longitudinal-modified-dates``
contradict each other and cannot be combined.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from govkit.errors import BadInput
from govkit.resources import resource_dir

REVISION = "2024b"
TABLE_FILE = f"ps3.15-table-e.1-1-{REVISION}.json"

#: option name -> (PS3.15 section, CID 7050 code value, pydicom ``codes.DCM`` keyword)
OPTIONS: dict[str, tuple[str, str, str]] = {
    "retain-safe-private": ("E.3.10", "113111", "RetainSafePrivateOption"),
    "retain-uids": ("E.3.9", "113110", "RetainUidsOption"),
    "retain-device-identity": ("E.3.8", "113109", "RetainDeviceIdentityOption"),
    "retain-institution-identity": ("E.3.11", "113112", "RetainInstitutionIdentityOption"),
    "retain-patient-characteristics": ("E.3.7", "113108", "RetainPatientCharacteristicsOption"),
    "retain-longitudinal-full-dates": ("E.3.6", "113106", "RetainLongitudinalTemporalInformationFullDatesOption"),
    "retain-longitudinal-modified-dates": (
        "E.3.6",
        "113107",
        "RetainLongitudinalTemporalInformationModifiedDatesOption",
    ),
    "clean-descriptors": ("E.3.5", "113105", "CleanDescriptorsOption"),
    "clean-structured-content": ("E.3.4", "113104", "CleanStructuredContentOption"),
    "clean-graphics": ("E.3.3", "113103", "CleanGraphicsOption"),
    "clean-pixel-data": ("E.3.1", "113101", "CleanPixelDataOption"),
}
BASIC_PROFILE_CODE = ("113100", "BasicApplicationConfidentialityProfile")

#: Most protective first; used to settle conflicts between options.
PROTECTIVENESS = ("X", "Z", "D", "U", "C", "K")

#: Type-dependent action -> action for an attribute of Type 1, 2, 3.
TYPE_DEPENDENT: dict[str, dict[int, str]] = {
    "Z/D": {1: "D", 2: "Z", 3: "Z"},
    "X/Z": {1: "Z", 2: "Z", 3: "X"},
    "X/D": {1: "D", 2: "D", 3: "X"},
    "X/Z/D": {1: "D", 2: "Z", 3: "X"},
    "X/Z/U*": {1: "U", 2: "Z", 3: "X"},
}

PRIVATE = "private"


@dataclass(frozen=True)
class Rule:
    """One row of Table E.1-1."""

    tag: str  # "00100010", "60xx3000", "50xxxxxx" or "private"
    name: str
    keyword: str
    basic: str
    options: Mapping[str, str] = field(default_factory=dict)

    def action(self, selected: frozenset[str]) -> str:
        """The action under ``selected`` options, before Type resolution."""
        chosen = [a for opt, a in self.options.items() if opt in selected]
        if not chosen:
            return self.basic
        return min(chosen, key=PROTECTIVENESS.index)


@dataclass(frozen=True)
class Profile:
    revision: str
    rules: tuple[Rule, ...]

    @functools.cached_property
    def exact(self) -> dict[int, Rule]:
        return {int(r.tag, 16): r for r in self.rules if "x" not in r.tag and r.tag != PRIVATE}

    @functools.cached_property
    def repeating(self) -> tuple[tuple[int, int, Rule], ...]:
        """(mask, value, rule) for the 50xx/60xx repeating-group rows."""
        out = []
        for r in self.rules:
            if "x" in r.tag:
                mask = int("".join("0" if c == "x" else "F" for c in r.tag), 16)
                value = int(r.tag.replace("x", "0"), 16)
                out.append((mask, value, r))
        return tuple(out)

    @functools.cached_property
    def private(self) -> Rule:
        return next(r for r in self.rules if r.tag == PRIVATE)

    def rule_for(self, tag: int) -> Rule | None:
        """The row governing ``tag`` (a public tag; private tags use :attr:`private`)."""
        rule = self.exact.get(tag)
        if rule is not None:
            return rule
        group = tag >> 16
        if 0x5000 <= group <= 0x60FF:
            for mask, value, r in self.repeating:
                if tag & mask == value:
                    return r
        return None


@functools.lru_cache(maxsize=1)
def load_profile() -> Profile:
    """Load the shipped Table E.1-1."""
    doc = json.loads((resource_dir("policies") / "deid" / TABLE_FILE).read_text())
    rules = tuple(Rule(r["tag"], r["name"], r["keyword"], r["basic"], dict(r["options"])) for r in doc["rows"])
    return Profile(doc["revision"], rules)


def validate_options(options: Iterable[str]) -> frozenset[str]:
    """Check option names; :class:`BadInput` for unknown or contradictory ones."""
    selected = frozenset(options)
    unknown = sorted(selected - OPTIONS.keys())
    if unknown:
        raise BadInput(f"unknown de-identification option(s) {', '.join(unknown)}; known: {', '.join(OPTIONS)}")
    if {"retain-longitudinal-full-dates", "retain-longitudinal-modified-dates"} <= selected:
        raise BadInput(
            "options retain-longitudinal-full-dates and retain-longitudinal-modified-dates exclude each other"
        )
    return selected


@functools.lru_cache(maxsize=1)
def _type_families() -> dict[str, dict[int, int]]:
    from govkit.yamlio import load_file

    doc = load_file(resource_dir("policies") / "deid" / "attribute-types.yaml")
    by_sop: dict[str, dict[int, int]] = {}
    for fam in doc["families"].values():
        types = {int(k, 16): int(v) for k, v in fam["types"].items()}
        for uid in fam["sop_classes"]:
            by_sop[str(uid)] = types
    return by_sop


def attribute_type(tag: int, sop_class_uid: str | None) -> int:
    """The attribute's Type (1, 2 or 3) in this SOP Class; 1 when unknown (strictest)."""
    return _type_families().get(sop_class_uid or "", {}).get(tag, 1)


def resolve_type_dependent(action: str, tag: int, sop_class_uid: str | None) -> str:
    """Turn a Type-dependent action into a single action for this SOP Class."""
    table = TYPE_DEPENDENT.get(action)
    if table is None:
        return action
    return table[attribute_type(tag, sop_class_uid)]

"""Deployment policies: YAML requirements checked against the registry's evidence.

A policy is ``name``, ``version`` and ``requirements``, a list of items with
an ``id`` and an ``evidence`` kind.  Each kind has one :class:`Check` in
:data:`CHECKS` (one protocol, a registry of implementations, a common test
suite).  Every requirement ends as ``pass``, ``fail``, ``missing`` (no
evidence on record) or ``not-applicable`` (its ``applies_when`` tags do not
match the model).

Metric evidence (``performance``, ``privacy``, ``robustness``,
``explainability``) takes the newest evaluation of that kind for the model
version holding ``metric`` with parameters matching ``where``, and compares
its value with ``min`` and/or ``max``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from govkit.errors import BadInput
from govkit.registry.tables import (
    Approval,
    DatasetVersion,
    DeidRun,
    Evaluation,
    Incident,
    IncidentUpdate,
    Metric,
    ModelTrainingData,
    ModelVersion,
)

METRIC_EVIDENCE = ("performance", "privacy", "robustness", "explainability")
EVIDENCE = (*METRIC_EVIDENCE, "deid", "card", "approval", "incident")
CLOSED_INCIDENT = "closed"


@dataclass(frozen=True)
class Requirement:
    id: str
    evidence: str
    line: int
    metric: str | None = None
    where: dict[str, Any] = field(default_factory=dict)
    min: float | None = None
    max: float | None = None
    fields: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    max_open: int | None = None
    applies_when: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    name: str
    version: str
    requirements: tuple[Requirement, ...]
    source: str


@dataclass
class Outcome:
    id: str
    evidence: str
    status: str  # pass | fail | missing | not-applicable
    value: Any = None
    threshold: Any = None
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- loading


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers the line of every mapping (``__line__``)."""


def _mapping_with_line(loader, node):
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def _fail(source: str, line: int, msg: str) -> BadInput:
    return BadInput(f"{source} line {line}: {msg}")


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise BadInput(f"cannot read policy {path}: {exc.strerror}") from None
    return parse_policy(text, str(path))


def parse_policy(text: str, source: str = "policy") -> Policy:
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise _fail(source, mark.line + 1 if mark else 1, f"invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(doc, dict):
        raise _fail(source, 1, "a policy is a mapping with name, version and requirements")
    top = doc.get("__line__", 1)
    for key in ("name", "version", "requirements"):
        if key not in doc:
            raise _fail(source, top, f"missing key {key!r}")
    if not isinstance(doc["requirements"], list) or not doc["requirements"]:
        raise _fail(source, top, "'requirements' must be a non-empty list")
    reqs, seen = [], set()
    for item in doc["requirements"]:
        if not isinstance(item, dict):
            raise _fail(source, top, "each requirement is a mapping")
        reqs.append(_requirement(item, source))
        if reqs[-1].id in seen:
            raise _fail(source, reqs[-1].line, f"duplicate requirement id {reqs[-1].id!r}")
        seen.add(reqs[-1].id)
    return Policy(str(doc["name"]), str(doc["version"]), tuple(reqs), source)


KNOWN_KEYS = {"id", "evidence", "metric", "where", "min", "max", "fields", "roles", "options", "max_open",
              "applies_when", "description", "__line__"}


def _requirement(item: dict, source: str) -> Requirement:
    line = item["__line__"]
    unknown = set(item) - KNOWN_KEYS
    if unknown:
        raise _fail(source, line, f"unknown key(s) {sorted(unknown)}")
    if "id" not in item or "evidence" not in item:
        raise _fail(source, line, "a requirement needs 'id' and 'evidence'")
    evidence = item["evidence"]
    if evidence not in EVIDENCE:
        raise _fail(source, line, f"evidence must be one of {', '.join(EVIDENCE)}, got {evidence!r}")

    def number(key):
        v = item.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise _fail(source, line, f"{key!r} must be a number")
        return None if v is None else float(v)

    def strings(key):
        v = item.get(key, [])
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise _fail(source, line, f"{key!r} must be a list of strings")
        return tuple(v)

    def mapping(key):
        v = item.get(key, {})
        if not isinstance(v, dict):
            raise _fail(source, line, f"{key!r} must be a mapping")
        return {k: x for k, x in v.items() if k != "__line__"}

    req = Requirement(
        id=str(item["id"]), evidence=evidence, line=line, metric=item.get("metric"),
        where=mapping("where"), min=number("min"), max=number("max"), fields=strings("fields"),
        roles=strings("roles"), options=strings("options"),
        max_open=int(item["max_open"]) if item.get("max_open") is not None else None,
        applies_when=mapping("applies_when"),
    )
    CHECKS[evidence].validate(req, lambda msg: _fail(source, line, msg))
    return req


# --------------------------------------------------------------------------- checks


class Check(Protocol):
    """One evidence kind: validate a requirement, then evaluate it for a model version."""

    def validate(self, req: Requirement, fail) -> None: ...

    def evaluate(self, req: Requirement, session: Session, mv: ModelVersion) -> Outcome: ...


def _params_match(params: dict, where: dict) -> bool:
    for k, want in where.items():
        got = params.get(k)
        if isinstance(want, (int, float)) and isinstance(got, (int, float)):
            if not math.isclose(float(got), float(want), rel_tol=1e-6, abs_tol=1e-9):
                return False
        elif str(got) != str(want):
            return False
    return True


def _bounds(req: Requirement) -> dict:
    return {k: v for k, v in (("min", req.min), ("max", req.max)) if v is not None}


class MetricCheck:
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def validate(self, req, fail) -> None:
        if not req.metric:
            raise fail(f"{self.kind} evidence needs 'metric'")
        if req.min is None and req.max is None:
            raise fail("metric evidence needs 'min' and/or 'max'")

    def evaluate(self, req, session, mv) -> Outcome:
        rows = session.execute(
            select(Metric, Evaluation.id)
            .join(Evaluation, Metric.evaluation_id == Evaluation.id)
            .where(Evaluation.model_version_id == mv.id, Evaluation.kind == self.kind, Metric.name == req.metric)
            .order_by(Evaluation.id.desc(), Metric.id)
        ).all()
        match = next((m for m, _ in rows if _params_match(m.params or {}, req.where)), None)
        out = Outcome(req.id, req.evidence, "missing", None, _bounds(req))
        if match is None or match.value is None:
            out.detail = f"no {self.kind} evaluation records {req.metric}" + (f" where {req.where}" if req.where else "")
            return out
        ok = (req.min is None or match.value >= req.min) and (req.max is None or match.value <= req.max)
        out.status, out.value = ("pass" if ok else "fail"), match.value
        out.detail = f"evaluation {match.evaluation_id}: {req.metric} = {match.value:.4g}"
        if match.ci_low is not None:
            out.detail += f" (95% CI {match.ci_low:.4g}–{match.ci_high:.4g}, n={match.n})"
        return out


class CardCheck:
    def validate(self, req, fail) -> None:
        if not req.fields:
            raise fail("card evidence needs 'fields'")

    def evaluate(self, req, session, mv) -> Outcome:
        card = (mv.spec.get("spec") or {}).get("card") or {}
        missing = [f for f in req.fields if card.get(f) in (None, "", [], {})]
        status = "pass" if not missing else "fail"
        return Outcome(req.id, req.evidence, status, sorted(set(req.fields) - set(missing)), list(req.fields),
                       f"missing card fields: {', '.join(missing)}" if missing else "all fields filled")


class ApprovalCheck:
    def validate(self, req, fail) -> None:
        if not req.roles:
            raise fail("approval evidence needs 'roles'")

    def evaluate(self, req, session, mv) -> Outcome:
        latest: dict[str, str] = {}
        for a in session.scalars(select(Approval).where(Approval.model_version_id == mv.id).order_by(Approval.id)):
            latest[a.role] = a.decision
        approved = sorted(r for r in req.roles if latest.get(r) == "approve")
        if not latest:
            return Outcome(req.id, req.evidence, "missing", [], list(req.roles), "no approvals recorded")
        status = "pass" if len(approved) == len(req.roles) else "fail"
        pending = [r for r in req.roles if r not in approved]
        return Outcome(req.id, req.evidence, status, approved, list(req.roles),
                       f"not approved by: {', '.join(pending)}" if pending else "all roles approved")


class DeidCheck:
    def validate(self, req, fail) -> None:
        from govkit.deid.header.profile import OPTIONS

        unknown = set(req.options) - OPTIONS.keys()
        if unknown:
            raise fail(f"unknown de-identification option(s) {sorted(unknown)}")

    def evaluate(self, req, session, mv) -> Outcome:
        rows = session.execute(
            select(DatasetVersion, DeidRun)
            .join(ModelTrainingData, ModelTrainingData.dataset_version_id == DatasetVersion.id)
            .outerjoin(DeidRun, DeidRun.id == DatasetVersion.deid_run_id)
            .where(ModelTrainingData.model_version_id == mv.id)
        ).all()
        if not rows:
            return Outcome(req.id, req.evidence, "missing", None, list(req.options), "no training data on record")
        problems = []
        for dv, run in rows:
            if run is None:
                problems.append(f"dataset version {dv.id} has no de-identification run")
            elif missing := set(req.options) - set(run.options):
                problems.append(f"run {run.id} lacks {sorted(missing)}")
        status = "pass" if not problems else ("missing" if all(r is None for _, r in rows) else "fail")
        return Outcome(req.id, req.evidence, status, [r.id for _, r in rows if r], list(req.options),
                       "; ".join(problems) or "every training dataset comes from a conforming run")


class IncidentCheck:
    def validate(self, req, fail) -> None:
        if req.max_open is None or req.max_open < 0:
            raise fail("incident evidence needs 'max_open' (>= 0)")

    def evaluate(self, req, session, mv) -> Outcome:
        n_open = 0
        for inc in session.scalars(select(Incident).where(Incident.model_version_id == mv.id)):
            last = session.scalar(select(IncidentUpdate.status).where(IncidentUpdate.incident_id == inc.id)
                                  .order_by(IncidentUpdate.id.desc()).limit(1))
            n_open += last != CLOSED_INCIDENT
        status = "pass" if n_open <= req.max_open else "fail"
        return Outcome(req.id, req.evidence, status, n_open, {"max": req.max_open}, f"{n_open} open incident(s)")


CHECKS: dict[str, Check] = {
    **{k: MetricCheck(k) for k in METRIC_EVIDENCE},
    "card": CardCheck(),
    "approval": ApprovalCheck(),
    "deid": DeidCheck(),
    "incident": IncidentCheck(),
}


def _applies(req: Requirement, tags: dict) -> bool:
    return all(str(tags.get(k)) == str(v) for k, v in req.applies_when.items())


@dataclass
class PolicyReport:
    policy: str
    model: str
    outcomes: list[Outcome]

    @property
    def passed(self) -> bool:
        return all(o.status in ("pass", "not-applicable") for o in self.outcomes)

    def as_dict(self) -> dict:
        return {
            "policy": self.policy, "model": self.model, "passed": self.passed,
            "requirements": [o.as_dict() for o in self.outcomes],
        }


def check_policy(session: Session, mv: ModelVersion, policy: Policy) -> PolicyReport:
    outcomes = []
    for req in policy.requirements:
        if not _applies(req, mv.tags or {}):
            outcomes.append(Outcome(req.id, req.evidence, "not-applicable", None, req.applies_when,
                                    "applies_when does not match the model's tags"))
            continue
        outcomes.append(CHECKS[req.evidence].evaluate(req, session, mv))
    return PolicyReport(f"{policy.name}@{policy.version}", f"{mv.model.name}@{mv.version}", outcomes)


def junit_xml(report: PolicyReport) -> str:
    """JUnit XML: one test case per requirement; fail and missing are failures."""
    import xml.etree.ElementTree as ET

    failures = sum(o.status in ("fail", "missing") for o in report.outcomes)
    skipped = sum(o.status == "not-applicable" for o in report.outcomes)
    suite = ET.Element("testsuite", name=f"govkit policy {report.policy}", tests=str(len(report.outcomes)),
                       failures=str(failures), errors="0", skipped=str(skipped))
    for o in report.outcomes:
        case = ET.SubElement(suite, "testcase", classname=f"{report.model}.{o.evidence}", name=o.id)
        if o.status in ("fail", "missing"):
            el = ET.SubElement(case, "failure", type=o.status, message=o.detail)
            el.text = f"value={o.value!r} threshold={o.threshold!r}"
        elif o.status == "not-applicable":
            ET.SubElement(case, "skipped", message=o.detail)
    return ET.tostring(ET.ElementTree(suite).getroot(), encoding="unicode", xml_declaration=True)

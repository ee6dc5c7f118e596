"""Deployment policies: YAML requirements checked against the registry's evidence.

A policy is ``name``, ``version`` and ``requirements``, a list of items with
an ``id`` and an ``evidence`` kind.  Each kind has one :class:`Check` in
:data:`CHECKS` (one protocol, a registry of implementations, a common test
suite; ``govkit.testing.check_policy_check`` runs it on third-party checks).
Every requirement ends as ``pass``, ``fail``, ``missing`` (no evidence on
record), ``insufficient`` (evidence on record that cannot bear a verdict) or
``not-applicable`` (its ``applies_when`` tags do not match the model).

**Content-addressed.**  :attr:`Policy.sha256` is the SHA-256 of the
canonical policy (its parsed content as canonical JSON: comments, layout and
key order do not count).  The registry keeps one content per
``name@version`` (:func:`record_policy`); different content under a known
name and version is refused.

**Metric evidence** (``performance``, ``privacy``, ``robustness``,
``explainability``, ``data``) takes, for each dataset evaluated, the *newest*
evaluation (data: audit) holding ``metric`` with parameters matching
``where``, and every figure in it that matches: the worst one decides, so a
newer evaluation on other data cannot hide a failing one and a ``where``
that leaves a selector open is judged on all the figures it matches.  Metric names and
``where`` keys are validated per kind (:data:`VOCABULARY`).  Gates bear only
on evidence that can carry them:

* ``min`` compares the confidence interval's *lower* bound, ``max`` its
  *upper* bound; ``on: point`` compares the point estimate instead (and the
  outcome says so).  Exact figures (counts of a dataset, a check's verdict)
  have no sampling error and compare their value.
* a figure without a CI, a figure whose producer marked it ``unsupported`` or
  ``unreliable``, and a TPR at an FPR below ``1/n`` are ``insufficient``:
  never a pass.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from govkit.canonical import canonical_json, sha256_hex
from govkit.errors import BadInput
from govkit.registry.tables import (
    DatasetVersion,
    DeidRun,
    Evaluation,
    Incident,
    IncidentUpdate,
    Metric,
    ModelTrainingData,
    ModelVersion,
    PolicyRecord,
)

METRIC_EVIDENCE = ("performance", "privacy", "robustness", "explainability", "data")
EVIDENCE = (*METRIC_EVIDENCE, "deid", "card", "approval", "incident")
CLOSED_INCIDENT = "closed"
BLOCKING = ("fail", "missing", "insufficient")
GATE_ON = ("ci", "point")


@dataclass(frozen=True)
class Requirement:
    id: str
    evidence: str
    line: int
    metric: str | None = None
    where: dict[str, Any] = field(default_factory=dict)
    min: float | None = None
    max: float | None = None
    on: str = "ci"
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
    sha256: str = ""
    content: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass
class Outcome:
    id: str
    evidence: str
    status: str  # pass | fail | missing | insufficient | not-applicable
    value: Any = None
    threshold: Any = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- vocabulary

Names = Callable[[], Collection[str]]


def _mia_attacks() -> Collection[str]:
    from govkit.privacy.attacks import MIA_ATTACKS

    return MIA_ATTACKS.keys()


def _adversarial_attacks() -> Collection[str]:
    from govkit.robustness.attacks import ADVERSARIAL_ATTACKS

    return ADVERSARIAL_ATTACKS.keys()


def _corruptions() -> Collection[str]:
    from govkit.robustness.corruptions import CORRUPTIONS

    return CORRUPTIONS.keys()


def _explanation_checks() -> Collection[str]:
    from govkit.explain.checks import EXPLANATION_CHECKS

    return EXPLANATION_CHECKS.keys()


def _attribution_methods() -> Collection[str]:
    from govkit.explain.methods import ATTRIBUTION_METHODS

    return ATTRIBUTION_METHODS.keys()


_PERFORMANCE = ("accuracy", "auroc", "sensitivity", "specificity", "ppv", "npv", "ece")
DATA_ROLES = ("train", "validation", "test", "external", "population")
DATA_METRICS = (
    "patient_overlap",
    "duplicates",
    "near_duplicates",
    "n",
    "n_patients",
    "min_class_n",
    "min_subgroup_n",
    "imbalance_ratio",
)


@dataclass(frozen=True)
class Vocabulary:
    """The metrics an evidence kind records, and the ``where`` keys it can match.

    A ``where`` key maps to the allowed values: a tuple, a function returning
    a registry's names (imported only when a policy uses the key), ``float``
    for numbers, or ``str`` for free text.
    """

    metrics: tuple[str, ...]
    where: dict[str, tuple[str, ...] | Names | type]
    exact: tuple[str, ...] = ()  # figures with no sampling error (compared by value)


VOCABULARY: dict[str, Vocabulary] = {
    "performance": Vocabulary(
        (*_PERFORMANCE, "max_subgroup_gap"),
        {"group": str, "value": str, "metric": _PERFORMANCE},
    ),
    "privacy": Vocabulary(
        ("auc", "epsilon_lower_bound", "tpr_at_fpr_0.001", "tpr_at_fpr_0.01", "control_auc", "control_p_value"),
        {"attack": _mia_attacks, "unit": ("record", "patient"), "delta": float, "confidence": float, "test": str},
    ),
    "robustness": Vocabulary(
        (
            "clean_accuracy",
            "accuracy",
            "relative_robustness",
            "accuracy_drop",
            "corruption_error",
            "mean_corruption_error",
            "mean_corruption_error_unnormalised",
        ),
        {"corruption": _corruptions, "severity": float, "attack": _adversarial_attacks, "eps": float},
    ),
    "explainability": Vocabulary(
        ("passed", "score"),
        {"check": _explanation_checks, "test": _explanation_checks, "method": _attribution_methods, "baseline": str},
        exact=("passed",),
    ),
    # every data figure is a count or ratio of the dataset itself: exact, no sampling error
    "data": Vocabulary(DATA_METRICS, {"against": str, "role": DATA_ROLES, "subgroup": str}, exact=DATA_METRICS),
}


# --------------------------------------------------------------------------- loading


def _fail(source: str, line: int, msg: str) -> BadInput:
    return BadInput(f"{source} line {line}: {msg}")


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot read policy {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"policy {path} is not UTF-8 text") from None
    return parse_policy(text, str(path))


def canonical_sha256(doc: Any) -> str:
    """SHA-256 of a parsed policy's canonical JSON (``__line__`` marks removed)."""
    from govkit.yamlio import strip_lines

    return sha256_hex(canonical_json(strip_lines(doc)))


def parse_policy(text: str, source: str = "policy") -> Policy:
    from govkit.yamlio import load

    doc = load(text, source, lines=True)
    if not isinstance(doc, dict):
        raise _fail(source, 1, "a policy is a mapping with name, version and requirements")
    top = doc.get("__line__", 1)
    for key in ("name", "version", "requirements"):
        if key not in doc:
            raise _fail(source, top, f"missing key {key!r}")
    unknown = set(doc) - {"name", "version", "requirements", "description", "__line__"}
    if unknown:
        raise _fail(source, top, f"unknown top-level key(s) {sorted(unknown)}")
    if not isinstance(doc["requirements"], list) or not doc["requirements"]:
        raise _fail(source, top, "'requirements' must be a non-empty list")
    reqs: list[Requirement] = []
    seen: set[str] = set()
    for item in doc["requirements"]:
        if not isinstance(item, dict):
            raise _fail(source, top, "each requirement is a mapping")
        reqs.append(_requirement(item, source))
        if reqs[-1].id in seen:
            raise _fail(source, reqs[-1].line, f"duplicate requirement id {reqs[-1].id!r}")
        seen.add(reqs[-1].id)
    return Policy(str(doc["name"]), str(doc["version"]), tuple(reqs), source, canonical_sha256(doc), text)


KNOWN_KEYS = {
    "id",
    "evidence",
    "metric",
    "where",
    "min",
    "max",
    "on",
    "fields",
    "roles",
    "options",
    "max_open",
    "applies_when",
    "description",
    "__line__",
}
Fail = Callable[[str], BadInput]


def _requirement(item: dict[str, Any], source: str) -> Requirement:
    line = int(item["__line__"])
    unknown = set(item) - KNOWN_KEYS
    if unknown:
        raise _fail(source, line, f"unknown key(s) {sorted(unknown)}")
    if "id" not in item or "evidence" not in item:
        raise _fail(source, line, "a requirement needs 'id' and 'evidence'")
    evidence = item["evidence"]
    if evidence not in EVIDENCE:
        raise _fail(source, line, f"evidence must be one of {', '.join(EVIDENCE)}, got {evidence!r}")

    def number(key: str) -> float | None:
        v = item.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise _fail(source, line, f"{key!r} must be a finite number")
        return None if v is None else float(v)

    def strings(key: str) -> tuple[str, ...]:
        v = item.get(key, [])
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise _fail(source, line, f"{key!r} must be a list of strings")
        return tuple(v)

    def mapping(key: str) -> dict[str, Any]:
        v = item.get(key, {})
        if not isinstance(v, dict):
            raise _fail(source, line, f"{key!r} must be a mapping")
        return {k: x for k, x in v.items() if k != "__line__"}

    on = item.get("on", "ci")
    if on not in GATE_ON:
        raise _fail(source, line, f"'on' must be one of {', '.join(GATE_ON)}, got {on!r}")
    max_open = item.get("max_open")
    if max_open is not None and (isinstance(max_open, bool) or not isinstance(max_open, int)):
        raise _fail(source, line, "'max_open' must be an integer")
    metric = item.get("metric")
    if metric is not None and not isinstance(metric, str):
        raise _fail(source, line, "'metric' must be text")
    req = Requirement(
        id=str(item["id"]),
        evidence=evidence,
        line=line,
        metric=metric,
        where=mapping("where"),
        min=number("min"),
        max=number("max"),
        on=on,
        fields=strings("fields"),
        roles=strings("roles"),
        options=strings("options"),
        max_open=max_open,
        applies_when=mapping("applies_when"),
    )
    CHECKS[evidence].validate(req, lambda msg: _fail(source, line, msg))
    return req


def record_policy(session: Session, policy: Policy) -> PolicyRecord:
    """The registry's record of ``policy``: one canonical content per ``name@version``.

    :class:`BadInput` when other content was already recorded under the same
    name and version (a policy edited without a new version).
    """
    from govkit.registry.audit import current_actor

    row = session.scalar(
        select(PolicyRecord).where(PolicyRecord.name == policy.name, PolicyRecord.version == policy.version)
    )
    if row is None:
        row = PolicyRecord(
            name=policy.name,
            version=policy.version,
            sha256=policy.sha256,
            content=policy.content,
            created_by=current_actor(),
        )
        session.add(row)
        session.flush()
    elif row.sha256 != policy.sha256:
        raise BadInput(
            f"{policy.source}: policy {policy.ref} differs from the {policy.ref} on record "
            f"(sha256 {policy.sha256[:12]}… vs {row.sha256[:12]}…); give a changed policy a new version"
        )
    return row


# --------------------------------------------------------------------------- checks


class Check(Protocol):
    """One evidence kind: validate a requirement, then evaluate it for a model version.

    ``validate`` raises the :class:`BadInput` made by ``fail(message)`` (which
    adds the policy's file and line) for a requirement it cannot check;
    ``evaluate`` returns one :class:`Outcome` and never passes a requirement
    without evidence that can bear it.
    """

    def validate(self, req: Requirement, fail: Fail) -> None: ...

    def evaluate(self, req: Requirement, session: Session, mv: ModelVersion) -> Outcome: ...


def _params_match(params: dict[str, Any], where: dict[str, Any]) -> bool:
    for k, want in where.items():
        got = params.get(k)
        if isinstance(want, (int, float)) and isinstance(got, (int, float)):
            if not math.isclose(float(got), float(want), rel_tol=1e-6, abs_tol=1e-9):
                return False
        elif str(got) != str(want):
            return False
    return True


def _bounds(req: Requirement) -> dict[str, float]:
    return {k: v for k, v in (("min", req.min), ("max", req.max)) if v is not None}


_TPR_AT_FPR = re.compile(r"tpr_at_fpr_(?P<fpr>[0-9.e-]+)")


@dataclass(frozen=True)
class Figure:
    """One recorded figure a metric requirement is judged on."""

    source: str  # e.g. "evaluation 12"
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int | None
    status: str
    reason: str | None


def judge(req: Requirement, fig: Figure, exact: bool) -> Outcome:
    """The gate rule: pass only on a figure that can bear the verdict."""
    out = Outcome(req.id, req.evidence, "insufficient", fig.value, {**_bounds(req), "on": req.on})
    desc = f"{fig.source}: {req.metric} = " + ("n/a" if fig.value is None else f"{fig.value:.4g}")
    if fig.ci_low is not None and fig.ci_high is not None:
        desc += f" (95% CI {fig.ci_low:.4g}–{fig.ci_high:.4g}, n={fig.n})"
    elif fig.n is not None:
        desc += f" (n={fig.n})"
    if fig.status != "ok":
        out.detail = f"{desc}: insufficient evidence, figure {fig.status}" + (f" ({fig.reason})" if fig.reason else "")
        return out
    if fig.value is None:
        out.detail = f"{desc}: insufficient evidence, no value"
        return out
    m = _TPR_AT_FPR.fullmatch(req.metric or "")
    if m and (not fig.n or float(m.group("fpr")) < 1.0 / fig.n):
        out.detail = (
            f"{desc}: insufficient evidence, an FPR of {m.group('fpr')} needs at least "
            f"{math.ceil(1 / float(m.group('fpr')))} negatives"
        )
        return out
    if exact or req.on == "point":
        low = high = fig.value
        basis = "value" if exact else "point estimate (on: point)"
    elif fig.ci_low is None or fig.ci_high is None:
        out.detail = (
            f"{desc}: insufficient evidence, no confidence interval to gate on (add 'on: point' "
            "to gate on the point estimate)"
        )
        return out
    else:
        low, high = fig.ci_low, fig.ci_high
        basis = "CI"
    ok_min = req.min is None or low >= req.min
    ok_max = req.max is None or high <= req.max
    out.status = "pass" if ok_min and ok_max else "fail"
    rules = []
    if req.min is not None:
        rules.append(f"{'lower bound ' if basis == 'CI' else ''}{low:.4g} {'≥' if ok_min else '<'} min {req.min:g}")
    if req.max is not None:
        rules.append(f"{'upper bound ' if basis == 'CI' else ''}{high:.4g} {'≤' if ok_max else '>'} max {req.max:g}")
    out.detail = f"{desc}; gated on the {basis}: " + ", ".join(rules)
    return out


class MetricCheck:
    """Figures of an evaluation kind (or of data audits, for ``data``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def validate(self, req: Requirement, fail: Fail) -> None:
        vocab = VOCABULARY[self.kind]
        if not req.metric:
            raise fail(f"{self.kind} evidence needs 'metric'")
        if req.metric not in vocab.metrics:
            raise fail(f"unknown {self.kind} metric {req.metric!r}; known: {', '.join(vocab.metrics)}")
        if req.min is None and req.max is None:
            raise fail("metric evidence needs 'min' and/or 'max'")
        for key, value in req.where.items():
            allowed = vocab.where.get(key)
            if allowed is None:
                raise fail(f"unknown 'where' key {key!r} for {self.kind}; known: {', '.join(vocab.where)}")
            if allowed is float:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise fail(f"'where' {key} must be a number, got {value!r}")
            elif allowed is str:
                if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                    raise fail(f"'where' {key} must be text, got {value!r}")
            else:
                names = allowed if isinstance(allowed, tuple) else allowed()
                if str(value) not in names:
                    raise fail(f"unknown 'where' {key} {value!r}; known: {', '.join(sorted(names))}")

    def figures(self, session: Session, mv: ModelVersion, req: Requirement) -> list[Figure]:
        """The figures a requirement is judged on, newest first."""
        if self.kind == "data":
            from govkit.data.records import data_metrics  # written by the dataset audit (E5)

            return [
                Figure(
                    "data audit" + (f" of {m.params['dataset']}" if m.params.get("dataset") else ""),
                    m.value,
                    m.ci_low,
                    m.ci_high,
                    m.n,
                    m.status,
                    m.reason,
                )
                for m in data_metrics(session, mv)
                if m.name == req.metric and _params_match(m.params or {}, req.where)
            ]
        rows = session.execute(
            select(
                Metric,
                Evaluation.id,
                Evaluation.dataset_version_id,
                Evaluation.config["data_sha256"].as_string(),  # not the whole config per metric row
            )
            .join(Evaluation, Metric.evaluation_id == Evaluation.id)
            .where(Evaluation.model_version_id == mv.id, Evaluation.kind == self.kind, Metric.name == req.metric)
            .order_by(Evaluation.id.desc(), Metric.id)
        ).all()
        # The newest evaluation on each dataset counts, and every figure in it that
        # matches 'where': a newer evaluation on other (e.g. cherry-picked) data
        # adds figures but never hides the older dataset's, and a 'where' that
        # leaves a selector open (a group without its value, an attack without
        # its eps) is judged on every figure it matches, not the first.
        newest: dict[tuple[Any, Any], int] = {}
        out = []
        for m, ev_id, dv_id, data_sha256 in rows:
            if not _params_match(m.params or {}, req.where):
                continue
            data = (dv_id, data_sha256)
            if newest.setdefault(data, ev_id) == ev_id:
                out.append(Figure(f"evaluation {ev_id}", m.value, m.ci_low, m.ci_high, m.n, m.status, m.reason))
        return out

    def evaluate(self, req: Requirement, session: Session, mv: ModelVersion) -> Outcome:
        figs = self.figures(session, mv, req)
        if not figs:
            what = "data audit" if self.kind == "data" else f"{self.kind} evaluation"
            return Outcome(
                req.id,
                req.evidence,
                "missing",
                None,
                _bounds(req),
                f"no {what} records {req.metric}" + (f" where {req.where}" if req.where else ""),
            )
        exact = req.metric in VOCABULARY[self.kind].exact
        # every figure that counts must pass (see figures): the worst one decides
        outcomes = [judge(req, f, exact) for f in figs]
        return min(outcomes, key=lambda o: ("fail", "insufficient", "pass").index(o.status))


class CardCheck:
    def validate(self, req: Requirement, fail: Fail) -> None:
        from govkit.models.card import CARD_SCHEMA

        if not req.fields:
            raise fail("card evidence needs 'fields'")
        unknown = [f for f in req.fields if f not in CARD_SCHEMA]
        if unknown:
            raise fail(f"unknown card field(s) {', '.join(unknown)}; see govkit.models.card.CARD_SCHEMA")

    def evaluate(self, req: Requirement, session: Session, mv: ModelVersion) -> Outcome:
        from govkit.governance.card import current_card

        card = current_card(session, mv)
        missing = [f for f in req.fields if card.get(f) in (None, "", [], {})]
        status = "pass" if not missing else "fail"
        return Outcome(
            req.id,
            req.evidence,
            status,
            sorted(set(req.fields) - set(missing)),
            list(req.fields),
            f"missing card fields: {', '.join(missing)}" if missing else "all fields filled",
        )


class ApprovalCheck:
    """Required roles, each approved by a different signer with a valid signature.

    Only each signer's newest signature counts (a later decision supersedes an
    earlier one), so one person fills at most one role; the registrant of the
    version never counts (separation of duties, by key fingerprint).  Fails
    closed: a version registered without a signer key (or whose registration
    signature is invalid) has no authenticated registrant and cannot pass.
    """

    def validate(self, req: Requirement, fail: Fail) -> None:
        from govkit.governance.signatures import ROLE_PATTERN

        if not req.roles:
            raise fail("approval evidence needs 'roles'")
        bad = [r for r in req.roles if not ROLE_PATTERN.fullmatch(r)]
        if bad:
            raise fail(f"role names are lower-case words joined by '-', got {bad}")
        if len(set(req.roles)) != len(req.roles):
            raise fail("'roles' lists a role twice")

    def evaluate(self, req: Requirement, session: Session, mv: ModelVersion) -> Outcome:
        from govkit.governance.signatures import registration_of, signature_rows, unauthenticated_registrant

        rows = signature_rows(session, mv)
        if not rows:
            return Outcome(req.id, req.evidence, "missing", [], list(req.roles), "no approvals recorded")
        unauthenticated = unauthenticated_registrant(session, mv)
        if unauthenticated is not None:
            return Outcome(
                req.id,
                req.evidence,
                "fail",
                [],
                list(req.roles),
                f"{unauthenticated}: separation of duties cannot be shown, so no approval counts; "
                "register a new version with 'model register --key'",
            )
        registration = registration_of(session, mv)
        registrant_fp = registration.fingerprint if registration is not None else None
        current = [r for r in rows if not r["superseded"]]
        notes = [f"{r['signer']}: signature invalid ({r['reason']})" for r in current if not r["valid"]]
        notes += [
            f"{r['signer']}: registered this version, does not count (separation of duties)"
            for r in current
            if r["fingerprint"] == registrant_fp
        ]
        current = [r for r in current if r["fingerprint"] != registrant_fp]
        approved = {
            r["role"]: r["signer"]
            for r in current
            if r["valid"] and r["decision"] == "approve" and r["role"] in req.roles
        }
        rejected = [
            f"{r['signer']} ({r['role']}) rejected" for r in current if r["valid"] and r["decision"] == "reject"
        ]
        pending = [r for r in req.roles if r not in approved]
        status = "pass" if not pending and not rejected else "fail"
        detail = "; ".join([*([f"not approved by: {', '.join(pending)}"] if pending else []), *rejected, *notes])
        return Outcome(
            req.id,
            req.evidence,
            status,
            sorted(approved),
            list(req.roles),
            detail or "all roles approved by different signers",
        )


class DeidCheck:
    """Training data from conforming de-identification runs.

    Conforming: every input file written or deliberately skipped and none
    failed, a recorded ``deid verify`` of the run's output whose newest result
    is clean (exit 0), and the required options.
    """

    def validate(self, req: Requirement, fail: Fail) -> None:
        from govkit.deid.header.profile import OPTIONS

        unknown = set(req.options) - OPTIONS.keys()
        if unknown:
            raise fail(f"unknown de-identification option(s) {sorted(unknown)}")

    def evaluate(self, req: Requirement, session: Session, mv: ModelVersion) -> Outcome:
        rows = session.execute(
            select(DatasetVersion, DeidRun)
            .join(ModelTrainingData, ModelTrainingData.dataset_version_id == DatasetVersion.id)
            .outerjoin(DeidRun, DeidRun.id == DatasetVersion.deid_run_id)
            .where(ModelTrainingData.model_version_id == mv.id)
        ).all()
        if not rows:
            return Outcome(req.id, req.evidence, "missing", None, list(req.options), "no training data on record")
        problems: list[str] = []
        runs: list[str] = []
        for dv, run in rows:
            if run is None:  # the outer join found no run
                problems.append(f"dataset version {dv.id} has no de-identification run")
                continue
            runs.append(run.id)
            problems += run_problems(session, run, req.options)
        status = "pass" if not problems else ("fail" if runs else "missing")
        return Outcome(
            req.id,
            req.evidence,
            status,
            runs,
            list(req.options),
            "; ".join(problems) or "every training dataset comes from a conforming, verified run",
        )


def run_problems(session: Session, run: DeidRun, options: Collection[str]) -> list[str]:
    """Why a de-identification run does not conform (empty when it does)."""
    from govkit.registry.audit import list_events

    out = []
    if run.n_failed:
        out.append(f"run {run.id} has {run.n_failed} failed file(s)")
    if run.n_ok + run.n_skipped != run.n_files:
        out.append(f"run {run.id} wrote or skipped {run.n_ok + run.n_skipped} of {run.n_files} file(s)")
    if missing := set(options) - set(run.options):
        out.append(f"run {run.id} lacks {sorted(missing)}")
    verifies = list_events(session, entity_type="deid_run", entity_id=run.id, action="deid.verify")
    if not verifies:
        out.append(f"run {run.id} has no recorded 'deid verify'")
    elif verifies[-1].payload.get("ok") is not True:
        last = verifies[-1].payload
        out.append(
            f"the newest 'deid verify' of run {run.id} found residual PHI "
            f"({last.get('n_findings', '?')} finding(s), {last.get('n_accepted', 0)} accepted)"
        )
    return out


class IncidentCheck:
    def validate(self, req: Requirement, fail: Fail) -> None:
        if req.max_open is None or req.max_open < 0:
            raise fail("incident evidence needs 'max_open' (>= 0)")

    def evaluate(self, req: Requirement, session: Session, mv: ModelVersion) -> Outcome:
        max_open = req.max_open or 0
        n_open = 0
        for inc in session.scalars(select(Incident).where(Incident.model_version_id == mv.id)):
            last = session.scalar(
                select(IncidentUpdate.status)
                .where(IncidentUpdate.incident_id == inc.id)
                .order_by(IncidentUpdate.id.desc())
                .limit(1)
            )
            n_open += last != CLOSED_INCIDENT
        status = "pass" if n_open <= max_open else "fail"
        return Outcome(req.id, req.evidence, status, n_open, {"max": max_open}, f"{n_open} open incident(s)")


CHECKS: dict[str, Check] = {
    **{k: MetricCheck(k) for k in METRIC_EVIDENCE},
    "card": CardCheck(),
    "approval": ApprovalCheck(),
    "deid": DeidCheck(),
    "incident": IncidentCheck(),
}


def _tag_text(value: Any) -> str:
    return unicodedata.normalize("NFKC", str(value)).strip().casefold()


def _applies(req: Requirement, tags: dict[str, Any]) -> bool:
    """Whether ``applies_when`` leaves the requirement out for these tags.

    Fails closed: the model's tags come from its registrant, so a tag that is
    missing applies the requirement, and values compare without regard to
    case, width or surrounding space (``High`` is ``high``).  Only a tag that
    is present with another value leaves the requirement out.
    """
    return all(
        k not in tags or tags[k] is None or _tag_text(tags[k]) == _tag_text(v) for k, v in req.applies_when.items()
    )


@dataclass
class PolicyReport:
    policy: str
    model: str
    outcomes: list[Outcome]
    sha256: str = ""

    @property
    def passed(self) -> bool:
        return all(o.status in ("pass", "not-applicable") for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "policy_sha256": self.sha256,
            "model": self.model,
            "passed": self.passed,
            "requirements": [o.as_dict() for o in self.outcomes],
        }


def check_policy(session: Session, mv: ModelVersion, policy: Policy) -> PolicyReport:
    outcomes = []
    for req in policy.requirements:
        if not _applies(req, mv.tags or {}):
            outcomes.append(
                Outcome(
                    req.id,
                    req.evidence,
                    "not-applicable",
                    None,
                    req.applies_when,
                    "applies_when does not match the model's tags",
                )
            )
            continue
        outcomes.append(CHECKS[req.evidence].evaluate(req, session, mv))
    return PolicyReport(policy.ref, f"{mv.model.name}@{mv.version}", outcomes, policy.sha256)


def junit_xml(report: PolicyReport) -> str:
    """JUnit XML: one test case per requirement; fail and missing are failures."""
    import xml.etree.ElementTree as ET

    failures = sum(o.status in BLOCKING for o in report.outcomes)
    skipped = sum(o.status == "not-applicable" for o in report.outcomes)
    suite = ET.Element(
        "testsuite",
        name=f"govkit policy {report.policy}",
        tests=str(len(report.outcomes)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
    )
    for o in report.outcomes:
        case = ET.SubElement(suite, "testcase", classname=f"{report.model}.{o.evidence}", name=o.id)
        if o.status in BLOCKING:
            el = ET.SubElement(case, "failure", type=o.status, message=o.detail)
            el.text = f"value={o.value!r} threshold={o.threshold!r}"
        elif o.status == "not-applicable":
            ET.SubElement(case, "skipped", message=o.detail)
    return str(ET.tostring(suite, encoding="unicode", xml_declaration=True))

"""Policy checks: every evidence kind passing, failing and missing (a common suite)."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from govkit.errors import BadInput
from govkit.governance.policy import CHECKS, EVIDENCE, check_policy, parse_policy
from govkit.registry import tables as m
from tests.governance.conftest import roster_key, signed_registration

CARD = {"intended_use": "demo", "owners": ["a"], "license": "MIT"}


def _model(session, tags=None) -> m.ModelVersion:
    mv = m.ModelVersion(
        model=m.Model(name="net"),
        version="1",
        artifact_sha256="0" * 64,
        spec={"spec": {"card": CARD}, "base_dir": "/"},
        spec_sha256="0" * 64,
        tags=tags or {"risk_class": "high"},
        created_by="t",
    )
    session.add(mv)
    session.flush()
    signed_registration(session, mv)
    return mv


def _evaluation(session, mv, kind, name, value, *, ci=0.01, status="ok", n=100, **params):
    ev = m.Evaluation(model_version_id=mv.id, kind=kind, config={}, device="cpu", software={}, created_by="t")
    session.add(ev)
    session.flush()
    lo, hi = (None, None) if ci is None else (value - ci, value + ci)
    session.add(
        m.Metric(evaluation_id=ev.id, name=name, value=value, ci_low=lo, ci_high=hi, n=n, params=params, status=status)
    )
    session.flush()


_KEYS: dict[str, object] = {}


def _sign(session, mv, name, role, decision, key=None):
    from govkit.governance.signatures import sign_approval

    key = key or roster_key(session, name, [role])
    sign_approval(session, mv, key, role=role, decision=decision, meaning="reviewed")
    return key


def _training_data(session, mv, options, *, n_failed=0, verified=True):
    from govkit.registry.audit import append_event

    now = dt.datetime.now(dt.timezone.utc)
    session.add(
        m.DeidRun(
            id="run-1",
            profile_revision="2024b",
            options=options,
            key_fingerprint="f",
            counts={},
            n_files=5,
            n_ok=5 - n_failed,
            n_failed=n_failed,
            n_skipped=0,
            software={},
            started_at=now,
            finished_at=now,
            created_by="t",
        )
    )
    dv = m.DatasetVersion(
        dataset=m.Dataset(name="d"),
        version="1",
        content_sha256="0" * 64,
        manifest={},
        deid_run_id="run-1",
        created_by="t",
    )
    session.add(dv)
    session.flush()
    session.add(m.ModelTrainingData(model_version_id=mv.id, dataset_version_id=dv.id))
    if verified is not None:
        append_event(
            session,
            "deid.verify",
            "deid_run",
            "run-1",
            {"ok": verified, "n_findings": 0 if verified else 1, "n_accepted": 0},
        )
    return dv


def _incident(session, mv, closed):
    inc = m.Incident(model_version_id=mv.id, description="wrong output", severity="high", reported_by="t")
    session.add(inc)
    session.flush()
    session.add(m.IncidentUpdate(incident_id=inc.id, status="open", actor="t"))
    if closed:
        session.add(m.IncidentUpdate(incident_id=inc.id, status="closed", actor="t"))


def _data_audit(session, mv, overlap):
    from govkit.evidence.metric import MetricValue

    dv = _training_data(session, mv, [])
    test = m.DatasetVersion(
        dataset=m.Dataset(name="d-test"), version="1", content_sha256="1" * 64, manifest={}, created_by="t"
    )
    session.add(test)
    session.flush()
    # the test split is the model's evaluation data: the audit's comparison with it has role "test"
    session.add(
        m.Evaluation(
            model_version_id=mv.id,
            dataset_version_id=test.id,
            kind="performance",
            config={},
            device="cpu",
            software={},
            created_by="t",
        )
    )
    metric = MetricValue("patient_overlap", overlap, None, None, 100, {"against": "d-test@1"})
    session.add(
        m.DataAudit(
            dataset_version_id=dv.id,
            against=["d-test@1"],
            result={"metrics": [metric.as_dict()], "against": [{"against": "d-test@1", "dataset_version_id": test.id}]},
            sha256="0" * 64,
            created_by="t",
        )
    )


# evidence kind -> (requirement YAML, setup giving a pass, setup giving a fail); no setup = missing
METRIC_CASES = {
    "performance": ("{id: r, evidence: performance, metric: auroc, min: 0.8}", "auroc", 0.9, 0.7, {}),
    "privacy": (
        "{id: r, evidence: privacy, metric: auc, where: {attack: rmia}, max: 0.6}",
        "auc",
        0.55,
        0.7,
        {"attack": "rmia"},
    ),
    "robustness": (
        "{id: r, evidence: robustness, metric: accuracy, where: {attack: pgd-linf, eps: 0.0039}, min: 0.5}",
        "accuracy",
        0.6,
        0.3,
        {"attack": "pgd-linf", "eps": 0.0039},
    ),
    "explainability": (
        "{id: r, evidence: explainability, metric: passed, where: {check: localisation, method: grad-cam}, min: 1}",
        "passed",
        1.0,
        0.0,
        {"check": "localisation", "method": "grad-cam"},
    ),
}
CASES = {
    **{
        kind: (
            req,
            lambda s, mv, k=kind, n=name, v=good, p=params: _evaluation(s, mv, k, n, v, **p),
            lambda s, mv, k=kind, n=name, v=bad, p=params: _evaluation(s, mv, k, n, v, **p),
        )
        for kind, (req, name, good, bad, params) in METRIC_CASES.items()
    },
    "data": (
        "{id: r, evidence: data, metric: patient_overlap, where: {role: test}, max: 0}",
        lambda s, mv: _data_audit(s, mv, 0),
        lambda s, mv: _data_audit(s, mv, 3),
    ),
    "card": ("{id: r, evidence: card, fields: [intended_use, owners]}", None, None),
    "approval": (
        "{id: r, evidence: approval, roles: [clinical-lead]}",
        lambda s, mv: _sign(s, mv, "A. Lead", "clinical-lead", "approve"),
        lambda s, mv: _sign(s, mv, "A. Lead", "clinical-lead", "reject"),
    ),
    "deid": (
        "{id: r, evidence: deid, options: [clean-descriptors]}",
        lambda s, mv: _training_data(s, mv, ["clean-descriptors"]),
        lambda s, mv: _training_data(s, mv, []),
    ),
    "incident": (
        "{id: r, evidence: incident, max_open: 0}",
        lambda s, mv: _incident(s, mv, closed=True),
        lambda s, mv: _incident(s, mv, closed=False),
    ),
}


def _run(registry, req_yaml, setup, tags=None):
    policy = parse_policy(f"name: p\nversion: 1\nrequirements:\n  - {req_yaml}\n")
    with registry.unit_of_work() as s:
        mv = _model(s, tags)
        if setup:
            setup(s, mv)
        s.flush()
        return check_policy(s, mv, policy).outcomes[0]


def test_every_evidence_kind_has_a_check_and_a_case():
    assert set(CHECKS) == set(EVIDENCE) == set(CASES)


def _outcome_cases():
    for kind in sorted(CASES):
        # a card is always on record (the spec) and "no incidents" is evidence of none:
        # those two kinds can pass or fail but never lack evidence
        states = ("pass", "fail") if kind in ("card", "incident") else ("pass", "fail", "missing")
        for state in states:
            yield pytest.param(kind, state, id=f"{kind}-{state}")


@pytest.mark.parametrize(("kind", "state"), list(_outcome_cases()))
def test_check_outcomes(registry, kind, state):
    if kind == "data":
        pytest.importorskip("govkit.data.records", reason="data_metrics is written by the dataset audit (E5)")
    req, good, bad = CASES[kind]
    if kind == "card":  # the card lives in the spec: vary the requirement instead
        req = {"pass": req, "fail": "{id: r, evidence: card, fields: [caveats_and_limitations]}"}[state]
    setup = {"pass": good, "fail": bad, "missing": None}[state]
    out = _run(registry, req, setup)
    assert out.status == state, out


def test_no_incidents_passes_with_zero_open(registry):
    out = _run(registry, CASES["incident"][0], None)
    assert out.status == "pass" and out.value == 0


def test_not_applicable_when_tags_do_not_match(registry):
    out = _run(
        registry,
        "{id: r, evidence: approval, roles: [x], applies_when: {risk_class: high}}",
        None,
        tags={"risk_class": "low"},
    )
    assert out.status == "not-applicable"


def test_latest_matching_metric_with_float_selector(registry):
    policy = parse_policy(
        "name: p\nversion: 1\nrequirements:\n"
        "  - {id: r, evidence: robustness, metric: accuracy, where: {attack: pgd-linf, eps: 0.0039}, "
        "min: 0.5}\n"
    )
    with registry.unit_of_work() as s:
        mv = _model(s)
        _evaluation(s, mv, "robustness", "accuracy", 0.1, attack="pgd-linf", eps=0.0078)
        _evaluation(s, mv, "robustness", "accuracy", 0.6, attack="pgd-linf", eps=0.00390000001)
        out = check_policy(s, mv, policy).outcomes[0]
    assert out.status == "pass" and out.value == pytest.approx(0.6)


PRE = "name: p\nversion: 1\nrequirements:\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: p\nversion: 1\nrequirements:\n  - {id: a, evidence: vibes}\n", "line 4: evidence must be"),
        (
            "name: p\nversion: 1\nrequirements:\n  - id: a\n    evidence: performance\n    min: 0.5\n",
            "line 4: performance evidence needs 'metric'",
        ),
        (
            "name: p\nversion: 1\nrequirements:\n  - {id: a, evidence: card, fields: [x], colour: red}\n",
            "line 4: unknown key",
        ),
        ("name: p\nrequirements: []\n", "missing key 'version'"),
        ("name: p\nversion: 1\nrequirements:\n  - {id: a, evidence: card, fields: [x]\n", "invalid YAML"),
        (
            "name: p\nversion: 1\nrequirements:\n  - {id: a, evidence: performance, metric: auroc, min: high}\n",
            "must be a finite number",
        ),
        (
            "name: p\nversion: 1\nrequirements:\n  - {id: a, evidence: performance, metric: aurocc, min: 0.9}\n",
            "line 4: unknown performance metric 'aurocc'",
        ),
        (
            PRE + "  - {id: a, evidence: privacy, metric: auc, where: {atack: rmia}, max: 1}\n",
            "line 4: unknown 'where' key 'atack'",
        ),
        (
            PRE + "  - {id: a, evidence: privacy, metric: auc, where: {attack: rmai}, max: 1}\n",
            "line 4: unknown 'where' attack 'rmai'",
        ),
        (
            PRE + "  - {id: a, evidence: data, metric: patient_overlap, where: {role: tset}, max: 0}\n",
            "line 4: unknown 'where' role 'tset'",
        ),
        (
            PRE + "  - {id: a, evidence: performance, metric: auroc, min: 0.9, on: mean}\n",
            "line 4: 'on' must be one of ci, point",
        ),
        (
            "name: p\nversion: 1\nrequirements:\n  - {id: a, evidence: card, fields: [intended_usage]}\n",
            "line 4: unknown card field",
        ),
        (
            "name: p\nversion: 1\nrequirements:\n  - {id: a, evidence: approval, roles: [Janitor]}\n",
            "line 4: role names",
        ),
    ],
)
def test_malformed_policy_names_the_line(text, message):
    with pytest.raises(BadInput, match=message):
        parse_policy(text, "pol.yaml")


def test_cli_check_json_junit_and_audit(cli, registry, tmp_path):
    with registry.unit_of_work() as s:
        mv = _model(s)
        _evaluation(s, mv, "performance", "auroc", 0.95)
    pol = tmp_path / "p.yaml"
    pol.write_text(
        "name: gate\nversion: 2\nrequirements:\n"
        "  - {id: auc, evidence: performance, metric: auroc, min: 0.9}\n"
        "  - {id: rmia, evidence: privacy, metric: auc, where: {attack: rmia}, max: 0.6}\n"
        "  - {id: card, evidence: card, fields: [intended_use]}\n"
    )
    junit = tmp_path / "out.xml"
    res = cli("--db", registry.url, "policy", "check", "net@1", "--policy", pol, "--junit", junit, "--json")
    assert res.code == 1
    body = res.json()
    assert body["passed"] is False
    assert [(r["id"], r["status"]) for r in body["requirements"]] == [
        ("auc", "pass"),
        ("rmia", "missing"),
        ("card", "pass"),
    ]
    assert body["requirements"][0]["value"] == pytest.approx(0.95)
    assert body["requirements"][0]["threshold"] == {"min": 0.9, "on": "ci"}
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "3" and suite.get("failures") == "1"
    assert suite.find("testcase[@name='rmia']/failure").get("type") == "missing"
    log = cli("--db", registry.url, "audit", "log", "--json", "--action", "policy.check").json()["events"]
    assert log[-1]["payload"]["statuses"] == {"auc": "pass", "rmia": "missing", "card": "pass"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    assert cli("--db", registry.url, "policy", "check", "net@1", "--policy", bad).code == 2


def test_shipped_default_policy_loads():
    from govkit.governance.policy import load_policy
    from govkit.resources import resource_dir

    pol = load_policy(resource_dir("policies") / "deployment-default.yaml")
    assert {r.evidence for r in pol.requirements} == set(EVIDENCE)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"n_failed": 4}, "run run-1 has 4 failed file(s)"),
        ({"verified": False}, "found residual PHI (1 finding(s), 0 accepted)"),
        ({"verified": None}, "has no recorded 'deid verify'"),
    ],
)
def test_deid_run_with_failures_or_findings_does_not_conform(registry, kw, message):
    """A training set from a run with failed files or an unclean (or missing) verify is not conforming."""
    out = _run(registry, CASES["deid"][0], lambda s, mv: _training_data(s, mv, ["clean-descriptors"], **kw))
    assert out.status == "fail" and message in out.detail, out


def test_newest_verify_decides(registry):
    from govkit.registry.audit import append_event

    def setup(s, mv):
        _training_data(s, mv, ["clean-descriptors"], verified=True)
        append_event(s, "deid.verify", "deid_run", "run-1", {"ok": False, "n_findings": 2, "n_accepted": 1})

    assert _run(registry, CASES["deid"][0], setup).status == "fail"

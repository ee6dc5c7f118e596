"""Lifecycle, approvals, risk, incidents, drift and HTI-1 coverage through the CLI."""

from __future__ import annotations

import numpy as np
import pytest

POLICY = """name: gate
version: 1
requirements:
  - {id: auc, evidence: performance, metric: auroc, min: 0.8}
  - {id: card, evidence: card, fields: [intended_use, owners]}
  - {id: sign-off, evidence: approval, roles: [clinical-lead, quality-manager]}
  - {id: incidents, evidence: incident, max_open: 0}
"""


@pytest.fixture
def evaluated(cli, registry, lesion_spec, lesion_data, tmp_path, make_signer):
    db = registry.url
    engineer = make_signer(db, "E. Ngineer", "engineer")
    res = cli(
        "--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", lesion_spec, "--key", engineer.key
    )
    assert res.code == 0, res.err
    res = cli(
        "--db",
        db,
        "eval",
        "performance",
        "lesion-cnn@1.0",
        "--data",
        lesion_data["test"],
        "--device",
        "cpu",
        "--bootstrap",
        "200",
    )
    assert res.code == 0, res.err
    policy = tmp_path / "gate.yaml"
    policy.write_text(POLICY)
    assert cli("--db", db, "policy", "attach", "lesion-cnn@1.0", "--policy", policy).code == 0
    return db


def test_promotion_refused_without_approvals_then_allowed(cli, evaluated, make_signer):
    db = evaluated
    lead = make_signer(db, "Dr. A. Lovelace", "clinical-lead")
    qm = make_signer(db, "G. Hopper", "quality-manager")
    res = cli("--db", db, "model", "promote", "lesion-cnn@1.0", "--to", "approved", "--json")
    assert res.code == 2 and "can move to validated" in res.err  # no skipping states
    res = cli("--db", db, "model", "promote", "lesion-cnn@1.0", "--to", "validated", "--json")
    assert res.code == 0 and res.json()["allowed"] is True  # approvals are not needed to validate
    res = cli("--db", db, "model", "promote", "lesion-cnn@1.0", "--to", "approved", "--json")
    assert res.code == 1
    assert res.json()["allowed"] is False and "sign-off (missing)" in res.json()["reason"]
    assert (
        cli(
            "--db",
            db,
            "approve",
            "lesion-cnn@1.0",
            "--role",
            "clinical-lead",
            "--decision",
            "approve",
            "--meaning",
            "clinical validation reviewed",
            "--key",
            lead.key,
        ).code
        == 0
    )
    res = cli("--db", db, "model", "promote", "lesion-cnn@1.0", "--to", "approved", "--json")
    assert res.code == 1 and "sign-off (fail)" in res.json()["reason"]
    assert (
        cli(
            "--db",
            db,
            "approve",
            "lesion-cnn@1.0",
            "--role",
            "quality-manager",
            "--decision",
            "approve",
            "--meaning",
            "QMS release",
            "--key",
            qm.key,
        ).code
        == 0
    )
    assert cli("--db", db, "model", "promote", "lesion-cnn@1.0", "--to", "approved").code == 0
    # an open incident blocks deployment; closing it unblocks
    inc = cli(
        "--db",
        db,
        "incident",
        "report",
        "lesion-cnn@1.0",
        "--description",
        "missed lesion",
        "--case-ref",
        "case-7f3a91c2",
        "--severity",
        "high",
        "--json",
    ).json()["id"]
    assert cli("--db", db, "model", "promote", "lesion-cnn@1.0", "--to", "deployed").code == 1
    assert cli("--db", db, "incident", "triage", str(inc), "--note", "reproduced").code == 0
    assert cli("--db", db, "incident", "close", str(inc), "--note", "threshold recalibrated").code == 0
    assert cli("--db", db, "incident", "close", str(inc)).code == 2  # already closed
    assert cli("--db", db, "model", "promote", "lesion-cnn@1.0", "--to", "deployed").code == 0
    hist = cli("--db", db, "model", "history", "lesion-cnn@1.0", "--json").json()
    assert hist["state"] == "deployed"
    assert [h["to"] for h in hist["history"]] == ["draft", "validated", "approved", "deployed"]
    actions = [e["action"] for e in cli("--db", db, "audit", "log", "--json").json()["events"]]
    assert actions == [
        "signer.add",
        "model.register",
        "evaluation.performance",
        "policy.attach",
        "signer.add",
        "signer.add",
        "model.promote",
        "model.promote.refused",
        "approval.sign",
        "model.promote.refused",
        "approval.sign",
        "model.promote",
        "incident.report",
        "model.promote.refused",
        "incident.triaged",
        "incident.closed",
        "model.promote",
    ]
    assert cli("--db", db, "audit", "verify").code == 0
    assert cli("--db", db, "model", "promote", "lesion-cnn@1.0", "--to", "retired").code == 0
    assert cli("--db", db, "model", "promote", "lesion-cnn@1.0", "--to", "retired").code == 2


def test_approval_needs_meaning(cli, evaluated, make_signer):
    lead = make_signer(evaluated, "Dr. A. Lovelace", "clinical-lead")
    res = cli(
        "--db",
        evaluated,
        "approve",
        "lesion-cnn@1.0",
        "--role",
        "clinical-lead",
        "--decision",
        "approve",
        "--meaning",
        "  ",
        "--key",
        lead.key,
    )
    assert res.code == 2 and "21 CFR 11.50" in res.err


def test_risk_assessment_is_versioned(cli, evaluated):
    db = evaluated
    res = cli(
        "--db",
        db,
        "risk",
        "add",
        "lesion-cnn@1.0",
        "--hazard",
        "Missed lesion",
        "--situation",
        "Low-contrast site C images",
        "--harm",
        "Delayed diagnosis",
        "--severity",
        "S4",
        "--probability",
        "P3",
        "--control",
        "Second reader for site C",
        "--control-evidence",
        "1",
        "--residual-severity",
        "S4",
        "--residual-probability",
        "P1",
        "--json",
    )
    assert res.code == 0, res.err
    item = res.json()["items"][0]
    assert (item["risk_level"], item["acceptability"], item["residual_level"]) == ("high", "unacceptable", "medium")
    assert item["controls"] == [{"control": "Second reader for site C", "evidence": 1}]
    res = cli(
        "--db",
        db,
        "risk",
        "add",
        "lesion-cnn@1.0",
        "--hazard",
        "Data leak",
        "--situation",
        "s",
        "--harm",
        "h",
        "--severity",
        "2",
        "--probability",
        "P1",
        "--json",
    )
    assert res.json()["revision"] == 2 and len(res.json()["items"]) == 2
    first = cli("--db", db, "risk", "show", "lesion-cnn@1.0", "--revision", "1", "--json").json()
    assert len(first["items"]) == 1 and first["matrix"]["level"]["S5"][4] == "high"
    assert len(cli("--db", db, "risk", "list", "lesion-cnn@1.0", "--json").json()["items"]) == 2
    bad = cli(
        "--db",
        db,
        "risk",
        "add",
        "lesion-cnn@1.0",
        "--hazard",
        "x",
        "--situation",
        "s",
        "--harm",
        "h",
        "--severity",
        "S9",
        "--probability",
        "P1",
    )
    assert bad.code == 2 and "S1..S5" in bad.err
    bad = cli(
        "--db",
        db,
        "risk",
        "add",
        "lesion-cnn@1.0",
        "--hazard",
        "x",
        "--situation",
        "s",
        "--harm",
        "h",
        "--severity",
        "S1",
        "--probability",
        "P1",
        "--control",
        "c",
        "--control-evidence",
        "999",
    )
    assert bad.code == 2 and "not a recorded evaluation" in bad.err


def test_risk_suggestions_follow_evidence(cli, registry, evaluated):
    from govkit.registry import tables as m
    from govkit.registry.lookup import model_version

    with registry.unit_of_work() as s:
        mv = model_version(s, "lesion-cnn@1.0")
        ev = m.Evaluation(model_version_id=mv.id, kind="privacy", config={}, device="cpu", software={}, created_by="t")
        s.add(ev)
        s.flush()
        s.add(m.Metric(evaluation_id=ev.id, name="tpr_at_fpr_0.001", value=0.2, n=500, params={"attack": "rmia"}))
    hazards = {
        h["hazard"] for h in cli("--db", evaluated, "risk", "suggest", "lesion-cnn@1.0", "--json").json()["suggestions"]
    }
    assert any("membership" in h for h in hazards)
    assert any("subgroups" in h for h in hazards)  # the site gap of the example model exceeds 0.05


@pytest.mark.slow
def test_drift_flags_shifted_data(cli, evaluated, lesion_data, tmp_path):
    test = np.load(lesion_data["test"])
    arrays = {k: test[k] for k in test.files}
    same = tmp_path / "same.npz"
    np.savez(same, **arrays)
    res = cli(
        "--db",
        evaluated,
        "eval",
        "drift",
        "lesion-cnn@1.0",
        "--data",
        same,
        "--device",
        "cpu",
        "--bootstrap",
        "200",
        "--json",
    )
    assert res.code == 0 and res.json()["drifted"] is False
    shifted = tmp_path / "shifted.npz"
    rng = np.random.default_rng(0)
    noisy = np.clip(0.6 * arrays["x"] + 0.35 + rng.normal(0, 0.08, arrays["x"].shape), 0, 1).astype(np.float32)
    np.savez(shifted, **{**arrays, "x": noisy})
    res = cli(
        "--db",
        evaluated,
        "eval",
        "drift",
        "lesion-cnn@1.0",
        "--data",
        shifted,
        "--device",
        "cpu",
        "--bootstrap",
        "200",
        "--json",
    )
    assert res.code == 1
    body = res.json()
    assert body["drifted"] and any("PSI" in f for f in body["flags"])
    assert any(f.startswith("auroc degraded") or f.startswith("accuracy degraded") for f in body["flags"])


def test_hti1_coverage(cli, evaluated):
    res = cli("--db", evaluated, "model", "coverage", "lesion-cnn@1.0", "--json").json()
    assert res["total"] == 31
    by_id = {i["id"]: i for i in res["hti1"]}
    assert by_id["intended_use"]["by"] == "card.intended_use"
    assert by_id["validity_test"]["by"] == "evidence.performance.auroc"
    assert by_id["funding"]["answered"] is False
    assert res["answered"] == sum(i["answered"] for i in res["hti1"]) >= 8


def test_card_schema_is_validated():
    from govkit.errors import BadInput
    from govkit.models.card import validate_card

    assert validate_card({"owners": ["a"], "intended_use": "x"})
    with pytest.raises(BadInput, match="unknown field"):
        validate_card({"intended_usage": "x"})
    with pytest.raises(BadInput, match="owners: must be a list"):
        validate_card({"owners": "a"})

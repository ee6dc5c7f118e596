"""Each governance bypass found in review (issue 18), reproduced and now refused."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from sqlalchemy import func, select, text

from govkit.governance.policy import check_policy, parse_policy
from govkit.registry import open_registry
from govkit.registry import tables as m
from govkit.registry.lookup import model_version
from tests.governance.conftest import roster_key, signed_registration

# --------------------------------------------------------------------------- a tiny registered model

MODEL_PY = textwrap.dedent("""
    import torch

    def build():
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
""")


def _spec(folder, entrypoint="model.py:build", weights="w.pt", name="tiny"):
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "model.yaml"
    spec.write_text(
        textwrap.dedent(f"""
        name: {name}
        version: "1"
        classes: [a, b]
        task: binary
        entrypoint: "{entrypoint}"
        weights: {weights}
        input: {{channels: 1, height: 4, width: 4}}
        card: {{intended_use: research demonstration}}
    """)
    )
    return spec


@pytest.fixture
def tiny(tmp_path):
    import torch

    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "model.py").write_text(MODEL_PY)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    torch.save(net.state_dict(), folder / "w.pt")
    data = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.random((40, 1, 4, 4), dtype=np.float32), y=np.arange(40) % 2)
    return _spec(folder), data


def test_edited_entrypoint_is_refused_naming_the_file(cli, registry, tiny):
    spec, data = tiny
    assert cli("--db", registry.url, "model", "register", "tiny", "--version", "1", "--spec", spec).code == 0
    (spec.parent / "model.py").write_text(MODEL_PY + "\n# harmless-looking edit\n")
    res = cli("--db", registry.url, "eval", "performance", "tiny@1", "--data", data, "--device", "cpu")
    assert res.code == 2 and "model.py changed since registration" in res.err, res.err
    (spec.parent / "helper.py").write_text("X = 1\n")  # a new source file next to the entrypoint counts too
    (spec.parent / "model.py").write_text(MODEL_PY)
    res = cli("--db", registry.url, "eval", "performance", "tiny@1", "--data", data, "--device", "cpu")
    assert res.code == 2 and "helper.py changed since registration" in res.err, res.err


@pytest.mark.parametrize(
    ("entrypoint", "message"),
    [
        ("../model.py:build", "must lie inside the spec's folder"),
        ("/etc/model.py:build", "must lie inside the spec's folder"),
        ("sys:exit", "not in an allow-listed package"),
        ("os:system", "not in an allow-listed package"),
    ],
)
def test_entrypoint_outside_the_spec_folder_is_refused(cli, registry, tiny, entrypoint, message):
    spec, _ = tiny
    spec = _spec(spec.parent, entrypoint=entrypoint)
    res = cli("--db", registry.url, "model", "register", "tiny", "--version", "1", "--spec", spec)
    assert res.code == 2 and message in res.err, res.err


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("import sys\ndef build():\n    sys.exit(0)\n", "it called exit(0)"),
        ("def build():\n    raise RuntimeError('no GPU here')\n", "RuntimeError: no GPU here"),
        ("raise SystemExit(3)\n", "failed to import: it called exit(3)"),
    ],
)
def test_entrypoint_that_exits_or_raises_is_exit_2(cli, registry, tiny, body, message):
    spec, _ = tiny
    (spec.parent / "model.py").write_text(body)
    res = cli("--db", registry.url, "model", "register", "tiny", "--version", "1", "--spec", spec)
    assert res.code == 2 and message in res.err, res.err


def test_weights_that_are_not_a_state_dict_are_refused(cli, registry, tiny):
    import torch

    spec, _ = tiny
    torch.save({"epoch": 3, "weights": [1, 2]}, spec.parent / "w.pt")
    res = cli("--db", registry.url, "model", "register", "tiny", "--version", "1", "--spec", spec)
    assert res.code == 2 and "not a plain state dict" in res.err, res.err


# --------------------------------------------------------------------------- policies


def _mv(session, created_by="registrar", name="net", *, signed=True):
    mv = m.ModelVersion(
        model=m.Model(name=name),
        version="1",
        artifact_sha256="0" * 64,
        spec={"spec": {"card": {"intended_use": "x"}}, "base_dir": "/"},
        spec_sha256="0" * 64,
        tags={},
        created_by=created_by,
    )
    session.add(mv)
    session.flush()
    if signed:
        signed_registration(session, mv)
    return mv


def _metric(session, mv, kind, name, value, lo, hi, n=300, status="ok", **params):
    ev = m.Evaluation(model_version_id=mv.id, kind=kind, config={}, device="cpu", software={}, created_by="t")
    session.add(ev)
    session.flush()
    session.add(
        m.Metric(evaluation_id=ev.id, name=name, value=value, ci_low=lo, ci_high=hi, n=n, params=params, status=status)
    )
    session.flush()


def _one(req: str):
    return parse_policy(f"name: p\nversion: 1\nrequirements:\n  - {req}\n")


def _outcome(registry, req, *metrics):
    import uuid

    with registry.unit_of_work() as s:
        mv = _mv(s, name=f"net-{uuid.uuid4().hex[:8]}")
        for args, kw in metrics:
            _metric(s, mv, *args, **kw)
        return check_policy(s, mv, _one(req)).outcomes[0]


GAP = "{id: gap, evidence: performance, metric: max_subgroup_gap, where: {group: site, metric: accuracy}, max: 0.1}"


def test_gap_gate_uses_the_upper_bound_not_the_point_estimate(registry):
    """The point estimate 0.06 is under the limit, the CI's upper bound 0.14 is not: fail."""
    out = _outcome(
        registry, GAP, (("performance", "max_subgroup_gap", 0.06, 0.01, 0.14), {"group": "site", "metric": "accuracy"})
    )
    assert out.status == "fail" and "upper bound 0.14 > max 0.1" in out.detail


def test_min_gate_uses_the_lower_bound(registry):
    req = "{id: auc, evidence: performance, metric: auroc, min: 0.9}"
    assert _outcome(registry, req, (("performance", "auroc", 0.93, 0.88, 0.97), {})).status == "fail"
    assert _outcome(registry, req, (("performance", "auroc", 0.95, 0.91, 0.98), {})).status == "pass"


def test_on_point_opts_out_and_says_so(registry):
    req = GAP[:-1] + ", on: point}"
    out = _outcome(
        registry, req, (("performance", "max_subgroup_gap", 0.06, 0.01, 0.14), {"group": "site", "metric": "accuracy"})
    )
    assert out.status == "pass" and "point estimate (on: point)" in out.detail


def test_figure_without_ci_is_insufficient(registry):
    req = "{id: d, evidence: robustness, metric: accuracy_drop, where: {corruption: gaussian}, max: 0.1}"
    out = _outcome(registry, req, (("robustness", "accuracy_drop", 0.01, None, None), {"corruption": "gaussian"}))
    assert out.status == "insufficient" and "no confidence interval" in out.detail


PRIV = "{id: p, evidence: privacy, metric: tpr_at_fpr_0.001, where: {attack: rmia}, max: 0.05}"


def test_tpr_at_an_fpr_below_one_over_n_is_insufficient(registry):
    """TPR at FPR 0.001 measured on 300 non-members cannot be measured: never a pass."""
    out = _outcome(registry, PRIV, (("privacy", "tpr_at_fpr_0.001", 0.0, 0.0, 0.01), {"n": 300, "attack": "rmia"}))
    assert out.status == "insufficient" and "needs at least 1000 negatives" in out.detail
    ok = _outcome(registry, PRIV, (("privacy", "tpr_at_fpr_0.001", 0.0, 0.0, 0.01), {"n": 5000, "attack": "rmia"}))
    assert ok.status == "pass"


@pytest.mark.parametrize("status", ["unsupported", "unreliable"])
def test_flagged_figures_are_insufficient(registry, status):
    out = _outcome(
        registry,
        PRIV,
        (("privacy", "tpr_at_fpr_0.001", 0.0, 0.0, 0.01), {"n": 5000, "attack": "rmia", "status": status}),
    )
    assert out.status == "insufficient" and status in out.detail


def test_newest_evaluation_is_used(registry):
    """An old passing evaluation does not mask a newer failing one (and vice versa)."""
    req = "{id: auc, evidence: performance, metric: auroc, min: 0.9}"
    good, bad = (("performance", "auroc", 0.95, 0.92, 0.98), {}), (("performance", "auroc", 0.8, 0.75, 0.85), {})
    assert _outcome(registry, req, good, bad).status == "fail"
    assert _outcome(registry, req, bad, good).status == "pass"


def test_insufficient_blocks_promotion(registry):
    from govkit.governance.lifecycle import attach_policy, promote

    pol = parse_policy(f"name: p\nversion: 1\nrequirements:\n  - {PRIV}\n")
    with registry.unit_of_work() as s:
        mv = _mv(s)
        _metric(s, mv, "privacy", "tpr_at_fpr_0.001", 0.0, 0.0, 0.01, n=300, attack="rmia")
        attach_policy(s, mv, pol)
        result = promote(s, mv, "validated")
    assert not result.allowed and "p (insufficient)" in result.reason


STRICT = (
    "name: lesion-demo\nversion: '1'\nrequirements:\n  - {id: auc, evidence: performance, metric: auroc, min: 0.99}\n"
)
LAX = "name: lesion-demo\nversion: '1'\nrequirements:\n  - {id: auc, evidence: performance, metric: auroc, min: 0.5}\n"


def test_laxer_policy_under_the_same_name_and_version_is_refused(cli, registry, tmp_path):
    with registry.unit_of_work() as s:
        mv = _mv(s)
        _metric(s, mv, "performance", "auroc", 0.9, 0.85, 0.95)
    strict, lax = tmp_path / "strict.yaml", tmp_path / "lax.yaml"
    strict.write_text(STRICT)
    lax.write_text("# same policy, says the comment\n" + LAX)
    assert cli("--db", registry.url, "policy", "attach", "net@1", "--policy", strict).code == 0
    for args in (
        ["policy", "check", "net@1", "--policy", lax],
        ["model", "promote", "net@1", "--to", "validated", "--policy", lax],
    ):
        res = cli("--db", registry.url, *args)
        assert res.code == 2 and "differs from the lesion-demo@1 on record" in res.err, res.err
    # layout and comments do not change the canonical hash: the same policy reformatted is accepted
    same = tmp_path / "same.yaml"
    same.write_text(
        "# reformatted\nversion: '1'\nname: lesion-demo\nrequirements:\n"
        "  - id: auc\n    evidence: performance\n    metric: auroc\n    min: 0.99\n"
    )
    assert cli("--db", registry.url, "policy", "check", "net@1", "--policy", same).code == 1
    res = cli("--db", registry.url, "model", "promote", "net@1", "--to", "validated", "--json")
    assert res.code == 1 and res.json()["policy"]["policy_sha256"]


def test_other_policy_needs_a_signed_override(cli, registry, tmp_path, make_signer):
    db = registry.url
    with registry.unit_of_work() as s:
        mv = _mv(s)
        _metric(s, mv, "performance", "auroc", 0.9, 0.85, 0.95)
    strict, lax = tmp_path / "strict.yaml", tmp_path / "lax.yaml"
    strict.write_text(STRICT)
    lax.write_text(LAX.replace("version: '1'", "version: '1-lax'"))
    assert cli("--db", db, "policy", "attach", "net@1", "--policy", strict).code == 0
    res = cli("--db", db, "model", "promote", "net@1", "--to", "validated", "--policy", lax)
    assert res.code == 2 and "needs --override --reason" in res.err
    lead = make_signer(db, "C. Lead", "clinical-lead")
    qm = make_signer(db, "Q. Manager", "quality-manager")
    res = cli(
        "--db",
        db,
        "model",
        "promote",
        "net@1",
        "--to",
        "validated",
        "--policy",
        lax,
        "--override",
        lead.key,
        "--reason",
        "interim release for the reader study",
    )
    assert res.code == 2 and "may not override" in res.err
    res = cli("--db", db, "model", "promote", "net@1", "--to", "validated", "--policy", lax, "--override", qm.key)
    assert res.code == 2 and "--reason" in res.err
    res = cli(
        "--db",
        db,
        "model",
        "promote",
        "net@1",
        "--to",
        "validated",
        "--policy",
        lax,
        "--override",
        qm.key,
        "--reason",
        "interim release for the reader study",
        "--json",
    )
    assert res.code == 0 and res.json()["override"] is not None
    assert "OVERRIDE of lesion-demo@1 by lesion-demo@1-lax" in res.json()["reason"]
    from govkit.governance.lifecycle import history, overrides

    with registry.unit_of_work() as s:
        mv = model_version(s, "net@1")
        (ov,) = overrides(s, mv)
        assert ov["signer"] == "Q. Manager" and ov["role"] == "quality-manager" and ov["valid"] is True
        assert ov["reason"] == "interim release for the reader study" and ov["signed_at"].endswith("+00:00")
        assert history(s, mv)[-1]["override"] == ov["id"]
    assert cli("--db", db, "audit", "verify").code == 0


# --------------------------------------------------------------------------- no PHI in the registry


@pytest.mark.parametrize(
    ("args", "entity"),
    [
        (["--description", "missed lesion in patient John Smith"], "PERSON"),
        (["--description", "missed lesion", "--case-ref", "MRN 12345"], "pseudonymous ID"),
        (["--description", "missed lesion", "--case-ref", "12345678"], "pseudonymous ID"),
    ],
)
def test_incident_with_phi_is_refused_and_nothing_is_stored(cli, registry, args, entity):
    with registry.unit_of_work() as s:
        _mv(s)
    res = cli("--db", registry.url, "incident", "report", "net@1", *args)
    assert res.code == 2 and entity in res.err and "John" not in res.err and "12345" not in res.err, res.err
    with registry.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(m.Incident)) == 0
        assert (
            s.scalar(select(func.count()).select_from(m.AuditEvent).where(m.AuditEvent.action == "incident.report"))
            == 0
        )
    res = cli(
        "--db",
        registry.url,
        "incident",
        "report",
        "net@1",
        "--description",
        "missed lesion",
        "--case-ref",
        "case-7f3a91c2",
    )
    assert res.code == 0, res.err


def test_risk_text_and_approval_meaning_are_phi_checked(cli, registry, make_signer):
    with registry.unit_of_work() as s:
        _mv(s)
    res = cli(
        "--db",
        registry.url,
        "risk",
        "add",
        "net@1",
        "--hazard",
        "Missed lesion",
        "--situation",
        "Images of Jane Doe born 03/04/1950 are read",
        "--harm",
        "Delayed diagnosis",
        "--severity",
        "S3",
        "--probability",
        "P2",
    )
    assert res.code == 2 and "situation looks like it contains PHI" in res.err and "Jane" not in res.err
    lead = make_signer(registry.url, "C. Lead", "clinical-lead")
    res = cli(
        "--db",
        registry.url,
        "approve",
        "net@1",
        "--role",
        "clinical-lead",
        "--decision",
        "approve",
        "--meaning",
        "reviewed the case of Jane Doe",
        "--key",
        lead.key,
    )
    assert res.code == 2 and "meaning looks like it contains PHI (PERSON)" in res.err


# --------------------------------------------------------------------------- signers


def test_roles_come_from_the_roster(cli, registry, make_signer):
    with registry.unit_of_work() as s:
        _mv(s)
    janitor = make_signer(registry.url, "J. Anitor", "janitor")
    res = cli(
        "--db",
        registry.url,
        "approve",
        "net@1",
        "--role",
        "clinical-lead",
        "--decision",
        "approve",
        "--meaning",
        "looks fine",
        "--key",
        janitor.key,
    )
    assert res.code == 2 and "does not hold role 'clinical-lead'" in res.err


SIGN_OFF = "{id: sign-off, evidence: approval, roles: [clinical-lead]}"


def _approve(cli, db, ref, person, role="clinical-lead"):
    return cli(
        "--db",
        db,
        "approve",
        ref,
        "--role",
        role,
        "--decision",
        "approve",
        "--meaning",
        "reviewed",
        "--key",
        person.key,
    )


def _sign_off(registry, ref):
    with registry.unit_of_work() as s:
        return check_policy(s, model_version(s, ref), _one(SIGN_OFF)).outcomes[0]


def test_registrant_cannot_approve_under_another_name(cli, registry, tiny, make_signer, monkeypatch):
    """Red-team 10: OS user 'alice' registers, then signs with her roster key 'Alice Ng'."""
    spec, _ = tiny
    alice = make_signer(registry.url, "Alice Ng", "engineer", "clinical-lead")
    lead = make_signer(registry.url, "C. Lead", "clinical-lead")
    monkeypatch.setenv("GOVKIT_ACTOR", "alice")
    res = cli("--db", registry.url, "model", "register", "tiny", "--version", "1", "--spec", spec, "--key", alice.key)
    assert res.code == 0 and "signed by key" in res.out, res.err
    res = _approve(cli, registry.url, "tiny@1", alice)
    assert res.code == 2 and "Alice Ng registered tiny@1" in res.err and "separation of duties" in res.err, res.err
    assert _sign_off(registry, "tiny@1").status == "missing"
    assert _approve(cli, registry.url, "tiny@1", lead).code == 0
    out = _sign_off(registry, "tiny@1")
    assert out.status == "pass" and out.value == ["clinical-lead"], out


def test_policy_does_not_count_the_registrants_signature(registry):
    """The policy checks the registrant's key itself, not only ``approve``."""
    from govkit.governance.signatures import sign_approval, sign_registration

    with registry.unit_of_work() as s:
        mv = _mv(s, signed=False)
        key = roster_key(s, "Alice Ng", ["engineer", "clinical-lead"])
        sign_approval(s, mv, key, role="clinical-lead", decision="approve", meaning="reviewed")
        sign_registration(s, mv, key)  # recorded after the approval, so approve could not see it
        out = check_policy(s, mv, _one(SIGN_OFF)).outcomes[0]
    assert out.status == "fail" and "Alice Ng: registered this version, does not count" in out.detail, out


def test_unsigned_registration_cannot_pass_a_sign_off(cli, registry, tiny, make_signer):
    spec, _ = tiny
    lead = make_signer(registry.url, "C. Lead", "clinical-lead")
    res = cli("--db", registry.url, "model", "register", "tiny", "--version", "1", "--spec", spec)
    assert res.code == 0 and "registrant unauthenticated" in res.out, res.err
    assert _approve(cli, registry.url, "tiny@1", lead).code == 0
    out = _sign_off(registry, "tiny@1")
    assert out.status == "fail" and "registered without a signer key" in out.detail, out


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        (
            ["UPDATE registrations SET signer_id = 2, fingerprint = (SELECT fingerprint FROM signers WHERE id = 2)"],
            "registrations #1: edited",
        ),
        (["DELETE FROM registrations"], "registrations #1: deleted"),
    ],
)
def test_forged_registrant_is_caught_by_audit_verify(cli, registry, tiny, make_signer, sql, named):
    spec, _ = tiny
    eng = make_signer(registry.url, "E. Ngineer", "engineer")
    make_signer(registry.url, "O. Ther", "engineer")
    assert (
        cli("--db", registry.url, "model", "register", "tiny", "--version", "1", "--spec", spec, "--key", eng.key).code
        == 0
    )
    assert cli("--db", registry.url, "audit", "verify").code == 0
    _tamper(registry.url, *sql)
    res = cli("--db", registry.url, "audit", "verify")
    assert res.code == 1 and named in res.out, res.out


def test_wrong_passphrase_is_refused(cli, registry, make_signer, monkeypatch):
    with registry.unit_of_work() as s:
        _mv(s)
    lead = make_signer(registry.url, "C. Lead", "clinical-lead")
    monkeypatch.setenv("GOVKIT_SIGNING_PASSPHRASE", "not the passphrase")
    res = cli(
        "--db",
        registry.url,
        "approve",
        "net@1",
        "--role",
        "clinical-lead",
        "--decision",
        "approve",
        "--meaning",
        "reviewed",
        "--key",
        lead.key,
    )
    assert res.code == 2 and "wrong passphrase" in res.err and "not the passphrase" not in res.err


TWO_ROLES = "{id: s, evidence: approval, roles: [clinical-lead, quality-manager]}"


def test_one_person_cannot_fill_two_roles_and_a_later_decision_supersedes(cli, registry, make_signer):
    with registry.unit_of_work() as s:
        _mv(s)
    both = make_signer(registry.url, "B. Oth", "clinical-lead", "quality-manager")
    for role in ("clinical-lead", "quality-manager"):
        assert (
            cli(
                "--db",
                registry.url,
                "approve",
                "net@1",
                "--role",
                role,
                "--decision",
                "approve",
                "--meaning",
                "reviewed",
                "--key",
                both.key,
            ).code
            == 0
        )
    with registry.unit_of_work() as s:
        out = check_policy(s, model_version(s, "net@1"), _one(TWO_ROLES)).outcomes[0]
    assert out.status == "fail" and "not approved by: clinical-lead" in out.detail
    qm = make_signer(registry.url, "Q. Manager", "quality-manager")
    assert (
        cli(
            "--db",
            registry.url,
            "approve",
            "net@1",
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
    assert (
        cli(
            "--db",
            registry.url,
            "approve",
            "net@1",
            "--role",
            "clinical-lead",
            "--decision",
            "approve",
            "--meaning",
            "reviewed",
            "--key",
            both.key,
        ).code
        == 0
    )
    with registry.unit_of_work() as s:
        mv = model_version(s, "net@1")
        assert check_policy(s, mv, _one(TWO_ROLES)).outcomes[0].status == "pass"
    # the same signer now rejects: the rejection supersedes their approval, both stay on record
    assert (
        cli(
            "--db",
            registry.url,
            "approve",
            "net@1",
            "--role",
            "clinical-lead",
            "--decision",
            "reject",
            "--meaning",
            "new evidence of a site gap",
            "--key",
            both.key,
        ).code
        == 0
    )
    from govkit.governance.signatures import signature_rows

    with registry.unit_of_work() as s:
        mv = model_version(s, "net@1")
        out = check_policy(s, mv, _one(TWO_ROLES)).outcomes[0]
        rows = signature_rows(s, mv)
    assert out.status == "fail" and "B. Oth (clinical-lead) rejected" in out.detail
    assert [(r["signer"], r["decision"], r["superseded"]) for r in rows] == [
        ("B. Oth", "approve", True),
        ("B. Oth", "approve", True),
        ("Q. Manager", "approve", False),
        ("B. Oth", "approve", True),
        ("B. Oth", "reject", False),
    ]
    assert all(r["valid"] and r["signed_at"].endswith("+00:00") and len(r["fingerprint"]) == 64 for r in rows)


# --------------------------------------------------------------------------- tamper evidence


def _tamper(url: str, *sql: str) -> None:
    """Rewrite rows behind govkit's back, with the append-only triggers out of the way."""
    reg = open_registry(url)
    with reg.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for (name,) in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all():
                conn.execute(text(f'DROP TRIGGER "{name}"'))
        for stmt in sql:
            conn.execute(text(stmt))
    reg.dispose()


@pytest.fixture
def signed(cli, registry, make_signer):
    """A model version with a metric, a risk, an incident and two valid signatures."""
    db = registry.url
    with registry.unit_of_work() as s:
        mv = _mv(s)
        _metric(s, mv, "performance", "auroc", 0.71, 0.65, 0.77)
    assert (
        cli(
            "--db",
            db,
            "risk",
            "add",
            "net@1",
            "--hazard",
            "Missed lesion",
            "--situation",
            "Low contrast",
            "--harm",
            "Delayed diagnosis",
            "--severity",
            "S4",
            "--probability",
            "P3",
        ).code
        == 0
    )
    assert cli("--db", db, "incident", "report", "net@1", "--description", "missed lesion").code == 0
    people = {
        "lead": make_signer(db, "C. Lead", "clinical-lead"),
        "qm": make_signer(db, "Q. Manager", "quality-manager"),
    }
    for who, role in (("lead", "clinical-lead"), ("qm", "quality-manager")):
        assert (
            cli(
                "--db",
                db,
                "approve",
                "net@1",
                "--role",
                role,
                "--decision",
                "reject",
                "--meaning",
                "performance below target",
                "--key",
                people[who].key,
            ).code
            == 0
        )
    res = cli("--db", db, "audit", "verify", "--json")
    assert res.code == 0 and res.json()["n_rows"] > 10, res.out
    return db, people


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        (["UPDATE metrics SET value = 0.999, ci_low = 0.99, ci_high = 1.0"], "metrics #1: edited"),
        (["UPDATE risk_items SET severity = 1, risk_level = 'low'"], "risk_items #1: edited"),
        (["DELETE FROM incident_updates", "DELETE FROM incidents"], "incidents #1: deleted"),
        (
            [
                "INSERT INTO incident_updates (incident_id, status, actor, created_at) "
                "VALUES (1, 'closed', 'mallory', '2026-01-01 00:00:00')"
            ],
            "incident_updates #2: not bound",
        ),
    ],
)
def test_edited_or_deleted_rows_are_named_by_audit_verify(cli, signed, sql, named):
    db, _ = signed
    _tamper(db, *sql)
    res = cli("--db", db, "audit", "verify")
    assert res.code == 1 and named in res.out, res.out
    body = cli("--db", db, "audit", "verify", "--json").json()
    assert body["ok"] is False and any(named in p for p in body["problems"])


def test_forged_signatures_are_caught(cli, signed, tmp_path):
    """Edited decision, another key, a revoked key: each is an invalid signature."""
    import base64
    import json

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from govkit.canonical import canonical_json
    from govkit.governance.signatures import signature_rows

    db, people = signed
    # 1. the decision edited in the row (and its hash rebound would not help: the signature covers it)
    _tamper(db, "UPDATE approvals SET decision = 'approve' WHERE id = 1")
    res = cli("--db", db, "audit", "verify", "--json").json()
    assert "approvals #1: signature invalid: the record differs from what was signed (decision)" in res["problems"]
    # 2. content and signature replaced by another key's
    reg = open_registry(db)
    with reg.unit_of_work() as s:
        row = s.get(m.Approval, 2)
        content = {**row.signed_content, "decision": "approve"}
    reg.dispose()
    forged = base64.b64encode(Ed25519PrivateKey.generate().sign(canonical_json(content))).decode()
    _tamper(
        db,
        f"UPDATE approvals SET decision = 'approve', signed_content = '{json.dumps(content)}', "
        f"signature = '{forged}' WHERE id = 2",
    )
    res = cli("--db", db, "audit", "verify", "--json").json()
    assert "approvals #2: signature invalid: the signature does not verify under the signer's key" in res["problems"]
    with open_registry(db).unit_of_work() as s:
        rows = signature_rows(s, model_version(s, "net@1"))
    assert [(r["valid"], r["decision"]) for r in rows] == [(False, "approve"), (False, "approve")]
    # 3. a revoked key: approve refuses it, and a signature inserted with it afterwards is invalid
    assert cli("--db", db, "signer", "revoke", "C. Lead", "--reason", "left the organisation").code == 0
    res = cli(
        "--db",
        db,
        "approve",
        "net@1",
        "--role",
        "clinical-lead",
        "--decision",
        "approve",
        "--meaning",
        "reviewed",
        "--key",
        people["lead"].key,
    )
    assert res.code == 2 and "was revoked" in res.err


def test_signature_made_after_revocation_is_invalid(registry):
    """A signature inserted with a revoked key (signing code that skipped the roster) is still caught."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from govkit.canonical import canonical_json
    from govkit.governance import signatures as sig

    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    with registry.unit_of_work() as s:
        mv = _mv(s)
        signer = sig.add_signer(s, "C. Lead", ["clinical-lead"], pem)
        sig.revoke_signer(s, "C. Lead", "key lost")
        when = m.utcnow()
        content = {
            "model": "net@1",
            "kind": "approval",
            "signer": signer.name,
            "role": "clinical-lead",
            "decision": "approve",
            "meaning": "ok",
            "signed_at": when.isoformat(timespec="microseconds"),
            "fingerprint": signer.fingerprint,
            "artifact_sha256": mv.artifact_sha256,
            "code_sha256": None,
        }
        s.add(
            m.Approval(
                model_version_id=mv.id,
                signer=signer.name,
                role="clinical-lead",
                decision="approve",
                meaning="ok",
                signed_at=when,
                signer_id=signer.id,
                fingerprint=signer.fingerprint,
                signed_content=content,
                signature=base64.b64encode(key.sign(canonical_json(content))).decode(),
            )
        )
    with registry.unit_of_work() as s:
        problems = sig.signature_problems(s)
    assert problems == ["approvals #1: signature invalid: signed after the signer's key was revoked"]


def test_head_anchor_proves_nothing_was_cut_off(cli, signed):
    db, _ = signed
    body = cli("--db", db, "audit", "verify", "--json").json()
    head = f"{body['head_seq']}:{body['head_hash']}"
    assert cli("--db", db, "audit", "verify", "--head", head).code == 0
    assert cli("--db", db, "audit", "verify", "--head", "3:" + "0" * 64).code == 1
    _tamper(db, f"DELETE FROM audit_events WHERE seq = {body['head_seq']}")
    res = cli("--db", db, "audit", "verify", "--head", head)
    assert res.code == 1 and "chain cut off" in res.out
    assert cli("--db", db, "audit", "verify", "--head", "nonsense").code == 2


def test_rows_recorded_before_binding_are_bound_by_the_migration(db_url):
    """A registry from before migration 0005: its rows are bound on upgrade and checked from then on."""
    from govkit.registry.audit import verify_chain
    from govkit.registry.db import make_engine, upgrade

    engine = make_engine(db_url)
    upgrade(engine, "0004")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO models (name, created_at) VALUES ('old', '2026-01-01 00:00:00+00:00')"))
    upgrade(engine)
    engine.dispose()
    reg = open_registry(db_url)
    with reg.unit_of_work() as s:
        report = verify_chain(s)
    assert report.ok and report.n_rows == 1 and report.n_events == 1, report
    reg.dispose()
    _tamper(db_url, "UPDATE models SET name = 'renamed'")
    with open_registry(db_url).unit_of_work() as s:
        assert verify_chain(s).problems == ("models #1: edited (does not match the hash bound at event seq 1)",)


# --- found by an independent red-team review -------------------------------------------------


def test_open_where_is_judged_on_every_matching_figure(registry):
    """``where: {group: site}`` matches both sites: the failing one decides, whatever the row order."""
    req = "{id: s, evidence: performance, metric: sensitivity, where: {group: site}, min: 0.8}"
    good = (("performance", "sensitivity", 0.91, 0.85, 0.96), {"group": "site", "value": "A"})
    bad = (("performance", "sensitivity", 0.47, 0.34, 0.60), {"group": "site", "value": "B"})
    import uuid

    for first, second in ((good, bad), (bad, good)):
        with registry.unit_of_work() as s:
            mv = _mv(s, name=f"net-{uuid.uuid4().hex[:8]}")
            ev = m.Evaluation(
                model_version_id=mv.id, kind="performance", config={}, device="cpu", software={}, created_by="t"
            )
            s.add(ev)
            s.flush()
            for (_kind, name, value, lo, hi), params in (first, second):
                s.add(
                    m.Metric(evaluation_id=ev.id, name=name, value=value, ci_low=lo, ci_high=hi, n=100, params=params)
                )
            s.flush()
            out = check_policy(s, mv, _one(req)).outcomes[0]
        assert out.status == "fail", out


def test_newer_evaluation_on_other_data_does_not_hide_a_failing_one(registry):
    """A cherry-picked subset evaluated later adds a figure; the full test set's failure still counts."""
    import uuid

    req = "{id: auc, evidence: performance, metric: auroc, min: 0.9}"
    with registry.unit_of_work() as s:
        mv = _mv(s, name=f"net-{uuid.uuid4().hex[:8]}")
        for sha, (value, lo, hi) in (("a" * 64, (0.88, 0.87, 0.90)), ("b" * 64, (0.97, 0.95, 0.99))):
            ev = m.Evaluation(
                model_version_id=mv.id,
                kind="performance",
                config={"data_sha256": sha},
                device="cpu",
                software={},
                created_by="t",
            )
            s.add(ev)
            s.flush()
            s.add(m.Metric(evaluation_id=ev.id, name="auroc", value=value, ci_low=lo, ci_high=hi, n=300, params={}))
            s.flush()
        out = check_policy(s, mv, _one(req)).outcomes[0]
    assert out.status == "fail", out


@pytest.mark.parametrize("tags", [{"risk_class": "High"}, {"risk_class": " high "}, {}, {"risk_class": None}])
def test_applies_when_fails_closed(registry, tags):
    """A tag in other case, with spaces, or missing does not switch a sign-off requirement off."""
    import uuid

    req = "{id: r, evidence: approval, roles: [clinical-lead], applies_when: {risk_class: high}}"
    with registry.unit_of_work() as s:
        mv = m.ModelVersion(
            model=m.Model(name=f"net-{uuid.uuid4().hex[:8]}"),
            version="1",
            artifact_sha256="0" * 64,
            spec={},
            spec_sha256="0" * 64,
            tags=tags,
            created_by="registrar",
        )
        s.add(mv)
        s.flush()
        out = check_policy(s, mv, _one(req)).outcomes[0]
    assert out.status != "not-applicable", out


@pytest.mark.parametrize(
    "doc",
    [
        "name: p\nversion: 1\nrequirements:\n  - {id: a, evidence: performance, metric: auroc, min: 0.95}\n"
        "requirements: []\n",
        "name: p\nversion: 1\nrequirements:\n  - id: a\n    evidence: performance\n    metric: auroc\n"
        "    max: 0.01\n    max: 1\n",
    ],
)
def test_duplicate_yaml_keys_are_refused(doc):
    from govkit.errors import BadInput

    with pytest.raises(BadInput, match="duplicate key"):
        parse_policy(doc)

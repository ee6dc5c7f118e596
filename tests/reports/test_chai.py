"""CHAI Applied Model Card v0.2: offline XSD validation, export from the record, XML signature."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from govkit.reports import chai

DATA = Path(__file__).parent / "data" / "chai"
EXAMPLES = sorted(DATA.glob("example-*.xml"))
REF = "lesion-cnn@1.0"
PHRASE = "correct horse battery"


def test_both_chai_examples_validate_offline():
    assert len(EXAMPLES) == 2
    for path in EXAMPLES:
        assert chai.validate(path.read_bytes()) == [], path.name


@pytest.mark.parametrize(
    "edit",
    [
        ("<ModelDeveloper>Aidoc</ModelDeveloper>", ""),  # a required element removed
        ("<ReleaseVersion>AD-01</ReleaseVersion>", "<ReleaseVersion>AD-01</ReleaseVersion><Colour>red</Colour>"),
        ("<Warnings>", "<Warnings><ClinicalRiskLevel>x</ClinicalRiskLevel>"),  # out of order
    ],
)
def test_validator_rejects_a_broken_copy(edit):
    text = EXAMPLES[0].read_text()
    assert edit[0] in text
    errors = chai.validate(text.replace(edit[0], edit[1], 1).encode())
    assert errors and all(isinstance(e, str) and "\n" not in e for e in errors)


def test_validator_refuses_entities_and_other_roots():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b'<AppliedModelCard xmlns="https://mc.chai.org/v0.2/schema.xsd">&b;</AppliedModelCard>'
    )
    assert chai.validate(bomb)  # not expanded into a valid card
    assert chai.validate(b"<html/>") == [
        "the root element must be AppliedModelCard in namespace https://mc.chai.org/v0.2/schema.xsd"
    ]


@pytest.fixture
def evaluated(cli, sqlite_db, untrained_spec, lesion_data):
    db = sqlite_db
    assert cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", untrained_spec).code == 0
    assert (
        cli(
            "--db",
            db,
            "eval",
            "performance",
            REF,
            "--data",
            lesion_data["test"],
            "--device",
            "cpu",
            "--bootstrap",
            "100",
        ).code
        == 0
    )
    return db


def _text(root, path: str) -> str | None:
    el = root.find("/".join(f"{{{chai.NS}}}{p}" for p in path.split("/")))
    return None if el is None else (el.text or "")


@pytest.mark.slow
def test_export_fills_from_the_record_and_lists_what_is_missing(cli, evaluated, untrained_spec, tmp_path):
    import yaml
    from lxml import etree

    out = tmp_path / "card.xml"
    res = cli("--db", evaluated, "report", "export", REF, "--format", "chai-xml", "-o", out, "--json")
    assert res.code == 0, res.err
    body = res.json()
    data = out.read_bytes()
    assert chai.validate(data) == []
    root = etree.fromstring(data)
    card = yaml.safe_load(untrained_spec.read_text())["card"]
    assert _text(root, "BasicInfo/ModelName") == "lesion-cnn"
    assert _text(root, "BasicInfo/ModelDeveloper") == "govkit maintainers"
    assert _text(root, "UsesAndDirections/IntendedUseAndWorkflow") == card["intended_use"]
    assert _text(root, "UsesAndDirections/CautionedOutOfScopeSettings") == card["out_of_scope_uses"]
    assert _text(root, "ReleaseInfo/ReleaseVersion") == "1.0"
    # recorded figures, not invented ones
    ev = json.loads(cli("--db", evaluated, "report", "export", REF, "-o", tmp_path / "e.json", "--json").out)
    assert ev["format"] == "json"
    evidence = json.loads((tmp_path / "e.json").read_text())
    auroc = next(
        m for m in evidence["evaluations"]["performance"][-1]["metrics"] if m["name"] == "auroc" and not m["params"]
    )
    results = root.findall(f".//{{{chai.NS}}}UsefulnessUsabilityEfficacy//{{{chai.NS}}}MetricResult")
    by_label = {r.findtext(f"{{{chai.NS}}}Label"): json.loads(r.findtext(f"{{{chai.NS}}}ValueJson")) for r in results}
    assert by_label["auroc"]["value"] == auroc["value"] and by_label["auroc"]["ci95"] == [
        auroc["ci_low"],
        auroc["ci_high"],
    ]
    # required elements the record cannot answer are empty and listed, never invented
    missing = {m["element"] for m in body["missing"]}
    for element in (
        "BasicInfo/DeveloperContact",
        "ReleaseInfo/GlobalAvailability",
        "TrustIngredients/TransparencyInformation/StakeholdersConsulted",
        "Resources/PatientConsentOrDisclosure",
        "Bibliography",
    ):
        assert element in missing
        assert _text(root, element) == ""
    assert "UsesAndDirections/IntendedUseAndWorkflow" not in missing
    human = cli("--db", evaluated, "report", "export", REF, "--format", "chai-xml", "-o", out)
    assert "DeveloperContact (card.contact)" in human.out


def _signer(db: str, tmp_path: Path, name: str = "Ada Lovelace") -> Path:
    from govkit.governance.signatures import add_signer, keygen
    from govkit.registry import open_registry

    key = tmp_path / f"{name.split()[0].lower()}.key"
    pub, _ = keygen(key, PHRASE.encode())
    reg = open_registry(db)
    try:
        with reg.unit_of_work() as s:
            add_signer(s, name, ["quality-manager"], pub.read_text())
    finally:
        reg.dispose()
    return key


@pytest.mark.slow
def test_signed_export_verifies_and_an_edited_one_does_not(cli, evaluated, tmp_path, monkeypatch):
    monkeypatch.setenv("GOVKIT_SIGNING_PASSPHRASE", PHRASE)
    key = _signer(evaluated, tmp_path)
    out = tmp_path / "signed.xml"
    res = cli(
        "--db", evaluated, "report", "export", REF, "--format", "chai-xml", "-o", out, "--sign", "--key", key, "--json"
    )
    assert res.code == 0, res.err
    assert res.json()["signer"] == "Ada Lovelace"
    text = out.read_text()
    assert "<ds:Signature" in text and chai.validate(out.read_bytes()) == []
    ok = cli("--db", evaluated, "report", "verify", out, "--json")
    assert ok.code == 0, ok.out
    assert ok.json()["ok"] is True and ok.json()["signer"] == "Ada Lovelace"

    def check(name: str, new: str, reason: str) -> None:
        bad = tmp_path / name
        bad.write_text(new)
        res = cli("--db", evaluated, "report", "verify", bad, "--json")
        assert res.code == 1 and reason in res.json()["reason"], (name, res.out)

    check(
        "edited.xml",
        text.replace("<ModelName>lesion-cnn</ModelName>", "<ModelName>lesion-cnn-v2</ModelName>"),
        "changed after it was signed",
    )
    value = text.split("<ds:SignatureValue>")[1].split("</ds:SignatureValue>")[0]
    forged = ("B" if value[0] != "B" else "C") + value[1:]
    check("forged.xml", text.replace(value, forged), "does not verify")
    check("unsigned.xml", text.split("<ds:Signature")[0] + "</AppliedModelCard>\n", "not signed")
    check(
        "other-algo.xml",
        text.replace(chai.ED25519, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"),
        "unsupported signature method",
    )
    # the signer's key revoked: the card no longer verifies
    from govkit.governance.signatures import revoke_signer
    from govkit.registry import open_registry

    reg = open_registry(evaluated)
    with reg.unit_of_work() as s:
        revoke_signer(s, "Ada Lovelace", "key rotated")
    reg.dispose()
    res = cli("--db", evaluated, "report", "verify", out, "--json")
    assert res.code == 1 and "revoked" in res.json()["reason"]


@pytest.mark.slow
def test_signing_with_a_key_outside_the_roster_is_refused(cli, evaluated, tmp_path, monkeypatch):
    from govkit.governance.signatures import keygen

    monkeypatch.setenv("GOVKIT_SIGNING_PASSPHRASE", PHRASE)
    key = tmp_path / "stranger.key"
    keygen(key, PHRASE.encode())
    out = tmp_path / "card.xml"
    res = cli("--db", evaluated, "report", "export", REF, "--format", "chai-xml", "-o", out, "--sign", "--key", key)
    assert res.code == 2 and "roster" in res.err and not out.exists()


@pytest.mark.slow
def test_output_extension_must_match(cli, evaluated, tmp_path):
    for args in (
        ("export", REF, "--format", "chai-xml", "-o", tmp_path / "card.json"),
        ("export", REF, "-o", tmp_path / "evidence.xml"),
        ("model-card", REF, "-o", tmp_path / "card.html"),
        ("audit", REF, "-o", tmp_path / "audit.json"),
    ):
        res = cli("--db", evaluated, "report", *args)
        assert res.code == 2 and "must end in" in res.err, args
        assert not Path(args[-1]).exists()


@pytest.mark.slow
def test_key_metrics_carry_the_policy_goal_and_verdict(cli, evaluated, tmp_path):
    from lxml import etree

    policy = tmp_path / "p.yaml"
    policy.write_text(
        "name: p\nversion: '1'\nrequirements:\n"
        "  - {id: auroc-floor, evidence: performance, metric: auroc, min: 0.99}\n"
        "  - {id: site-gap, evidence: performance, metric: max_subgroup_gap,"
        " where: {group: site, metric: accuracy}, max: 0.5}\n"
    )
    assert cli("--db", evaluated, "policy", "attach", REF, "--policy", policy).code == 0
    out = tmp_path / "card.xml"
    res = cli("--db", evaluated, "report", "export", REF, "--format", "chai-xml", "-o", out, "--json")
    assert res.code == 0, res.err
    root = etree.fromstring(out.read_bytes())
    use = "KeyMetrics/UsefulnessUsabilityEfficacy"
    fair = "KeyMetrics/FairnessEquity"
    assert "auroc ≥ 0.990 (requirement auroc-floor)" in _text(root, f"{use}/MetricGoal")
    assert "auroc-floor: fail" in _text(root, f"{use}/Interpretation")
    assert "site-gap" not in _text(root, f"{use}/Interpretation")
    assert "site-gap: " in _text(root, f"{fair}/Interpretation") and "≤ 0.500" in _text(root, f"{fair}/MetricGoal")
    assert f"{fair}/Interpretation" not in {m["element"] for m in res.json()["missing"]}


@pytest.mark.slow
def test_card_contact_citation_and_model_type_fill_the_export(cli, sqlite_db, untrained_spec, tmp_path):
    import yaml
    from lxml import etree

    doc = yaml.safe_load(untrained_spec.read_text())
    doc["card"] |= {
        "contact": "ml-governance@example.org",
        "citation": "Doe J. A lesion CNN. 2026.",
        "model_type": "Convolutional neural network classifier",
    }
    spec = untrained_spec.with_name("model-with-contact.yaml")  # beside its model.py and weights
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    reg = cli("--db", sqlite_db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", spec)
    assert reg.code == 0, reg.err
    out = tmp_path / "card.xml"
    res = cli("--db", sqlite_db, "report", "export", REF, "--format", "chai-xml", "-o", out, "--json")
    assert res.code == 0, res.err
    root = etree.fromstring(out.read_bytes())
    assert _text(root, "BasicInfo/DeveloperContact") == "ml-governance@example.org"
    assert _text(root, "Bibliography") == "Doe J. A lesion CNN. 2026."
    assert _text(root, "TrustIngredients/AISystemFacts/ModelType") == "Convolutional neural network classifier"
    missing = {m["element"] for m in res.json()["missing"]}
    assert not missing & {"BasicInfo/DeveloperContact", "Bibliography"}

"""Page 1 of each report holds what a reader must act on (issue #19), read back with ``pdftotext -f 1 -l 1``."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.reports.conftest import ROOT, pdftotext, squash

REF = "lesion-cnn@1.0"

pytestmark = pytest.mark.slow  # a registry, an evaluation and real PDFs per test


def has(text: str, phrase: str) -> bool:
    """``phrase`` is in the PDF text, wherever table cells wrapped it."""
    return squash(phrase) in squash(text)


def _sign(db: str, tmp_path: Path, name: str, role: str, decision: str, meaning: str) -> None:
    """A roster signer with a fresh Ed25519 key signs a decision (govkit.governance.signatures)."""
    from govkit.governance.signatures import add_signer, keygen, load_private_key, sign_approval
    from govkit.registry import open_registry
    from govkit.registry.lookup import model_version

    key = tmp_path / f"{role}.key"
    pub, _ = keygen(key, b"correct horse battery")
    reg = open_registry(db)
    try:
        with reg.unit_of_work() as s:
            add_signer(s, name, [role], pub.read_text())
        with reg.unit_of_work() as s:
            sign_approval(
                s,
                model_version(s, REF),
                load_private_key(key, b"correct horse battery"),
                role=role,
                decision=decision,
                meaning=meaning,
            )
    finally:
        reg.dispose()


@pytest.fixture
def failing_model(cli, sqlite_db, untrained_spec, lesion_data, tmp_path):
    """An untrained model under the demo policy: fails it, with an open incident, an unacceptable risk and a
    signed rejection."""
    db = sqlite_db
    assert cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", untrained_spec).code == 0
    res = cli(
        "--db", db, "eval", "performance", REF, "--data", lesion_data["test"], "--device", "cpu", "--bootstrap", "100"
    )
    assert res.code == 0, res.err
    res = cli("--db", db, "policy", "attach", REF, "--policy", ROOT / "examples" / "lesion" / "policy.yaml")
    assert res.code == 0, res.err
    res = cli(
        "--db",
        db,
        "incident",
        "report",
        REF,
        "--description",
        "Lesion missed at the image border",
        "--severity",
        "high",
    )
    assert res.code == 0, res.err
    res = cli(
        "--db",
        db,
        "risk",
        "add",
        REF,
        "--hazard",
        "Missed lesion at the border",
        "--situation",
        "Lesion near the field edge",
        "--harm",
        "Delayed diagnosis",
        "--severity",
        "S5",
        "--probability",
        "P4",
    )
    assert res.code == 0, res.err
    _sign(db, tmp_path, "Grace Hopper", "clinical-lead", "reject", "Performance below the policy")
    return db


def test_audit_report_page_one_shows_what_to_act_on(cli, failing_model, tmp_path):
    db = failing_model
    out = tmp_path / "audit.pdf"
    res = cli("--db", db, "report", "audit", REF, "-o", out, "--json")
    assert res.code == 0, res.err
    page = pdftotext(out, 1, 1)
    flat = squash(page)
    # the verdict, and each failing or missing requirement with value, threshold, compared figure and unit
    import yaml

    demo = yaml.safe_load((ROOT / "examples" / "lesion" / "policy.yaml").read_text())
    assert "FAILED" in page and f"{demo['name']}@{demo['version']}" in page
    for req in ("auroc", "sensitivity", "pgd-1-255", "noise-drop", "localisation", "no-open-incidents"):
        assert req in flat, req
    assert "≥0.900" in flat and "≥0.700" in flat and "≤0.100" in flat and "≤0ci" not in flat
    assert "CIlowerbound0.559" in flat or "CIlowerbound" in flat
    assert "insufficientevidence" in flat and "nofigureonrecord" in flat
    assert "proportion" in page and "count" in page
    assert "['" not in page and "{'" not in page  # no Python reprs
    # the open incident, the unacceptable risk, the signature with its validity
    assert "Lesionmissedattheimageborder" in flat
    assert "Missedlesionattheborder" in flat and "unacceptable" in page
    assert has(page, "Grace Hopper") and "clinical-lead" in page and "reject" in page
    assert "Performancebelowthepolicy" in flat and "valid" in page and not has(page, "NOT VALID")
    # the age of each kind of evidence; never-recorded kinds say so
    assert has(page, "age of the evidence") and "performance" in page and has(page, "none on record")
    # the chain head printed is a real event of the chain
    seq, head = re.search(r"chain head (\d+):([0-9a-f]{64})", page.replace("\n", " ")).groups()
    events = cli("--db", db, "audit", "log", "--json").json()["events"]
    assert any(e["seq"] == int(seq) and e["hash"] == head for e in events)


def test_audit_report_page_one_says_passed_only_when_it_did(cli, sqlite_db, untrained_spec, lesion_data, tmp_path):
    """The same model under a policy it meets: PASSED, no failing rows, no insufficient evidence."""
    db = sqlite_db
    policy = tmp_path / "lax.yaml"
    policy.write_text(
        "name: lax\nversion: '1'\nrequirements:\n"
        "  - {id: auroc, evidence: performance, metric: auroc, min: 0.05, on: point}\n"
    )
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
    res = cli("--db", db, "policy", "attach", REF, "--policy", policy)
    assert res.code == 0, res.err
    out = tmp_path / "audit.pdf"
    assert cli("--db", db, "report", "audit", REF, "-o", out).code == 0
    page = pdftotext(out, 1, 1)
    assert "PASSED" in page and "FAILED" not in page and not has(page, "Requirements not met")
    assert has(page, "No signatures on record") and has(page, "no risk assessment on record")


def test_model_card_page_one(cli, failing_model, tmp_path):
    out = tmp_path / "card.pdf"
    res = cli("--db", failing_model, "report", "model-card", REF, "-o", out, "--json")
    assert res.code == 0, res.err
    page = pdftotext(out, 1, 1)
    assert has(page, "Intended use") and has(page, "Research demonstration")
    assert has(page, "Key limitations") and has(page, "Toy resolution")
    assert "FAILED" in page and has(page, "1 open incident") and "draft" in page
    # headline performance with CIs; sensitivity with its number of positives
    ev = cli("--db", failing_model, "report", "export", REF, "--format", "json", "-o", tmp_path / "e.json")
    assert ev.code == 0
    perf = json.loads((tmp_path / "e.json").read_text())["evaluations"]["performance"][-1]
    n_pos = perf["config"]["dataset"]["classes"]["lesion"]
    auroc = next(m for m in perf["metrics"] if m["name"] == "auroc" and not m["params"])
    assert f"{auroc['value']:.3f}" in page and has(page, f"{auroc['ci_low']:.3f} – {auroc['ci_high']:.3f}")
    assert has(page, f"on {n_pos} positive cases")
    n_neg = perf["config"]["dataset"]["n"] - n_pos  # specificity's denominator, never a difference of two rates' n
    assert n_neg > 0 and has(page, f"on {n_neg} negative cases")
    assert has(page, "decision threshold 0.500")


def _broken_corpus(src: Path) -> None:
    from govkit.testing.dicom_corpus import phi_corpus, undecodable_copy

    paths = phi_corpus(src, patients=1, files_per_patient=2)
    undecodable_copy(paths[1], src / "KAUFMAN_SCOTT_unreadable.dcm")  # the file fails and is not written


def test_deid_report_page_one_with_failures(cli, sqlite_db, tmp_path):
    db = sqlite_db
    src, dst = tmp_path / "src", tmp_path / "dst"
    _broken_corpus(src)
    run = cli(
        "--db",
        db,
        "deid",
        "run",
        src,
        dst,
        "--option",
        "clean-pixel-data",
        "--option",
        "retain-longitudinal-modified-dates",
        "--json",
    )
    body = run.json()
    assert body["n_failed"] == 1
    cli("--db", db, "deid", "verify", dst, "--source", src)
    out = tmp_path / "deid.pdf"
    res = cli("--db", db, "report", "deid", body["run_id"], "-o", out, "--json")
    assert res.code == 0, res.err
    page = pdftotext(out, 1, 1)
    assert has(page, "DO NOT RELEASE") and not has(page, "READY FOR RELEASE")
    assert "1file(s)failedandwerenotwritten" in squash(page)
    assert "Failedfilesandtheirreasons" in squash(page)
    assert squash(body["failures"][0]["reason"]) in squash(page)
    # each failed file is listed by the keyed token of its source path, recorded with the run
    from govkit.registry import open_registry
    from govkit.registry.tables import DeidRun

    with open_registry(db).unit_of_work() as session:
        failed = session.get(DeidRun, body["run_id"]).details["failed_files"]
    assert [f["code"] for f in failed] == [body["failures"][0]["code"]]
    assert re.fullmatch("[0-9a-f]{16}", failed[0]["token"]) and failed[0]["token"] in squash(page)
    # the HIPAA pathway: date shifting is not Safe Harbor, a Limited Data Set is possible
    flat = squash(page)
    assert "SafeHarbor" in flat and "LimitedDataSet" in flat and "ExpertDetermination" in flat
    assert "runwithoutoptionretain-longitudinal-modified-dates" in flat
    whole = pdftotext(out)
    assert "KAUFMAN" not in whole.upper() and str(src) not in whole  # no source path, no name
    assert "shifteddatesarestilldates" in squash(whole)


def test_deid_report_id_depends_only_on_the_run(cli, sqlite_db, untrained_spec, tmp_path):
    db = sqlite_db
    src, dst = tmp_path / "src", tmp_path / "dst"
    _broken_corpus(src)
    run_id = cli("--db", db, "deid", "run", src, dst, "--json").json()["run_id"]
    first = cli("--db", db, "report", "deid", run_id, "-o", tmp_path / "a.pdf", "--json").json()
    # the chain grows with unrelated records: the document ID stays, the printed chain head moves on
    assert cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", untrained_spec).code == 0
    second = cli("--db", db, "report", "deid", run_id, "-o", tmp_path / "b.pdf", "--json").json()
    assert first["document_id"] == second["document_id"]
    heads = [re.search(r"chain head (\d+):", pdftotext(tmp_path / p, 1, 1)).group(1) for p in ("a.pdf", "b.pdf")]
    assert int(heads[1]) > int(heads[0])
    # a verify is one of the run's records: it changes the ID
    cli("--db", db, "deid", "verify", dst, "--source", src)
    third = cli("--db", db, "report", "deid", run_id, "-o", tmp_path / "c.pdf", "--json").json()
    assert third["document_id"] != first["document_id"]


def test_tagged_pdf_with_one_attachment(cli, sqlite_db, untrained_spec, tmp_path):
    db = sqlite_db
    assert cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", untrained_spec).code == 0
    card, audit = tmp_path / "card.pdf", tmp_path / "audit.pdf"
    a = cli("--db", db, "report", "model-card", REF, "-o", card, "--json").json()
    b = cli("--db", db, "report", "audit", REF, "-o", audit, "--json").json()
    assert a["document_id"] != b["document_id"]  # each report kind has its own document ID
    info = subprocess.run(["pdfinfo", str(card)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Tagged:\s+yes", info)
    listing = subprocess.run(["pdfdetach", "-list", str(card)], capture_output=True, text=True, check=True).stdout
    assert listing.splitlines()[0].startswith("1 embedded") and listing.count("evidence.json") == 1


def test_a_forged_signature_is_shown_as_not_valid(cli, sqlite_db, untrained_spec, tmp_path):
    """An approval whose decision was edited in the database (triggers dropped) reads NOT VALID on page 1."""
    import sqlite3

    db = sqlite_db
    assert cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", untrained_spec).code == 0
    _sign(db, tmp_path, "Grace Hopper", "clinical-lead", "reject", "Not fit for release")
    con = sqlite3.connect(db.removeprefix("sqlite:///"))
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'approvals'"):
        con.execute(f'DROP TRIGGER "{name}"')
    con.execute("UPDATE approvals SET decision = 'approve'")
    con.commit()
    con.close()
    out = tmp_path / "audit.pdf"
    assert cli("--db", db, "report", "audit", REF, "-o", out).code == 0
    page = pdftotext(out, 1, 1)
    assert "NOT VALID" in page and has(page, "0 valid of 1")


def test_data_section_in_the_model_card_and_audit_report(cli, sqlite_db, untrained_spec, lesion_data, tmp_path):
    """E5's Data section (govkit.data.records.data_section) is included when the model has data on record."""
    db = sqlite_db
    res = cli("--db", db, "data", "register", "lesion-train", "--version", "1", lesion_data["train"])
    assert res.code == 0, res.err
    res = cli(
        "--db",
        db,
        "model",
        "register",
        "lesion-cnn",
        "--version",
        "1.0",
        "--spec",
        untrained_spec,
        "--train-data",
        "lesion-train@1",
    )
    assert res.code == 0, res.err
    for kind in ("model-card", "audit"):
        out = tmp_path / f"{kind}.pdf"
        assert cli("--db", db, "report", kind, REF, "-o", out).code == 0
        text = pdftotext(out)
        assert has(text, "Leakage between training and evaluation data") and "lesion-train@1" in squash(text), kind

"""Data evidence: datasheets at registration, recorded audits, data_metrics and the Data section."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.data.conftest import save

pytestmark = pytest.mark.slow


def _datasheet(tmp_path, **extra):
    sheet = {
        "motivation": {"purpose": "Synthetic lesion images for a demonstration.", "creators": ["govkit maintainers"]},
        "composition": {"instances": "64x64 synthetic images, two per synthetic patient."},
        "external": False,
        **extra,
    }
    p = tmp_path / "sheet.yaml"
    p.write_text(json.dumps(sheet))  # JSON is YAML
    return p


def test_audit_recorded_and_read_back_as_evidence(cli, registry, db_url, lesion_data, lesion_spec, tmp_path):
    from sqlalchemy import select

    from govkit.data.records import data_metrics, data_section
    from govkit.registry.audit import verify_chain
    from govkit.registry.lookup import model_version
    from govkit.registry.tables import AuditEvent, DataAudit

    db = ("--db", db_url)
    assert (
        cli(
            *db,
            "data",
            "register",
            "lesion-train",
            "--version",
            "1",
            lesion_data["train"],
            "--datasheet",
            _datasheet(tmp_path),
            "--source",
            "examples/lesion generator",
            "--site",
            "A, B, C",
        ).code
        == 0
    )
    assert cli(*db, "data", "register", "lesion-test", "--version", "1", lesion_data["test"], "--external").code == 0
    assert (
        cli(
            *db,
            "model",
            "register",
            "lesion-cnn",
            "--version",
            "1.0",
            "--spec",
            lesion_spec,
            "--train-data",
            "lesion-train@1",
        ).code
        == 0
    )
    # before any audit: no data figures (a gate finds no evidence)
    with registry.unit_of_work() as s:
        assert data_metrics(s, model_version(s, "lesion-cnn@1.0")) == []
    assert (
        cli(*db, "eval", "performance", "lesion-cnn@1.0", "--data", lesion_data["test"], "--bootstrap", "100").code == 0
    )
    r = cli(*db, "data", "audit", "lesion-train@1", "--against", "lesion-test@1", "--json")
    assert r.code == 0, r.err
    audit_id = r.json()["audit_id"]
    with registry.unit_of_work() as s:
        row = s.get(DataAudit, audit_id)
        assert row.against == ["lesion-test@1"]
        ev = s.scalar(select(AuditEvent).where(AuditEvent.action == "data.audit"))
        assert ev.entity_id == str(audit_id) and ev.payload["patient_overlap"] == 0
        assert verify_chain(s).ok
        mv = model_version(s, "lesion-cnn@1.0")
        metrics = {(m.name, m.params.get("role"), m.params.get("subgroup")): m for m in data_metrics(s, mv)}
        po = metrics[("patient_overlap", "test", None)]
        assert po.value == 0 and po.status == "ok" and po.params["against"] == "lesion-test@1"
        assert po.params["dataset"] == "lesion-train@1"
        assert metrics[("near_duplicates", "test", None)].value == 0
        assert metrics[("n", None, None)].value == 1200
        assert metrics[("min_subgroup_n", None, "site")].value > 300
        section = data_section(s, mv)
    assert section["leakage"][0]["verdict"] == "clean" and section["leakage"][0]["role"] == "test"
    assert section["external_evaluation"] is True
    train = section["training"][0]
    assert train["datasheet"]["source"] == "examples/lesion generator" and train["external"] is False
    assert train["datasheet"]["sections"]["motivation"]["purpose"].startswith("Synthetic lesion")
    assert section["chart"].startswith("data:image/svg+xml;base64,")
    assert any("augment" in a.lower() for a in section["augmentations"])

    # a leaky split of the test data: its audit is newer, the role is "other" (not used by this model)
    a = dict(np.load(lesion_data["test"]))
    a["patient_id"] = a["patient_id"].copy()
    a["patient_id"][:4] = np.load(lesion_data["train"])["patient_id"][:4]
    leaky = save(tmp_path / "leaky.npz", a)
    assert cli(*db, "data", "register", "lesion-test-leaky", "--version", "1", leaky).code == 0
    r = cli(*db, "data", "audit", "lesion-train@1", "--against", "lesion-test-leaky@1", "--json")
    assert r.code == 1 and r.json()["leakage"]["patient_overlap"] == 2
    with registry.unit_of_work() as s:
        mv = model_version(s, "lesion-cnn@1.0")
        by = {(m.name, m.params.get("against")): m for m in data_metrics(s, mv)}
        assert by[("patient_overlap", "lesion-test-leaky@1")].value == 2
        assert by[("patient_overlap", "lesion-test-leaky@1")].params["role"] == "other"
        assert by[("patient_overlap", "lesion-test@1")].value == 0  # the older comparison is still the newest for it
        stored = s.get(DataAudit, r.json()["audit_id"]).result
    # the gate: against the test split it passes; against every split it fails on the leaky one
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "name: data\nversion: '1'\nrequirements:\n"
        "  - {id: vs-test, evidence: data, metric: patient_overlap, where: {role: test}, max: 0}\n"
        "  - {id: vs-all, evidence: data, metric: patient_overlap, max: 0}\n"
    )
    r = cli(*db, "policy", "check", "lesion-cnn@1.0", "--policy", policy, "--json")
    assert r.code == 1
    status = {o["id"]: o["status"] for o in r.json()["requirements"]}
    assert status == {"vs-test": "pass", "vs-all": "fail"}
    text = json.dumps(stored)
    assert "patient" not in {k for p in stored["leakage"]["pairs"] for k in p}
    assert str(lesion_data["train"]) not in text and "P0000" not in text


def test_data_section_renders(registry, lesion_data, lesion_spec, tmp_path, cli, db_url):
    import jinja2

    from govkit.data.records import data_section
    from govkit.registry.lookup import model_version
    from govkit.resources import resource_dir

    db = ("--db", db_url)
    cli(*db, "data", "register", "tr", "--version", "1", lesion_data["train"], "--datasheet", _datasheet(tmp_path))
    cli(*db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", lesion_spec, "--train-data", "tr@1")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(resource_dir("templates")), autoescape=True)
    with registry.unit_of_work() as s:
        section = data_section(s, model_version(s, "lesion-cnn@1.0"))
    html = env.get_template("_data_section.html").render(data_section=section)
    assert "No data audit compares the training data" in html
    assert "Synthetic lesion images" in html and "not audited" in html
    assert "<h2>Data</h2>" in env.get_template("_data_section.html").render(data_section=None)
    # once audited against another split, the section states what the near-duplicate search can miss
    assert "may miss" not in html
    cli(*db, "data", "register", "te", "--version", "1", lesion_data["test"])
    assert cli(*db, "data", "audit", "tr@1", "--against", "te@1").code == 0
    with registry.unit_of_work() as s:
        section = data_section(s, model_version(s, "lesion-cnn@1.0"))
    html = " ".join(env.get_template("_data_section.html").render(data_section=section).split())
    assert "Near-duplicate search (cosine distance ≤ 0.28) finds near copies made by" in html
    assert "it may miss larger edits" in html


def test_register_refuses_bad_datasheets(cli, tmp_path, lesion_data):
    bad = tmp_path / "bad.yaml"
    bad.write_text("motivation: {purpose: x, favourite_colour: blue}\n")
    r = cli("data", "register", "d", "--version", "1", lesion_data["test"], "--datasheet", bad)
    assert r.code == 2 and "favourite_colour" in r.err and len(r.err.strip().splitlines()) == 1
    bad.write_text("external: maybe\n")
    r = cli("data", "register", "d", "--version", "1", lesion_data["test"], "--datasheet", bad)
    assert r.code == 2 and "true or false" in r.err
    r = cli(
        "data",
        "register",
        "d",
        "--version",
        "1",
        lesion_data["test"],
        "--datasheet",
        _datasheet(tmp_path),
        "--external",
    )
    assert r.code == 2 and "command line" in r.err
    phi = _datasheet(tmp_path, composition={"instances": "Images of John Smith, MRN 483-22-9917, born 03/14/1962."})
    r = cli("data", "register", "d", "--version", "1", lesion_data["test"], "--datasheet", phi)
    assert r.code == 2 and "483-22-9917" not in r.err and "John" not in r.err
    assert (
        cli("data", "register", "d", "--version", "1", lesion_data["test"], "--datasheet", _datasheet(tmp_path)).code
        == 0
    )


def test_registered_data_changed_on_disk_is_refused(cli, tmp_path, planted):
    p = tmp_path / "d.npz"
    p.write_bytes(planted["clean"].read_bytes())
    assert cli("data", "register", "d", "--version", "1", p).code == 0
    a = dict(np.load(p))
    a["y"] = 1 - a["y"]
    np.savez(p, **a)
    r = cli("data", "audit", "d@1")
    assert r.code == 2 and "changed since it was registered" in r.err


def test_label_issues_rank_flipped_labels_first(cli, lesion_data, lesion_spec, tmp_path):
    a = dict(np.load(lesion_data["test"]))
    flipped = np.arange(0, 40, 4)
    a["y"] = a["y"].copy()
    a["y"][flipped] = 1 - a["y"][flipped]
    p = save(tmp_path / "noisy.npz", a)
    r = cli("data", "audit", p, "--model", lesion_spec, "--json")
    assert r.code == 0, r.err
    li = r.json()["label_issues"]
    listed = [c["index"] for c in li["candidates"]]  # the top 20, most contradicted first
    hits = set(listed) & set(flipped.tolist())
    # the small example model is wrong on about 1 image in 9, so some flips only "correct" its errors
    assert len(hits) >= 6 and len(hits) >= 0.6 * len(listed)
    assert listed[0] in hits
    clean = cli("data", "audit", lesion_data["test"], "--model", lesion_spec, "--json").json()["label_issues"]
    assert clean["n_candidates"] < li["n_candidates"]


def test_audit_cli_prints_one_line_errors_in_subprocess(tmp_path):
    from tests.conftest import run_govkit

    out = run_govkit("data", "audit", str(tmp_path / "missing.npz"), env={"GOVKIT_HOME": str(tmp_path)})
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1

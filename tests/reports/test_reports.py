"""Reports: real WeasyPrint PDFs checked with pdftotext/pdftoppm, security payloads, reproducibility."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

PAYLOADS = [
    '<img src="file:///etc/hostname">',
    '<link rel=attachment href="file:///etc/passwd">',
    '<div style="background: url(file:///etc/passwd)">css</div>',
    "</style><style>body { background: url('file:///etc/shadow') }</style>",
    '<a href="javascript:alert(1)">click</a>',
    '<img src="http://127.0.0.1:9/x.png">',
]


def pdftotext(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def squash(text: str) -> str:
    """Without whitespace: table cells wrap long strings anywhere."""
    return "".join(text.split())


def attachments(pdf: Path) -> list[str]:
    out = subprocess.run(["pdfdetach", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    return [line.split(": ", 1)[1] for line in out.splitlines()[1:]]


@pytest.fixture
def hostile_model(cli, registry, lesion_spec, lesion_data, tmp_path):
    """The example model, registered with every payload in its card, plus evidence of each kind."""
    folder = tmp_path / "hostile"
    shutil.copytree(lesion_spec.parent, folder)
    doc = yaml.safe_load((folder / "model.yaml").read_text())
    doc["card"]["intended_use"] = " ".join(PAYLOADS)
    doc["card"]["caveats_and_limitations"] = PAYLOADS[1] + " & <script>alert(2)</script>"
    (folder / "model.yaml").write_text(yaml.safe_dump(doc))
    db = registry.url
    ref = "lesion-cnn@1.0"
    assert cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", folder / "model.yaml").code == 0
    assert cli("--db", db, "eval", "performance", ref, "--data", lesion_data["test"], "--device", "cpu",
               "--bootstrap", "100").code == 0
    assert cli("--db", db, "robustness", "run", ref, "--data", lesion_data["test"], "--device", "cpu",
               "--corruption", "gaussian:2", "--attack", "pgd-linf", "--eps", "0.0039", "--steps", "3").code == 0
    assert cli("--db", db, "explain", "run", ref, "--data", lesion_data["test"], "--methods", "grad-cam",
               "--tests", "localisation", "--out", tmp_path / "ov").code == 0
    assert cli("--db", db, "incident", "report", ref, "--description", PAYLOADS[0], "--severity", "low").code == 0
    assert cli("--db", db, "risk", "add", ref, "--hazard", PAYLOADS[2], "--situation", "s", "--harm", "h",
               "--severity", "S3", "--probability", "P2").code == 0
    return db, ref


def test_audit_report_renders_safely_and_completely(cli, hostile_model, tmp_path):
    db, ref = hostile_model
    out = tmp_path / "audit.pdf"
    res = cli("--db", db, "report", "audit", ref, "-o", out, "--json")
    assert res.code == 0, res.err
    body = res.json()
    # escaped payloads are text: WeasyPrint never tried to fetch them, and read only allowed resources
    from govkit.resources import resource_dir

    templates = str(resource_dir("templates").resolve())
    assert body["refused_urls"] == []
    assert body["fetched"] and all(u.startswith("data:") or u.startswith(templates) for u in body["fetched"])
    text = pdftotext(out)
    flat = squash(text)
    assert squash(PAYLOADS[0]) in flat  # the incident description, printed as text
    assert squash(PAYLOADS[2]) in flat  # the hazard, printed as text
    assert "root:x:0:0" not in text
    for section in ("Data lineage", "Performance and subgroups", "Privacy", "Robustness", "Explainability",
                    "Risk register", "Policy verdict", "Approvals", "Incidents", "Drift checks",
                    "EU AI Act Annex IV", "Good Machine Learning Practice", "HTI-1"):
        assert section in text, section
    assert "page 1 of" in text and body["document_id"] in flat
    assert attachments(out) == ["evidence.json"]
    evidence = subprocess.run(["pdfdetach", "-save", "1", "-o", str(tmp_path / "ev.json"), str(out)], check=True)
    assert evidence.returncode == 0
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert ev["model"]["name"] == "lesion-cnn" and "<script>" in ev["card"]["caveats_and_limitations"]
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
    assert "JavaScript:      no" in info
    _pages_not_blank(out, tmp_path)


def _pages_not_blank(pdf: Path, tmp_path: Path) -> None:
    from PIL import Image

    prefix = tmp_path / "page"
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(prefix)], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert pages
    for p in pages:
        with Image.open(p) as im:
            assert np.asarray(im.convert("L")).std() > 5, p.name


def test_same_state_gives_byte_identical_pdf_and_records_it(cli, hostile_model, tmp_path):
    db, ref = hostile_model
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    ra = cli("--db", db, "report", "model-card", ref, "-o", a, "--json").json()
    rb = cli("--db", db, "report", "model-card", ref, "-o", b, "--json").json()
    assert a.read_bytes() == b.read_bytes() and ra["pdf_sha256"] == rb["pdf_sha256"]
    text = pdftotext(a)
    flat = squash(text)
    assert squash("<script>alert(2)</script>") in flat and squash(PAYLOADS[4]) in flat  # card fields, escaped
    for section in ("Model details", "Intended use", "Factors", "Metrics", "Evaluation data", "Training data",
                    "Quantitative analyses", "Ethical considerations", "Caveats and recommendations",
                    "HTI-1 source attributes"):
        assert section in text, section
    events = cli("--db", db, "audit", "log", "--json", "--action", "report.render").json()["events"]
    assert [e["payload"]["pdf_sha256"] for e in events] == [ra["pdf_sha256"]] * 2
    assert cli("--db", db, "audit", "verify").code == 0
    _pages_not_blank(a, tmp_path)


def test_unescaped_payloads_are_refused_by_the_fetcher(tmp_path):
    """Even HTML that bypassed escaping cannot make WeasyPrint read outside the allowed resources."""
    import datetime as dt

    from govkit.reports.render import write_pdf

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-TOKEN-7781")
    html = ("<html><head><link rel=stylesheet href='file:///etc/passwd'>"
            f"<link rel=attachment href='{secret.as_uri()}'></head><body>"
            f"<img src='file:///etc/hostname'><div style=\"background: url({secret.as_uri()})\">x</div>"
            "<img src='http://127.0.0.1:9/x.png'><a href='javascript:alert(1)'>js</a>"
            f"<iframe src='{secret.as_uri()}'></iframe><object data='{secret.as_uri()}'></object>"
            "<p>payload page</p></body></html>")
    out = tmp_path / "raw.pdf"
    pdf, fetcher = write_pdf(html, out, evidence_json=b"{}", when=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    assert {"file:///etc/passwd", "file:///etc/hostname", secret.as_uri(), "http://127.0.0.1:9/x.png"} <= set(
        fetcher.refused)
    assert b"TOP-SECRET-TOKEN-7781" not in pdf and "TOP-SECRET-TOKEN-7781" not in pdftotext(out)
    assert attachments(out) == ["evidence.json"]  # the attachment link did not embed the secret
    assert "payload page" in pdftotext(out)


def test_safe_fetcher_refuses_everything_but_data_and_templates():
    from govkit.reports.fetcher import SafeFetcher
    from govkit.resources import resource_dir

    f = SafeFetcher()
    for url in ("file:///etc/passwd", "http://127.0.0.1/", "https://example.org/a.css", "javascript:alert(1)",
                "ftp://x/y", (resource_dir("templates").parent / "pyproject.toml").resolve().as_uri()):
        with pytest.raises(ValueError):
            f.fetch(url)
    assert len(f.refused) == 6
    ok = f.fetch((resource_dir("templates") / "report.css").resolve().as_uri())
    assert ok is not None
    assert f.fetch("data:text/plain;base64,aGk=") is not None


def test_deid_report_and_exports(cli, registry, tmp_path):
    from govkit.testing.dicom_corpus import phi_corpus

    db = registry.url
    src = tmp_path / "src"
    phi_corpus(src, patients=1, files_per_patient=2)
    run = cli("--db", db, "deid", "run", src, tmp_path / "dst", "--json").json()
    assert cli("--db", db, "deid", "verify", tmp_path / "dst", "--source", src).code == 0
    out = tmp_path / "deid.pdf"
    res = cli("--db", db, "report", "deid", run["run_id"], "-o", out, "--json")
    assert res.code == 0, res.err
    text = pdftotext(out)
    assert "Safe Harbor" in text and "No residual PHI found" in text and "Medical record numbers" in text
    assert "KAUFMAN" not in text.upper()
    assert cli("--db", db, "report", "deid", "no-such-run", "-o", tmp_path / "x.pdf").code == 2


def test_export_formats(cli, registry, lesion_spec, tmp_path):
    db = registry.url
    assert cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", lesion_spec).code == 0
    for fmt in ("json", "mct-json"):
        out = tmp_path / f"{fmt}.json"
        assert cli("--db", db, "report", "export", "lesion-cnn@1.0", "--format", fmt, "-o", out).code == 0
        doc = json.loads(out.read_text())
        if fmt == "json":
            assert doc["model"]["name"] == "lesion-cnn" and len(doc["hti1"]) == 31
        else:
            assert doc["model_details"]["name"] == "lesion-cnn" and doc["considerations"]["use_cases"]

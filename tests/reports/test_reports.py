"""Reports: real WeasyPrint PDFs checked with pdftotext/pdftoppm, security payloads, reproducibility."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.reports.conftest import pdftotext, squash

PAYLOADS = [
    '<img src="file:///etc/hostname">',
    '<link rel=attachment href="file:///etc/passwd">',
    '<div style="background: url(file:///etc/passwd)">css</div>',
    "</style><style>body { background: url('file:///etc/shadow') }</style>",
    '<a href="javascript:alert(1)">click</a>',
    '<img src="http://127.0.0.1:9/x.png">',
]


def attachments(pdf: Path) -> list[str]:
    out = subprocess.run(["pdfdetach", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    return [line.split(": ", 1)[1] for line in out.splitlines()[1:]]


@pytest.fixture
def evidenced_model(cli, sqlite_db, untrained_spec, lesion_data, tmp_path):
    """The example model with evidence of each kind (performance, robustness, explainability) and a risk."""
    db, ref = sqlite_db, "lesion-cnn@1.0"
    assert cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", untrained_spec).code == 0
    assert (
        cli(
            "--db",
            db,
            "eval",
            "performance",
            ref,
            "--data",
            lesion_data["test"],
            "--device",
            "cpu",
            "--bootstrap",
            "100",
        ).code
        == 0
    )
    res = cli(
        "--db",
        db,
        "robustness",
        "run",
        ref,
        "--data",
        lesion_data["test"],
        "--device",
        "cpu",
        "--corruption",
        "gaussian:2",
        "--attack",
        "pgd-linf",
        "--eps",
        "0.0039",
        "--steps",
        "3",
    )
    assert res.code == 0, res.err
    res = cli(
        "--db",
        db,
        "explain",
        "run",
        ref,
        "--data",
        lesion_data["test"],
        "--methods",
        "grad-cam",
        "--tests",
        "localisation",
        "--out",
        tmp_path / "ov",
    )
    assert res.code == 0, res.err
    assert (
        cli(
            "--db",
            db,
            "risk",
            "add",
            ref,
            "--hazard",
            "Missed lesion",
            "--situation",
            "s",
            "--harm",
            "h",
            "--severity",
            "S3",
            "--probability",
            "P2",
        ).code
        == 0
    )
    return db, ref


def _hostile(ev: dict) -> dict:
    """Every payload in the free text a report prints (registry text is PHI-checked; the renderer must not rely
    on it)."""
    ev = json.loads(json.dumps(ev))
    ev["card"]["intended_use"] = " ".join(PAYLOADS)
    ev["card"]["caveats_and_limitations"] = PAYLOADS[1] + " & <script>alert(2)</script>"
    ev["incidents"] = [
        {
            "id": 1,
            "model_version_id": 1,
            "description": PAYLOADS[0],
            "case_ref": PAYLOADS[5],
            "severity": "low",
            "reported_by": "t",
            "reported_at": "2026-01-01T00:00:00+00:00",
            "status": "open",
        }
    ]
    ev["risk"]["items"][0]["hazard"] = PAYLOADS[2]
    ev["risk"]["items"][0]["harm"] = PAYLOADS[3]
    return ev


@pytest.mark.slow
def test_reports_render_safely_and_completely(cli, evidenced_model, tmp_path):
    import datetime as dt

    from govkit.reports.api import render_document
    from govkit.resources import resource_dir

    db, ref = evidenced_model
    assert cli("--db", db, "report", "export", ref, "-o", tmp_path / "ev.json").code == 0
    ev = _hostile(json.loads((tmp_path / "ev.json").read_text()))
    when = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    templates = str(resource_dir("templates").resolve())
    for kind in ("audit", "model-card"):
        out = tmp_path / f"{kind}.pdf"
        body = render_document(kind, ev, f"{kind}: {ref}", when, out)
        # escaped payloads are text: WeasyPrint never tried to fetch them, and read only allowed resources
        assert body["refused_urls"] == []
        assert body["fetched"] and all(u.startswith(("data:", templates)) for u in body["fetched"])
        text = pdftotext(out)
        flat = squash(text)
        assert "root:x:0:0" not in text
        assert "page 1 of" in text and body["document_id"] in flat
        assert attachments(out) == ["evidence.json"]
        info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
        assert "JavaScript:      no" in info
        _pages_not_blank(out, tmp_path / kind)
    audit = pdftotext(tmp_path / "audit.pdf")
    flat = squash(audit)
    assert squash(PAYLOADS[0]) in flat and squash(PAYLOADS[2]) in flat and squash(PAYLOADS[3]) in flat
    for section in (
        "Model and data lineage",
        "Performance and subgroups",
        "Confusion matrix",
        "Privacy",
        "Robustness",
        "Explainability",
        "Risk register",
        "Policy verdict",
        "Signatures",
        "Incidents",
        "Drift checks",
        "EU AI Act Annex IV",
        "Good Machine Learning Practice",
        "HTI-1",
    ):
        assert section in audit, section
    # the robustness table beside the heat-map, captions that say what is shown
    assert "gaussian" in audit and squash("Accuracy under each corruption") in flat
    assert squash("grad-cam: attribution maps of sample cases") in flat
    card = pdftotext(tmp_path / "model-card.pdf")
    for section in (
        "Model details",
        "Intended use",
        "Factors",
        "Metrics",
        "Evaluation data",
        "Training data",
        "Quantitative analyses",
        "Ethical considerations",
        "Caveats and recommendations",
        "HTI-1 source attributes",
        "Training procedure and hyper-parameters",
        "Intersectional results",
    ):
        assert section in card, section
    assert squash(PAYLOADS[4]) in squash(card) and squash("<script>alert(2)</script>") in squash(card)
    assert "optimizer" in card and "adam" in card and "epochs" in card  # the spec's train recipe


def _pages_not_blank(pdf: Path, folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(folder / "page")], check=True)
    pages = sorted(folder.glob("page-*.png"))
    assert pages
    for p in pages:
        with Image.open(p) as im:
            assert np.asarray(im.convert("L")).std() > 5, p.name


@pytest.mark.slow
def test_same_state_gives_byte_identical_pdf_and_records_it(cli, sqlite_db, untrained_spec, tmp_path):
    from govkit.reports.api import render_document

    db, ref = sqlite_db, "lesion-cnn@1.0"
    assert cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", untrained_spec).code == 0
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    ra = cli("--db", db, "report", "model-card", ref, "-o", a, "--json").json()
    rb = cli("--db", db, "report", "model-card", ref, "-o", b, "--json").json()
    # the second rendering sees the first one's audit event: same document, a later chain head
    assert ra["document_id"] == rb["document_id"] and ra["pdf_sha256"] != rb["pdf_sha256"]
    heads = [re.search(r"chain head (\d+):", pdftotext(p)).group(1) for p in (a, b)]
    assert int(heads[1]) == int(heads[0]) + 1
    events = cli("--db", db, "audit", "log", "--json", "--action", "report.render").json()["events"]
    assert [e["payload"]["pdf_sha256"] for e in events] == [ra["pdf_sha256"], rb["pdf_sha256"]]
    assert cli("--db", db, "audit", "verify").code == 0
    # the same evidence renders byte-identical PDFs
    assert cli("--db", db, "report", "export", ref, "-o", tmp_path / "ev.json").code == 0
    ev = json.loads((tmp_path / "ev.json").read_text())
    import datetime as dt

    when = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    one = render_document("model-card", ev, "card", when, tmp_path / "1.pdf")
    two = render_document("model-card", ev, "card", when, tmp_path / "2.pdf")
    assert (tmp_path / "1.pdf").read_bytes() == (tmp_path / "2.pdf").read_bytes()
    assert one["pdf_sha256"] == two["pdf_sha256"]


def test_unescaped_payloads_are_refused_by_the_fetcher(tmp_path):
    """Even HTML that bypassed escaping cannot make WeasyPrint read outside the allowed resources."""
    import datetime as dt

    from govkit.reports.render import write_pdf

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-TOKEN-7781")
    html = (
        "<html><head><link rel=stylesheet href='file:///etc/passwd'>"
        f"<link rel=attachment href='{secret.as_uri()}'></head><body>"
        f"<img src='file:///etc/hostname'><div style=\"background: url({secret.as_uri()})\">x</div>"
        "<img src='http://127.0.0.1:9/x.png'><a href='javascript:alert(1)'>js</a>"
        f"<iframe src='{secret.as_uri()}'></iframe><object data='{secret.as_uri()}'></object>"
        "<p>payload page</p></body></html>"
    )
    out = tmp_path / "raw.pdf"
    pdf, fetcher = write_pdf(html, out, evidence_json=b"{}", when=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    assert {"file:///etc/passwd", "file:///etc/hostname", secret.as_uri(), "http://127.0.0.1:9/x.png"} <= set(
        fetcher.refused
    )
    assert b"TOP-SECRET-TOKEN-7781" not in pdf and "TOP-SECRET-TOKEN-7781" not in pdftotext(out)
    assert attachments(out) == ["evidence.json"]  # the attachment link did not embed the secret
    assert "payload page" in pdftotext(out)


def test_safe_fetcher_refuses_everything_but_data_and_templates():
    from govkit.reports.fetcher import SafeFetcher
    from govkit.resources import resource_dir

    f = SafeFetcher()
    for url in (
        "file:///etc/passwd",
        "http://127.0.0.1/",
        "https://example.org/a.css",
        "javascript:alert(1)",
        "ftp://x/y",
        (resource_dir("templates").parent / "pyproject.toml").resolve().as_uri(),
    ):
        with pytest.raises(ValueError, match="refused"):
            f.fetch(url)
    assert len(f.refused) == 6
    ok = f.fetch((resource_dir("templates") / "report.css").resolve().as_uri())
    assert ok is not None
    assert f.fetch("data:text/plain;base64,aGk=") is not None


@pytest.mark.slow
def test_deid_report_and_exports(cli, sqlite_db, tmp_path):
    from govkit.testing.dicom_corpus import phi_corpus

    db = sqlite_db
    src = tmp_path / "src"
    phi_corpus(src, patients=1, files_per_patient=2)
    run = cli("--db", db, "deid", "run", src, tmp_path / "dst", "--option", "clean-pixel-data", "--json").json()
    assert cli("--db", db, "deid", "verify", tmp_path / "dst", "--source", src).code == 0
    out = tmp_path / "deid.pdf"
    res = cli("--db", db, "report", "deid", run["run_id"], "-o", out, "--json")
    assert res.code == 0, res.err
    text = pdftotext(out)
    flat = squash(text)
    assert "READY FOR RELEASE" in text and "No residual PHI found" in text and "Medical record numbers" in text
    assert squash("Safe Harbor") in flat and squash("Limited Data Set") in flat
    # the action-code legend of PS3.15 Table E.1-1
    for code in ("C", "D", "K", "U", "X", "Z"):
        assert re.search(rf"^{code} ", text, re.MULTILINE), code
    assert "KAUFMAN" not in text.upper()
    assert cli("--db", db, "report", "deid", "no-such-run", "-o", tmp_path / "x.pdf").code == 2


@pytest.mark.slow
def test_export_formats(cli, sqlite_db, untrained_spec, tmp_path):
    db = sqlite_db
    assert cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", untrained_spec).code == 0
    for fmt in ("json", "mct-json"):
        out = tmp_path / f"{fmt}.json"
        assert cli("--db", db, "report", "export", "lesion-cnn@1.0", "--format", fmt, "-o", out).code == 0
        doc = json.loads(out.read_text())
        if fmt == "json":
            assert doc["model"]["name"] == "lesion-cnn" and len(doc["hti1"]) == 31
        else:
            assert doc["model_details"]["name"] == "lesion-cnn" and doc["considerations"]["use_cases"]

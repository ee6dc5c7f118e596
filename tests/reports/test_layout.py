"""Layout: long fields are cut visibly (full text attached), unbroken text wraps, table rows never split
across pages and their headers repeat, identifiers stay whole, no near-empty trailing page."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from tests.reports.conftest import page_count, pdftotext, squash

REF = "lesion-cnn@1.0"
LONG_NAME = "lesion-cnn-with-a-deliberately-long-identifier-2026"
UNBROKEN = "X" * 150 + "UNBROKEN-MIDDLE" + "Y" * 150
HUGE_END = "END-OF-THE-HUGE-FIELD"
WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)

pytestmark = pytest.mark.slow  # a registry, an evaluation and real PDFs per test


@pytest.fixture(scope="module")
def base_evidence(tmp_path_factory, untrained_spec, lesion_data):
    """Real evidence of a registered, evaluated model (read back through the JSON export)."""
    from govkit.cli.main import main

    tmp = tmp_path_factory.mktemp("layout")
    db = f"sqlite:///{tmp / 'r.sqlite'}"

    def cli(*args) -> None:
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        assert exc.value.code == 0, args

    cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", untrained_spec)
    cli("--db", db, "eval", "performance", REF, "--data", lesion_data["test"], "--device", "cpu", "--bootstrap", "100")
    cli("--db", db, "report", "export", REF, "-o", tmp / "evidence.json")
    return json.loads((tmp / "evidence.json").read_text())


def _stress(ev: dict) -> dict:
    ev = json.loads(json.dumps(ev))
    words = " ".join(f"word{i:06d}" for i in range(20_000))  # 220,000 characters of prose
    ev["card"]["caveats_and_limitations"] = words[: 200_000 - len(HUGE_END) - 1] + " " + HUGE_END
    assert len(ev["card"]["caveats_and_limitations"]) == 200_000
    ev["card"]["intended_use"] = f"Flag lesions. {UNBROKEN} Then stop."
    ev["model"]["name"] = LONG_NAME
    ev["incidents"] = [
        {
            "id": i,
            "model_version_id": 1,
            "description": f"row-{i:02d}-begin " + "a field report "
            "with enough words to wrap over several lines of the description column " * 2 + f"row-{i:02d}-end",
            "case_ref": f"CASE-{i:04d}",
            "severity": "low",
            "reported_by": "tester",
            "reported_at": "2026-01-01T00:00:00+00:00",
            "status": "closed",
        }
        for i in range(60)
    ]
    ev["incidents"][30]["description"] += " " + UNBROKEN
    ev["incidents"][10]["description"] = "row-10-begin row-10-end " + ev["card"]["caveats_and_limitations"]
    return ev


def test_long_fields_rows_and_identifiers(base_evidence, tmp_path):
    from govkit.reports.api import render_document

    ev = _stress(base_evidence)
    out = tmp_path / "audit.pdf"
    res = render_document("audit", ev, f"Audit report: {LONG_NAME}@1.0", WHEN, out)
    assert res["refused_urls"] == []
    n = page_count(out)
    pages = [pdftotext(out, p, p) for p in range(1, n + 1)]
    flat = squash("".join(pages))
    # the unbroken run wraps and is shown whole; nothing is clipped without a mark
    assert UNBROKEN in flat
    # the 200,000-character field is cut visibly, and the attachment holds it in full
    assert HUGE_END not in flat
    assert (
        squash("[truncated: 1,000 of 200,024 characters shown; the full text is in the attached evidence.json]") in flat
    )
    subprocess.run(["pdfdetach", "-save", "1", "-o", str(tmp_path / "ev.json"), str(out)], check=True)
    attached = json.loads((tmp_path / "ev.json").read_text())
    assert attached["incidents"][10]["description"].endswith(HUGE_END)
    # 60 rows, each whole on one page, the header repeated on every page that holds rows
    for i in range(60):
        begin = [p for p, text in enumerate(pages) if f"row-{i:02d}-begin" in squash(text)]
        end = [p for p, text in enumerate(pages) if f"row-{i:02d}-end" in squash(text)]
        assert len(begin) == 1 and begin == end, (i, begin, end)
    holding = {p for p, text in enumerate(pages) if "-begin" in text and "row-" in text}
    assert len(holding) >= 2  # the table does span pages
    for p in holding:
        assert "#descriptioncaseseveritystatus" in squash(pages[p]), p
    # identifiers are not broken mid-word where a line can hold them
    layout = pdftotext(out, 1, 1, layout=True)
    assert LONG_NAME in layout
    for i in (0, 59):
        assert f"CASE-{i:04d}" in "".join(pages)
    # no near-empty trailing page: the last page carries content besides its running header and footer
    last = squash(pages[-1]).replace(squash(f"Audit report: {LONG_NAME}@1.0"), "")
    assert len(last) > 400


def test_model_card_page_one_cuts_long_fields_visibly(base_evidence, tmp_path):
    from govkit.reports.api import render_document

    out = tmp_path / "card.pdf"
    render_document("model-card", _stress(base_evidence), f"Model card: {LONG_NAME}@1.0", WHEN, out)
    page = squash(pdftotext(out, 1, 1))
    assert squash("[truncated: 700 of 200,000 characters shown") in page
    assert UNBROKEN in page and LONG_NAME in pdftotext(out, 1, 1, layout=True)

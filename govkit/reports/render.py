"""Render reports: Jinja2 (autoescape on every template) → HTML → WeasyPrint → tagged PDF/A-3b.

Safety: user text (model names, card fields, incident descriptions) is
escaped by Jinja2 and never placed in CSS (``templates/report.css`` is
static).  :class:`~govkit.reports.fetcher.SafeFetcher` lets WeasyPrint read
only ``data:`` URLs and the packaged templates.  The canonical evidence JSON
is attached to the PDF; the document ID printed in every footer is
:func:`govkit.reports.evidence.document_id` of it.

Reproducibility: the PDF's dates come from the registry state (the newest
evidence event), ``SOURCE_DATE_EPOCH`` is set to the same instant while
WeasyPrint writes, and the charts are deterministic SVG, so the same
evidence and chain head give a byte-identical PDF.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from govkit.atomicio import write_atomic
from govkit.reports.fetcher import SafeFetcher
from govkit.resources import resource_dir

if TYPE_CHECKING:
    import jinja2

TEMPLATE_VERSION = "3"


def environment() -> jinja2.Environment:
    import jinja2

    from govkit.reports.present import filters

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(filters())
    return env


@contextlib.contextmanager
def source_date_epoch(when: dt.datetime) -> Iterator[None]:
    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(int(when.timestamp()))
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old


def render_html(template: str, context: dict) -> str:
    return environment().get_template(template).render(**context)


def write_pdf(html: str, out: Path, *, evidence_json: bytes, when: dt.datetime) -> tuple[bytes, SafeFetcher]:
    """Write a PDF/A-3b with the evidence attached; return its bytes and the fetcher's log."""
    from weasyprint import HTML, Attachment

    fetcher = SafeFetcher()
    base = resource_dir("templates").resolve().as_uri() + "/"
    document = HTML(string=html, base_url=base, url_fetcher=fetcher)
    attachment = Attachment(
        string=evidence_json,
        base_url=base,
        url_fetcher=fetcher,
        name="evidence.json",
        description="govkit evidence (canonical JSON)",
        created=when,
        modified=when,
        relationship="Data",
    )
    with source_date_epoch(when):
        pdf = document.write_pdf(
            pdf_variant="pdf/a-3b", pdf_tags=True, attachments=[attachment], uncompressed_pdf=False
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, pdf)
    return pdf, fetcher

"""List the PHI a DICOM file holds, without writing anything (``govkit deid scan``).

For each file: every attribute the basic profile would remove or replace,
with its action; private attributes; the PHI entities Presidio finds in
free text; and, with an OCR engine, every word burned into the pixels with
its box and whether it is PHI (:func:`govkit.deid.pixels.redact.describe_text`).
PHI values are shown masked (:func:`govkit.deid.verify.mask`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from govkit.deid.dicomio import element_vr, load, walk_values
from govkit.deid.files import discover, printable
from govkit.deid.refusals import Refusal, refusal_for
from govkit.deid.verify import TEXT_CHECK_VRS, mask
from govkit.progress import Progress, silent

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from govkit.deid.header.engine import DeidConfig
    from govkit.deid.text.cleaner import TextCleaner

log = logging.getLogger(__name__)


@dataclass
class ScanItem:
    path: str
    status: str  # scanned | skipped (not DICOM, DICOMDIR) | unreadable (refused: see reason)
    reason: str | None = None  # for skipped and unreadable files: from govkit.deid.refusals.REASONS
    findings: list[dict] = field(default_factory=list)
    n_private: int = 0
    text_boxes: list[dict] = field(default_factory=list)
    pixel_error: str | None = None


def scan(
    path: str | Path, *, text: bool = True, ocr_engine: str | None = None, progress: Progress = silent
) -> list[ScanItem]:
    """One :class:`ScanItem` per file under ``path``; a file that cannot be read is a
    per-file result (``unreadable``, with its reason), never the end of the scan.
    ``progress`` shows the files done."""
    from govkit.deid.header.engine import DeidConfig
    from govkit.deid.header.pseudonyms import Pseudonymizer
    from govkit.deid.text.cleaner import TextCleaner

    root = Path(path)
    cfg = DeidConfig(frozenset(), Pseudonymizer(b"scan-only-key-not-used-for-output"))
    cleaner = TextCleaner() if text else None
    engine = None
    if ocr_engine is not None:
        from govkit.deid.pixels.ocr import get_engine

        engine = get_engine(ocr_engine)
    items = []
    files = list(discover(root))
    for p in progress(files, len(files), "scanning"):
        rel = str(p.relative_to(root)) if root.is_dir() else p.name
        try:
            _, ds = load(p)
            item = _scan_header(ds, rel, cfg, cleaner)
        except Refusal as refusal:  # a per-file result: the batch goes on
            items.append(ScanItem(rel, "skipped" if refusal.status == "skipped" else "unreadable", refusal.text))
            continue
        except Exception as exc:
            log.debug("%s: cannot be scanned", printable(rel), exc_info=True)
            items.append(ScanItem(rel, "unreadable", refusal_for(exc).text))
            continue
        if engine is not None and "PixelData" in ds:
            _scan_pixels(item, ds, engine, cleaner)
        items.append(item)
    return items


def _scan_header(ds: Dataset, rel: str, cfg: DeidConfig, cleaner: TextCleaner | None) -> ScanItem:
    from govkit.deid.header.profile import resolve_type_dependent

    item = ScanItem(rel, "scanned")
    item.n_private = _count_private(ds)
    sop = str(ds.get("SOPClassUID", ""))
    for tag, where, vr, values in walk_values(ds):
        action = cfg.action_for(tag)
        if action is not None:
            action = resolve_type_dependent(action, tag, sop)
        if action not in (None, "K"):
            item.findings.append(
                {
                    "tag": str(tag),
                    "attribute": where,
                    "action": action,
                    "kind": "header",
                    "value": mask("\\".join(values)),
                }
            )
        if cleaner is not None and vr in TEXT_CHECK_VRS:
            for v in values:
                for s in cleaner.find(v):
                    item.findings.append(
                        {
                            "tag": str(tag),
                            "attribute": where,
                            "action": action or "K",
                            "kind": s.entity,
                            "value": mask(v[s.start : s.end]),
                        }
                    )
    return item


def _scan_pixels(item: ScanItem, ds, engine, cleaner) -> None:
    from govkit.deid.pixels.redact import describe_text
    from govkit.deid.text import identifiers as phi

    try:
        boxes = describe_text(ds, phi.collect(ds), engine, cleaner)
    except Exception as exc:  # noqa: BLE001 - report and go on with the batch
        item.pixel_error = f"pixel data could not be read ({type(exc).__name__})"
        return
    item.text_boxes = [b | {"text": mask(b["text"]) if b["phi"] else b["text"]} for b in boxes]


def _count_private(ds) -> int:
    n = 0
    for tag in ds.keys():
        if tag.is_private:
            n += 1
        elif element_vr(ds, tag) == "SQ":
            n += sum(_count_private(i) for i in ds[tag].value or ())
    return n


def as_dicts(items: list[ScanItem]) -> list[dict]:
    return [asdict(i) for i in items]

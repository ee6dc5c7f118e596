"""One file, in a worker process: read, de-identify, write a temporary output.

:func:`init_worker` sets up a process once per run (the key travels once);
:func:`process_one` turns one input into a :class:`~govkit.deid.batch.outputs.FileResult`
holding a temporary file in DST, which the coordinator (or a Dask task)
then commits (:func:`govkit.deid.batch.outputs.commit`).  A file that
cannot be processed safely is **not written at all**; its reason is
reported instead.
"""

from __future__ import annotations

import hashlib
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govkit.atomicio import TMP_PREFIX, sync_filesystem, write_temp
from govkit.deid.batch.outputs import NO_UID_DIR, PATH_UIDS, FileResult, output_relpath, path_uid
from govkit.deid.dicomio import (
    check_decodes,
    check_pixel_data,
    give_keyed_uids,
    parse_usable,
    write_part10,
)
from govkit.deid.files import DEFAULT_MAX_FILE_BYTES, read_source
from govkit.deid.refusals import Refusal, refusal_for

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from govkit.deid.text.identifiers import Identifiers

_WORKER: dict[str, Any] = {}


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs; sent once per worker (it holds the key: never log it)."""

    run_id: str
    key: bytes = field(repr=False)
    options: frozenset[str]
    dst: str
    recipe: str | None = None
    crosswalk: bool = False
    pixel_policy: str = "phi"
    ocr_engine: str = "rapidocr"
    ocr_threads: int | None = None  # CPU threads per worker's OCR; None: all
    max_bytes: int = DEFAULT_MAX_FILE_BYTES  # larger files are refused before reading


def init_worker(config: WorkerConfig) -> None:
    """Set up this process for :func:`process_one` (idempotent per run)."""
    import warnings

    from govkit.deid.header.engine import DeidConfig
    from govkit.deid.header.pseudonyms import Pseudonymizer

    if _WORKER.get("run_id") == config.run_id:
        return
    warnings.filterwarnings("ignore", category=UserWarning, module="pydicom")
    _WORKER.clear()
    _WORKER.update(
        run_id=config.run_id,
        cfg=DeidConfig(config.options, Pseudonymizer(config.key)),
        dst=Path(config.dst),
        recipe=config.recipe,
        crosswalk=config.crosswalk,
        pixel_policy=config.pixel_policy,
        ocr=None,
        ocr_engine=config.ocr_engine,
        ocr_threads=config.ocr_threads,
        max_bytes=config.max_bytes,
    )


def process_one(path: str, rel: str) -> FileResult:
    """De-identify one file into a temporary file in DST (worker side).

    Whatever goes wrong, nothing is written for the file and its result
    carries a documented reason (:mod:`govkit.deid.refusals`); the exception
    behind it, if any, only travels in ``debug`` (logged at ``-v``).
    """
    cfg = _WORKER["cfg"]
    try:
        data = read_source(Path(path), _WORKER["max_bytes"])
    except Refusal as refusal:
        return FileResult.refused(rel, refusal)
    token = cfg.pseudonymizer.token("input", hashlib.sha256(data).hexdigest(), 32)
    try:
        return _deidentify(data, rel, token)
    except Refusal as refusal:
        cause = refusal.__cause__
        return FileResult.refused(
            rel,
            refusal,
            None if refusal.code == "not-dicom" else token,
            "".join(traceback.format_exception(cause)) if cause else None,
        )
    except Exception as exc:  # noqa: BLE001 - any failure means: write nothing, say why
        return FileResult.refused(rel, refusal_for(exc), token, traceback.format_exc())


def _deidentify(data: bytes, rel: str, token: str) -> FileResult:
    from govkit.deid.header.engine import deidentify

    cfg = _WORKER["cfg"]
    ds, dropped = parse_usable(data, require_uids=False)
    check_pixel_data(ds)
    keyed_sop = give_keyed_uids(ds, data, cfg.pseudonymizer.uid)  # none in the dataset nor its file meta
    pid_in = str(ds.get("PatientID", "") or "")
    patient = cfg.pseudonymizer.patient_id(pid_in)
    study_in, series_in, sop_in = (str(ds.get(k, "") or "") for k in PATH_UIDS)
    ids = None
    if "clean-pixel-data" in cfg.options:
        from govkit.deid.pixels.regions import clinical_regions, known_phi_regions
        from govkit.deid.text import identifiers as phi

        ids = phi.collect(ds)  # from the original header: the deny-list for burned-in text
        regions = {"known": known_phi_regions(ds), "clinical": clinical_regions(ds)} if "PixelData" in ds else {}
    else:
        check_decodes(ds)  # clean-pixel-data decodes every frame itself
    counts, notes = deidentify(ds, cfg)
    notes.update(dropped)
    if ids is not None:
        _clean_pixels(ds, ids, regions, counts, notes)
    if _WORKER["recipe"]:
        from govkit.deid.header.recipes import apply_recipe

        try:
            apply_recipe(ds, _WORKER["recipe"])
        except Exception as exc:
            raise Refusal("recipe") from exc
        counts["recipe"] += 1
    study, series, sop = (path_uid(ds, k) for k in PATH_UIDS)
    out_rel = output_relpath(patient, study, series, sop, keyed_sop=keyed_sop)
    if keyed_sop:
        notes.add(f"no SOP Class or Instance UID in the source: keyed UIDs given, written under {NO_UID_DIR}/")
    dst: Path = _WORKER["dst"]
    dst.mkdir(parents=True, exist_ok=True)
    tmp = write_temp(
        dst,
        lambda fh: write_part10(ds, fh),
        mode=0o600,
        prefix=f"{TMP_PREFIX}{_WORKER['run_id']}-",
        suffix=".dcm",
        durable=False,
    )
    crosswalk = []
    if _WORKER["crosswalk"]:
        crosswalk = [
            ("PatientID", pid_in, patient),
            ("StudyInstanceUID", study_in, study),
            ("SeriesInstanceUID", series_in, series),
            ("SOPInstanceUID", sop_in, sop),
        ]
    return FileResult(rel, "ok", None, token, out_rel, dict(counts), sorted(notes), tmp, crosswalk)


def _clean_pixels(
    ds: Dataset, ids: Identifiers, regions: dict[str, Any], counts: Counter[str], notes: set[str]
) -> None:
    from govkit.deid.pixels.ocr import get_engine
    from govkit.deid.pixels.redact import clean_pixels

    if _WORKER["ocr"] is None:
        _WORKER["ocr"] = get_engine(_WORKER["ocr_engine"], _WORKER["ocr_threads"])
    try:
        pix = clean_pixels(
            ds, ids, engine=_WORKER["ocr"], policy=_WORKER["pixel_policy"], cleaner=_WORKER["cfg"].cleaner, **regions
        )
    except Refusal:
        raise
    except Exception as exc:
        raise Refusal("pixel-cleaning", detail="the pixel data could not be decoded, redacted or written back") from exc
    counts["pixel-boxes"] += len(pix.boxes)
    counts["pixel-frames"] += pix.frames
    if pix.transfer_syntax_changed:
        notes.add("compressed pixel data rewritten as Explicit VR Little Endian")
    if pix.known_regions:
        counts["pixel-known-regions"] += len(pix.known_regions)
        notes.add("known burned-in regions filled (deid %filter rules)")


def process_batch(config: WorkerConfig, batch: list[tuple[str, str]]) -> list[FileResult]:
    """Process a batch of ``(path, relative path)`` in this process (uncommitted); the
    temporary outputs are on disk (one file-system flush per batch) when it returns."""
    init_worker(config)
    results = [process_one(p, r) for p, r in batch]
    if any(r.tmp_path for r in results):
        sync_filesystem(config.dst)
    return results

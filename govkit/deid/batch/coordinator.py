"""The run: check paths, lock DST, hand the work to an executor, write the record.

Guarantees (fail closed):

* DST receives only de-identified output.  SRC is never written; a DST
  inside SRC (or SRC inside DST) is refused (:func:`govkit.deid.files.check_paths`).
* A file that cannot be processed safely is **not written at all**; it is
  listed, with its reason, in the run report (kept outside DST).
* Outputs are committed atomically after their path is claimed
  (:mod:`govkit.deid.batch.outputs`).
* Outputs are a pure function of (input, key, options): the same key gives
  byte-identical files whatever the executor, the number of workers or the
  order of work, so a rerun resumes.
* The manifest (``DST/.govkit/manifest-<run>.jsonl``) records, per input, a
  keyed token of its content, the output path, the status and the action
  counts; no PHI.
* One run at a time per DST (an advisory lock on ``DST/.govkit/lock``).

Where the work runs is the executor's business (:mod:`govkit.deid.batch.executors`):
worker processes on this machine, or a Dask distributed cluster.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from govkit.atomicio import write_atomic
from govkit.canonical import sha256_file
from govkit.deid.batch.executors import get_executor, wait_for_dead_workers
from govkit.deid.batch.outputs import FileResult, sweep
from govkit.deid.batch.worker import WorkerConfig
from govkit.deid.files import (
    DEFAULT_MAX_FILE_BYTES,
    MANIFEST_DIR,
    check_output_file,
    check_paths,
    check_writable,
    discover,
    printable,
)
from govkit.errors import BadInput

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    run_id: str
    options: list[str]
    key_fingerprint: str
    profile_revision: str
    text_engine: str
    started_at: str
    finished_at: str
    n_files: int
    n_ok: int
    n_failed: int
    n_skipped: int
    n_resumed: int
    n_duplicates: int
    counts: dict[str, int]
    manifest: str
    manifest_sha256: str
    report: str | None
    files: list[FileResult]
    # failed inputs by keyed token of their relative source path (never the path): for the registry
    failed_files: list[dict[str, str | None]]

    @property
    def ok(self) -> bool:
        return self.n_failed == 0

    def as_dict(self, with_files: bool = True) -> dict:
        d = asdict(self)
        for f in d["files"]:
            f.pop("tmp_path", None)
            f.pop("crosswalk", None)
            f.pop("debug", None)
        if not with_files:
            d.pop("files")
        return d


@contextmanager
def _run_lock(dst: Path) -> Iterator[None]:
    """Hold DST's advisory lock for the run; released even if the process dies."""
    import fcntl

    with open(dst / MANIFEST_DIR / "lock", "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BadInput(f"another govkit run is writing {dst}; wait for it to finish") from None
        yield


def run(
    src: str | Path,
    dst: str | Path,
    *,
    options: Iterable[str] = (),
    key_path: str | Path | None = None,
    workers: int = 1,
    report: str | Path | None = None,
    crosswalk: str | Path | None = None,
    recipe: str | Path | None = None,
    pixel_policy: str = "phi",
    ocr_engine: str = "rapidocr",
    executor: str = "local",
    scheduler: str | None = None,
    progress: Callable[[Iterable, int], Iterable] | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> RunSummary:
    """De-identify every DICOM file under ``src`` into ``dst``.

    ``executor`` is ``local`` (``workers`` processes on this machine) or
    ``dask`` (the Dask distributed cluster at ``scheduler``; see
    :mod:`govkit.deid.batch.executors`).  ``progress(iterable, length)`` may wrap
    the stream of results (the CLI passes a progress bar).  Files larger than
    ``max_file_bytes`` are refused unread.  Everything that can be checked
    before the work (options, executor, paths, that DST, the report and the
    crosswalk can be written, recipe, key, OCR engine) is checked first:
    :class:`~govkit.errors.BadInput` then, with nothing written.  Returns a
    :class:`RunSummary`; the caller records it in the registry
    (:func:`record_run`).
    """
    from govkit.deid.header.profile import REVISION, validate_options
    from govkit.deid.header.pseudonyms import Pseudonymizer, load_key

    selected = validate_options(options)
    execute = get_executor(executor, workers=workers, scheduler=scheduler)
    report_p = Path(report) if report else None
    cross_p = Path(crosswalk) if crosswalk else None
    src_p, dst_p = check_paths(Path(src), Path(dst), report_p, cross_p)
    if report_p:
        check_output_file(report_p, "the report")
    if cross_p:
        check_output_file(cross_p, "the crosswalk")
    recipe_text = None
    if recipe:
        from govkit.deid.header.recipes import load_recipe

        recipe_text = load_recipe(Path(recipe))
    key = load_key(key_path)
    pseudo = Pseudonymizer(key)
    if "clean-pixel-data" in selected:
        from govkit.deid.pixels.ocr import get_engine

        get_engine(ocr_engine)  # fail fast (exit 2) when the engine is missing
        if pixel_policy not in ("phi", "all-text"):
            raise BadInput("--pixel-policy must be phi or all-text")
    check_writable(dst_p, "the destination")
    (dst_p / MANIFEST_DIR).mkdir(exist_ok=True)
    run_id = str(uuid.uuid4())
    started = dt.datetime.now(dt.timezone.utc)
    base = src_p if src_p.is_dir() else src_p.parent
    items = [(str(p), str(p.relative_to(base))) for p in discover(src_p)]
    # several worker processes share the cores: give each one's OCR its share, not all of them
    # (a Dask cluster runs one worker process per core: one thread each)
    ocr_threads = 1 if executor == "dask" else None if workers == 1 else max(1, (os.cpu_count() or 1) // workers)
    config = WorkerConfig(
        run_id,
        key,
        selected,
        str(dst_p),
        recipe_text,
        cross_p is not None,
        pixel_policy,
        ocr_engine,
        ocr_threads,
        max_file_bytes,
    )
    manifest_path = dst_p / MANIFEST_DIR / f"manifest-{run_id}.jsonl"
    with _run_lock(dst_p):
        wait_for_dead_workers(dst_p)  # a killed run's workers are gone before its leftovers are swept
        sweep(dst_p)
        stream = execute(items, config, manifest_path)
        results = list(progress(stream, len(items)) if progress else stream)
    order = {rel: i for i, (_, rel) in enumerate(items)}
    results.sort(key=lambda r: order[r.source])
    cross_rows = {row for r in results for row in r.crosswalk}
    for r in results:
        if r.debug:
            log.debug("%s: %s\n%s", printable(r.source), r.reason, r.debug)

    totals: Counter[str] = Counter()
    for r in results:
        totals.update(r.counts)
    status = Counter(r.status for r in results)
    from govkit.deid.text.cleaner import TextCleaner

    text_engine = TextCleaner().engine if _uses_text_cleaning(selected) else "not used (no option cleans text)"
    summary = RunSummary(
        run_id=run_id,
        options=sorted(selected),
        key_fingerprint=pseudo.fingerprint,
        profile_revision=REVISION,
        text_engine=text_engine,
        started_at=started.isoformat(),
        finished_at=dt.datetime.now(dt.timezone.utc).isoformat(),
        n_files=len(results),
        n_ok=status["ok"],
        n_failed=status["failed"],
        n_skipped=status["skipped"],
        n_resumed=status["resumed"],
        n_duplicates=status["duplicate"],
        counts=dict(sorted(totals.items())),
        manifest=str(manifest_path.relative_to(dst_p)),
        manifest_sha256=sha256_file(manifest_path),
        report=str(report_p) if report_p else None,
        files=results,
        failed_files=[
            {"token": pseudo.token("source-path", r.source), "reason": r.reason, "code": r.code}
            for r in results
            if r.status == "failed"
        ],
    )
    if report_p:
        _write(report_p, json.dumps(summary.as_dict(), indent=2, sort_keys=True), "the report")
    if cross_p:
        import csv

        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["attribute", "original", "pseudonym"])
        w.writerows(sorted(cross_rows))
        _write(cross_p, buf.getvalue(), "the crosswalk", mode=0o600)
    return summary


def _write(path: Path, text: str, what: str, mode: int = 0o644) -> None:
    try:
        write_atomic(path, text, mode=mode)
    except OSError as exc:  # checked writable before the run; full disk, or changed since
        raise BadInput(
            f"cannot write {what} {printable(str(path))}: {exc.strerror}; the outputs are in place, rerun to write it"
        ) from None


def _uses_text_cleaning(options: frozenset[str]) -> bool:
    return bool(
        options
        & {
            "clean-descriptors",
            "clean-structured-content",
            "clean-graphics",
            "retain-patient-characteristics",
            "retain-device-identity",
        }
    )


def record_run(registry, summary: RunSummary) -> None:
    """Store the run in the registry and the audit chain (no PHI, no key)."""
    from importlib.metadata import version

    from govkit import __version__
    from govkit.registry.audit import append_event, current_actor
    from govkit.registry.tables import DeidRun

    software = {"govkit": __version__, "pydicom": version("pydicom")}
    with registry.unit_of_work() as session:
        session.add(
            DeidRun(
                id=summary.run_id,
                profile_revision=summary.profile_revision,
                options=summary.options,
                key_fingerprint=summary.key_fingerprint,
                counts=summary.counts,
                n_files=summary.n_files,
                n_ok=summary.n_ok + summary.n_resumed,
                n_failed=summary.n_failed,
                n_skipped=summary.n_skipped,
                manifest_sha256=summary.manifest_sha256,
                software=software,
                details={
                    "text_engine": summary.text_engine,
                    "n_resumed": summary.n_resumed,
                    "failures": Counter(f.reason for f in summary.files if f.status == "failed"),
                    "failed_files": summary.failed_files,
                },
                started_at=dt.datetime.fromisoformat(summary.started_at),
                finished_at=dt.datetime.fromisoformat(summary.finished_at),
                created_by=current_actor(),
            )
        )
        session.flush()
        append_event(
            session,
            "deid.run",
            "deid_run",
            summary.run_id,
            {
                "options": summary.options,
                "n_ok": summary.n_ok,
                "n_failed": summary.n_failed,
                "key_fingerprint": summary.key_fingerprint,
            },
        )

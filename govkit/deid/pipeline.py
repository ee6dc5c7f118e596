"""Batch de-identification: discovery, parallel workers, atomic output, resume.

Guarantees (fail closed):

* DST receives only de-identified output.  SRC is never written; a DST
  inside SRC (or SRC inside DST) is refused.
* Output paths derive from pseudonymised values
  (``<patient>/<study>/<series>/<sop>.dcm``), never from input names.
* A file that cannot be processed safely is **not written at all**; it is
  listed, with its reason, in the run report (kept outside DST).
* Each output is written to a temporary file in DST and renamed into place
  only after its output path has been *claimed* for one input of the run
  (:func:`commit`), so nothing is ever half-written and two inputs can never
  claim one output.
* Outputs are a pure function of (input, key, options): the same key gives
  byte-identical files whatever the executor, the number of workers or the
  order of work.  A rerun therefore resumes: an output already in place with
  the same bytes is reported ``resumed``, one with other bytes is kept and
  the input reported as a ``duplicate``.
* The manifest (``DST/.govkit/manifest-<run>.jsonl``) records, per input, a
  keyed token of its content, the output path, the status and the action
  counts; no PHI.
* One run at a time per DST (an advisory lock on ``DST/.govkit/lock``).

Where the work runs is the executor's business (:mod:`govkit.deid.executors`):
worker processes on this machine, or a Dask distributed cluster.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from govkit.canonical import sha256_file
from govkit.errors import BadInput

MANIFEST_DIR = ".govkit"
DICM_OFFSET = 128
UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
PATH_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
MAX_FILE_BYTES = 4 << 30
TMP_PREFIX = ".tmp-"


@dataclass
class FileResult:
    """Outcome for one input.  ``source`` is relative to SRC (report only)."""

    source: str
    status: str  # ok | failed | skipped (not DICOM) | resumed | duplicate
    reason: str | None = None
    input_token: str | None = None
    output: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    tmp_path: str | None = None
    crosswalk: list[tuple[str, str, str]] = field(default_factory=list)


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

    @property
    def ok(self) -> bool:
        return self.n_failed == 0

    def as_dict(self, with_files: bool = True) -> dict:
        d = asdict(self)
        for f in d["files"]:
            f.pop("tmp_path", None)
            f.pop("crosswalk", None)
        if not with_files:
            d.pop("files")
        return d


# --------------------------------------------------------------------------- discovery


def _is_within(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def check_paths(src: Path, dst: Path, *outside: Path | None) -> tuple[Path, Path]:
    """Resolve SRC and DST and refuse overlapping locations."""
    if not src.exists():
        raise BadInput(f"source {src} does not exist")
    src_r, dst_r = src.resolve(), dst.resolve()
    src_root = src_r if src_r.is_dir() else src_r.parent
    if _is_within(dst_r, src_root):
        raise BadInput(f"destination {dst} is inside the source {src}: govkit never writes into SRC")
    if src_r.is_dir() and _is_within(src_r, dst_r):
        raise BadInput(f"source {src} is inside the destination {dst}")
    for p in outside:
        if p is not None and (_is_within(p.resolve(), dst_r) or _is_within(p.resolve(), src_root)):
            raise BadInput(f"{p} must be kept outside both SRC and DST")
    return src_r, dst_r


def discover(src: Path) -> Iterator[Path]:
    """Regular files under ``src`` (a file or a folder), sorted, symlinks not followed."""
    if src.is_file():
        yield src
        return
    for root, dirs, files in os.walk(src, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d != MANIFEST_DIR)
        for name in sorted(files):
            yield Path(root) / name


def sniff(data: bytes) -> str:
    """``part10``, ``raw`` (a dataset without preamble/meta) or ``other``."""
    if len(data) >= DICM_OFFSET + 4 and data[DICM_OFFSET : DICM_OFFSET + 4] == b"DICM":
        return "part10"
    if len(data) >= 8 and data[0:2] in (b"\x08\x00", b"\x02\x00", b"\x00\x08") and data[2:4] < b"\x10\x00":
        return "raw"
    return "other"


# --------------------------------------------------------------------------- worker side

_WORKER: dict = {}


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


def init_worker(config: WorkerConfig) -> None:
    """Set up this process for :func:`process_one` (idempotent per run)."""
    import warnings

    from govkit.deid.engine import DeidConfig
    from govkit.deid.pseudonyms import Pseudonymizer

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
    )


def output_relpath(patient: str, study: str, series: str, sop: str) -> str:
    """``<patient>/<study>/<series>/<sop>.dcm`` from pseudonymised values.

    A source without a Study or Series Instance UID goes to ``no-study`` /
    ``no-series`` (the instance is left as it was: govkit invents no UIDs).
    """
    return f"{patient}/{study or 'no-study'}/{series or 'no-series'}/{sop}.dcm"


def _path_uid(ds, keyword: str) -> str:
    """A de-identified UID used as a path component; validated, so never ``..``."""
    uid = str(ds.get(keyword, "") or "").strip()
    if not uid and keyword != "SOPInstanceUID":
        return ""
    if len(uid) > 64 or not UID_RE.match(uid):
        raise ValueError(f"{keyword} is not a valid UID after de-identification")
    return uid


def process_one(path: str, rel: str) -> FileResult:
    """De-identify one file into a temporary file in DST (worker side)."""
    import pydicom

    cfg = _WORKER["cfg"]
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            return FileResult(rel, "failed", f"file larger than {MAX_FILE_BYTES >> 30} GiB")
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return FileResult(rel, "failed", f"cannot read: {exc.strerror}")
    kind = sniff(data)
    if kind == "other":
        return FileResult(rel, "skipped", "not a DICOM file")
    token = cfg.pseudonymizer.token("input", hashlib.sha256(data).hexdigest(), 32)
    if kind == "raw":
        return FileResult(rel, "failed", "no DICOM preamble and file meta header (not a Part 10 file)", token)
    tmp = None
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=False)
        check_pixel_data(ds)
        pid_in = str(ds.get("PatientID", "") or "")
        patient = cfg.pseudonymizer.patient_id(pid_in)
        study_in, series_in, sop_in = (str(ds.get(k, "") or "") for k in PATH_UIDS)
        if not sop_in:
            raise ValueError("no SOPInstanceUID: not a composite instance")
        from govkit.deid.engine import deidentify

        ids = None
        if "clean-pixel-data" in cfg.options:
            from govkit.deid import phi
            from govkit.deid.regions import clinical_regions, known_phi_regions

            ids = phi.collect(ds)  # from the original header: the deny-list for burned-in text
            regions = ({"known": known_phi_regions(ds), "clinical": clinical_regions(ds)}
                       if "PixelData" in ds else {})
        counts, notes = deidentify(ds, cfg)
        if ids is not None:
            from govkit.deid.ocr import get_engine
            from govkit.deid.pixels import clean_pixels

            if _WORKER["ocr"] is None:
                _WORKER["ocr"] = get_engine(_WORKER["ocr_engine"], _WORKER["ocr_threads"])
            pix = clean_pixels(ds, ids, engine=_WORKER["ocr"], policy=_WORKER["pixel_policy"], cleaner=cfg.cleaner,
                               **regions)
            counts["pixel-boxes"] += len(pix.boxes)
            counts["pixel-frames"] += pix.frames
            if pix.transfer_syntax_changed:
                notes.add("compressed pixel data rewritten as Explicit VR Little Endian")
            if pix.known_regions:
                counts["pixel-known-regions"] += len(pix.known_regions)
                notes.add("known burned-in regions filled (deid %filter rules)")
        if _WORKER["recipe"]:
            from govkit.deid.recipes import apply_recipe

            apply_recipe(ds, _WORKER["recipe"])
            counts["recipe"] += 1
        study, series, sop = (_path_uid(ds, k) for k in PATH_UIDS)
        out_rel = output_relpath(patient, study, series, sop)
        dst: Path = _WORKER["dst"]
        dst.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{_WORKER['run_id']}-", suffix=".dcm", dir=dst)
        with os.fdopen(fd, "wb") as fh:
            ds.save_as(fh, enforce_file_format=True)
        crosswalk = []
        if _WORKER["crosswalk"]:
            crosswalk = [
                ("PatientID", pid_in, patient),
                ("StudyInstanceUID", study_in, study),
                ("SeriesInstanceUID", series_in, series),
                ("SOPInstanceUID", sop_in, sop),
            ]
        return FileResult(rel, "ok", None, token, out_rel, dict(counts), sorted(notes), tmp, crosswalk)
    except MemoryError:
        reason = "value too large to process"
    except Exception as exc:  # noqa: BLE001 - any failure means: write nothing
        reason = _one_line(exc)
    if tmp:
        _unlink(tmp)
    return FileResult(rel, "failed", reason, token)


def check_pixel_data(ds) -> None:
    """Refuse truncated pixel data: pydicom reads a cut-off file without complaint."""
    if "PixelData" not in ds:
        return
    from pydicom.encaps import parse_fragments
    from pydicom.pixels.utils import get_expected_length

    data = ds.PixelData
    if not data:
        raise ValueError("empty Pixel Data")
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        n_fragments, _ = parse_fragments(data)  # raises on a cut-off item
        if n_fragments == 0:
            raise ValueError("encapsulated Pixel Data holds no fragment")
    elif len(data) < get_expected_length(ds):
        raise ValueError(f"truncated Pixel Data: {len(data)} of {get_expected_length(ds)} bytes")


def _one_line(exc: BaseException) -> str:
    """A reason that never echoes header values: the exception type and a generic text."""
    text = " ".join(str(exc).split("Traceback")[0].split())
    # pydicom messages can quote element values; keep them short and free of quotes.
    text = re.sub(r"'[^']*'", "'…'", text)[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def process_batch(config: WorkerConfig, batch: list[tuple[str, str]]) -> list[FileResult]:
    """Process a batch of ``(path, relative path)`` in this process (uncommitted)."""
    init_worker(config)
    return [process_one(p, r) for p, r in batch]


# --------------------------------------------------------------------------- commit

Claim = Callable[[FileResult], str]
"""Claims ``res.output`` for ``res.source`` within a run: returns ``new`` (first
claim), ``retry`` (claimed before by this same input: a retried task) or
``taken`` (claimed by another input of the run)."""


def commit(res: FileResult, dst: Path, claim: Claim) -> FileResult:
    """Rename a worker's temporary output into place, or discard it.

    Safe to repeat: a retried task that finds its own output already in
    place (same bytes) reports it ``ok`` again; nothing is written twice.
    """
    if res.status != "ok":
        return res
    assert res.tmp_path and res.output
    try:
        return _commit(res, dst, claim)
    except OSError as exc:
        _unlink(res.tmp_path)
        res.status, res.reason, res.tmp_path, res.output = "failed", f"cannot write output: {exc.strerror}", None, None
        return res


def _commit(res: FileResult, dst: Path, claim: Claim) -> FileResult:
    final = dst / res.output
    state = claim(res)
    if state == "taken":
        return _discard(res, "duplicate", "same SOP Instance UID as another input of this run; the first one was kept")
    if final.exists():
        if _same_bytes(final, Path(res.tmp_path)):
            if state == "retry":  # this input's earlier attempt put it there
                _unlink(res.tmp_path)
                res.tmp_path = None
                return res
            return _discard(res, "resumed", "already de-identified by an earlier run", keep_output=True)
        return _discard(res, "duplicate", "an output with this SOP Instance UID and other content "
                                          "already exists (an earlier run); it was kept")
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(res.tmp_path, final)
    res.tmp_path = None
    return res


def _discard(res: FileResult, status: str, reason: str, keep_output: bool = False) -> FileResult:
    _unlink(res.tmp_path)
    res.status, res.reason, res.tmp_path = status, reason, None
    if not keep_output:
        res.output = None
    return res


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(1 << 20), fb.read(1 << 20)
            if ca != cb:
                return False
            if not ca:
                return True


def manifest_line(res: FileResult, run_id: str) -> str:
    """One manifest record (no PHI: keyed tokens and pseudonymised paths only)."""
    return json.dumps({"input": res.input_token, "output": res.output, "status": res.status,
                       "counts": res.counts, "run": run_id}, sort_keys=True) + "\n"


# --------------------------------------------------------------------------- coordinator


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


def _sweep(dst: Path) -> None:
    """Remove what dead runs left behind: temporary outputs and claims."""
    import shutil

    for tmp in dst.glob(f"{TMP_PREFIX}*"):
        _unlink(str(tmp))
    shutil.rmtree(dst / MANIFEST_DIR / "claims", ignore_errors=True)


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
) -> RunSummary:
    """De-identify every DICOM file under ``src`` into ``dst``.

    ``executor`` is ``local`` (``workers`` processes on this machine) or
    ``dask`` (the Dask distributed cluster at ``scheduler``; see
    :mod:`govkit.deid.executors`).  ``progress(iterable, length)`` may wrap
    the stream of results (the CLI passes a progress bar).  Returns a
    :class:`RunSummary`; the caller records it in the registry
    (:func:`record_run`).
    """
    from govkit.deid.executors import get_executor

    from govkit.deid.profile import REVISION, validate_options
    from govkit.deid.pseudonyms import Pseudonymizer, load_key

    selected = validate_options(options)
    execute = get_executor(executor, workers=workers, scheduler=scheduler)
    report_p = Path(report) if report else None
    cross_p = Path(crosswalk) if crosswalk else None
    src_p, dst_p = check_paths(Path(src), Path(dst), report_p, cross_p)
    recipe_text = None
    if recipe:
        from govkit.deid.recipes import load_recipe

        recipe_text = load_recipe(Path(recipe))
    key = load_key(key_path)
    pseudo = Pseudonymizer(key)
    if "clean-pixel-data" in selected:
        from govkit.deid.ocr import get_engine

        get_engine(ocr_engine)  # fail fast (exit 2) when the engine is missing
        if pixel_policy not in ("phi", "all-text"):
            raise BadInput("--pixel-policy must be phi or all-text")
    dst_p.mkdir(parents=True, exist_ok=True)
    (dst_p / MANIFEST_DIR).mkdir(exist_ok=True)
    run_id = str(uuid.uuid4())
    started = dt.datetime.now(dt.timezone.utc)
    base = src_p if src_p.is_dir() else src_p.parent
    items = [(str(p), str(p.relative_to(base))) for p in discover(src_p)]
    # several worker processes share the cores: give each one's OCR its share, not all of them
    # (a Dask cluster runs one worker process per core: one thread each)
    ocr_threads = 1 if executor == "dask" else None if workers == 1 else max(1, (os.cpu_count() or 1) // workers)
    config = WorkerConfig(run_id, key, selected, str(dst_p), recipe_text, cross_p is not None,
                          pixel_policy, ocr_engine, ocr_threads)
    manifest_path = dst_p / MANIFEST_DIR / f"manifest-{run_id}.jsonl"
    with _run_lock(dst_p):
        _sweep(dst_p)
        stream = execute(items, config, manifest_path)
        results = list(progress(stream, len(items)) if progress else stream)
    order = {rel: i for i, (_, rel) in enumerate(items)}
    results.sort(key=lambda r: order[r.source])
    cross_rows = {row for r in results for row in r.crosswalk}

    totals: Counter[str] = Counter()
    for r in results:
        totals.update(r.counts)
    status = Counter(r.status for r in results)
    from govkit.deid.text import TextCleaner

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
    )
    if report_p:
        _atomic_write(report_p, json.dumps(summary.as_dict(), indent=2, sort_keys=True))
    if cross_p:
        import csv

        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["attribute", "original", "pseudonym"])
        w.writerows(sorted(cross_rows))
        _atomic_write(cross_p, buf.getvalue(), mode=0o600)
    return summary


def _uses_text_cleaning(options: frozenset[str]) -> bool:
    return bool(options & {"clean-descriptors", "clean-structured-content", "clean-graphics",
                           "retain-patient-characteristics", "retain-device-identity"})


def _atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def record_run(registry, summary: RunSummary) -> None:
    """Store the run in the registry and the audit chain (no PHI, no key)."""
    from importlib.metadata import version

    from govkit import __version__
    from govkit.registry.audit import append_event, current_actor
    from govkit.registry.tables import DeidRun

    software = {"govkit": __version__, "pydicom": version("pydicom")}
    with registry.unit_of_work() as session:
        session.add(DeidRun(
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
            },
            started_at=dt.datetime.fromisoformat(summary.started_at),
            finished_at=dt.datetime.fromisoformat(summary.finished_at),
            created_by=current_actor(),
        ))
        session.flush()
        append_event(session, "deid.run", "deid_run", summary.run_id, {
            "options": summary.options, "n_ok": summary.n_ok, "n_failed": summary.n_failed,
            "key_fingerprint": summary.key_fingerprint,
        })

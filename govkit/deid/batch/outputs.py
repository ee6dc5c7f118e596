"""Output paths, commit and claims: how a worker's temporary file becomes an output.

* Output paths derive from pseudonymised values
  (``<patient>/<study>/<series>/<sop>.dcm``), never from input names, and
  every component is checked (:func:`path_uid`), so a path never leaves DST.
* Each output is written to a temporary file in DST (:func:`govkit.atomicio.write_temp`)
  and renamed into place only after its output path has been *claimed* for
  one input of the run (:func:`commit`), so nothing is ever half-written and
  two inputs can never claim one output.
* A rerun resumes: an output already in place with the same bytes is
  reported ``resumed``, one with other bytes is kept and the input reported
  as a ``duplicate``.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

from govkit.atomicio import TMP_PREFIX, discard, replace
from govkit.deid.files import MANIFEST_DIR
from govkit.deid.refusals import Refusal

UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
PATH_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


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
    code: str | None = None  # the reason's code in govkit.deid.refusals.REASONS
    debug: str | None = None  # the exception behind a refusal, for the log at -v only (never in reports)

    @classmethod
    def refused(cls, source: str, refusal: Refusal, token: str | None = None, debug: str | None = None) -> FileResult:
        return cls(source, refusal.status, refusal.text, token, code=refusal.code, debug=debug)


NO_UID_DIR = "no-sop-uid"


def output_relpath(patient: str, study: str, series: str, sop: str, *, keyed_sop: bool = False) -> str:
    """``<patient>/<study>/<series>/<sop>.dcm`` from pseudonymised values.

    A source without a Study or Series Instance UID goes to ``no-study`` /
    ``no-series`` (govkit invents no Study or Series UIDs).  A source without
    SOP Class and Instance UIDs (``keyed_sop``: the worker gave it keyed ones)
    goes to ``<patient>/no-sop-uid/<sop>.dcm``.
    """
    if keyed_sop:
        return f"{patient}/{NO_UID_DIR}/{sop}.dcm"
    return f"{patient}/{study or 'no-study'}/{series or 'no-series'}/{sop}.dcm"


def path_uid(ds: Dataset, keyword: str) -> str:
    """A de-identified UID used as a path component; validated, so never ``..``."""
    uid = str(ds.get(keyword, "") or "").strip()
    if not uid and keyword != "SOPInstanceUID":
        return ""
    if len(uid) > 64 or not UID_RE.match(uid):
        raise Refusal("invalid-uid", keyword=keyword)
    return uid


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
    try:
        return _commit(res, dst, claim)
    except OSError as exc:
        discard(res.tmp_path)
        refusal = Refusal("cannot-write", error=(exc.strerror or "input/output error").lower())
        res.status, res.reason, res.code, res.tmp_path, res.output = "failed", refusal.text, refusal.code, None, None
        return res


def _commit(res: FileResult, dst: Path, claim: Claim) -> FileResult:
    if res.tmp_path is None or res.output is None:
        raise ValueError("an ok result without its temporary file and output path")
    final = dst / res.output
    state = claim(res)
    if state == "taken":
        return _discard(res, "duplicate", "same SOP Instance UID as another input of this run; the first one was kept")
    if final.exists():
        if _same_bytes(final, Path(res.tmp_path)):
            if state == "retry":  # this input's earlier attempt put it there
                discard(res.tmp_path)
                res.tmp_path = None
                return res
            return _discard(res, "resumed", "already de-identified by an earlier run", keep_output=True)
        return _discard(
            res,
            "duplicate",
            "an output with this SOP Instance UID and other content already exists (an earlier run); it was kept",
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    replace(res.tmp_path, final, durable=False)  # the executor flushes DST once its batch is committed
    res.tmp_path = None
    return res


def _discard(res: FileResult, status: str, reason: str, keep_output: bool = False) -> FileResult:
    discard(res.tmp_path)
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
    return (
        json.dumps(
            {"input": res.input_token, "output": res.output, "status": res.status, "counts": res.counts, "run": run_id},
            sort_keys=True,
        )
        + "\n"
    )


def sweep(dst: Path, run_id: str | None = None) -> None:
    """Remove what dead runs left behind in DST: temporary outputs and claims
    (of every run, or only of ``run_id``)."""
    pattern = f"{TMP_PREFIX}{run_id}-*" if run_id else f"{TMP_PREFIX}*"
    for tmp in dst.glob(pattern):
        discard(tmp)
    claims = dst / MANIFEST_DIR / "claims"
    shutil.rmtree(claims / run_id if run_id else claims, ignore_errors=True)

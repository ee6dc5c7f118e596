"""Where de-identification runs: worker processes here, or a Dask cluster.

An executor is a callable ``execute(items, config, manifest_path)`` that
de-identifies every ``(path, relative path)`` in ``items`` and yields one
*committed* :class:`~govkit.deid.batch.outputs.FileResult` per input, in any
order, having written ``manifest_path`` by the time the stream ends.  Both
executors share :func:`~govkit.deid.batch.worker.process_one` and
:func:`~govkit.deid.batch.outputs.commit`, so their outputs are byte-identical.

``local``
    ``--workers`` processes on this machine; the coordinator commits each
    output and appends its manifest line.  Workers end within a second of
    their coordinator's death, even a SIGKILL (:func:`guard_worker`), and
    each holds a shared lock on ``DST/.govkit/workers.lock`` until it ends,
    so the next run waits for them before sweeping what they left
    (:func:`wait_for_dead_workers`).

``dask``
    An existing Dask distributed cluster (``--scheduler ADDRESS``).  SRC
    and DST must be visible at the same paths on every worker (a shared
    file system), and govkit installed there.  Workers commit their own
    outputs and append to a manifest *shard* per worker process
    (``DST/.govkit/shards/<run>/<host>-<pid>.jsonl``); output paths are
    claimed with a symbolic link per output
    (``DST/.govkit/claims/<run>/…``), an atomic create-if-absent on POSIX
    file systems, NFS included.  When the run ends the client merges the
    shards into ``manifest-<run>.jsonl``.

    * A worker that dies mid-task: the scheduler reruns its task on another
      worker; files the dead worker had already committed are found with
      their own claim and the same bytes, and reported once.
    * A client that dies: the shards stay as the record of what was
      written; rerunning the same command resumes (outputs already in place
      with the same bytes are reported ``resumed``).
    * The pseudonymisation key travels to the workers once per run (scattered,
      not embedded in the task graph).  Use a ``tls://`` scheduler address
      with Dask's TLS settings when the cluster spans machines.
    * Run workers with one thread each (``dask worker --nthreads 1``):
      the work is CPU-bound Python; processes, not threads, scale it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path

from govkit.atomicio import sync_filesystem, write_atomic
from govkit.deid.batch.outputs import FileResult, commit, manifest_line, sweep
from govkit.deid.batch.worker import WorkerConfig, process_batch
from govkit.deid.files import MANIFEST_DIR
from govkit.errors import BadInput, ExecutorFailed

Items = list[tuple[str, str]]
Executor = Callable[[Items, WorkerConfig, Path], Iterator[FileResult]]
EXECUTORS = ("local", "dask")


def get_executor(name: str, *, workers: int = 1, scheduler: str | None = None) -> Executor:
    """The executor ``name`` with its settings, checked before any work starts."""
    if name not in EXECUTORS:
        raise BadInput(f"unknown executor {name!r}: choose one of {', '.join(EXECUTORS)}")
    if workers < 1:
        raise BadInput("--workers must be at least 1")
    if name == "local":
        if scheduler:
            raise BadInput("--scheduler needs --executor dask")
        return lambda items, config, manifest: run_local(items, config, manifest, workers)
    if not scheduler:
        raise BadInput("--executor dask needs --scheduler ADDRESS (for example tcp://10.0.0.5:8786)")
    if workers != 1:
        raise BadInput("--workers applies to --executor local; a Dask cluster has its own workers")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise BadInput("--executor dask needs the 'distributed' package: pip install 'govkit[dask]'") from None
    return lambda items, config, manifest: run_dask(items, config, manifest, scheduler)


def batch_size(n_items: int, n_slots: int) -> int:
    """Files per task: about four tasks per worker slot, at most 64 files each."""
    return max(1, min(64, -(-n_items // (4 * max(1, n_slots)))))


def batches(items: Items, size: int) -> Iterator[Items]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --------------------------------------------------------------------------- local


def run_local(items: Items, config: WorkerConfig, manifest: Path, workers: int) -> Iterator[FileResult]:
    """Process here (1 worker) or in a process pool; commit in this process."""
    claimed: dict[str, str] = {}

    def claim(res: FileResult) -> str:
        owner = claimed.setdefault(str(res.output), res.source)
        return "new" if owner == res.source else "taken"

    with open(manifest, "a", encoding="utf-8") as fh:
        for res in _local_stream(items, config, workers):
            res = commit(res, Path(config.dst), claim)
            if res.input_token:
                fh.write(manifest_line(res, config.run_id))
                fh.flush()
            yield res
        sync_filesystem(config.dst)  # the renames, then the manifest that lists them
        os.fsync(fh.fileno())


def _local_stream(items: Items, config: WorkerConfig, workers: int) -> Iterator[FileResult]:
    if workers == 1:
        for batch in batches(items, batch_size(len(items), 1)):
            yield from process_batch(config, batch)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from functools import partial

    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    guard = (os.getpid(), str(workers_lock(Path(config.dst))))
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=guard_worker, initargs=guard) as pool:
            for results in pool.map(partial(process_batch, config), batches(items, batch_size(len(items), workers))):
                yield from results
    except BrokenProcessPool:
        raise ExecutorFailed("a worker process died (out of memory?); rerun the same command to resume") from None


WATCH_SECONDS = 0.2
_GUARD: dict[str, int] = {}


def workers_lock(dst: Path) -> Path:
    return dst / MANIFEST_DIR / "workers.lock"


def guard_worker(coordinator: int, lock: str) -> None:
    """Pool initializer: tie this worker process's life to its coordinator's.

    * ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (Linux): the kernel kills the worker
      when its parent ends (the fork server, which itself ends when the
      coordinator does);
    * a watchdog thread checks every 0.2 s that the coordinator still runs
      and ends the worker otherwise (any POSIX system);
    * a shared lock on ``lock``, held until the process ends, tells the next
      run whether any worker is still alive.
    """
    import fcntl

    _die_with_parent()
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)
    _GUARD["lock_fd"] = fd  # kept open for the life of the process
    threading.Thread(target=_watch, args=(coordinator,), name="govkit-coordinator-watch", daemon=True).start()


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1  # <linux/prctl.h>
        libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the watchdog alone
        pass


def _watch(coordinator: int) -> None:
    while _alive(coordinator):
        time.sleep(WATCH_SECONDS)
    os._exit(70)  # no clean-up: the coordinator is gone, a rerun sweeps what is left


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def wait_for_dead_workers(dst: Path, timeout: float = 10.0) -> None:
    """Wait until no worker of an earlier run holds ``workers.lock`` (they end within a
    second of their coordinator); :class:`BadInput` if some still run after ``timeout``."""
    import fcntl

    fd = os.open(workers_lock(dst), os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BadInput(
                        "worker processes of an earlier run still write into the destination; "
                        "wait for them to end and rerun"
                    ) from None
                time.sleep(0.1)
    finally:
        os.close(fd)  # releases the lock


# --------------------------------------------------------------------------- dask


def run_dask(items: Items, config: WorkerConfig, manifest: Path, scheduler: str) -> Iterator[FileResult]:
    """Stream batches through the cluster, a bounded window of tasks at a time."""
    from distributed import as_completed
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    client = _connect(scheduler)
    with client:
        if not client.nthreads():  # a cluster still starting: wait as long as for the connection
            import dask

            try:
                client.wait_for_workers(1, timeout=dask.config.get("distributed.comm.timeouts.connect"))
            except TimeoutError:
                raise ExecutorFailed(f"the Dask cluster at {scheduler} has no workers") from None
        slots = sum(client.nthreads().values())
        shared = client.scatter(config, broadcast=True, hash=False)
        todo = batches(items, batch_size(len(items), slots))
        window = as_completed(
            [client.submit(dask_task, shared, b, pure=False) for b in islice(todo, 4 * slots)], loop=client.loop
        )
        try:
            for future in window:
                results = future.result()
                future.release()
                for batch in islice(todo, 1):
                    window.add(client.submit(dask_task, shared, batch, pure=False))
                yield from results
        except (KilledWorker, FutureCancelledError) as exc:
            raise ExecutorFailed(
                f"the Dask cluster lost the run ({type(exc).__name__}); rerun the same command to resume"
            ) from None
        except Exception as exc:  # noqa: BLE001 - raised on a worker; its text may hold paths, so not shown
            raise ExecutorFailed(
                f"a Dask task failed on a worker ({type(exc).__name__}): are govkit and "
                "SRC/DST (same paths) available on every worker? Rerun to resume"
            ) from None
    merge_shards(Path(config.dst), config.run_id, manifest)


def _connect(scheduler: str):
    """A client for ``scheduler``, or a one-line error (waits up to Dask's
    ``distributed.comm.timeouts.connect``, 30 s by default)."""
    import gc
    import sys

    from distributed import Client

    failure: BadInput | ExecutorFailed
    try:
        return Client(scheduler, set_as_default=False)
    except ValueError:
        failure = BadInput(f"{scheduler!r} is not a Dask scheduler address (e.g. tcp://10.0.0.5:8786)")
    except (OSError, TimeoutError) as exc:
        failure = ExecutorFailed(f"cannot reach the Dask scheduler at {scheduler}: {type(exc).__name__}")
    hook, sys.unraisablehook = sys.unraisablehook, lambda _: None  # the half-made client's own cleanup noise
    try:
        gc.collect()
    finally:
        sys.unraisablehook = hook
    raise failure


def dask_task(config: WorkerConfig, batch: Items) -> list[FileResult]:
    """On a worker: process, commit and record one batch (runs again if its worker dies)."""
    from govkit.deid.header.pseudonyms import Pseudonymizer

    dst = Path(config.dst)
    results = process_batch(config, batch)
    claim = FileClaims(dst, config.run_id, Pseudonymizer(config.key))
    shard = shard_dir(dst, config.run_id) / f"{_worker_name()}.jsonl"
    shard.parent.mkdir(parents=True, exist_ok=True)
    with open(shard, "a", encoding="utf-8") as fh:
        for i, res in enumerate(results):
            results[i] = res = commit(res, dst, claim)
            if res.input_token:
                fh.write(manifest_line(res, config.run_id))
                fh.flush()
        sync_filesystem(dst)
        os.fsync(fh.fileno())
    return results


def shard_dir(dst: Path, run_id: str) -> Path:
    return dst / MANIFEST_DIR / "shards" / run_id


def _worker_name() -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{socket.gethostname()}-{os.getpid()}")


class FileClaims:
    """Output claims shared by every worker: ``claims/<run>/<h[:2]>/<h>`` -> source token.

    ``os.symlink`` creates the claim atomically or fails if it exists, and its
    target (a keyed token of the input's relative path, no PHI) says whose it is.
    """

    def __init__(self, dst: Path, run_id: str, pseudonymizer) -> None:
        self.root = dst / MANIFEST_DIR / "claims" / run_id
        self.pseudonymizer = pseudonymizer

    def __call__(self, res: FileResult) -> str:
        digest = hashlib.sha256(str(res.output).encode()).hexdigest()
        path = self.root / digest[:2] / digest
        mine = self.pseudonymizer.token("source", res.source, 32)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.symlink(mine, path)
            return "new"
        except FileExistsError:
            return "retry" if os.readlink(path) == mine else "taken"


def merge_shards(dst: Path, run_id: str, manifest: Path) -> None:
    """Merge a finished run's shards into its manifest; drop its claims and leftovers.

    A record written twice (a task retried after its worker died) is kept
    once.  The manifest is written atomically, then the shards removed.
    """
    import shutil

    shards = shard_dir(dst, run_id)
    lines: set[str] = set()
    for shard in sorted(shards.glob("*.jsonl")):
        for line in shard.read_text(encoding="utf-8").splitlines():
            try:
                json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a worker killed mid-write
            lines.add(line + "\n")
    write_atomic(manifest, "".join(sorted(lines)))
    shutil.rmtree(shards, ignore_errors=True)
    sweep(dst, run_id)  # claims, and temporary files of workers that died mid-file
    for folder in (shards, dst / MANIFEST_DIR / "claims" / run_id):
        try:
            folder.parent.rmdir()  # when no other run left anything there
        except OSError:
            pass

"""The Dask executor on a real LocalCluster (2 worker processes): same bytes as a
local run, sharded manifests, and exactly-once output when a worker or the
client is killed mid-run."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import distributed
import pytest

from govkit.deid.batch import coordinator as pipeline
from govkit.deid.files import MANIFEST_DIR
from govkit.testing.dicom_corpus import ct_archive

N_FILES = 240


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.CRITICAL
    ) as c:
        yield c


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """N_FILES inputs, de-identified once locally: the reference every Dask run must equal."""
    root = tmp_path_factory.mktemp("archive")
    key = root / "k.key"
    key.write_text("5e" * 32)
    ct_archive(root / "src", N_FILES, patients=3)
    summary = pipeline.run(root / "src", root / "ref", key_path=key)
    assert summary.n_ok == N_FILES
    return root / "src", root / "ref", key


def outputs(dst: Path) -> dict[str, bytes]:
    return {str(p.relative_to(dst)): p.read_bytes() for p in dst.rglob("*.dcm") if MANIFEST_DIR not in p.parts}


def manifest_records(dst: Path) -> list[dict]:
    return [
        json.loads(line)
        for m in sorted((dst / MANIFEST_DIR).glob("manifest-*.jsonl"))
        for line in m.read_text().splitlines()
    ]


def leftovers(dst: Path) -> list[Path]:
    gk = dst / MANIFEST_DIR
    return [p for p in [*dst.glob(".tmp-*"), gk / "shards", gk / "claims"] if p.exists()]


def wait_for_shard_lines(dst: Path, n: int, timeout: float = 60) -> tuple[Path, int]:
    """The first worker shard holding at least ``n`` records, and the records written so far."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shards = list((dst / MANIFEST_DIR / "shards").glob("*/*.jsonl"))
        counts = {s: s.read_text().count("\n") for s in shards}
        for shard, count in counts.items():
            if count >= n:
                return shard, sum(counts.values())
        time.sleep(0.002)
    raise AssertionError("no worker recorded any file")


def test_dask_run_is_byte_identical_to_local(cli, cluster, archive, tmp_path):
    src, ref, key = archive
    dst = tmp_path / "dst"
    res = cli(
        "deid", "run", src, dst, "--key", key, "--executor", "dask", "--scheduler", cluster.scheduler_address, "--json"
    )
    assert res.code == 0, res.err
    assert res.json()["n_ok"] == N_FILES
    assert outputs(dst) == outputs(ref)
    records = manifest_records(dst)  # shards merged into one manifest
    assert len(records) == N_FILES and {r["status"] for r in records} == {"ok"}
    assert sorted(r["input"] for r in records) == sorted(r["input"] for r in manifest_records(ref))
    assert not leftovers(dst)
    assert cli("audit", "log", "--json", "--action", "deid.run").json()["events"]


def test_killed_worker_every_file_done_exactly_once(cluster, archive, tmp_path):
    src, ref, key = archive
    dst = tmp_path / "dst"
    client = distributed.Client(cluster.scheduler_address, set_as_default=False)
    try:
        pids = set(client.run(os.getpid).values())
        result: dict = {}
        runner = threading.Thread(
            target=lambda: result.update(
                summary=pipeline.run(src, dst, key_path=key, executor="dask", scheduler=cluster.scheduler_address)
            )
        )
        runner.start()
        shard, written = wait_for_shard_lines(dst, 2)
        victim = int(shard.stem.rsplit("-", 1)[1])
        assert victim in pids
        os.kill(victim, signal.SIGKILL)  # mid-batch: its task is rerun on the other worker
        runner.join(120)
        assert not runner.is_alive()
        assert written < N_FILES  # the kill really came mid-run
        client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the next test
    finally:
        client.close()
    s = result["summary"]
    assert (s.n_ok, s.n_failed, s.n_resumed, s.n_duplicates) == (N_FILES, 0, 0, 0)
    assert outputs(dst) == outputs(ref)
    records = manifest_records(dst)
    assert len(records) == N_FILES and len({r["input"] for r in records}) == N_FILES
    assert not leftovers(dst)


def test_killed_client_rerun_resumes(cluster, archive, tmp_path):
    src, ref, key = archive
    dst = tmp_path / "dst"
    govkit = Path(sys.executable).parent / "govkit"
    proc = subprocess.Popen(
        [govkit, "deid", "run", src, dst, "--key", key, "--executor", "dask", "--scheduler", cluster.scheduler_address],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _, written = wait_for_shard_lines(dst, 5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert written < N_FILES
    assert not list((dst / MANIFEST_DIR).glob("manifest-*.jsonl"))  # the dead run never finished
    s = pipeline.run(src, dst, key_path=key, executor="dask", scheduler=cluster.scheduler_address)
    assert s.n_failed == s.n_duplicates == 0
    assert s.n_ok + s.n_resumed == N_FILES and s.n_resumed >= 5
    assert outputs(dst) == outputs(ref)
    assert len({r["input"] for r in manifest_records(dst)}) == N_FILES


@pytest.mark.slow
def test_executor_usage_errors(cli, archive, tmp_path, monkeypatch):
    src, _, key = archive
    dst = tmp_path / "dst"
    res = cli("deid", "run", src, dst, "--key", key, "--executor", "dask")
    assert res.code == 2 and "--scheduler" in res.err
    res = cli("deid", "run", src, dst, "--key", key, "--scheduler", "tcp://127.0.0.1:1")
    assert res.code == 2 and "--executor dask" in res.err
    res = cli(
        "deid",
        "run",
        src,
        dst,
        "--key",
        key,
        "--executor",
        "dask",
        "--workers",
        "2",
        "--scheduler",
        "tcp://127.0.0.1:1",
    )
    assert res.code == 2 and "own workers" in res.err
    res = cli("deid", "run", src, dst, "--key", key, "--executor", "dask", "--scheduler", "not-an-address")
    assert res.code == 2 and "not a Dask scheduler address" in res.err
    monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "1s")
    import dask

    dask.config.refresh()
    res = cli("deid", "run", src, dst, "--key", key, "--executor", "dask", "--scheduler", "tcp://127.0.0.1:1")
    assert res.code == 4 and "cannot reach the Dask scheduler" in res.err
    assert len(res.err.strip().splitlines()) == 1
    with distributed.LocalCluster(n_workers=0, dashboard_address=":0", silence_logs=logging.CRITICAL) as empty:
        res = cli("deid", "run", src, dst, "--key", key, "--executor", "dask", "--scheduler", empty.scheduler_address)
    monkeypatch.undo()
    dask.config.refresh()
    assert res.code == 4 and "has no workers" in res.err
    assert not outputs(dst)

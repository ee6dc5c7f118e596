"""Crash recovery: a real SIGKILL of the coordinator during ``--workers 2``.

The worker processes (started through a fork server) must end within a
second of their coordinator's death, and a rerun of the same command must
leave DST with each input's output exactly once and no temporary file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from govkit.deid.files import MANIFEST_DIR
from govkit.testing.dicom_corpus import ct_archive


def _children() -> dict[int, int]:
    """pid -> parent pid of every process."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            out[int(entry)] = int(stat.rsplit(b")", 1)[1].split()[1])
    return out


def _descendants(pid: int) -> set[int]:
    parents = _children()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, p in parents.items() if p in frontier} - found
        found |= frontier
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


def _outputs(dst: Path) -> list[Path]:
    return [
        p for p in dst.rglob("*.dcm") if MANIFEST_DIR not in p.relative_to(dst).parts and not p.name.startswith(".tmp-")
    ]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_sigkill_during_workers_2_then_rerun(tmp_path, key_file):
    src, dst = tmp_path / "src", tmp_path / "dst"
    inputs = ct_archive(src, 400, patients=4)
    cmd = [
        sys.executable,
        "-m",
        "govkit.cli.main",
        "deid",
        "run",
        str(src),
        str(dst),
        "--key",
        str(key_file),
        "--workers",
        "2",
        "--json",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _outputs(dst) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    workers = _descendants(proc.pid)
    assert proc.poll() is None and _outputs(dst), "the run must be killed mid-way"
    assert len(workers) >= 2  # the fork server and its workers
    proc.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    proc.wait()
    while any(_running(p) for p in workers) and time.monotonic() - killed_at < 5:
        time.sleep(0.02)
    lived = time.monotonic() - killed_at
    assert not [p for p in workers if _running(p)], "worker processes outlived their coordinator"
    assert lived < 1.0, f"workers ended {lived:.2f} s after the coordinator"
    done_before = len(_outputs(dst))
    assert done_before < len(inputs)

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    body = json.loads(rerun.stdout)
    assert body["n_ok"] + body["n_resumed"] == len(inputs) and body["n_failed"] == 0
    outs = _outputs(dst)
    assert len(outs) == len(inputs) == len({p.name for p in outs})  # each input's output exactly once
    assert not list(dst.rglob(".tmp-*"))
    assert not (dst / MANIFEST_DIR / "claims").exists()

"""Progress bars on a terminal, nothing on a pipe or under ``--json`` (issue #19).

The commands run as real subprocesses with stderr on a pseudo-terminal (``os.openpty``), or on a pipe.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from govkit.testing.dicom_corpus import phi_corpus

BAR = "%"  # click's bar shows the percentage done


def _run(args: list[str], *, tty: bool, tmp_path: Path) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``govkit ARGS``, stderr on a pseudo-terminal when ``tty``."""
    env = {**os.environ, "GOVKIT_HOME": str(tmp_path / "home"), "COLUMNS": "120"}
    cmd = [sys.executable, "-m", "govkit.cli.main", *args]
    if not tty:
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=600)
        return res.returncode, res.stdout, res.stderr
    master, slave = os.openpty()
    stdout = (tmp_path / "stdout").open("w+")  # a file, not a pipe: a full pipe would block the child
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=600)
    stdout.seek(0)
    out = stdout.read()
    stdout.close()
    return code, out, b"".join(chunks).decode(errors="replace")


@pytest.fixture(scope="module")
def dicom_folder(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("progress-src")
    phi_corpus(src, patients=2, files_per_patient=2)
    return src


@pytest.mark.slow
def test_deid_scan_shows_a_bar_on_a_terminal_only(dicom_folder, tmp_path):
    code, out, err = _run(["deid", "scan", str(dicom_folder), "--no-pixels"], tty=True, tmp_path=tmp_path)
    assert code == 0 and "scanning" in err and BAR in err, err
    code, out, err = _run(["deid", "scan", str(dicom_folder), "--no-pixels"], tty=False, tmp_path=tmp_path)
    assert code == 0 and "scanning" not in err and BAR not in err
    code, out, err = _run(["deid", "scan", str(dicom_folder), "--no-pixels", "--json"], tty=True, tmp_path=tmp_path)
    assert code == 0 and "scanning" not in err and out.startswith("{")


@pytest.mark.slow
def test_deid_verify_shows_a_bar_on_a_terminal_only(dicom_folder, tmp_path):
    dst = tmp_path / "dst"
    code, _, err = _run(["deid", "run", str(dicom_folder), str(dst), "--json"], tty=False, tmp_path=tmp_path)
    assert code == 0, err
    args = ["deid", "verify", str(dst), "--source", str(dicom_folder), "--no-pixels"]
    code, _, err = _run(args, tty=True, tmp_path=tmp_path)
    assert code == 0 and "verifying" in err and BAR in err, err
    code, _, err = _run(args, tty=False, tmp_path=tmp_path)
    assert code == 0 and "verifying" not in err and BAR not in err


def _small(lesion_data, tmp_path: Path, n: int = 40, start: int = 0) -> Path:
    """``n`` test images from ``start`` (two per patient: even bounds keep patients apart)."""
    with np.load(lesion_data["test"]) as z:
        arrays = {k: z[k][start : start + n] for k in z.files}
    path = tmp_path / f"small-{start}.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.slow
def test_robustness_and_explain_show_bars_on_a_terminal_only(lesion_spec, lesion_data, tmp_path):
    data = _small(lesion_data, tmp_path)
    common = [str(lesion_spec), "--data", str(data), "--device", "cpu"]
    runs = {
        "robustness": (
            ["robustness", "run", *common, "--corruption", "gaussian:1", "--attack", "fgsm", "--eps", "0.01"],
            ["corruption(s)", "attack fgsm"],
        ),
        "explain": (
            ["explain", "run", *common, "--methods", "saliency", "--checks", "stability", "--samples", "8"],
            ["explaining 8 images"],
        ),
    }
    for args, labels in runs.values():
        code, _, err = _run(args, tty=True, tmp_path=tmp_path)
        assert code in (0, 1) and all(label in err for label in labels) and BAR in err, err
        code, _, err = _run(args, tty=False, tmp_path=tmp_path)
        assert code in (0, 1) and not any(label in err for label in labels) and BAR not in err, err


@pytest.mark.slow
def test_privacy_reference_training_and_scoring_show_bars(lesion_spec, lesion_data, tmp_path):
    args = [
        "privacy",
        "audit",
        str(lesion_spec),
        "--members",
        str(_small(lesion_data, tmp_path, start=0)),
        "--non-members",
        str(_small(lesion_data, tmp_path, start=40)),
        "--population",
        str(_small(lesion_data, tmp_path, start=80)),
        "--attack",
        "lira-offline",
        "--reference-models",
        "2",
        "--no-control",
        "--device",
        "cpu",
        "--bootstrap",
        "50",
    ]
    code, _, err = _run(args, tty=True, tmp_path=tmp_path)
    assert code == 0, err
    assert "training" in err and "reference models" in err and "scoring with the reference models" in err
    code, _, err = _run(args, tty=False, tmp_path=tmp_path)
    assert code == 0 and "reference models" not in err and BAR not in err

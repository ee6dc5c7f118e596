"""Render page 1 of the three demo reports into ``docs/*-page1.png``.

    .venv/bin/python docs/make_screenshots.py [WORKDIR]

Builds a throw-away registry like the demo's (the example lesion model
trained briefly, its evaluations, the demo policy, a signed rejection, an
open incident, a risk; a de-identification run with one file that cannot be
de-identified, verified), renders the audit report, the model card and the
de-identification report, and converts page 1 of each with ``pdftoppm``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REF = "lesion-cnn@1.0"
PHRASE = b"demo passphrase"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cli(*args: object) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "govkit.cli.main", *map(str, args)], capture_output=True, text=True, cwd=ROOT
    )
    if out.returncode not in (0, 1):
        raise SystemExit(f"govkit {' '.join(map(str, args))}: {out.stderr.strip()}")
    return out.stdout


def _sign(db: str, work: Path, name: str, role: str, decision: str, meaning: str) -> None:
    from govkit.governance.signatures import add_signer, keygen, load_private_key, sign_approval
    from govkit.registry import open_registry
    from govkit.registry.lookup import model_version

    key = work / f"{role}.key"
    pub, _ = keygen(key, PHRASE)
    reg = open_registry(db)
    with reg.unit_of_work() as s:
        add_signer(s, name, [role], pub.read_text())
    with reg.unit_of_work() as s:
        sign_approval(
            s, model_version(s, REF), load_private_key(key, PHRASE), role=role, decision=decision, meaning=meaning
        )
    reg.dispose()


def main(work: Path) -> None:
    from govkit.testing.dicom_corpus import phi_corpus, undecodable_copy

    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("GOVKIT_HOME", str(work / "home"))
    os.environ.setdefault("GOVKIT_ACTOR", "model-developer")
    for stale in (work / "registry.sqlite", *work.glob("*.key"), *work.glob("*.key.pub")):
        stale.unlink(missing_ok=True)
    db = f"sqlite:///{work / 'registry.sqlite'}"
    data = {"train": work / "data" / "train.npz", "test": work / "data" / "test.npz"}
    if not data["test"].exists():
        _load("lesion_task", ROOT / "examples" / "lesion" / "lesion_task.py").write(
            work / "data", n_train=1200, n_test=300, n_population=200
        )
    spec = work / "model" / "model.yaml"
    if not spec.exists():
        _load("lesion_train", ROOT / "examples" / "lesion" / "train.py").train(
            data["train"], work / "model", "lesion-cnn", "1.0"
        )
    _cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", spec)
    _cli("--db", db, "eval", "performance", REF, "--data", data["test"], "--device", "cpu")
    _cli(
        "--db",
        db,
        "robustness",
        "run",
        REF,
        "--data",
        data["test"],
        "--device",
        "cpu",
        "--corruption",
        "gaussian:1",
        "--corruption",
        "gaussian:3",
        "--corruption",
        "contrast:2",
        "--attack",
        "pgd-linf",
        "--eps",
        "0.0039",
        "--steps",
        "5",
    )
    _cli("--db", db, "policy", "attach", REF, "--policy", ROOT / "examples" / "lesion" / "policy.yaml")
    _cli(
        "--db",
        db,
        "risk",
        "add",
        REF,
        "--hazard",
        "Lesion missed at the image border",
        "--situation",
        "A lesion lies within 4 pixels of the edge",
        "--harm",
        "Delayed diagnosis",
        "--severity",
        "S4",
        "--probability",
        "P4",
    )
    _cli(
        "--db",
        db,
        "incident",
        "report",
        REF,
        "--description",
        "Lesion missed at the image border",
        "--severity",
        "high",
    )
    _sign(db, work, "Grace Hopper", "clinical-lead", "reject", "Robustness evidence missing")
    src, dst = work / "dicom", work / "deid"
    for folder in (src, dst, work / "home"):
        subprocess.run(["rm", "-rf", str(folder)], check=True)
    paths = phi_corpus(src, patients=2, files_per_patient=2)
    undecodable_copy(paths[0], src / "undecodable.dcm")
    run = json.loads(
        _cli(
            "--db",
            db,
            "deid",
            "run",
            src,
            dst,
            "--option",
            "clean-pixel-data",
            "--option",
            "retain-longitudinal-modified-dates",
            "--json",
        )
    )
    _cli("--db", db, "deid", "verify", dst, "--source", src)
    reports = work / "reports"
    _cli("--db", db, "report", "deid", run["run_id"], "-o", reports / "deid-report.pdf")
    _cli("--db", db, "report", "model-card", REF, "-o", reports / "model-card.pdf")
    _cli("--db", db, "report", "audit", REF, "-o", reports / "audit-report.pdf")
    for name in ("deid-report", "model-card", "audit-report"):
        subprocess.run(
            [
                "pdftoppm",
                "-f",
                "1",
                "-l",
                "1",
                "-r",
                "70",
                "-png",
                "-singlefile",
                str(reports / f"{name}.pdf"),
                str(ROOT / "docs" / f"{name}-page1"),
            ],
            check=True,
        )
        print(ROOT / "docs" / f"{name}-page1.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="govkit-screens-")))

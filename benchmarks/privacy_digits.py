#!/usr/bin/env python3
"""Membership-inference AUCs on an overfit MLP trained on scikit-learn's load_digits.

    .venv/bin/python benchmarks/privacy_digits.py

600 members, 600 non-members, 597 population records; the MLP of
tests/privacy/digits_model.py trained 60 epochs on the members.  Reports
LOSS, RMIA and LiRA offline with 1 reference model, RMIA and LiRA online
with 4, and the null control's tests, to set beside the independent figures
in RESULTS.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from govkit.models.loading import build_network, make_wrapper
    from govkit.models.spec import load_spec
    from govkit.models.training import train_model

    work = Path(tempfile.mkdtemp())
    env = {**os.environ, "GOVKIT_HOME": str(work / "home")}
    d = load_digits()
    x, y = (d.images / 16.0).astype(np.float32)[:, None], d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    parts = {"members": order[:600], "non_members": order[600:1200], "population": order[1200:]}
    for name, idx in parts.items():
        np.savez(work / f"{name}.npz", x=x[idx], y=y[idx])
    sys.path.insert(0, str(ROOT / "tests" / "privacy"))
    from digits_model import write_spec

    spec = load_spec(write_spec(work, epochs=60))
    torch.manual_seed(0)
    model = make_wrapper(build_network(spec), spec)
    train_model(model, x[parts["members"]], y[parts["members"]], spec.train, seed=0)
    torch.save(model.net.state_dict(), work / "weights.pt")

    def audit(*args: str) -> dict:
        cmd = [
            sys.executable,
            "-m",
            "govkit.cli.main",
            "privacy",
            "audit",
            str(work / "model.yaml"),
            "--members",
            str(work / "members.npz"),
            "--non-members",
            str(work / "non_members.npz"),
            "--population",
            str(work / "population.npz"),
            "--device",
            "cpu",
            "--json",
            *args,
        ]
        return json.loads(subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout)

    off = audit("--attack", "loss", "--attack", "rmia", "--attack", "lira-offline", "--reference-models", "1")
    on = audit("--attack", "rmia-online", "--attack", "lira-online", "--reference-models", "4")
    rows = [(f"{a['attack']}, 1 ref" if a["attack"] != "loss" else "loss", a) for a in off["attacks"]]
    rows += [(f"{a['attack']}, 4 refs", a) for a in on["attacks"]]
    for name, a in rows:
        print(
            f"{name:<22} AUC {a['auc']:.3f} [{a['auc_ci'][0]:.3f}, {a['auc_ci'][1]:.3f}]  "
            f"TPR@1%FPR {a['tpr_at_fpr']['0.01']:.3f}  eps>= {a['epsilon_lower_bound']:.2f}  "
            f"{a['details'].get('variance', '')}"
        )
    for label, out in (("offline", off), ("online", on)):
        for t in out["control"]["tests"]:
            print(
                f"control ({label} audit): {t['test']}: AUC {t['auc']:.3f}, p={t['p_value']:.3g}"
                f"{' FIRED' if t['rejected'] else ''}"
            )
    shutil.rmtree(work)


if __name__ == "__main__":
    main()

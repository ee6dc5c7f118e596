"""Run attribution methods and their tests on a model and dataset; write overlay PNGs.

Attributions explain the logit of each image's **true** class (binary
models: the two logits' gradients mirror each other, so govkit reads
logits, never probabilities, and never contrasts the two classes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from govkit.errors import BadInput
from govkit.explain import checks
from govkit.explain.methods import METHODS

DEFAULT_METHODS = ("integrated-gradients", "saliency", "grad-cam")
CHUNK = 32


def thresholds(path: str | Path | None = None) -> dict:
    import yaml

    from govkit.resources import resource_dir

    return yaml.safe_load(Path(path or resource_dir("policies") / "explain" / "default.yaml").read_text())


def _attribute(method, model, x, target) -> torch.Tensor:
    return torch.cat([method.attribute(model, x[i:i + CHUNK], target[i:i + CHUNK]) for i in range(0, len(x), CHUNK)])


def run_explain(model, data, *, methods=DEFAULT_METHODS, tests=checks.TESTS, samples: int = 64, seed: int = 0,
                out_dir: Path | None = None, cfg: dict | None = None, binary: bool = True) -> dict:
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise BadInput(f"unknown method(s) {bad}; known: {', '.join(METHODS)}")
    bad = [t for t in tests if t not in checks.TESTS]
    if bad:
        raise BadInput(f"unknown test(s) {bad}; known: {', '.join(checks.TESTS)}")
    cfg = cfg or thresholds()
    n = min(samples, len(data))
    idx = np.sort(np.random.default_rng(seed).permutation(len(data))[:n])
    x = torch.from_numpy(data.images(idx))
    target = torch.from_numpy(data.labels[idx])
    masks = data.masks(idx) if data.has_masks else None
    verdicts: list[checks.Verdict] = []
    overlays: list[str] = []
    for name in methods:
        method = METHODS[name]
        maps = _attribute(method, model, x, target)
        for test in tests:
            if test == "randomisation":
                verdicts.append(checks.randomisation(method, model, x, target, maps, cfg["randomisation"]))
            elif test == "faithfulness":
                verdicts += checks.faithfulness(method, model, x, target, maps, cfg["faithfulness"])
            elif test == "localisation":
                verdicts.append(checks.localisation(method, model, x, target, maps, cfg["localisation"], masks))
            else:
                verdicts.append(checks.stability(method, model, x, target, maps, cfg["stability"]))
        if out_dir is not None:
            from govkit.explain.overlays import write_overlays

            overlays += write_overlays(out_dir, name, x.numpy(), maps.numpy(), target.numpy(), masks)
    notes = ["two-class model: attributions explain the true class's logit (class-contrast tests are "
             "meaningless because the two logits' gradients are exact negatives)"] if binary else []
    return {"n": n, "tests": [v.as_dict() for v in verdicts], "overlays": overlays, "notes": notes}

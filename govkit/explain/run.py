"""Run attribution methods and their checks on a model and dataset; write overlay PNGs.

Attributions explain the logit of each image's **true** class (binary
models: the two logits' gradients mirror each other, so govkit reads
logits, never probabilities, and never contrasts the two classes).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from govkit.errors import BadInput
from govkit.explain.checks import EXPLANATION_CHECKS, CheckInput, Verdict
from govkit.explain.methods import ATTRIBUTION_METHODS
from govkit.progress import Progress, silent

DEFAULT_METHODS = ("integrated-gradients", "saliency", "grad-cam")
CHUNK = 32


def thresholds(path: str | Path | None = None) -> dict:
    from govkit.resources import resource_dir
    from govkit.yamlio import load_file

    return load_file(Path(path or resource_dir("policies") / "explain" / "default.yaml"), "thresholds")


def _attribute(method, model, x, target) -> torch.Tensor:
    return torch.cat(
        [method.attribute(model, x[i : i + CHUNK], target[i : i + CHUNK]) for i in range(0, len(x), CHUNK)]
    )


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch's and numpy's global generators from the run's seed, restoring the caller's afterwards.

    The sampling methods draw from them (captum's GradientShap from numpy and torch, KernelShap and LIME
    from torch), so the same seed gives the same maps and verdicts.
    """
    state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


def run_explain(
    model,
    data,
    *,
    methods=DEFAULT_METHODS,
    checks=tuple(EXPLANATION_CHECKS),
    samples: int = 64,
    seed: int = 0,
    out_dir: Path | None = None,
    cfg: dict | None = None,
    binary: bool = True,
    progress: Progress = silent,
) -> dict:
    """Each method's attributions and every check of them; ``progress`` shows the methods done."""
    bad = [m for m in methods if m not in ATTRIBUTION_METHODS]
    if bad:
        raise BadInput(f"unknown method(s) {bad}; known: {', '.join(ATTRIBUTION_METHODS)}")
    bad = [c for c in checks if c not in EXPLANATION_CHECKS]
    if bad:
        raise BadInput(f"unknown check(s) {bad}; known: {', '.join(EXPLANATION_CHECKS)}")
    cfg = cfg or thresholds()
    n = min(samples, len(data))
    idx = np.sort(np.random.default_rng(seed).permutation(len(data))[:n])
    x = torch.from_numpy(data.images(idx))
    target = torch.from_numpy(data.labels[idx])
    masks = data.masks(idx) if data.has_masks else None
    verdicts: list[Verdict] = []
    overlays: list[str] = []
    for name in progress(methods, len(methods), f"explaining {n} images (methods, each with its checks)"):
        method = ATTRIBUTION_METHODS[name]
        with _seeded(seed):
            maps = _attribute(method, model, x, target)
            inp = CheckInput(method, model, x, target, maps, masks)
            for check in checks:
                c = EXPLANATION_CHECKS[check]
                verdicts += c.run(inp, cfg[c.section])
        if out_dir is not None:
            from govkit.explain.overlays import write_overlays

            overlays += write_overlays(out_dir, name, x.numpy(), maps.numpy(), target.numpy(), masks)
    notes = (
        [
            "two-class model: attributions explain the true class's logit (class-contrast checks are "
            "meaningless because the two logits' gradients are exact negatives)"
        ]
        if binary
        else []
    )
    return {"n": n, "checks": [v.as_dict() for v in verdicts], "overlays": overlays, "notes": notes}

"""Quantitative checks of attribution maps, with pass/fail verdicts (one protocol, a registry).

Every check is an :class:`ExplanationCheck`: ``run(inp, cfg)`` reads a
:class:`CheckInput` (method, model, images, targets, the method's maps,
lesion masks) and its thresholds, and returns :class:`Verdict`s.
:data:`EXPLANATION_CHECKS` is the registry ``govkit explain run`` reads.

1. **randomisation** (Adebayo et al., NeurIPS 2018, "Sanity checks for
   saliency maps"): maps of the trained model against maps of a copy with
   every layer re-initialised; the mean |Spearman| rank correlation (average
   ranks for ties) and the mean global SSIM must both be low.  A constant
   map has no ranks: its correlation is NaN and the check fails, saying so.
2. **cascading-randomisation** (same paper, §3.1): layers re-initialised one
   at a time from the top; the similarity averaged over the cascade must be
   low, so that the maps depend on the top layers, not only on the input.
3. **faithfulness-deletion / faithfulness-insertion** (Petsiuk et al. 2018):
   deleting the most important pixels first must lower the target logit
   faster (insertion: raise it faster) than *each* of three baselines: a
   random ordering, the image intensity as a map, and the same method on
   the re-initialised model.  One-sided paired Wilcoxon signed-rank test per
   baseline over N ≥ ``min_images`` images; the verdict needs all three to
   reject (an intersection–union test, level α without correction).
4. **localisation**: on images with a lesion mask, the pointing game (does
   the map's maximum fall in the mask?).  It passes only when (a) the hit
   rate beats chance (one-sided binomial test against the mean mask area
   fraction), (b) the Wilson 95 % lower bound of the hit rate reaches the
   absolute ``min_hit_rate_lower`` (default 0.5: most maxima are on the
   lesion), and (c) the mean share of positive relevance inside the mask
   exceeds ``min_relevance_ratio`` × the mask's area share.
5. **stability**: max-sensitivity (relative L2 change of the map) under small
   input noise, computed only on noisy copies whose prediction does not
   change; must stay below ``max_sensitivity`` (default 0.5: fresh uniform
   noise as a map scores ≈ 0.71 and fails).  A constant map (LIME's all-zero
   map when the logits barely move) fails, saying so.

Thresholds come from ``policies/explain/default.yaml`` (or a given file).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol, cast, runtime_checkable

import numpy as np
import torch

from govkit.evaluate.metrics import wilson_bounds
from govkit.explain.methods.base import AttributionMethod

SEED = 12345
DEFAULT_MIN_HIT_RATE_LOWER = 0.5


@dataclass
class Verdict:
    check: str
    method: str
    value: float | None
    baseline: float | None
    passed: bool
    n: int
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        # "test" repeats "check" for the reports and policies written before the rename
        return {**asdict(self), "test": self.check}


@dataclass
class CheckInput:
    method: AttributionMethod
    model: torch.nn.Module
    x: torch.Tensor
    target: torch.Tensor
    maps: torch.Tensor
    masks: np.ndarray | None = None


@runtime_checkable
class ExplanationCheck(Protocol):
    """A check of attribution maps: ``section`` names its block in the thresholds file."""

    @property
    def name(self) -> str: ...

    @property
    def section(self) -> str: ...

    def run(self, inp: CheckInput, cfg: dict[str, Any]) -> list[Verdict]: ...


# --------------------------------------------------------------------------- similarity


def _average_ranks(a: torch.Tensor) -> torch.Tensor:
    from scipy.stats import rankdata

    return torch.from_numpy(rankdata(a.detach().cpu().double().numpy(), method="average", axis=1))


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-row Spearman correlation of flattened maps (N×D) with average ranks for ties.

    A row that is constant in either map has no ranking: its correlation is NaN.
    """
    ra, rb = _average_ranks(a.flatten(1)), _average_ranks(b.flatten(1))
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    den = ra.norm(dim=1) * rb.norm(dim=1)
    return torch.where(den > 0, (ra * rb).sum(1) / den.clamp_min(1e-300), torch.nan)


def global_ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SSIM computed once over the whole map (no sliding window) per map pair, maps rescaled to [0, 1]."""

    def norm(m: torch.Tensor) -> torch.Tensor:
        m = m.flatten(1).double()
        lo, hi = m.min(1, keepdim=True).values, m.max(1, keepdim=True).values
        return (m - lo) / (hi - lo).clamp_min(1e-12)

    x, y = norm(a), norm(b)
    c1, c2 = 0.01**2, 0.03**2
    mx, my = x.mean(1), y.mean(1)
    vx, vy = x.var(1, correction=0), y.var(1, correction=0)
    cov = ((x - mx[:, None]) * (y - my[:, None])).mean(1)
    return ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))


def _parameterised(model: torch.nn.Module) -> list[torch.nn.Module]:
    """Layers with their own parameters, from the input side to the output side."""
    return [
        m
        for m in model.modules()
        if m is not model and hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False))
    ]


def reinitialised(model: torch.nn.Module, top: int | None = None, seed: int = SEED) -> torch.nn.Module:
    """A copy of ``model`` with its ``top`` last parameterised layers (all when None) re-initialised.

    The global RNG is left untouched (``torch.random.fork_rng``).
    """
    clone = copy.deepcopy(model)
    layers = _parameterised(clone)
    chosen = layers if top is None else layers[len(layers) - top :]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in chosen:
            cast(Any, m).reset_parameters()
    return clone


def _similarity(maps: torch.Tensor, other: torch.Tensor) -> tuple[float, float, int]:
    """(mean |Spearman|, mean global SSIM, number of constant maps) of |maps| against |other|."""
    rho = spearman(maps.abs(), other.abs()).abs()
    constant = int(torch.isnan(rho).sum())
    return float(rho.mean()), float(global_ssim(maps.abs(), other.abs()).mean()), constant


def _randomisation_verdict(
    name: str, method: str, rho: float, s: float, constant: int, n: int, cfg: dict[str, Any], what: str
) -> Verdict:
    if constant:
        return Verdict(
            name,
            method,
            None,
            cfg["max_spearman"],
            False,
            n,
            f"{constant} of {n} maps are constant: rank correlation is undefined, so the check fails",
        )
    ok = rho < cfg["max_spearman"] and s < cfg["max_ssim"]
    return Verdict(
        name,
        method,
        rho,
        cfg["max_spearman"],
        ok,
        n,
        f"mean |Spearman| {rho:.3f} (max {cfg['max_spearman']}), global SSIM {s:.3f} (max {cfg['max_ssim']}) vs {what}",
    )


def randomisation(method, model, x, target, maps, cfg) -> Verdict:
    rho, s, constant = _similarity(maps, method.attribute(reinitialised(model), x, target))
    return _randomisation_verdict("randomisation", method.name, rho, s, constant, len(x), cfg, "re-initialised weights")


def cascading_randomisation(method, model, x, target, maps, cfg) -> Verdict:
    layers = len(_parameterised(model))
    curve = [_similarity(maps, method.attribute(reinitialised(model, top=k), x, target)) for k in range(1, layers + 1)]
    rho = float(np.mean([c[0] for c in curve]))
    s = float(np.mean([c[1] for c in curve]))
    constant = max((c[2] for c in curve), default=0)
    v = _randomisation_verdict(
        "cascading-randomisation",
        method.name,
        rho,
        s,
        constant,
        len(x),
        cfg,
        f"a cascade of {layers} layers re-initialised from the top",
    )
    v.detail += "; |Spearman| per stage " + ", ".join(f"{c[0]:.2f}" for c in curve)
    return v


# --------------------------------------------------------------------------- faithfulness


def _target_logit(model, x, target) -> torch.Tensor:
    with torch.no_grad():
        return model(x).gather(1, target[:, None])[:, 0]


def _curve(model, x, target, order: torch.Tensor, steps: int, insert: bool) -> torch.Tensor:
    """Target logit as pixels are removed (or inserted) in ``order``; returns N×(steps+1)."""
    n, _c, h, w = x.shape
    d = h * w
    base = torch.zeros_like(x)
    ranks = order.argsort(1)  # rank of each pixel
    out = []
    for k in range(steps + 1):
        keep = (ranks < round(k * d / steps)).view(n, 1, h, w)  # top-k pixels
        img = torch.where(keep, x, base) if insert else torch.where(keep, base, x)
        out.append(_target_logit(model, img, target))
    return torch.stack(out, 1)


def _order(m: torch.Tensor) -> torch.Tensor:
    return m.flatten(1).argsort(1, descending=True)


def _wilcoxon_greater(diff: np.ndarray) -> float:
    from scipy.stats import wilcoxon

    return 1.0 if np.allclose(diff, 0) else float(wilcoxon(diff, alternative="greater").pvalue)


def faithfulness(method, model, x, target, maps, cfg) -> list[Verdict]:
    n = len(x)
    gen = torch.Generator().manual_seed(0)
    orders = {
        "random ordering": torch.stack([torch.randperm(h_w, generator=gen) for h_w in [x.shape[-2] * x.shape[-1]] * n]),
        "image intensity": _order(x.sum(1)),
        "re-initialised model": _order(method.attribute(reinitialised(model), x, target)),
    }
    out = []
    for insert, name in ((False, "faithfulness-deletion"), (True, "faithfulness-insertion")):
        auc = _curve(model, x, target, _order(maps), cfg["steps"], insert).mean(1).numpy()
        enough = n >= cfg["min_images"]
        parts, p_max, base_vals = [], 0.0, []
        for label, order in orders.items():
            auc_b = _curve(model, x, target, order, cfg["steps"], insert).mean(1).numpy()
            diff = (auc - auc_b) if insert else (auc_b - auc)  # positive = better than the baseline
            p = _wilcoxon_greater(diff) if enough else 1.0
            p_max = max(p_max, p)
            base_vals.append(float(auc_b.mean()))
            parts.append(f"{label} p={p:.2g}")
        strongest = max(base_vals) if insert else min(base_vals)
        ok = enough and p_max < cfg["alpha"]
        out.append(
            Verdict(
                name,
                method.name,
                float(auc.mean()),
                strongest,
                ok,
                n,
                "one-sided Wilcoxon vs "
                + ", ".join(parts)
                + ("" if enough else f"; needs ≥ {cfg['min_images']} images"),
            )
        )
    return out


# --------------------------------------------------------------------------- localisation


def localisation_decision(
    hits: np.ndarray, k: np.ndarray, chance: np.ndarray, mass: np.ndarray, cfg: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(passed, binomial p-value vs chance, Wilson lower bound of the hit rate), elementwise.

    Passing needs all three criteria of the module docstring.
    """
    from scipy.stats import binom

    hits, k = np.asarray(hits), np.asarray(k)
    p = binom.sf(hits - 1, k, chance)
    lower, _ = wilson_bounds(hits, k)
    ok = (
        (p < cfg["alpha"])
        & (lower >= cfg.get("min_hit_rate_lower", DEFAULT_MIN_HIT_RATE_LOWER))
        & (mass > cfg["min_relevance_ratio"] * chance)
    )
    return ok, p, lower


def localisation(method, model, x, target, maps, cfg, masks: np.ndarray | None) -> Verdict:
    if masks is None:
        return Verdict("localisation", method.name, None, None, False, 0, "no lesion masks in the data")
    m = torch.from_numpy(masks.astype(bool))
    has = m.flatten(1).any(1)
    if not has.any():
        return Verdict("localisation", method.name, None, None, False, 0, "no image with a lesion mask")
    flat, m_l = maps[has].flatten(1), m[has].flatten(1)
    hits = int(m_l.gather(1, flat.argmax(1, keepdim=True))[:, 0].sum())
    k = int(has.sum())
    chance = float(m_l.float().mean(1).mean())
    pos = flat.clamp_min(0)
    mass = float(((pos * m_l).sum(1) / pos.sum(1).clamp_min(1e-12)).mean())
    ok, p, lower = localisation_decision(np.array(hits), np.array(k), np.array(chance), np.array(mass), cfg)
    need = cfg.get("min_hit_rate_lower", DEFAULT_MIN_HIT_RATE_LOWER)
    return Verdict(
        "localisation",
        method.name,
        hits / k,
        chance,
        bool(ok),
        k,
        f"pointing game {hits}/{k}, 95% lower bound {float(lower):.3f} (needs ≥ {need}); "
        f"p={float(p):.2g} vs chance {chance:.3f}; relevance mass in mask {mass:.3f} "
        f"(needs > {cfg['min_relevance_ratio']} × {chance:.3f})",
    )


# --------------------------------------------------------------------------- stability


def stability(method, model, x, target, maps, cfg) -> Verdict:
    base = maps.flatten(1)
    constant = int((base.amax(1) == base.amin(1)).sum())
    if constant:
        return Verdict(
            "stability",
            method.name,
            None,
            cfg["max_sensitivity"],
            False,
            len(x),
            f"{constant} of {len(x)} maps: attribution map is constant, so stability means nothing and the check fails",
        )
    gen = torch.Generator().manual_seed(1)
    worst = torch.zeros(len(x))
    valid = torch.zeros(len(x), dtype=torch.bool)
    for _ in range(cfg["n_samples"]):
        noisy = (x + (torch.rand(x.shape, generator=gen) * 2 - 1) * cfg["radius"]).clamp(0, 1)
        with torch.no_grad():
            same = model(noisy).argmax(1) == target
        if not same.any():
            continue
        new = method.attribute(model, noisy[same], target[same]).flatten(1)
        sens = (new - base[same]).norm(dim=1) / base[same].norm(dim=1).clamp_min(1e-12)
        idx = same.nonzero()[:, 0]
        worst[idx] = torch.maximum(worst[idx], sens)
        valid[idx] = True
    value = float(worst[valid].mean()) if valid.any() else None
    ok = value is not None and value < cfg["max_sensitivity"]
    return Verdict(
        "stability",
        method.name,
        value,
        cfg["max_sensitivity"],
        ok,
        int(valid.sum()),
        f"max-sensitivity over {cfg['n_samples']} noisy copies (radius {cfg['radius']}), prediction unchanged",
    )


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class FunctionCheck:
    """A check made of a function of (inputs, thresholds); the built-in checks are these."""

    name: str
    section: str
    fn: Callable[[CheckInput, dict[str, Any]], list[Verdict]]

    def run(self, inp: CheckInput, cfg: dict[str, Any]) -> list[Verdict]:
        return self.fn(inp, cfg)


EXPLANATION_CHECKS: dict[str, ExplanationCheck] = {
    c.name: c
    for c in (
        FunctionCheck(
            "randomisation", "randomisation", lambda i, c: [randomisation(i.method, i.model, i.x, i.target, i.maps, c)]
        ),
        FunctionCheck(
            "cascading-randomisation",
            "randomisation",
            lambda i, c: [cascading_randomisation(i.method, i.model, i.x, i.target, i.maps, c)],
        ),
        FunctionCheck(
            "faithfulness", "faithfulness", lambda i, c: faithfulness(i.method, i.model, i.x, i.target, i.maps, c)
        ),
        FunctionCheck(
            "localisation",
            "localisation",
            lambda i, c: [localisation(i.method, i.model, i.x, i.target, i.maps, c, i.masks)],
        ),
        FunctionCheck("stability", "stability", lambda i, c: [stability(i.method, i.model, i.x, i.target, i.maps, c)]),
    )
}

"""Quantitative tests of attribution maps, with pass/fail verdicts (one protocol, a registry).

1. **randomisation** (Adebayo et al. 2018): maps of the trained model against
   maps of a copy with re-initialised parameters; mean |Spearman| rank
   correlation and SSIM must be low (the maps must depend on what was learnt).
2. **faithfulness-deletion / faithfulness-insertion** (Petsiuk et al. 2018):
   deleting the most important pixels first must lower the predicted logit
   faster (insertion: raise it faster) than a random ordering; paired
   Wilcoxon signed-rank test over N ≥ 50 images, with the rank-biserial
   effect size.
3. **localisation**: on images with a lesion mask, the pointing game (does
   the map's maximum fall in the mask?) against chance, the mask's area
   fraction (one-sided binomial test), and relevance-mass accuracy (share of
   positive relevance inside the mask) against the same chance level.
4. **stability**: max-sensitivity under small input noise, computed only on
   noisy copies whose prediction does not change.

Thresholds come from ``policies/explain/default.yaml`` (or a policy file).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
import torch


@dataclass
class Verdict:
    test: str
    method: str
    value: float | None
    baseline: float | None
    passed: bool
    n: int
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _ranks(a: torch.Tensor) -> torch.Tensor:
    return a.argsort(dim=1).argsort(dim=1).float()


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-row Spearman correlation of flattened maps (N×D), batched."""
    ra, rb = _ranks(a.flatten(1)), _ranks(b.flatten(1))
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    return (ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1)).clamp_min(1e-12)


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Global SSIM per map pair, maps rescaled to [0, 1]."""
    def norm(m):
        m = m.flatten(1)
        lo, hi = m.min(1, keepdim=True).values, m.max(1, keepdim=True).values
        return (m - lo) / (hi - lo).clamp_min(1e-12)

    x, y = norm(a), norm(b)
    c1, c2 = 0.01**2, 0.03**2
    mx, my = x.mean(1), y.mean(1)
    vx, vy = x.var(1, correction=0), y.var(1, correction=0)
    cov = ((x - mx[:, None]) * (y - my[:, None])).mean(1)
    return ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))


def reinitialised(model) -> torch.nn.Module:
    """A copy of ``model`` with every parameterised layer re-initialised."""
    clone = copy.deepcopy(model)
    torch.manual_seed(12345)
    for m in clone.modules():
        if hasattr(m, "reset_parameters") and m is not clone:
            m.reset_parameters()
    return clone


def randomisation(method, model, x, target, maps, cfg) -> Verdict:
    rand_maps = method.attribute(reinitialised(model), x, target)
    rho = float(spearman(maps.abs(), rand_maps.abs()).abs().mean())
    s = float(ssim(maps.abs(), rand_maps.abs()).mean())
    ok = rho < cfg["max_spearman"] and s < cfg["max_ssim"]
    return Verdict("randomisation", method.name, rho, cfg["max_spearman"], ok, len(x),
                   f"mean |Spearman| {rho:.3f}, SSIM {s:.3f} vs re-initialised weights")


def _target_logit(model, x, target) -> torch.Tensor:
    with torch.no_grad():
        return model(x).gather(1, target[:, None])[:, 0]


def _curve(model, x, target, order: torch.Tensor, steps: int, insert: bool) -> torch.Tensor:
    """Target logit as pixels are removed (or inserted) in ``order``; returns N×(steps+1)."""
    n, c, h, w = x.shape
    d = h * w
    base = torch.zeros_like(x)
    ranks = order.argsort(1)  # rank of each pixel
    out = []
    for k in range(steps + 1):
        keep = (ranks < round(k * d / steps)).view(n, 1, h, w)  # top-k pixels
        img = torch.where(keep, x, base) if insert else torch.where(keep, base, x)
        out.append(_target_logit(model, img, target))
    return torch.stack(out, 1)


def faithfulness(method, model, x, target, maps, cfg) -> list[Verdict]:
    from scipy.stats import wilcoxon

    n = len(x)
    order = maps.flatten(1).argsort(1, descending=True)
    gen = torch.Generator().manual_seed(0)
    rand = torch.stack([torch.randperm(order.shape[1], generator=gen) for _ in range(n)])
    out = []
    for insert, name in ((False, "faithfulness-deletion"), (True, "faithfulness-insertion")):
        auc = _curve(model, x, target, order, cfg["steps"], insert).mean(1).numpy()
        auc_r = _curve(model, x, target, rand, cfg["steps"], insert).mean(1).numpy()
        diff = (auc - auc_r) if insert else (auc_r - auc)  # positive = better than random
        if n < cfg["min_images"] or np.allclose(diff, 0):
            p = 1.0
        else:
            p = float(wilcoxon(diff, alternative="greater").pvalue)
        nz = diff[diff != 0]
        ranks = np.argsort(np.argsort(np.abs(nz))) + 1
        effect = float((ranks[nz > 0].sum() - ranks[nz < 0].sum()) / max(ranks.sum(), 1))  # rank-biserial
        ok = n >= cfg["min_images"] and p < cfg["alpha"]
        out.append(Verdict(name, method.name, float(auc.mean()), float(auc_r.mean()), ok, n,
                           f"Wilcoxon p={p:.2g}, rank-biserial effect {effect:+.2f}"
                           + ("" if n >= cfg["min_images"] else f"; needs ≥ {cfg['min_images']} images")))
    return out


def localisation(method, model, x, target, maps, cfg, masks: np.ndarray | None) -> Verdict:
    from scipy.stats import binomtest

    if masks is None:
        return Verdict("localisation", method.name, None, None, False, 0, "no lesion masks in the data")
    m = torch.from_numpy(masks.astype(bool))
    has = m.flatten(1).any(1)
    if not has.any():
        return Verdict("localisation", method.name, None, None, False, 0, "no image with a lesion mask")
    maps_l, m_l = maps[has], m[has]
    flat = maps_l.flatten(1)
    hit = m_l.flatten(1).gather(1, flat.argmax(1, keepdim=True))[:, 0]
    area = m_l.flatten(1).float().mean(1)
    chance = float(area.mean())
    hits = int(hit.sum())
    k = len(hit)
    p = float(binomtest(hits, k, chance, alternative="greater").pvalue)
    pos = flat.clamp_min(0)
    mass = float(((pos * m_l.flatten(1)).sum(1) / pos.sum(1).clamp_min(1e-12)).mean())
    ok = p < cfg["alpha"] and mass >= cfg["min_relevance_ratio"] * chance
    return Verdict("localisation", method.name, hits / k, chance, ok, k,
                   f"pointing game {hits}/{k} (p={p:.2g} vs chance {chance:.3f}); relevance mass {mass:.3f}")


def stability(method, model, x, target, maps, cfg) -> Verdict:
    gen = torch.Generator().manual_seed(1)
    worst = torch.zeros(len(x))
    valid = torch.zeros(len(x), dtype=torch.bool)
    base = maps.flatten(1)
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
    return Verdict("stability", method.name, value, cfg["max_sensitivity"], ok, int(valid.sum()),
                   f"max-sensitivity over {cfg['n_samples']} noisy copies (radius {cfg['radius']}), "
                   "prediction unchanged")


TESTS = ("randomisation", "faithfulness", "localisation", "stability")

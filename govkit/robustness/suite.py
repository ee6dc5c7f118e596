"""Run a robustness suite: corruptions × severities and attacks × ε, with gradient-masking checks.

Every figure carries n and a 95 % CI: corruption figures from the shared
bootstrap (patients resampled when patient IDs are known), adversarial
accuracies a Wilson interval.  Corruption results give accuracy per
corruption and severity, relative robustness (accuracy / clean accuracy),
per corruption the corruption error (error averaged over its severities,
Hendrycks & Dietterich 2019's unnormalised CE) and the accuracy drop (clean
minus the mean over severities), and ``mean_corruption_error_unnormalised``:
the mean of the per-corruption errors (each corruption weighs the same,
whatever its number of severities).  It is *not* Hendrycks' mCE, which
divides each corruption's error by a baseline model's (AlexNet's) before
averaging; govkit has no baseline model.  Attacks give the
robust-accuracy-vs-ε curve on up to ``attack_samples`` images.

Warnings flag the signs of gradient masking (Athalye et al. 2018; Carlini et
al. 2019): a random forward pass, zero input gradients, robust accuracy that
rises with ε on a nested grid, an unbounded ε that leaves accuracy well above
zero, and a gradient-free search that beats the white-box attack.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from govkit.errors import BadInput
from govkit.evaluate.metrics import wilson
from govkit.evidence.metric import MetricValue
from govkit.progress import Progress, silent


@dataclass
class Suite:
    name: str
    corruptions: dict[str, list[int]]
    attacks: list[str]
    eps: list[float]
    eps_l2: list[float] = field(default_factory=lambda: [0.1, 0.25, 0.5, 1.0])
    steps: int = 10
    restarts: int = 1
    attack_samples: int = 512


def load_suite(path: str | Path | None = None) -> Suite:
    from govkit.resources import resource_dir
    from govkit.robustness.attacks import ADVERSARIAL_ATTACKS
    from govkit.robustness.corruptions import CORRUPTIONS
    from govkit.yamlio import load_file

    p = Path(path) if path else resource_dir("policies") / "robustness" / "default.yaml"
    doc = load_file(p, "suite")
    if not isinstance(doc, dict):
        raise BadInput(f"suite {p}: expected a mapping")
    unknown = set(doc) - {"name", "corruptions", "attacks", "eps", "eps_l2", "steps", "restarts", "attack_samples"}
    if unknown:
        raise BadInput(f"suite {p}: unknown keys {sorted(unknown)}")
    corr = {str(k): [int(s) for s in v] for k, v in (doc.get("corruptions") or {}).items()}
    for name, sev in corr.items():
        if name not in CORRUPTIONS:
            raise BadInput(f"suite {p}: unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")
        if any(not 1 <= s <= 5 for s in sev):
            raise BadInput(f"suite {p}: severities of {name} must be 1..5")
    attacks = [str(a) for a in doc.get("attacks") or []]
    bad = [a for a in attacks if a not in ADVERSARIAL_ATTACKS]
    if bad:
        raise BadInput(f"suite {p}: unknown attack(s) {bad}; known: {', '.join(ADVERSARIAL_ATTACKS)}")
    return Suite(
        str(doc.get("name", p.stem)),
        corr,
        attacks,
        [float(e) for e in doc.get("eps", [])],
        [float(e) for e in doc.get("eps_l2", [0.1, 0.25, 0.5, 1.0])],
        int(doc.get("steps", 10)),
        int(doc.get("restarts", 1)),
        int(doc.get("attack_samples", 512)),
    )


def parse_corruption(arg: str) -> tuple[str, list[int]]:
    from govkit.robustness.corruptions import CORRUPTIONS

    name, _, sev = arg.partition(":")
    if name not in CORRUPTIONS:
        raise BadInput(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")
    try:
        levels = [int(sev)] if sev else [1, 2, 3, 4, 5]
    except ValueError:
        raise BadInput(f"severity in {arg!r} must be an integer 1..5") from None
    if any(not 1 <= s <= 5 for s in levels):
        raise BadInput(f"severity in {arg!r} must be 1..5")
    return name, levels


def _acc_metric(name: str, correct: int, n: int, params: dict) -> MetricValue:
    lo, hi = wilson(correct, n)
    return MetricValue(name, correct / n if n else None, lo, hi, n, params)


def corruption_metrics(
    clean: np.ndarray,
    corrupted: dict[tuple[str, int], np.ndarray],
    *,
    clusters: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[MetricValue]:
    """Figures from per-image correctness (bool arrays), every one with a bootstrap CI from the shared
    bootstrap (patients resampled when ``clusters`` are given): clean accuracy, accuracy and relative
    robustness per corruption and severity, corruption error and accuracy drop per corruption (severities
    averaged first), and the unnormalised mean corruption error (corruptions averaged next)."""
    from govkit.evaluate.metrics import with_ci

    names = list(dict.fromkeys(c for c, _ in corrupted))
    keys: list[tuple[str, dict]] = [("clean_accuracy", {})]
    keys += [(m, {"corruption": c, "severity": s}) for c, s in corrupted for m in ("accuracy", "relative_robustness")]
    keys += [(m, {"corruption": c}) for c in names for m in ("corruption_error", "accuracy_drop")]
    if corrupted:
        keys.append(("mean_corruption_error_unnormalised", {}))

    def figures(idx: np.ndarray) -> dict[str, float]:
        base = float(clean[idx].mean())
        acc = {k: float(v[idx].mean()) for k, v in corrupted.items()}
        per = {c: float(np.mean([a for (cc, _), a in acc.items() if cc == c])) for c in names}
        vals = [base]
        for k in corrupted:
            vals += [acc[k], acc[k] / base if base else float("nan")]
        for c in names:
            vals += [1 - per[c], base - per[c]]
        if corrupted:
            vals.append(float(np.mean([1 - per[c] for c in names])))
        return {str(i): v for i, v in enumerate(vals)}

    out = with_ci(figures, len(clean), clusters=clusters, n_boot=n_boot, seed=seed)
    for mv, (name, params) in zip(out, keys, strict=True):
        mv.name, mv.params = name, params
    return out


def run_suite(
    model, data, suite: Suite, *, device: str = "cpu", seed: int = 0, batch_size: int = 128, progress: Progress = silent
) -> dict:
    """Accuracy under each corruption and severity, and under each attack over its ε grid;
    ``progress`` shows the corruption batches and each attack's ε steps."""
    import torch

    from govkit.robustness.attacks import ADVERSARIAL_ATTACKS
    from govkit.robustness.corruptions import CORRUPTIONS

    gen = torch.Generator(device=device).manual_seed(seed)
    warnings: list[str] = []
    n = len(data)
    clean_parts: list[np.ndarray] = []
    corr_parts: dict[tuple[str, int], list[np.ndarray]] = {
        (c, s): [] for c, sev in suite.corruptions.items() for s in sev
    }
    batches = -(-n // batch_size)
    for idx, xb in progress(data.batches(batch_size), batches, f"{len(corr_parts)} corruption(s) (batches)"):
        x = torch.from_numpy(xb).to(device)
        y = torch.from_numpy(data.labels[idx]).to(device)
        with torch.no_grad():
            clean_parts.append((model(x).argmax(1) == y).cpu().numpy())
            for (c, s), parts in corr_parts.items():
                parts.append((model(CORRUPTIONS[c].apply(x, s, gen)).argmax(1) == y).cpu().numpy())
    clean_correct = np.concatenate(clean_parts)
    corrupted = {k: np.concatenate(v) for k, v in corr_parts.items()}
    clean = float(clean_correct.mean())
    metrics = corruption_metrics(clean_correct, corrupted, clusters=data.patient_id, seed=seed)
    corruptions = [{"name": c, "severity": s, "accuracy": float(v.mean())} for (c, s), v in corrupted.items()]

    adversarial = []
    if suite.attacks:
        m = min(n, suite.attack_samples)
        sel = np.random.default_rng(seed).permutation(n)[:m] if m < n else np.arange(n)
        sub = data.subset(np.sort(sel))
        xs = torch.from_numpy(sub.images(np.arange(m))).to(device)
        ys = torch.from_numpy(sub.labels).to(device)
        warnings += _masking_pre_checks(model, xs[:batch_size], ys[:batch_size])
        for name in suite.attacks:
            attack = ADVERSARIAL_ATTACKS[name]
            grid = suite.eps_l2 if attack.norm == "l2" else suite.eps
            curve = []
            for eps in progress([0.0, *grid], len(grid) + 1, f"attack {name} (ε steps)"):
                ok = 0
                for start in range(0, m, batch_size):
                    xb, yb = xs[start : start + batch_size], ys[start : start + batch_size]
                    adv = attack.perturb(model, xb, yb, eps, steps=suite.steps, restarts=suite.restarts, generator=gen)
                    with torch.no_grad():
                        ok += int((model(adv).argmax(1) == yb).sum())
                curve.append(ok / m)
                adversarial.append({"attack": name, "eps": eps, "accuracy": ok / m})
                metrics.append(_acc_metric("accuracy", ok, m, {"attack": name, "eps": eps}))  # Wilson
            if any(b > a + 1.0 / m for a, b in itertools.pairwise(curve)):
                warnings.append(
                    f"{name}: robust accuracy is not monotone over the nested ε grid "
                    f"({', '.join(f'{v:.3f}' for v in curve)}): possible gradient masking"
                )
        warnings += _masking_post_checks(model, xs[:batch_size], ys[:batch_size], suite, adversarial, gen)
    return {
        "clean_accuracy": clean,
        "n": n,
        "corruptions": corruptions,
        "adversarial": adversarial,
        "warnings": warnings,
        "metrics": metrics,
    }


def _masking_pre_checks(model, x, y) -> list[str]:
    import torch

    from govkit.robustness.attacks import attack_loss

    out = []
    with torch.no_grad():
        if not torch.allclose(model(x), model(x)):
            out.append("the forward pass is random (dropout or noise at inference): gradients are unreliable")
    xg = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(attack_loss(model(xg), y).sum(), xg)
    zero = (g.flatten(1).abs().sum(1) == 0).float().mean().item()
    if zero > 0.1:
        out.append(f"input gradients are exactly zero for {zero:.0%} of samples: possible gradient masking")
    return out


def _masking_post_checks(model, x, y, suite: Suite, adversarial: list[dict], gen) -> list[str]:
    import torch

    from govkit.robustness.attacks import ADVERSARIAL_ATTACKS

    out = []
    pgd = ADVERSARIAL_ATTACKS["pgd-linf"]
    with torch.no_grad():
        correct = model(x).argmax(1) == y
    adv = pgd.perturb(model, x, y, 1.0, steps=max(suite.steps, 10), restarts=1, generator=gen)
    with torch.no_grad():
        acc_unbounded = (model(adv).argmax(1) == y).float().mean().item()
    if acc_unbounded > 0.05:
        out.append(
            f"PGD with unbounded ε=1 leaves {acc_unbounded:.0%} accuracy (should be ≈ 0): the attack "
            "is not converging or gradients are masked"
        )
    linf = [a for a in adversarial if a["attack"] == "pgd-linf" and a["eps"] > 0]
    if linf:
        eps = max(a["eps"] for a in linf)
        # gradient-free check: random vertices of the L∞ ball
        broken = ~correct
        for _ in range(20):
            corner = (x + eps * (torch.randint(0, 2, x.shape, generator=gen, device=x.device) * 2 - 1)).clamp(0, 1)
            with torch.no_grad():
                broken |= model(corner).argmax(1) != y
        random_acc = 1 - broken.float().mean().item()
        adv = pgd.perturb(model, x, y, eps, steps=suite.steps, restarts=suite.restarts, generator=gen)
        with torch.no_grad():
            pgd_acc = (model(adv).argmax(1) == y).float().mean().item()
        if random_acc < pgd_acc - 1.0 / len(x):
            out.append(f"random search at ε={eps} ({random_acc:.3f}) beats PGD ({pgd_acc:.3f}): gradient masking")
    return out

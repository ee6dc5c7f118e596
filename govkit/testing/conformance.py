"""Conformance checks for govkit's plug-in protocols.

In the spirit of scikit-learn's ``sklearn.utils.estimator_checks.check_estimator``:
each ``check_*`` function takes one implementation of a protocol, runs
behavioural checks on small generated inputs with a known truth (shapes and
dtypes, value ranges, determinism for a seed, batch-vs-single consistency, no
mutation of inputs, declared needs respected, registry name consistency, and
a case where a correct implementation must give a known answer), and raises
:class:`ConformanceError` (an :class:`AssertionError`) naming the failed check.
govkit's own test suite runs them over every registered implementation; a
third-party plug-in can run the same checks on itself::

    from govkit.testing import check_corruption
    check_corruption(MyCorruption())

Protocols and registries checked here:

=============================  ==========================================================  ============================
function                       protocol                                                    registry
=============================  ==========================================================  ============================
:func:`check_mia_attack`       :class:`govkit.privacy.attacks.base.MIAAttack`              ``MIA_ATTACKS``
:func:`check_corruption`       :class:`govkit.robustness.corruptions.ImageCorruption`      ``CORRUPTIONS``
:func:`check_adversarial_attack` :class:`govkit.robustness.attacks.AdversarialAttack`      ``ADVERSARIAL_ATTACKS``
:func:`check_attribution_method` :class:`govkit.explain.methods.base.AttributionMethod`    ``ATTRIBUTION_METHODS``
:func:`check_explanation_check` :class:`govkit.explain.checks.ExplanationCheck`           ``EXPLANATION_CHECKS``
:func:`check_ocr_engine`       :class:`govkit.deid.pixels.ocr.OcrEngine`                   ``ENGINES``
:func:`check_policy_check`     :class:`govkit.governance.policy.Check`                     ``CHECKS``
=============================  ==========================================================  ============================

Heavy libraries (PyTorch, Pillow, the registry) are imported inside the
functions that need them, so importing :mod:`govkit.testing` stays light.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

if TYPE_CHECKING:
    import torch

    from govkit.deid.pixels.ocr import Line
    from govkit.explain.checks import CheckInput
    from govkit.privacy.attacks.base import Signals

__all__ = [
    "ConformanceError",
    "check_adversarial_attack",
    "check_attribution_method",
    "check_corruption",
    "check_explanation_check",
    "check_mia_attack",
    "check_ocr_engine",
    "check_policy_check",
]

_KEY = re.compile(r"[a-z0-9][a-z0-9._-]*")


class ConformanceError(AssertionError):
    """An implementation failed one conformance check; ``check`` names it."""

    def __init__(self, implementation: str, check: str, message: str) -> None:
        super().__init__(f"{implementation}: conformance check {check!r} failed: {message}")
        self.implementation = implementation
        self.check = check


class _Checker:
    """Names the implementation and the check in every failure."""

    def __init__(self, impl: object) -> None:
        self.impl = f"{type(impl).__name__}({getattr(impl, 'name', '?')!r})"

    def fail(self, check: str, message: str) -> NoReturn:
        raise ConformanceError(self.impl, check, message)

    def that(self, ok: object, check: str, message: str) -> None:
        if not ok:
            self.fail(check, message)

    @contextmanager
    def running(self, check: str) -> Iterator[None]:
        """Turn an unexpected exception inside the block into a failure of ``check``."""
        try:
            yield
        except ConformanceError:
            raise
        except Exception as exc:  # noqa: BLE001 - any exception of the implementation fails the check, named
            self.fail(check, f"raised {type(exc).__name__}: {exc}")


def _check_name(c: _Checker, impl: object, registry: Mapping[str, Any], protocol: type) -> str:
    """``impl`` follows ``protocol``, has a registry-key name, and does not clash with a registered one."""
    c.that(isinstance(impl, protocol), "protocol", f"does not follow {protocol.__module__}.{protocol.__qualname__}")
    name = getattr(impl, "name", None)
    if not (isinstance(name, str) and _KEY.fullmatch(name)):
        c.fail("name", f"name must be a lower-case key ([a-z0-9._-]), got {name!r}")
    registered = registry.get(name)
    if registered is not None:
        same = (type(impl) is registered) if isinstance(registered, type) else (type(impl) is type(registered))
        c.that(same, "registry", f"the name {name!r} is registered to {registered!r}, a different implementation")
    return name


def _json(c: _Checker, check: str, value: object) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        c.fail(check, f"not JSON-serialisable (the registry stores it): {exc}")


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC by the Mann–Whitney statistic (average ranks for ties)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    n1, n0 = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


# --------------------------------------------------------------------------- membership inference


def _balanced_in(rng: np.random.Generator, k: int, n: int) -> np.ndarray:
    """K×N bool: each record is IN exactly K/2 of the K models."""
    order = rng.random((k, n)).argsort(0)
    return order < k // 2


def mia_signals(
    needs: frozenset[str] | set[str], *, seed: int = 0, n: int = 200, k: int = 8, z: int = 200, gap: float = 3.0
) -> tuple[Signals, np.ndarray]:
    """Synthetic :class:`~govkit.privacy.attacks.base.Signals` with a known membership, and the membership.

    Record i has a difficulty d_i ~ N(0, 1); a model that trained on it has
    φ = d_i + ``gap`` + noise, one that did not φ = d_i + noise (σ 0.5).  Half
    the N targets are members of the target model.  Only the fields for
    ``needs`` are filled: reference models (K; online ones trained on half of
    every record, offline ones on none of the targets) for ``reference-*``,
    population records (Z) for ``population``, and the reference models on the
    population when both are needed.
    """
    from govkit.privacy.attacks.base import Signals

    rng = np.random.default_rng(seed)

    def phi(d: np.ndarray, trained: np.ndarray) -> np.ndarray:
        return d + gap * trained + rng.normal(0.0, 0.5, np.shape(trained))

    def p(f: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-f))

    members = np.zeros(n, bool)
    members[rng.permutation(n)[: n // 2]] = True
    d = rng.normal(0.0, 1.0, n)
    t_phi = phi(d, members)
    s = Signals(target_p=p(t_phi), target_phi=t_phi)
    online, offline = "reference-online" in needs, "reference-offline" in needs
    if online or offline:
        s.ref_in = _balanced_in(rng, k, n) if online else np.zeros((k, n), bool)
        s.ref_phi = phi(d, s.ref_in)
        s.ref_p = p(s.ref_phi)
    if "population" in needs:
        dz = rng.normal(0.0, 1.0, z)
        s.pop_target_phi = phi(dz, np.zeros(z, bool))
        s.pop_target_p = p(s.pop_target_phi)
        if online or offline:
            s.pop_ref_in = _balanced_in(rng, k, z)
            s.pop_ref_p = p(phi(dz, s.pop_ref_in))
    return s, members


_TARGET_FIELDS = ("target_p", "target_phi")
_REF_FIELDS = ("ref_p", "ref_phi", "ref_in")


def _permuted(s: Signals, perm: np.ndarray) -> Signals:
    out = copy.deepcopy(s)
    for f in _TARGET_FIELDS:
        setattr(out, f, getattr(s, f)[perm])
    for f in _REF_FIELDS:
        v = getattr(s, f)
        if v is not None:
            setattr(out, f, v[:, perm])
    return out


def _without(s: Signals, need: str) -> Signals:
    out = copy.deepcopy(s)
    fields = ("pop_target_p", "pop_target_phi") if need == "population" else _REF_FIELDS
    for f in (*fields, "pop_ref_p", "pop_ref_in"):
        setattr(out, f, None)
    return out


def _arrays(s: Signals) -> dict[str, np.ndarray]:
    return {k: np.array(v, copy=True) for k, v in vars(s).items() if v is not None}


def check_mia_attack(attack: object, *, seed: int = 0) -> None:
    """Check a membership-inference attack against :class:`~govkit.privacy.attacks.base.MIAAttack`.

    Checks: the protocol and a registry-key name; ``needs`` a set within
    :data:`~govkit.privacy.attacks.base.NEEDS`; ``llr`` a bool; with only the
    inputs it declares (:func:`mia_signals`), one finite float64 score per
    target; inputs unchanged; the same scores twice; permuting the targets
    permutes the scores; **higher scores for members** (ROC AUC ≥ 0.8 on
    records whose members are clearly separated); a missing declared input
    raises ``ValueError`` (not ``TypeError`` on a ``None``); ``describe``
    JSON-serialisable.
    """
    from govkit.privacy.attacks import MIA_ATTACKS, NEEDS, MIAAttack

    c = _Checker(attack)
    _check_name(c, attack, MIA_ATTACKS, MIAAttack)
    needs = attack.needs  # type: ignore[attr-defined]
    c.that(
        isinstance(needs, (set, frozenset)) and needs <= NEEDS,
        "needs",
        f"needs must be a set within {sorted(NEEDS)}, got {needs!r}",
    )
    c.that(isinstance(attack.llr, bool), "llr", f"llr must be a bool, got {attack.llr!r}")  # type: ignore[attr-defined]
    score: Callable[[Signals], Any] = attack.score  # type: ignore[attr-defined]

    s, members = mia_signals(needs, seed=seed)
    before = _arrays(s)
    with c.running("declared-needs"):  # only the declared inputs are filled in
        scores = score(s)
    c.that(
        isinstance(scores, np.ndarray) and scores.shape == members.shape and scores.dtype == np.float64,
        "output",
        f"expected float64 scores of shape {members.shape}, got "
        f"{getattr(scores, 'dtype', type(scores))} {getattr(scores, 'shape', '')}",
    )
    c.that(np.isfinite(scores).all(), "finite", f"{int((~np.isfinite(scores)).sum())} scores are not finite")
    after = _arrays(s)
    changed = [k for k in before if not np.array_equal(before[k], after[k], equal_nan=True)]
    c.that(not changed, "no-mutation", f"score() changed its input(s) {changed}")
    with c.running("deterministic"):
        again = score(s)
    c.that(np.array_equal(scores, again), "deterministic", "two calls on the same signals gave different scores")

    perm = np.random.default_rng(seed + 1).permutation(len(members))
    with c.running("permutation"):
        permuted = score(_permuted(s, perm))
    c.that(
        np.allclose(permuted, scores[perm], rtol=1e-9, atol=1e-12),
        "permutation",
        "permuting the target records did not permute their scores (scores depend on record order)",
    )

    auc = _auc(scores, members)
    c.that(
        auc >= 0.8,
        "higher-is-member",
        f"ROC AUC {auc:.3f} on clearly separated members (needs >= 0.8): higher must mean 'more likely a member'",
    )

    for need in sorted(needs):
        try:
            out = score(_without(s, need))
        except ValueError:
            continue
        except Exception as exc:  # noqa: BLE001 - the check is that nothing but ValueError comes out
            c.fail(
                "missing-input",
                f"without its declared {need!r} input it raised {type(exc).__name__}: {exc} "
                "(expected ValueError naming what is missing)",
            )
        c.that(
            np.shape(out) == members.shape,
            "missing-input",
            f"without its declared {need!r} input it returned shape {np.shape(out)}",
        )

    with c.running("describe"):
        described = attack.describe(s)  # type: ignore[attr-defined]
    c.that(
        isinstance(described, dict) and all(isinstance(k, str) for k in described),
        "describe",
        "describe() must return a dict with string keys",
    )
    _json(c, "describe", described)


# --------------------------------------------------------------------------- images and models


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch's and NumPy's global RNGs for the block (captum samples from both), then restore them."""
    import torch

    state = np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            np.random.seed(seed)
            yield
    finally:
        np.random.set_state(state)


def _images(n: int, c: int, h: int, w: int, seed: int, dtype: Any = None) -> torch.Tensor:
    """Smooth images in [0.05, 0.95]: a few Gaussian blobs on a gradient (a stand-in for anatomy)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    yy = torch.linspace(-1, 1, h).view(1, 1, h, 1)
    xx = torch.linspace(-1, 1, w).view(1, 1, 1, w)
    img = 0.3 + 0.2 * (yy + xx) / 2 * torch.rand((n, c, 1, 1), generator=g)
    for _ in range(3):
        cy, cx = torch.rand((2, n, c, 1, 1), generator=g) * 1.6 - 0.8
        r = 0.15 + 0.3 * torch.rand((n, c, 1, 1), generator=g)
        img = img + 0.4 * torch.rand((n, c, 1, 1), generator=g) * torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r**2)
    img = img.clamp(0.05, 0.95)
    return img if dtype is None else img.to(dtype)


def _model_state(model: torch.nn.Module) -> tuple[dict[str, Any], list[bool], bool]:
    return (
        {k: v.detach().clone() for k, v in model.state_dict().items()},
        [p.requires_grad for p in model.parameters()],
        model.training,
    )


def _same_model_state(model: torch.nn.Module, state: tuple[dict[str, Any], list[bool], bool]) -> str:
    """'' when ``model`` is as ``state`` recorded it, else what changed."""
    import torch

    weights, grads, training = state
    now = model.state_dict()
    if any(not torch.equal(now[k], v) for k, v in weights.items()):
        return "the model's weights"
    if [p.requires_grad for p in model.parameters()] != grads:
        return "the model's requires_grad flags"
    if model.training != training:
        return "the model's train/eval mode"
    return ""


def _cnn(channels: int, classes: int, seed: int) -> torch.nn.Module:
    """A small convolutional classifier with seeded weights, in eval mode."""
    import torch

    with _seeded(seed):
        model = torch.nn.Sequential(
            torch.nn.Conv2d(channels, 4, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(4, 4, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(4),
            torch.nn.Flatten(),
            last := torch.nn.Linear(64, classes),
        )
        with torch.no_grad():  # logits that move by whole units when a region changes, as a trained model's do
            last.weight.mul_(20.0)
    return model.eval()


# --------------------------------------------------------------------------- corruptions

CORRUPTION_FAMILIES = frozenset({"noise", "mri", "ct", "generic"})


def check_corruption(corruption: object, *, seed: int = 0) -> None:
    """Check an image corruption against :class:`~govkit.robustness.corruptions.ImageCorruption`.

    Checks: the protocol, a registry-key name, a known ``family`` and a
    ``description``; ``ValueError`` for severities 0 and 6; for every severity
    1–5, on a batch N×C×H×W of odd size, a batch of the same shape, dtype
    (float32 and float64) and device, finite, in [0, 1]; the input unchanged;
    the same output for the same seeded generator; severity 5 visibly changes
    the image and changes it at least as much as severity 1; a corruption that
    draws no random numbers gives each image the same result alone as in the batch.
    """
    import torch

    from govkit.robustness.corruptions import CORRUPTIONS, ImageCorruption

    c = _Checker(corruption)
    _check_name(c, corruption, CORRUPTIONS, ImageCorruption)
    family, description = getattr(corruption, "family", None), getattr(corruption, "description", None)
    c.that(
        family in CORRUPTION_FAMILIES, "family", f"family must be one of {sorted(CORRUPTION_FAMILIES)}, got {family!r}"
    )
    c.that(isinstance(description, str) and description.strip(), "description", "needs a one-line description")
    apply: Callable[..., Any] = corruption.apply  # type: ignore[attr-defined]

    def gen(s: int = seed) -> torch.Generator:
        return torch.Generator().manual_seed(s)

    x = _images(4, 2, 29, 35, seed)
    for bad in (0, 6):
        try:
            apply(x, bad, gen())
        except ValueError:
            continue
        except Exception as exc:  # noqa: BLE001 - the check is that a bad severity is a ValueError
            c.fail("severity-range", f"severity {bad} raised {type(exc).__name__}, expected ValueError")
        c.fail("severity-range", f"severity {bad} was accepted (severities are 1..5)")

    original = x.clone()
    change = {}
    for severity in range(1, 6):
        with c.running(f"severity-{severity}"):
            out = apply(x, severity, gen())
        c.that(
            isinstance(out, torch.Tensor) and out.shape == x.shape and out.dtype == x.dtype and out.device == x.device,
            "output",
            f"severity {severity}: expected {x.dtype} {tuple(x.shape)}, got "
            f"{getattr(out, 'dtype', type(out))} {tuple(getattr(out, 'shape', ()))}",
        )
        c.that(torch.isfinite(out).all(), "finite", f"severity {severity}: non-finite values")
        c.that(
            out.min() >= 0 and out.max() <= 1,
            "range",
            f"severity {severity}: values in [{float(out.min()):.3g}, {float(out.max()):.3g}], not [0, 1]",
        )
        c.that(torch.equal(x, original), "no-mutation", f"severity {severity} changed the input batch")
        with c.running("deterministic"):
            again = apply(x, severity, gen())
        c.that(torch.equal(out, again), "deterministic", f"severity {severity}: the same seed gave different output")
        change[severity] = float((out - x).abs().mean())
    c.that(change[5] > 1e-3, "changes-image", f"severity 5 leaves the image unchanged (mean |Δ| {change[5]:.2g})")
    c.that(
        change[5] >= change[1],
        "severity-order",
        f"severity 5 changes the image less than severity 1 (mean |Δ| {change[5]:.3g} < {change[1]:.3g})",
    )

    with c.running("float64"):
        out64 = apply(x.double(), 3, gen())
    c.that(out64.dtype == torch.float64, "float64", f"a float64 batch came back as {out64.dtype}")

    batch = apply(x, 3, gen())
    if torch.equal(batch, apply(x, 3, gen(seed + 1))):  # draws no random numbers: must treat images alone
        for i in range(len(x)):
            single = apply(x[i : i + 1], 3, gen())
            c.that(
                torch.allclose(single[0], batch[i], atol=1e-5),
                "batch-vs-single",
                f"image {i} corrupted alone differs from the same image in the batch",
            )


# --------------------------------------------------------------------------- adversarial attacks

ATTACK_NORMS = frozenset({"linf", "l2"})


def check_adversarial_attack(attack: object, *, seed: int = 0) -> None:
    """Check an attack against :class:`~govkit.robustness.attacks.AdversarialAttack`.

    On a small seeded CNN that classifies a batch of images correctly:
    the protocol and a registry-key name; ``norm`` "linf" or "l2"; a detached
    batch of the same shape, dtype and device, inside the ε-ball in its norm
    and inside [0, 1]; at ε = 0 a copy of x; inputs, weights, ``requires_grad``
    flags and train/eval mode unchanged; the same output for the same seeded
    generator; a batch of one works; at a large ε the attack breaks most
    images (robust accuracy ≤ 50 %).
    """
    import torch

    from govkit.robustness.attacks import ADVERSARIAL_ATTACKS, AdversarialAttack

    c = _Checker(attack)
    _check_name(c, attack, ADVERSARIAL_ATTACKS, AdversarialAttack)
    norm = getattr(attack, "norm", None)
    c.that(norm in ATTACK_NORMS, "norm", f"norm must be one of {sorted(ATTACK_NORMS)}, got {norm!r}")
    perturb: Callable[..., Any] = attack.perturb  # type: ignore[attr-defined]

    model = _cnn(1, 3, seed)
    x = _images(16, 1, 12, 12, seed)
    with torch.no_grad():
        y = model(x).argmax(1)
    x_before, y_before, state = x.clone(), y.clone(), _model_state(model)
    eps = 0.3 if norm == "linf" else 3.0

    def run(xb: torch.Tensor, yb: torch.Tensor, e: float) -> Any:
        return perturb(model, xb, yb, e, steps=10, restarts=1, generator=torch.Generator().manual_seed(seed))

    with c.running("perturb"):
        adv = run(x, y, eps)
    c.that(
        isinstance(adv, torch.Tensor) and adv.shape == x.shape and adv.dtype == x.dtype and adv.device == x.device,
        "output",
        f"expected {x.dtype} {tuple(x.shape)}, got {getattr(adv, 'dtype', type(adv))} "
        f"{tuple(getattr(adv, 'shape', ()))}",
    )
    c.that(not adv.requires_grad, "detached", "the adversarial batch still requires grad (it holds the graph)")
    delta = (adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    c.that(
        bool((size <= eps * (1 + 1e-5) + 1e-6).all()),
        "eps-ball",
        f"largest {norm} perturbation {float(size.max()):.4g} exceeds eps {eps}",
    )
    c.that(adv.min() >= 0 and adv.max() <= 1, "range", "adversarial images leave [0, 1]")
    changed = _same_model_state(model, state)
    c.that(
        torch.equal(x, x_before) and torch.equal(y, y_before) and not changed,
        "no-mutation",
        f"perturb() changed {changed or 'its inputs'}",
    )
    with c.running("deterministic"):
        again = run(x, y, eps)
    c.that(torch.equal(adv, again), "deterministic", "the same generator seed gave different adversarial images")
    with torch.no_grad():
        robust = float((model(adv).argmax(1) == y).float().mean())
    c.that(
        robust <= 0.5,
        "effective",
        f"robust accuracy {robust:.2f} at {norm} eps {eps} on a small undefended CNN (expected <= 0.5)",
    )

    with c.running("eps-zero"):
        same = run(x, y, 0.0)
    c.that(same is not x and torch.equal(same, x), "eps-zero", "at eps 0 it must return a copy of x, unchanged")
    with c.running("batch-of-one"):
        one = run(x[:1], y[:1], eps)
    c.that(one.shape == x[:1].shape, "batch-of-one", f"a batch of one came back as {tuple(one.shape)}")


# --------------------------------------------------------------------------- attribution methods


def check_attribution_method(method: object, *, seed: int = 0) -> None:
    """Check an attribution method against :class:`~govkit.explain.methods.base.AttributionMethod`.

    On a small seeded CNN (3 classes, 2-channel 16×16 images): the protocol and
    a registry-key name; detached float32 maps N×H×W on the input's device,
    finite and not all zero; inputs, weights, ``requires_grad`` flags and
    train/eval mode unchanged; the same maps for the same torch seed; maps
    that change with the target class; and, for a method that draws no
    random numbers, each image's map the same alone as in the batch.
    """
    import torch

    from govkit.explain.methods import ATTRIBUTION_METHODS, AttributionMethod

    c = _Checker(method)
    _check_name(c, method, ATTRIBUTION_METHODS, AttributionMethod)
    attribute: Callable[..., Any] = method.attribute  # type: ignore[attr-defined]

    model = _cnn(2, 3, seed)
    x = _images(3, 2, 16, 16, seed)
    target = torch.tensor([0, 1, 2])
    x_before, t_before, state = x.clone(), target.clone(), _model_state(model)

    def run(xb: torch.Tensor, tb: torch.Tensor, s: int = seed) -> Any:
        with _seeded(s):
            return attribute(model, xb, tb)

    with c.running("attribute"):
        maps = run(x, target)
    want = (len(x), *x.shape[-2:])
    c.that(
        isinstance(maps, torch.Tensor)
        and tuple(maps.shape) == want
        and maps.dtype == torch.float32
        and maps.device == x.device,
        "output",
        f"expected float32 maps {want}, got {getattr(maps, 'dtype', type(maps))} {tuple(getattr(maps, 'shape', ()))}",
    )
    c.that(not maps.requires_grad, "detached", "the maps still require grad (they hold the graph)")
    c.that(torch.isfinite(maps).all(), "finite", "non-finite attributions")
    c.that(bool((maps != 0).any()), "non-degenerate", "every map is all zeros")
    changed = _same_model_state(model, state)
    c.that(
        torch.equal(x, x_before) and torch.equal(target, t_before) and not changed,
        "no-mutation",
        f"attribute() changed {changed or 'its inputs'}",
    )
    with c.running("deterministic"):
        again = run(x, target)
    c.that(torch.equal(maps, again), "deterministic", "the same torch seed gave different maps")
    with c.running("target"):
        other = run(x, (target + 1) % 3)
    c.that(not torch.allclose(maps, other), "target", "the maps do not depend on the target class")

    if torch.equal(maps, run(x, target, seed + 1)):  # draws no random numbers: images must be independent
        scale = float(maps.abs().max())
        for i in range(len(x)):
            single = run(x[i : i + 1], target[i : i + 1])
            c.that(
                torch.allclose(single[0], maps[i], rtol=1e-4, atol=1e-5 * scale),
                "batch-vs-single",
                f"image {i} attributed alone differs from the same image in the batch",
            )


# --------------------------------------------------------------------------- explanation checks


class _ConstantMaps:
    """An uninformative attribution method: the same flat map for every image."""

    name = "conformance-constant"

    def attribute(self, model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.ones((len(x), *x.shape[-2:]))


class _NoiseMaps:
    """An uninformative attribution method: fresh signed noise on every call, whatever the model and image."""

    name = "conformance-noise"

    def __init__(self, seed: int) -> None:
        import torch

        self.gen = torch.Generator().manual_seed(seed)

    def attribute(self, model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.randn((len(x), *x.shape[-2:]), generator=self.gen)


def _explanation_input(method: object, seed: int, n: int = 64) -> CheckInput:
    import torch

    from govkit.explain.checks import CheckInput

    model = _cnn(1, 3, seed)
    x = _images(n, 1, 16, 16, seed)
    with torch.no_grad():
        target = model(x).argmax(1)
    masks = np.zeros((n, 16, 16), bool)
    rng = np.random.default_rng(seed)
    for i, (r, col) in enumerate(rng.integers(0, 12, (n, 2))):
        masks[i, r : r + 4, col : col + 4] = True
    maps = method.attribute(model, x, target)  # type: ignore[attr-defined]
    return CheckInput(method=method, model=model, x=x, target=target, maps=maps, masks=masks)  # type: ignore[arg-type]


def check_explanation_check(check: object, cfg: Mapping[str, Any] | None = None, *, seed: int = 0) -> None:
    """Check an explanation check against :class:`~govkit.explain.checks.ExplanationCheck`.

    ``cfg``: its thresholds; by default the section ``check.section`` of the
    shipped thresholds file.  On a small seeded CNN and 64 images with lesion
    masks: the protocol, a registry-key name and a ``section``; ``run``
    returns a non-empty list of verdicts whose ``check`` starts with its name,
    whose ``method`` is the method's, with a bool ``passed``, an ``n`` ≥ 0,
    a finite or ``None`` value, and JSON-serialisable; inputs and model
    unchanged; the same verdicts twice; and it **fails** at least one verdict
    for one of two uninformative methods (a constant map for every image;
    fresh noise on every call), the known-negative case of any check.
    """
    import torch

    from govkit.explain.checks import EXPLANATION_CHECKS, ExplanationCheck

    c = _Checker(check)
    name = _check_name(c, check, EXPLANATION_CHECKS, ExplanationCheck)
    section = getattr(check, "section", None)
    c.that(isinstance(section, str) and section, "section", f"section must name a thresholds block, got {section!r}")
    if cfg is None:
        from govkit.explain.run import thresholds

        shipped = thresholds()
        c.that(section in shipped, "section", f"no {section!r} block in the shipped thresholds: pass cfg=")
        cfg = shipped[section]
    run: Callable[[CheckInput, dict[str, Any]], Any] = check.run  # type: ignore[attr-defined]

    def verdicts(method: object) -> list[dict[str, Any]]:
        inp = _explanation_input(method, seed)
        before = (inp.x.clone(), inp.target.clone(), inp.maps.clone())
        masks = np.array(inp.masks, copy=True)
        state = _model_state(inp.model)
        with c.running("run"):
            out = run(inp, dict(cfg))
        c.that(isinstance(out, list) and out, "verdicts", f"run() must return a non-empty list, got {out!r}")
        rows = []
        for v in out:
            c.that(hasattr(v, "as_dict"), "verdicts", f"not a Verdict: {v!r}")
            row = v.as_dict()
            c.that(
                str(row.get("check", "")).startswith(name),
                "verdicts",
                f"verdict {row.get('check')!r} does not carry the check's name {name!r}",
            )
            c.that(
                row.get("method") == getattr(method, "name", None),
                "verdicts",
                f"verdict names method {row.get('method')!r}, not {getattr(method, 'name', None)!r}",
            )
            c.that(isinstance(row.get("passed"), bool), "verdicts", f"passed must be a bool, got {row.get('passed')!r}")
            c.that(
                isinstance(row.get("n"), int) and row["n"] >= 0, "verdicts", f"n must be a count, got {row.get('n')!r}"
            )
            value = row.get("value")
            c.that(
                value is None or (isinstance(value, (int, float)) and np.isfinite(value)),
                "verdicts",
                f"value must be finite or None (undefined), got {value!r}",
            )
            _json(c, "verdicts", row)
            rows.append(row)
        changed = _same_model_state(inp.model, state)
        same = (
            torch.equal(inp.x, before[0])
            and torch.equal(inp.target, before[1])
            and torch.equal(inp.maps, before[2])
            and np.array_equal(np.array(inp.masks), masks)
        )
        c.that(same and not changed, "no-mutation", f"run() changed {changed or 'its inputs'}")
        return rows

    constant = verdicts(_ConstantMaps())
    c.that(verdicts(_ConstantMaps()) == constant, "deterministic", "two runs on the same input gave different verdicts")
    noise = verdicts(_NoiseMaps(seed))
    c.that(
        not all(v["passed"] for v in constant + noise),
        "rejects-uninformative",
        "every verdict passed both for constant maps and for fresh noise maps: the check cannot fail",
    )


# --------------------------------------------------------------------------- OCR engines

_OCR_TEXT = ("SMITH", "1234")
_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _text_image(dx: int = 0, dy: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Dark text on white, 96×360 (+ offset), and each word's ink (a boolean mask of its dark pixels)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(_FONT, 30)
    size = (360 + dx, 96 + dy)
    img = Image.new("L", size, 255)
    ink, x = {}, 24 + dx
    for word in _OCR_TEXT:
        ImageDraw.Draw(img).text((x, 30 + dy), word, fill=20, font=font)
        alone = Image.new("L", size, 255)
        ImageDraw.Draw(alone).text((x, 30 + dy), word, fill=20, font=font)
        ink[word] = np.asarray(alone) < 128
        x = int(ImageDraw.Draw(alone).textbbox((x, 30 + dy), word, font=font)[2]) + 30
    return np.asarray(img, dtype=np.uint8).copy(), ink


def _word_box(lines: list[Line], word: str) -> tuple[int, int, int, int] | None:
    """The union (x0, y0, x1, y1) of the character boxes where ``word`` was read, if it was."""
    for line in lines:
        at = line.text.upper().find(word)
        if at >= 0:
            b = line.box(at, at + len(word))
            return b.x, b.y, b.x + b.w, b.y + b.h
    return None


def check_ocr_engine(engine: object) -> None:
    """Check an OCR engine against :class:`~govkit.deid.pixels.ocr.OcrEngine`.

    Checks: the protocol and a registry-key name; a blank frame reads as no
    lines; on a frame with two printed words (DejaVu Sans, 30 px), a list of
    :class:`~govkit.deid.pixels.ocr.Line` with exactly one box per character,
    every box inside the frame and of positive size, confidences in 0–100;
    both words read, and each word's character boxes, grown by the pixel
    cleaner's margin, cover its ink (what the cleaner fills); the frame unchanged; the same lines twice; and
    the boxes move with the text when the frame is padded on the left and top
    (frame coordinates, not an internal crop's).
    """
    from govkit.deid.pixels.ocr import ENGINES, Line, OcrEngine
    from govkit.deid.pixels.redact import MARGIN

    c = _Checker(engine)
    _check_name(c, engine, ENGINES, OcrEngine)
    read: Callable[[np.ndarray], Any] = engine.read_lines  # type: ignore[attr-defined]

    blank = np.full((96, 360), 255, np.uint8)
    with c.running("blank"):
        nothing = read(blank)
    c.that(
        isinstance(nothing, list) and not [ln for ln in nothing if ln.text.strip()],
        "blank",
        f"read text on a blank frame: {[ln.text for ln in nothing]!r}",
    )

    img, ink = _text_image()
    before = img.copy()
    with c.running("read"):
        lines = read(img)
    c.that(np.array_equal(img, before), "no-mutation", "read_lines() changed the frame")
    c.that(
        isinstance(lines, list) and all(isinstance(ln, Line) for ln in lines),
        "output",
        f"read_lines() must return a list of Line, got {lines!r}",
    )
    h, w = img.shape
    for ln in lines:
        c.that(
            len(ln.chars) == len(ln.text),
            "char-boxes",
            f"line {ln.text!r} has {len(ln.chars)} boxes for {len(ln.text)} characters",
        )
        for x, y, bw, bh in ln.chars:
            c.that(
                bw > 0 and bh > 0 and x >= 0 and y >= 0 and x + bw <= w and y + bh <= h,
                "char-boxes",
                f"line {ln.text!r}: box {(x, y, bw, bh)} is empty or outside the {w}×{h} frame",
            )
        c.that(0 <= ln.conf <= 100, "confidence", f"line {ln.text!r}: confidence {ln.conf} outside 0–100")
    for word, mask in ink.items():
        box = _word_box(lines, word)
        if box is None:
            c.fail("reads-text", f"did not read {word!r}; read {[ln.text for ln in lines]!r}")
        x0, y0, x1, y1 = box
        covered = mask[max(y0 - MARGIN, 0) : y1 + MARGIN, max(x0 - MARGIN, 0) : x1 + MARGIN].sum() / mask.sum()
        c.that(
            covered >= 0.99,
            "covers-ink",
            f"the character boxes of {word!r} {box}, grown by the cleaner's {MARGIN}-pixel margin, "
            f"cover {covered:.1%} of its ink (needs >= 99%)",
        )
    with c.running("deterministic"):
        again = read(img)
    c.that(again == lines, "deterministic", "two reads of the same frame differ")

    dx, dy = 40, 20
    shifted_img, _ = _text_image(dx, dy)
    with c.running("frame-coordinates"):
        shifted = read(shifted_img)
    for word in _OCR_TEXT:
        a, b = _word_box(lines, word), _word_box(shifted, word)
        if a is None or b is None:
            c.fail("frame-coordinates", f"did not read {word!r} in the padded frame")
        off = (b[0] - a[0], b[1] - a[1])
        c.that(
            abs(off[0] - dx) <= 4 and abs(off[1] - dy) <= 4,
            "frame-coordinates",
            f"padding the frame by ({dx}, {dy}) moved the box of {word!r} by {off}",
        )


# --------------------------------------------------------------------------- policy checks


POLICY_STATUSES = frozenset({"pass", "fail", "missing", "insufficient"})


def _empty_model_version(registry: Any) -> int:
    """A model version with nothing on record (empty card, no evaluations, data, approvals, incidents)."""
    from govkit.registry.audit import append_event
    from govkit.registry.tables import Model, ModelVersion

    with registry.unit_of_work() as s:
        model = Model(name="conformance")
        s.add(model)
        s.flush()
        mv = ModelVersion(
            model_id=model.id,
            version="1",
            artifact_sha256="0" * 64,
            spec_sha256="0" * 64,
            spec={"spec": {"name": "conformance", "version": "1", "card": {}}, "base_dir": "."},
            code_version=None,
            code_sha256=None,
            tags={},
            created_by="govkit.testing",
        )
        s.add(mv)
        s.flush()
        append_event(s, "model.register", "model_version", "conformance@1", {"conformance": True})
        return int(mv.id)


def check_policy_check(check: object, requirement: object, *, passes_without_evidence: bool = False) -> None:
    """Check a policy check against :class:`~govkit.governance.policy.Check`.

    ``requirement``: a :class:`~govkit.governance.policy.Requirement` of the
    check's evidence kind, as a policy would state it.  In a throw-away SQLite
    registry holding one model version with nothing on record: ``validate``
    accepts the requirement and leaves it unchanged; ``evaluate`` returns an
    :class:`~govkit.governance.policy.Outcome` for that requirement with a
    known status and JSON-serialisable content, writes nothing to the
    registry, gives the same outcome twice, and **does not pass without
    evidence** (fail closed) unless ``passes_without_evidence`` says that the
    absence of records is itself the evidence (as for "no open incidents").
    """
    import tempfile
    from pathlib import Path

    from sqlalchemy import func, select

    from govkit.governance.policy import CHECKS, Outcome, Requirement
    from govkit.registry import open_registry
    from govkit.registry.tables import Base, ModelVersion

    c = _Checker(check)
    c.impl = f"{type(check).__name__}(evidence={getattr(requirement, 'evidence', '?')!r})"
    c.that(
        callable(getattr(check, "validate", None)) and callable(getattr(check, "evaluate", None)),
        "protocol",
        "a policy check needs validate(req, fail) and evaluate(req, session, model_version)",
    )
    if not isinstance(requirement, Requirement):
        c.fail("requirement", f"not a Requirement: {requirement!r}")
    registered = CHECKS.get(requirement.evidence)
    if registered is not None:
        c.that(
            type(registered) is type(check),
            "registry",
            f"evidence {requirement.evidence!r} is checked by {type(registered).__name__}, not this check",
        )
    before = copy.deepcopy(requirement)

    def fail(message: str) -> Exception:
        return ValueError(message)

    with c.running("validate"):
        check.validate(requirement, fail)  # type: ignore[attr-defined]
    c.that(requirement == before, "no-mutation", "validate() changed the requirement")

    with tempfile.TemporaryDirectory(prefix="govkit-conformance-") as tmp:
        registry = open_registry(f"sqlite:///{Path(tmp) / 'registry.sqlite'}")
        try:
            mv_id = _empty_model_version(registry)
            with registry.unit_of_work() as session:
                mv = session.get(ModelVersion, mv_id)

                def counts() -> dict[str, int]:
                    return {
                        t.name: int(session.scalar(select(func.count()).select_from(t)) or 0)
                        for t in Base.metadata.sorted_tables
                    }

                rows = counts()
                with c.running("evaluate"):
                    out = check.evaluate(requirement, session, mv)  # type: ignore[attr-defined]
                    again = check.evaluate(requirement, session, mv)  # type: ignore[attr-defined]
                c.that(
                    not (session.new or session.dirty or session.deleted) and counts() == rows,
                    "read-only",
                    "evaluate() wrote to the registry",
                )
                session.rollback()
        finally:
            registry.dispose()

    c.that(isinstance(out, Outcome), "outcome", f"evaluate() must return an Outcome, got {out!r}")
    c.that(
        out.id == requirement.id and out.evidence == requirement.evidence,
        "outcome",
        f"the outcome names {out.id!r}/{out.evidence!r}, not the requirement {requirement.id!r}/"
        f"{requirement.evidence!r}",
    )
    c.that(
        out.status in POLICY_STATUSES, "status", f"status must be one of {sorted(POLICY_STATUSES)}, got {out.status!r}"
    )
    c.that(isinstance(out.detail, str) and out.detail.strip(), "detail", "the outcome must say why (detail)")
    _json(c, "outcome", out.as_dict())
    c.that(again.as_dict() == out.as_dict(), "deterministic", "two evaluations gave different outcomes")
    c.that(requirement == before, "no-mutation", "evaluate() changed the requirement")
    if not passes_without_evidence:
        c.that(
            out.status != "pass",
            "fail-closed",
            f"passed {requirement.id!r} for a model version with nothing on record ({out.detail})",
        )

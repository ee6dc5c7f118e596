"""govkit.testing's conformance checks: every registered implementation passes its
check, and deliberately broken toy implementations fail it, each on the named check."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from govkit.deid.pixels.ocr import ENGINES, Line
from govkit.explain.checks import EXPLANATION_CHECKS, Verdict
from govkit.explain.methods import ATTRIBUTION_METHODS
from govkit.explain.methods.saliency import Saliency
from govkit.governance.policy import CHECKS, Outcome, load_policy, parse_policy
from govkit.privacy.attacks import MIA_ATTACKS
from govkit.privacy.attacks.loss import LossAttack
from govkit.privacy.attacks.population import PopulationAttack
from govkit.robustness.attacks import ADVERSARIAL_ATTACKS, FGSM
from govkit.robustness.corruptions import CORRUPTIONS, Corruption, gaussian
from govkit.testing import (
    ConformanceError,
    check_adversarial_attack,
    check_attribution_method,
    check_corruption,
    check_explanation_check,
    check_mia_attack,
    check_ocr_engine,
    check_policy_check,
)

ROOT = Path(__file__).resolve().parents[1]
SLOW_METHODS = {"kernel-shap", "lime"}  # captum fits a surrogate model per image
SLOW_CHECKS = {"faithfulness", "randomisation"}


def fails(check: str, fn, *args, **kwargs) -> None:
    """``fn(*args)`` raises ConformanceError on exactly the check ``check``."""
    with pytest.raises(ConformanceError) as info:
        fn(*args, **kwargs)
    assert info.value.check == check, str(info.value)
    assert isinstance(info.value, AssertionError)


def test_registry_keys_are_names():
    for registry in (MIA_ATTACKS, ADVERSARIAL_ATTACKS, CORRUPTIONS, ATTRIBUTION_METHODS, EXPLANATION_CHECKS):
        assert all(key == impl.name for key, impl in registry.items())
    assert all(getattr(factory, "name", key) == key for key, factory in ENGINES.items())


# --------------------------------------------------------------------------- membership inference


@pytest.mark.parametrize("name", sorted(MIA_ATTACKS))
def test_mia_attacks_conform(name):
    check_mia_attack(MIA_ATTACKS[name])


class FlippedLoss(LossAttack):
    name = "flipped-loss"

    def score(self, s):
        return -super().score(s)  # lower = member


class SortsInPlace(LossAttack):
    name = "sorts-in-place"

    def score(self, s):
        s.target_phi.sort()
        return super().score(s)


class UndeclaredPopulation(LossAttack):
    name = "undeclared-population"  # reads population data without declaring the need

    def score(self, s):
        return super().score(s) - float(np.median(s.pop_target_phi))


class UnguardedPopulation(PopulationAttack):
    name = "unguarded-population"  # no ValueError when the population is missing

    def score(self, s):
        return (s.target_phi[:, None] > s.pop_target_phi[None, :]).mean(1)


class OrderDependent(LossAttack):
    name = "order-dependent"

    def score(self, s):
        return super().score(s) + 1e-3 * np.arange(len(s.target_phi))


class Noisy(LossAttack):
    name = "noisy"

    def score(self, s):
        return super().score(s) + np.random.default_rng().normal(0, 1e-9, len(s.target_phi))


class UnknownNeed(LossAttack):
    name = "unknown-need"
    needs = frozenset({"gpu"})


class ListNeeds(LossAttack):
    name = "list-needs"
    needs = ("population",)  # a tuple, not a set


class ShadowsLoss(PopulationAttack):
    name = "loss"  # a different implementation under a registered name


class Float32(LossAttack):
    name = "float32"

    def score(self, s):
        return super().score(s).astype(np.float32)


class BadDescribe(LossAttack):
    name = "bad-describe"

    def describe(self, s):
        return {"threshold": np.float32(0.5)}


@pytest.mark.parametrize(
    ("toy", "check"),
    [
        (FlippedLoss(), "higher-is-member"),
        (SortsInPlace(), "no-mutation"),
        (UndeclaredPopulation(), "declared-needs"),
        (UnguardedPopulation(), "missing-input"),
        (OrderDependent(), "permutation"),
        (Noisy(), "deterministic"),
        (UnknownNeed(), "needs"),
        (ListNeeds(), "needs"),
        (ShadowsLoss(), "registry"),
        (Float32(), "output"),
        (BadDescribe(), "describe"),
    ],
)
def test_broken_mia_attacks_fail(toy, check):
    fails(check, check_mia_attack, toy)


# --------------------------------------------------------------------------- corruptions


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corruptions_conform(name):
    check_corruption(CORRUPTIONS[name])


def toy_corruption(name, fn, family="noise", clamp=True):
    params = (0.02, 0.04, 0.06, 0.08, 0.12)
    corr = Corruption(name, family, params, f"toy {name}", fn)
    if clamp:
        return corr

    @dataclasses.dataclass(frozen=True)
    class Unclamped(Corruption):
        def apply(self, x, severity, generator=None):
            if not 1 <= severity <= 5:
                raise ValueError(severity)
            return self.fn(x, self.params[severity - 1], generator)

    return Unclamped(name, family, params, f"toy {name}", fn)


class AnySeverity:
    name, family, description = "any-severity", "noise", "accepts severity 6"

    def apply(self, x, severity, generator=None):
        return gaussian(x, 0.01 * severity, generator).clamp(0, 1)


class InPlace(AnySeverity):
    name = "in-place"

    def apply(self, x, severity, generator=None):
        if not 1 <= severity <= 5:
            raise ValueError(severity)
        return x.mul_(0.9)


class Downcasts(InPlace):
    name = "downcasts"

    def apply(self, x, severity, generator=None):
        if not 1 <= severity <= 5:
            raise ValueError(severity)
        return (x.float() * (1 - 0.05 * severity)).clamp(0, 1)


@pytest.mark.parametrize(
    ("toy", "check"),
    [
        (AnySeverity(), "severity-range"),
        (toy_corruption("unclamped", lambda x, p, g: x + 0.5 + p, clamp=False), "range"),
        (InPlace(), "no-mutation"),
        (toy_corruption("global-rng", lambda x, p, g: x + p * torch.randn_like(x)), "deterministic"),
        (toy_corruption("identity", lambda x, p, g: x.clone()), "changes-image"),
        (toy_corruption("milder-at-5", lambda x, p, g: x * (1 - 0.2 / (p * 100))), "severity-order"),
        (toy_corruption("mixes-images", lambda x, p, g: x + p * x.mean(0, keepdim=True)), "batch-vs-single"),
        (Downcasts(), "float64"),
        (toy_corruption("xray", lambda x, p, g: x * (1 - p), family="x-ray"), "family"),
        (toy_corruption("Bad Name", lambda x, p, g: x * (1 - p)), "name"),
    ],
)
def test_broken_corruptions_fail(toy, check):
    fails(check, check_corruption, toy)


# --------------------------------------------------------------------------- adversarial attacks


@pytest.mark.parametrize("name", sorted(ADVERSARIAL_ATTACKS))
def test_adversarial_attacks_conform(name):
    check_adversarial_attack(ADVERSARIAL_ATTACKS[name])


def _sign_grad(model, x, y):
    x = x.detach().clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    (g,) = torch.autograd.grad(loss, x)
    return g.sign()


@dataclasses.dataclass(frozen=True)
class ToyAttack:
    name: str
    norm: str = "linf"
    mode: str = ""

    def perturb(self, model, x, y, eps, steps=1, restarts=1, generator=None):
        if eps == 0:
            return x if self.mode == "same-object" else x.clone()
        if self.mode == "no-op":
            return x.clone()
        if self.mode == "freezes":
            for p in model.parameters():
                p.requires_grad_(False)
        step = 2 * eps if self.mode == "too-far" else eps
        adv = x + step * _sign_grad(model, x, y)
        if self.mode == "global-rng":
            adv = adv + 1e-3 * torch.rand(x.shape)
        if self.mode == "keeps-graph":
            return (x.requires_grad_(True) + (adv - x).clamp(-eps, eps)).clamp(0, 1)
        if self.mode == "no-box":
            return adv
        return adv.clamp(0, 1) if self.mode == "too-far" else adv.clamp(0, 1).clamp(x - eps, x + eps)


@pytest.mark.parametrize(
    ("toy", "check"),
    [
        (ToyAttack("no-op", mode="no-op"), "effective"),
        (ToyAttack("no-box", mode="no-box"), "range"),
        (ToyAttack("too-far", mode="too-far"), "eps-ball"),
        (ToyAttack("global-rng", mode="global-rng"), "deterministic"),
        (ToyAttack("same-object", mode="same-object"), "eps-zero"),
        (ToyAttack("freezes", mode="freezes"), "no-mutation"),
        (ToyAttack("keeps-graph", mode="keeps-graph"), "detached"),
        (ToyAttack("l1", norm="l1"), "norm"),
        (dataclasses.replace(ToyAttack("fgsm"), mode="no-op"), "registry"),
    ],
)
def test_broken_adversarial_attacks_fail(toy, check):
    fails(check, check_adversarial_attack, toy)


def test_fgsm_is_the_registered_fgsm():
    check_adversarial_attack(FGSM())


# --------------------------------------------------------------------------- attribution methods


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_METHODS else n for n in sorted(ATTRIBUTION_METHODS)]
)
def test_attribution_methods_conform(name):
    check_attribution_method(ATTRIBUTION_METHODS[name])


class ToySaliency(Saliency):
    def __init__(self, name, mode):
        self.name, self.mode = name, mode

    def attribute(self, model, x, target):
        if self.mode == "argmax":
            with torch.no_grad():
                target = model(x).argmax(1)
        maps = super().attribute(model, x, target)
        if self.mode == "float64":
            return maps.double()
        if self.mode == "batch-max":
            return maps / maps.abs().max()
        if self.mode == "train-mode":
            model.train()
        if self.mode == "urandom":
            return (
                maps
                + 1e-6
                * torch.from_numpy(
                    np.frombuffer(os.urandom(4 * maps.numel()), np.uint32).reshape(maps.shape) / 2**32
                ).float()
            )
        return maps


@pytest.mark.parametrize(
    ("toy", "check"),
    [
        (ToySaliency("float64", "float64"), "output"),
        (ToySaliency("argmax", "argmax"), "target"),
        (ToySaliency("batch-max", "batch-max"), "batch-vs-single"),
        (ToySaliency("train-mode", "train-mode"), "no-mutation"),
        (ToySaliency("urandom", "urandom"), "deterministic"),
        (ToySaliency("saliency", "float64"), "registry"),
    ],
)
def test_broken_attribution_methods_fail(toy, check):
    fails(check, check_attribution_method, toy)


# --------------------------------------------------------------------------- explanation checks


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_CHECKS else n for n in sorted(EXPLANATION_CHECKS)]
)
def test_explanation_checks_conform(name):
    check_explanation_check(EXPLANATION_CHECKS[name])


@dataclasses.dataclass(frozen=True)
class ToyCheck:
    name: str
    mode: str
    section: str = "stability"

    def run(self, inp, cfg):
        passed, value = True, 0.0
        if self.mode == "numpy-bool":
            passed = np.bool_(True)
        if self.mode == "nan":
            value = float("nan")
        if self.mode == "abs-in-place":
            inp.maps.abs_()
        if self.mode == "random":
            value = float(np.random.default_rng().random())
        return [Verdict(self.name, inp.method.name, value, None, passed, len(inp.x))]


@pytest.mark.parametrize(
    ("toy", "check"),
    [
        (ToyCheck("always-passes", "always-passes"), "rejects-uninformative"),
        (ToyCheck("numpy-bool", "numpy-bool"), "verdicts"),
        (ToyCheck("nan", "nan"), "verdicts"),
        (ToyCheck("abs-in-place", "abs-in-place"), "no-mutation"),
        (ToyCheck("random", "random"), "deterministic"),
        (ToyCheck("no-section", "always-passes", section="no-such-block"), "section"),
    ],
)
def test_broken_explanation_checks_fail(toy, check):
    fails(check, check_explanation_check, toy)


# --------------------------------------------------------------------------- OCR engines


@pytest.fixture(scope="module")
def rapidocr():
    return ENGINES["rapidocr"](1)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ENGINES))
def test_ocr_engines_conform(name, rapidocr):
    check_ocr_engine(rapidocr if name == "rapidocr" else ENGINES[name](1))


class ToyOcr:
    """RapidOCR with one planted defect."""

    def __init__(self, engine, name, mode):
        self.engine, self.name, self.mode = engine, name, mode

    def read_lines(self, img):
        if self.mode == "crops":  # reads the bottom-right 96×360 and forgets the offset
            img = img[-96:, -360:]
        lines = self.engine.read_lines(img)
        if self.mode == "shifted":
            lines = [ln.shifted(8, 0) for ln in lines]
        if self.mode == "drops-box":
            lines = [Line(ln.text, ln.chars[:-1], ln.conf) for ln in lines]
        if self.mode == "hallucinates":
            lines = [*lines, Line("X", ((0, 0, 4, 4),), 50.0)]
        if self.mode == "fraction-conf":
            lines = [Line(ln.text, ln.chars, ln.conf * 100) for ln in lines]
        if self.mode == "draws":
            img[0, 0] = 0
        return lines


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "check"),
    [
        ("shifted", "covers-ink"),
        ("drops-box", "char-boxes"),
        ("hallucinates", "blank"),
        ("crops", "frame-coordinates"),
        ("fraction-conf", "confidence"),
        ("draws", "no-mutation"),
    ],
)
def test_broken_ocr_engines_fail(rapidocr, mode, check):
    fails(check, check_ocr_engine, ToyOcr(rapidocr, mode, mode))


# --------------------------------------------------------------------------- policy checks

DATA_REQUIREMENT = """
name: conformance
version: "1"
requirements:
  - {id: no-patient-overlap, evidence: data, metric: patient_overlap, where: {role: test}, max: 0}
"""


def _example_requirements():
    """One requirement per evidence kind, as the shipped deployment policy states it."""
    examples = {}
    for req in load_policy(ROOT / "policies" / "deployment-default.yaml").requirements:
        examples.setdefault(req.evidence, req)
    for req in parse_policy(DATA_REQUIREMENT, "conformance").requirements:
        examples.setdefault(req.evidence, req)
    return examples


EXAMPLES = _example_requirements()


def test_every_policy_check_has_an_example():
    assert set(CHECKS) <= set(EXAMPLES)


@pytest.mark.parametrize("evidence", sorted(CHECKS))
def test_policy_checks_conform(evidence):
    # no open incidents on record is itself the evidence that passes "max_open"
    check_policy_check(CHECKS[evidence], EXAMPLES[evidence], passes_without_evidence=evidence == "incident")


class ToyPolicyCheck:
    def __init__(self, mode):
        self.mode = mode

    def validate(self, req, fail):
        if self.mode == "fails-validation":
            raise fail("never valid")

    def evaluate(self, req, session, mv):
        if self.mode == "writes":
            from govkit.registry.audit import append_event

            append_event(session, "toy.check", "model_version", "x", {})
        status = {"always-passes": "pass", "ok-status": "ok"}.get(self.mode, "missing")
        return Outcome("other" if self.mode == "wrong-id" else req.id, req.evidence, status, None, None, "toy")


@pytest.mark.parametrize(
    ("mode", "check"),
    [
        ("always-passes", "fail-closed"),
        ("writes", "read-only"),
        ("ok-status", "status"),
        ("wrong-id", "outcome"),
        ("fails-validation", "validate"),
    ],
)
def test_broken_policy_checks_fail(mode, check):
    toy = ToyPolicyCheck(mode)
    req = dataclasses.replace(EXAMPLES["card"], evidence="toy")  # a third-party evidence kind
    fails(check, check_policy_check, toy, req)


def test_registered_check_under_its_kind_only():
    fails("registry", check_policy_check, CHECKS["card"], EXAMPLES["approval"])

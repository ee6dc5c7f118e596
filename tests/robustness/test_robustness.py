"""Common tests over every corruption and attack, exact oracles, masking checks, and the CLI."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from govkit.robustness.attacks import ADVERSARIAL_ATTACKS
from govkit.robustness.corruptions import CORRUPTIONS


def _images(n=8, seed=0):
    """Smooth, realistic-looking images: a disc with texture, values inside (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing="ij")
    disc = torch.exp(-(((yy**2 + xx**2) / 0.5) ** 2))
    tex = torch.nn.functional.interpolate(torch.rand((n, 1, 8, 8), generator=g), size=64, mode="bilinear")
    return (0.2 + 0.5 * disc + 0.1 * tex).clamp(0, 1)


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corruption_contract(name):
    c = CORRUPTIONS[name]
    x = _images()
    outs = [c.apply(x, s, torch.Generator().manual_seed(1)) for s in range(1, 6)]
    for o in outs:
        assert o.shape == x.shape and o.dtype == x.dtype and 0 <= o.min() and o.max() <= 1
    again = c.apply(x, 3, torch.Generator().manual_seed(1))
    assert torch.equal(again, outs[2])  # deterministic for a seeded generator
    dist = [float((o - x).abs().mean()) for o in outs]
    assert dist[0] > 0
    assert all(b >= a * 0.98 for a, b in itertools.pairwise(dist)), dist  # distortion grows with severity
    assert dist[4] > dist[0] * 1.5
    with pytest.raises(ValueError, match=r"severity must be 1\.\.5"):
        c.apply(x, 6)


@pytest.mark.parametrize("severity", [4, 5])
def test_blur_on_tiny_images_at_high_severity(severity):
    """σ = 1.8 and 2.5 on 8×8 images: wider than reflect padding allows; must blur, not crash."""
    flat = torch.full((2, 1, 8, 8), 0.4)
    assert torch.allclose(CORRUPTIONS["blur"].apply(flat, severity), flat, atol=1e-5)  # constant stays constant
    edge = torch.zeros((1, 1, 8, 8))
    edge[..., 4:] = 1.0
    out = CORRUPTIONS["blur"].apply(edge, severity)
    assert out.shape == edge.shape and float(out[..., 3].mean()) > 0.05 and float(out[..., 4].mean()) < 0.95


def test_unnormalised_mce_averages_severities_within_each_corruption_first():
    from govkit.robustness.suite import corruption_metrics

    n = 10
    clean = np.ones(n, bool)
    corrupted = {
        ("a", 1): np.arange(n) < 5,  # error 0.5 at one severity
        ("b", 1): np.ones(n, bool),
        ("b", 2): np.arange(n) < 8,
    }  # errors 0 and 0.2
    by = {(m.name, tuple(sorted(m.params.items()))): m for m in corruption_metrics(clean, corrupted, n_boot=200)}
    assert by[("mean_corruption_error_unnormalised", ())].value == pytest.approx((0.5 + 0.1) / 2)  # pooled: 0.233
    assert by[("corruption_error", (("corruption", "b"),))].value == pytest.approx(0.1)
    assert by[("accuracy_drop", (("corruption", "a"),))].value == pytest.approx(0.5)
    assert all(m.ci_low is not None and m.ci_low <= m.value <= m.ci_high for m in by.values())


def test_registries_follow_their_protocols():
    from govkit.robustness.attacks import AdversarialAttack
    from govkit.robustness.corruptions import ImageCorruption

    assert all(isinstance(c, ImageCorruption) and c.name == k for k, c in CORRUPTIONS.items())
    assert all(isinstance(a, AdversarialAttack) and a.name == k for k, a in ADVERSARIAL_ATTACKS.items())
    assert ADVERSARIAL_ATTACKS["apgd-margin"].loss == "margin" and ADVERSARIAL_ATTACKS["apgd-ce"].loss == "ce"


def test_poisson_variance_follows_the_mean():
    photons = CORRUPTIONS["poisson"].params[2]
    g = torch.Generator().manual_seed(0)
    for level in (0.2, 0.6):
        x = torch.full((64, 1, 32, 32), level)
        noisy = CORRUPTIONS["poisson"].apply(x, 3, g)
        assert float(noisy.mean()) == pytest.approx(level, rel=0.02)
        assert float(noisy.var()) == pytest.approx(level / photons, rel=0.05)


def test_gaussian_and_rician_statistics():
    g = torch.Generator().manual_seed(0)
    x = torch.full((64, 1, 32, 32), 0.5)
    sigma = CORRUPTIONS["gaussian"].params[1]
    assert float((CORRUPTIONS["gaussian"].apply(x, 2, g) - x).std()) == pytest.approx(sigma, rel=0.03)
    dark = torch.zeros((64, 1, 32, 32))
    s = CORRUPTIONS["rician"].params[4]
    # magnitude of pure noise is Rayleigh: mean σ·sqrt(π/2)
    assert float(CORRUPTIONS["rician"].apply(dark, 5, g).mean()) == pytest.approx(s * np.sqrt(np.pi / 2), rel=0.03)


class Linear(torch.nn.Module):
    """Two logits [0, w·x + b]: the exact minimal flip is |f(x)|/‖w‖₁ (L∞) or /‖w‖₂ (L2)."""

    def __init__(self, w, b=0.0):
        super().__init__()
        self.w, self.b = w, b

    def forward(self, x):
        f = (x * self.w).flatten(1).sum(1) + self.b
        return torch.stack([torch.zeros_like(f), f], 1)


@pytest.fixture
def linear_case():
    torch.manual_seed(0)
    w = torch.randn(1, 1, 8, 8)
    x = torch.rand(400, 1, 8, 8) * 0.5 + 0.25  # interior: the box never binds at these ε
    f = (x * w).flatten(1).sum(1)
    return Linear(w), x, (f > 0).long(), f.abs()


@pytest.mark.parametrize("name", sorted(ADVERSARIAL_ATTACKS))
@pytest.mark.parametrize("eps", [0.0, 0.004, 0.01, 0.02])
def test_attack_matches_exact_oracle_on_linear_model(linear_case, name, eps):
    model, x, y, margin = linear_case
    attack = ADVERSARIAL_ATTACKS[name]
    if attack.norm == "l2":
        eps *= 8
    adv = attack.perturb(model, x, y, eps, steps=20, restarts=1, generator=torch.Generator().manual_seed(0))
    delta = adv - x
    bound = delta.abs().flatten(1).amax(1) if attack.norm == "linf" else delta.flatten(1).norm(dim=1)
    assert (bound <= eps + 1e-5).all() and adv.min() >= 0 and adv.max() <= 1
    norm = model.w.abs().sum() if attack.norm == "linf" else model.w.norm()
    exact = float((margin / norm > eps).float().mean())
    robust = float((model(adv).argmax(1) == y).float().mean())
    assert robust == pytest.approx(exact, abs=1 / len(x))
    if eps == 0:
        assert torch.equal(adv, x)


@pytest.fixture(scope="module")
def cnn_case(lesion_spec, lesion_data):
    from govkit.models.datasets import open_dataset
    from govkit.models.loading import load_model
    from govkit.models.spec import load_spec

    model = load_model(load_spec(lesion_spec))
    data = open_dataset(lesion_data["test"])
    idx = np.arange(96)
    return model, torch.from_numpy(data.images(idx)), torch.from_numpy(data.labels[idx])


def _robust(model, attack, x, y, eps):
    adv = attack.perturb(model, x, y, eps, steps=10, restarts=1, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return float((model(adv).argmax(1) == y).float().mean())


@pytest.mark.slow
def test_pgd_at_least_as_strong_as_fgsm_and_monotone(cnn_case):
    model, x, y = cnn_case
    with torch.no_grad():
        clean = float((model(x).argmax(1) == y).float().mean())
    grid = [0.0, 0.004, 0.008, 0.016, 0.03]
    pgd = [_robust(model, ADVERSARIAL_ATTACKS["pgd-linf"], x, y, e) for e in grid]
    fgsm = [_robust(model, ADVERSARIAL_ATTACKS["fgsm"], x, y, e) for e in grid]
    assert pgd[0] == fgsm[0] == pytest.approx(clean)
    assert all(p <= f + 1 / len(x) for p, f in zip(pgd, fgsm, strict=False))
    assert all(b <= a + 1 / len(x) for a, b in itertools.pairwise(pgd))
    assert pgd[-1] < clean


class Noisy(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x + 0.05 * torch.randn_like(x))


class Quantised(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(torch.round(x * 8) / 8)  # zero gradient almost everywhere


def test_masking_warnings(cnn_case):
    from govkit.robustness.suite import _masking_pre_checks

    model, x, y = cnn_case
    assert _masking_pre_checks(model, x, y) == []
    assert any("random" in w for w in _masking_pre_checks(Noisy(model), x, y))
    assert any("zero" in w for w in _masking_pre_checks(Quantised(model), x, y))


@pytest.mark.slow
def test_cli_run_records_and_reports(cli, registry, lesion_spec, lesion_data, tmp_path):
    db = registry.url
    assert cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", lesion_spec).code == 0
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: tiny\ncorruptions: {gaussian: [1, 5], gibbs: [3]}\nattacks: [pgd-linf]\n"
        "eps: [0.0039, 0.0157]\nsteps: 5\nattack_samples: 64\n"
    )
    res = cli(
        "--db",
        db,
        "robustness",
        "run",
        "lesion-cnn@1.0",
        "--data",
        lesion_data["test"],
        "--suite",
        suite,
        "--device",
        "cpu",
        "--json",
    )
    assert res.code == 0, res.err
    out = res.json()
    assert {"clean_accuracy", "corruptions", "adversarial", "warnings"} <= set(out)
    assert [(c["name"], c["severity"]) for c in out["corruptions"]] == [("gaussian", 1), ("gaussian", 5), ("gibbs", 3)]
    assert [a["eps"] for a in out["adversarial"]] == [0.0, 0.0039, 0.0157]
    assert out["adversarial"][0]["accuracy"] >= out["adversarial"][-1]["accuracy"]
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "name: p\nversion: 1\nrequirements:\n"
        "  - {id: pgd, evidence: robustness, metric: accuracy, where: {attack: pgd-linf, eps: 0.0039},"
        " min: 0.5}\n"
        "  - {id: noise, evidence: robustness, metric: accuracy_drop, where: {corruption: gaussian},"
        " max: 0.5}\n"
    )
    check = cli("--db", db, "policy", "check", "lesion-cnn@1.0", "--policy", policy, "--json").json()
    assert [r["status"] for r in check["requirements"]] == ["pass", "pass"]
    explicit = cli(
        "--db",
        db,
        "robustness",
        "run",
        "lesion-cnn@1.0",
        "--data",
        lesion_data["test"],
        "--device",
        "cpu",
        "--corruption",
        "speckle:2",
        "--json",
    ).json()
    # recomputed here: the same seeded generator over the same batches of 128
    from govkit.models.loading import load_model
    from govkit.models.spec import load_spec

    model, d = load_model(load_spec(lesion_spec)), np.load(lesion_data["test"])
    gen, right = torch.Generator().manual_seed(0), 0
    with torch.no_grad():
        for i in range(0, len(d["y"]), 128):
            x = torch.from_numpy(d["x"][i : i + 128])
            right += int(
                (model(CORRUPTIONS["speckle"].apply(x, 2, gen)).argmax(1).numpy() == d["y"][i : i + 128]).sum()
            )
    assert explicit["corruptions"] == [{"name": "speckle", "severity": 2, "accuracy": right / len(d["y"])}]
    assert explicit["adversarial"] == []
    drop = next(m for m in explicit["metrics"] if m["name"] == "accuracy_drop")
    assert drop["ci_low"] <= drop["value"] <= drop["ci_high"]
    assert (
        cli(
            "--db",
            db,
            "robustness",
            "run",
            "lesion-cnn@1.0",
            "--data",
            lesion_data["test"],
            "--corruption",
            "lens-flare",
        ).code
        == 2
    )
    assert (
        cli("--db", db, "robustness", "run", "lesion-cnn@1.0", "--data", lesion_data["test"], "--eps", "a,b").code == 2
    )

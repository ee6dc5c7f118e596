"""Attribution methods (common contract), their tests, shortcut detection, and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from govkit.explain import checks
from govkit.explain.methods import ATTRIBUTION_METHODS
from govkit.explain.run import thresholds


@pytest.fixture(scope="module")
def model_and_images(lesion_spec, lesion_data):
    from govkit.models.datasets import open_dataset
    from govkit.models.loading import load_model
    from govkit.models.spec import load_spec

    model = load_model(load_spec(lesion_spec))
    data = open_dataset(lesion_data["test"])
    idx = np.arange(60)
    return model, torch.from_numpy(data.images(idx)), torch.from_numpy(data.labels[idx]), data.masks(idx)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ATTRIBUTION_METHODS))
def test_method_contract(model_and_images, name):
    model, x, y, _ = model_and_images
    maps = ATTRIBUTION_METHODS[name].attribute(model, x[:3], y[:3])
    assert maps.shape == (3, 64, 64) and maps.dtype == torch.float32 and torch.isfinite(maps).all()
    assert maps.abs().sum() > 0
    again = ATTRIBUTION_METHODS[name].attribute(model, x[:3], y[:3])
    if name not in ("gradient-shap", "kernel-shap", "lime"):  # sampling methods vary by design
        assert torch.allclose(maps, again, atol=1e-5)


def test_spearman_average_ranks_and_global_ssim():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a, b = torch.from_numpy(rng.random((3, 100))), torch.from_numpy(rng.random((3, 100)))
    got = checks.spearman(a, b)
    assert got.tolist() == pytest.approx([spearmanr(a[i], b[i]).statistic for i in range(3)], abs=1e-9)
    assert checks.global_ssim(a, a).tolist() == pytest.approx([1.0] * 3)
    # unrelated maps that are 70 % zeros: with average ranks the correlation is near 0 (ordinal ranks gave 0.1-0.2)
    sparse = [torch.from_numpy(np.where(rng.random((200, 400)) < 0.7, 0.0, rng.random((200, 400)))) for _ in range(2)]
    rho = checks.spearman(*sparse)
    assert abs(float(rho.mean())) < 0.02
    assert rho[:5].tolist() == pytest.approx([spearmanr(sparse[0][i], sparse[1][i]).statistic for i in range(5)])
    # a constant map has no ranking: NaN, never 1
    zeros = torch.zeros((2, 50))
    assert torch.isnan(checks.spearman(zeros, zeros)).all()


class _Fixed:
    """A fake method whose maps are ``base`` for the trained model and ``other`` for any changed weights."""

    name = "fixed"

    def __init__(self, model, base, other):
        self.model, self.base, self.other = model, base, other

    def attribute(self, model, x, target):
        return self.base if model is self.model else self.other


def test_randomisation_needs_both_low_rank_correlation_and_low_ssim():
    """Rank correlation low (0.3) but the maps' structure identical (SSIM ≈ 1): must fail; and a
    constant map fails with an explanation instead of scoring 1."""
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    rng = np.random.default_rng(1)
    blob = (np.arange(400) < 40).astype(float)  # 10 % of pixels
    base = torch.from_numpy(np.stack([blob + 1e-6 * rng.random(400) for _ in range(8)])).float()
    other = torch.from_numpy(np.stack([blob + 1e-6 * rng.random(400) for _ in range(8)])).float()
    cfg = {"max_spearman": 0.5, "max_ssim": 0.5}
    x, y = torch.zeros(8, 1, 4, 4), torch.zeros(8, dtype=torch.long)
    v = checks.randomisation(_Fixed(model, base, other), model, x, y, base, cfg)
    assert v.value < 0.5 and "SSIM 1.0" in v.detail and not v.passed
    flat = torch.zeros(8, 400)
    c = checks.randomisation(_Fixed(model, flat, flat), model, x, y, flat, cfg)
    assert not c.passed and c.value is None and "constant" in c.detail


def test_reinitialised_leaves_the_global_rng_alone():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    clone = checks.reinitialised(model)
    assert torch.equal(torch.rand(3), expected)
    assert not torch.equal(clone[0].weight, model[0].weight) and not torch.equal(clone[2].weight, model[2].weight)
    top = checks.reinitialised(model, top=1)
    assert torch.equal(top[0].weight, model[0].weight) and not torch.equal(top[2].weight, model[2].weight)


@pytest.mark.slow
def test_cascading_randomisation_and_faithfulness_baselines(model_and_images):
    """Saliency passes the cascade; the image used as its own map (weights-blind) fails both the cascade
    and faithfulness against the image-intensity baseline."""
    model, x, y, _ = model_and_images
    cfg = thresholds()
    sal = ATTRIBUTION_METHODS["saliency"]
    assert checks.cascading_randomisation(sal, model, x, y, sal.attribute(model, x, y), cfg["randomisation"]).passed

    class InputOnly:
        name = "input"

        def attribute(self, model, x, target):
            return x.sum(1)

    maps = InputOnly().attribute(model, x, y)
    assert not checks.cascading_randomisation(InputOnly(), model, x, y, maps, cfg["randomisation"]).passed
    deletion, insertion = checks.faithfulness(InputOnly(), model, x, y, maps, cfg["faithfulness"])
    assert not deletion.passed and not insertion.passed and "image intensity p=1" in deletion.detail


@pytest.mark.slow
def test_localisation_verdict_false_positive_rate_under_the_null():
    """Maps that hit the lesion at exactly the 0.5 boundary, or only at chance, must pass ≤ 7 % of the time;
    a map with 80 % hits passes almost always."""
    cfg = thresholds()["localisation"]
    rng = np.random.default_rng(0)
    k, chance, sims = 60, 0.03, 4000
    for rate, mass, expect_max, expect_min in (
        (0.5, 0.5, 0.07, 0.0),
        (chance, chance, 0.07, 0.0),
        (0.8, 0.5, 1.0, 0.95),
    ):
        hits = rng.binomial(k, rate, sims)
        ok, _, _ = checks.localisation_decision(hits, np.full(sims, k), np.full(sims, chance), np.full(sims, mass), cfg)
        assert expect_min <= ok.mean() <= expect_max, (rate, ok.mean())


@pytest.mark.slow
def test_randomisation_faithfulness_and_stability_pass_for_a_trained_model(model_and_images):
    model, x, y, _masks = model_and_images
    cfg = thresholds()
    ig = ATTRIBUTION_METHODS["integrated-gradients"]
    maps = ig.attribute(model, x, y)
    assert checks.randomisation(ig, model, x, y, maps, cfg["randomisation"]).passed
    deletion, insertion = checks.faithfulness(ig, model, x, y, maps, cfg["faithfulness"])
    assert deletion.passed and insertion.passed and deletion.value < deletion.baseline
    assert checks.stability(ig, model, x, y, maps, cfg["stability"]).passed
    few = checks.faithfulness(ig, model, x[:10], y[:10], maps[:10], cfg["faithfulness"])
    assert not few[0].passed and "50 images" in few[0].detail


def test_randomisation_fails_for_a_method_blind_to_the_weights(model_and_images):
    model, x, y, _ = model_and_images

    class InputOnly:  # "explains" with the image itself: identical for any weights
        name = "input"

        def attribute(self, model, x, target):
            return x.sum(1)

    v = checks.randomisation(
        InputOnly(), model, x, y, InputOnly().attribute(model, x, y), thresholds()["randomisation"]
    )
    assert not v.passed and v.value > 0.99


@pytest.mark.slow
def test_localisation_needs_most_maxima_on_the_lesion(lesion_spec, shortcut_spec, lesion_data):
    """On images without the site marker the clean model's Grad-CAM points at the lesion and passes.  On
    held-out images carrying the marker, both models' maxima fall mostly on the marker: the clean model
    still beats chance (8 of 58 hits vs 3 %), which is not localisation, so both fail."""
    from govkit.models.datasets import open_dataset
    from govkit.models.loading import load_model
    from govkit.models.spec import load_spec

    cfg = thresholds()["localisation"]
    cam = ATTRIBUTION_METHODS["grad-cam"]
    verdicts = {}
    for part in ("test", "test_shortcut"):
        data = open_dataset(lesion_data[part])
        idx = np.arange(120)
        x, y, masks = torch.from_numpy(data.images(idx)), torch.from_numpy(data.labels[idx]), data.masks(idx)
        for name, spec in (("clean", lesion_spec), ("shortcut", shortcut_spec)):
            model = load_model(load_spec(spec))
            verdicts[name, part] = checks.localisation(cam, model, x, y, cam.attribute(model, x, y), cfg, masks)
    assert verdicts["clean", "test"].passed, verdicts["clean", "test"].detail
    assert not verdicts["shortcut", "test_shortcut"].passed, verdicts["shortcut", "test_shortcut"].detail
    marker = verdicts["clean", "test_shortcut"]
    assert not marker.passed and marker.value < 0.5, marker.detail
    assert verdicts["clean", "test_shortcut"].value > verdicts["shortcut", "test_shortcut"].value


@pytest.mark.slow
def test_cli_run_records_verdicts_and_overlays(cli, registry, lesion_spec, lesion_data, tmp_path):

    db = registry.url
    assert cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", lesion_spec).code == 0
    res = cli(
        "--db",
        db,
        "explain",
        "run",
        "lesion-cnn@1.0",
        "--data",
        lesion_data["test"],
        "--methods",
        "grad-cam,saliency",
        "--tests",
        "localisation,randomisation",
        "--samples",
        "60",
        "--device",
        "cpu",
        "--out",
        tmp_path / "ov",
        "--json",
    )
    assert res.code == 0, res.err
    out = res.json()
    assert {(t["test"], t["method"]) for t in out["checks"]} == {
        ("localisation", "grad-cam"),
        ("randomisation", "grad-cam"),
        ("localisation", "saliency"),
        ("randomisation", "saliency"),
    }
    assert all(set(t) >= {"test", "method", "value", "baseline", "passed"} for t in out["checks"])
    assert len(out["overlays"]) == 6 and out["notes"]
    png = tmp_path / "ov" / "grad-cam-overlay.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(png) as im:
        assert np.asarray(im.convert("L")).std() > 10  # not blank
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "name: p\nversion: 1\nrequirements:\n"
        "  - {id: loc, evidence: explainability, metric: passed, where: {test: localisation, "
        "method: grad-cam}, min: 1}\n"
    )
    check = cli("--db", db, "policy", "check", "lesion-cnn@1.0", "--policy", policy, "--json").json()
    assert check["requirements"][0]["status"] == "pass"
    assert (
        cli("--db", db, "explain", "run", "lesion-cnn@1.0", "--data", lesion_data["test"], "--methods", "magic").code
        == 2
    )

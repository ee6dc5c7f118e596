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


def _tiny_linear(seed: int = 0, weight_scale: float = 1.0) -> torch.nn.Module:
    """A 2-class linear model on 1×16×16 images, weights from ``seed`` (the global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 2))
    with torch.no_grad():
        model[1].weight.mul_(weight_scale)
    return model.eval()


class _NoiseMap:
    """A pure-noise "attribution method": fresh uniform noise for every call, whatever the input."""

    name = "noise"

    def __init__(self, seed: int):
        self.gen = torch.Generator().manual_seed(seed)

    def attribute(self, model, x, target):
        return torch.rand((len(x), *x.shape[-2:]), generator=self.gen)


class _Smooth:
    """A deterministic map that varies smoothly with the input: stable under small noise."""

    name = "smooth"

    def attribute(self, model, x, target):
        return x.sum(1) + 0.5


@pytest.mark.slow
def test_stability_default_threshold_fails_noise_and_passes_a_stable_map():
    """Null simulation with a known answer: a map of fresh uniform noise changes by ≈ 0.71 of its norm
    under any input noise, so it must fail stability in (almost) every run; a deterministic map that
    follows the input smoothly must pass."""
    cfg = thresholds()["stability"]
    model = _tiny_linear(weight_scale=0.0)  # constant prediction: every noisy copy keeps its class
    x = torch.rand((6, 1, 16, 16), generator=torch.Generator().manual_seed(0))
    y = model(x).argmax(1)
    sims = 40
    passed, values = 0, []
    for s in range(sims):
        method = _NoiseMap(s)
        v = checks.stability(method, model, x, y, method.attribute(model, x, y), cfg)
        passed += v.passed
        values.append(v.value)
    assert passed / sims <= 0.01, (passed, cfg["max_sensitivity"])
    assert 0.7 < np.mean(values) < 0.8  # sqrt(1/2) per copy, the maximum over the noisy copies
    smooth = _Smooth()
    v = checks.stability(smooth, model, x, y, smooth.attribute(model, x, y), cfg)
    assert v.passed and v.value < 0.1, v.detail


@pytest.mark.slow
def test_lime_all_zero_maps_fail_their_checks_with_an_explanation():
    """LIME on a model whose logits do not move returns all-zero maps: stability and randomisation must fail,
    saying the attribution map is constant, instead of passing (a zero map used to have sensitivity 0)."""
    model = _tiny_linear(weight_scale=0.0)
    x = torch.rand((3, 1, 16, 16), generator=torch.Generator().manual_seed(1))
    y = model(x).argmax(1)
    lime = ATTRIBUTION_METHODS["lime"]
    maps = lime.attribute(model, x, y)
    assert not maps.any()
    cfg = thresholds()
    st = checks.stability(lime, model, x, y, maps, cfg["stability"])
    assert not st.passed and st.value is None and "attribution map is constant" in st.detail
    rnd = checks.randomisation(lime, model, x, y, maps, cfg["randomisation"])
    assert not rnd.passed and "constant" in rnd.detail


class _TinyData:
    """Just enough of a dataset for ``run_explain``: 6 random 1×16×16 images, no masks."""

    has_masks = False

    def __init__(self):
        rng = np.random.default_rng(3)
        self._x = rng.random((6, 1, 16, 16), dtype=np.float32)
        self.labels = np.array([0, 1, 0, 1, 0, 1])

    def __len__(self):
        return len(self._x)

    def images(self, idx):
        return self._x[idx]


def _first(store: dict, key: str, value):
    store.setdefault(key, value)
    return value


@pytest.mark.slow
def test_sampling_methods_reproduce_from_the_run_seed():
    """GradientShap, KernelShap and LIME draw from generators seeded by the run's seed: the same seed gives
    identical maps and verdicts (whatever state the caller left the global generators in), another differs."""
    from govkit.explain.run import run_explain

    model, data = _tiny_linear(seed=5), _TinyData()
    methods = ("gradient-shap", "kernel-shap", "lime")
    cfg = {**thresholds(), "stability": {"radius": 0.02, "n_samples": 2, "max_sensitivity": 0.5}}

    def run(seed, noise):
        torch.manual_seed(noise)
        np.random.seed(noise)
        maps = {}
        original = {m: ATTRIBUTION_METHODS[m].attribute for m in methods}
        for m in methods:  # record the maps the run computes (the first call per method is the run's maps)
            ATTRIBUTION_METHODS[m].attribute = lambda *a, _m=m: _first(maps, _m, original[_m](*a))
        try:
            out = run_explain(model, data, methods=methods, checks=("stability",), samples=6, seed=seed, cfg=cfg)
        finally:
            for m in methods:
                del ATTRIBUTION_METHODS[m].attribute
        return maps, out["checks"]

    maps_a, verdicts_a = run(7, noise=1)
    maps_b, verdicts_b = run(7, noise=2)
    maps_c, _ = run(8, noise=1)
    assert verdicts_a == verdicts_b
    for m in methods:
        assert maps_a[m].abs().sum() > 0, m
        assert torch.equal(maps_a[m], maps_b[m]), m
        assert not torch.equal(maps_a[m], maps_c[m]), m

"""Attribution methods (common contract), their tests, shortcut detection, and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from govkit.explain import checks
from govkit.explain.methods import METHODS
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


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_contract(model_and_images, name):
    model, x, y, _ = model_and_images
    maps = METHODS[name].attribute(model, x[:3], y[:3])
    assert maps.shape == (3, 64, 64) and maps.dtype == torch.float32 and torch.isfinite(maps).all()
    assert maps.abs().sum() > 0
    again = METHODS[name].attribute(model, x[:3], y[:3])
    if name not in ("gradient-shap", "kernel-shap", "lime"):  # sampling methods vary by design
        assert torch.allclose(maps, again, atol=1e-5)


def test_spearman_and_ssim():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a, b = torch.from_numpy(rng.random((3, 100))), torch.from_numpy(rng.random((3, 100)))
    got = checks.spearman(a, b)
    assert got.tolist() == pytest.approx([spearmanr(a[i], b[i]).statistic for i in range(3)], abs=1e-9)
    assert checks.ssim(a, a).tolist() == pytest.approx([1.0] * 3)


def test_randomisation_faithfulness_and_stability_pass_for_a_trained_model(model_and_images):
    model, x, y, masks = model_and_images
    cfg = thresholds()
    ig = METHODS["integrated-gradients"]
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

    v = checks.randomisation(InputOnly(), model, x, y, InputOnly().attribute(model, x, y),
                             thresholds()["randomisation"])
    assert not v.passed and v.value > 0.99


def test_shortcut_model_fails_localisation_and_clean_model_passes(lesion_spec, shortcut_spec, lesion_data):
    """On held-out images carrying the site marker, Grad-CAM of the shortcut model points at the marker."""
    from govkit.models.datasets import open_dataset
    from govkit.models.loading import load_model
    from govkit.models.spec import load_spec

    data = open_dataset(lesion_data["test_shortcut"])
    cfg = thresholds()["localisation"]
    idx = np.arange(120)
    x, y, masks = torch.from_numpy(data.images(idx)), torch.from_numpy(data.labels[idx]), data.masks(idx)
    verdicts = {}
    for name, spec in (("clean", lesion_spec), ("shortcut", shortcut_spec)):
        model = load_model(load_spec(spec))
        cam = METHODS["grad-cam"]
        verdicts[name] = checks.localisation(cam, model, x, y, cam.attribute(model, x, y), cfg, masks)
    assert verdicts["clean"].passed, verdicts["clean"].detail
    assert not verdicts["shortcut"].passed, verdicts["shortcut"].detail
    assert verdicts["clean"].value > verdicts["shortcut"].value


def test_cli_run_records_verdicts_and_overlays(cli, registry, lesion_spec, lesion_data, tmp_path):

    db = registry.url
    assert cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", lesion_spec).code == 0
    res = cli("--db", db, "explain", "run", "lesion-cnn@1.0", "--data", lesion_data["test"], "--methods",
              "grad-cam,saliency", "--tests", "localisation,randomisation", "--samples", "60", "--device", "cpu",
              "--out", tmp_path / "ov", "--json")
    assert res.code == 0, res.err
    out = res.json()
    assert {(t["test"], t["method"]) for t in out["tests"]} == {
        ("localisation", "grad-cam"), ("randomisation", "grad-cam"),
        ("localisation", "saliency"), ("randomisation", "saliency")}
    assert all(set(t) >= {"test", "method", "value", "baseline", "passed"} for t in out["tests"])
    assert len(out["overlays"]) == 6 and out["notes"]
    png = tmp_path / "ov" / "grad-cam-overlay.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(png) as im:
        assert np.asarray(im.convert("L")).std() > 10  # not blank
    policy = tmp_path / "p.yaml"
    policy.write_text("name: p\nversion: 1\nrequirements:\n"
                      "  - {id: loc, evidence: explainability, metric: passed, where: {test: localisation, "
                      "method: grad-cam}, min: 1}\n")
    check = cli("--db", db, "policy", "check", "lesion-cnn@1.0", "--policy", policy, "--json").json()
    assert check["requirements"][0]["status"] == "pass"
    assert cli("--db", db, "explain", "run", "lesion-cnn@1.0", "--data", lesion_data["test"],
               "--methods", "magic").code == 2

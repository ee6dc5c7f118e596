"""``govkit eval compare``: paired differences with CIs and paired tests, on simulations with known answers."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from govkit.evaluate.compare import bootstrap_p, compare_predictions, mcnemar_exact


def _probs(score: np.ndarray) -> np.ndarray:
    p = 1 / (1 + np.exp(-score))
    return np.c_[1 - p, p]


def _task(n: int, seed: int, signal: float = 1.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return rng, y, rng.normal(y * signal - signal / 2, 1)


def _rows(out: dict) -> dict[str, dict]:
    return {r["metric"]: r for r in out["comparisons"]}


def test_identical_models_every_difference_ci_contains_zero():
    _, y, s = _task(400, 0)
    rows = _rows(compare_predictions(_probs(s), _probs(s), y, n_boot=200))
    assert set(rows) == {"accuracy", "auroc", "sensitivity", "specificity", "ppv", "npv", "ece"}
    for r in rows.values():
        assert r["difference"] == 0 and r["ci_low"] <= 0 <= r["ci_high"] and r["better"] is None
        assert r["p_value"] == 1.0 and r["status"] == "ok" and r["n"] >= 30
    assert rows["accuracy"]["test"] == "mcnemar-exact" and rows["auroc"]["test"] == "paired-bootstrap"


def test_degraded_copy_is_found_worse_in_the_right_direction():
    rng, y, s = _task(400, 1)
    good, bad = _probs(s), _probs(s + rng.normal(0, 2.5, len(y)))  # the same model with noise on its score
    rows = _rows(compare_predictions(good, bad, y, n_boot=300))
    for m in ("accuracy", "auroc"):
        assert rows[m]["ci_high"] < 0 and rows[m]["p_value"] < 0.05 and rows[m]["better"] == "A", rows[m]
    assert rows["ece"]["ci_low"] > 0 and rows["ece"]["better"] == "A"  # ECE: lower is better
    assert rows["accuracy"]["only_a_correct"] > rows["accuracy"]["only_b_correct"]
    swapped = _rows(compare_predictions(bad, good, y, n_boot=300))
    assert swapped["auroc"]["ci_low"] > 0 and swapped["auroc"]["better"] == "B"
    assert swapped["auroc"]["difference"] == pytest.approx(-rows["auroc"]["difference"])


def test_both_models_see_the_same_resamples():
    """The paired CI is narrower than unpaired CIs would allow when the models' errors are correlated."""
    rng, y, s = _task(400, 2)
    out = _rows(compare_predictions(_probs(s), _probs(s + rng.normal(0, 0.3, len(y))), y, n_boot=300))["auroc"]
    width_a, width_b = out["a_ci"][1] - out["a_ci"][0], out["b_ci"][1] - out["b_ci"][0]
    assert out["ci_high"] - out["ci_low"] < 0.5 * min(width_a, width_b)


@pytest.mark.slow
def test_two_equally_good_models_difference_ci_covers_zero():
    """Different models of the same quality: the 95% CI of B − A holds 0 about 95% of the time."""
    covered = {"accuracy": 0, "auroc": 0}
    sims = 40
    for seed in range(sims):
        rng, y, s = _task(300, 100 + seed)
        a, b = s + rng.normal(0, 1, len(y)), s + rng.normal(0, 1, len(y))
        rows = _rows(compare_predictions(_probs(a), _probs(b), y, n_boot=200, seed=seed))
        for m in covered:
            covered[m] += rows[m]["ci_low"] <= 0 <= rows[m]["ci_high"]
    assert all(c >= 0.85 * sims for c in covered.values()), covered


def test_patients_are_resampled_and_mcnemar_is_not_used_on_clustered_cases():
    rng, y, s = _task(400, 3)
    pid = np.repeat(np.arange(200), 2)
    out = compare_predictions(_probs(s), _probs(s + rng.normal(0, 2.5, len(y))), y, patient_id=pid, n_boot=200)
    assert out["resampled"] == "patients" and out["patients"] == 200
    acc = _rows(out)["accuracy"]
    assert acc["test"] == "paired-bootstrap" and "independent" in acc["test_note"]
    assert acc["ci_high"] < 0 and acc["p_value"] < 0.05


def test_small_samples_are_unsupported_with_a_reason():
    rng = np.random.default_rng(4)
    y = np.r_[np.ones(12, int), np.zeros(60, int)]
    s = rng.normal(y * 1.5, 1)
    rows = _rows(compare_predictions(_probs(s), _probs(s + 0.1), y, n_boot=200))
    assert rows["sensitivity"]["status"] == "unsupported" and "12 cases" in rows["sensitivity"]["reason"]
    assert rows["auroc"]["status"] == "unsupported" and rows["auroc"]["better"] is None
    assert rows["specificity"]["status"] == "ok"


def test_mcnemar_and_bootstrap_p_by_hand():
    a = np.array([True] * 10 + [False] * 2 + [True] * 5)
    b = np.array([False] * 10 + [True] * 2 + [True] * 5)
    t = mcnemar_exact(a, b)
    assert (t["only_a_correct"], t["only_b_correct"]) == (10, 2)
    assert t["p_value"] == pytest.approx(0.0385742, abs=1e-6)  # 2 * P(Bin(12, 1/2) <= 2)
    assert bootstrap_p([1.0] * 99) == pytest.approx(2 / 100)
    assert bootstrap_p([-1.0, 1.0] * 50) == 1.0 and bootstrap_p([1.0] * 5) is None


# --------------------------------------------------------------------------- the CLI, on real registered models


def _degraded_copy(spec, tmp_path, version: str, noise: float):
    import torch

    folder = tmp_path / f"model-{version}"
    shutil.copytree(spec.parent, folder)
    state = torch.load(folder / "weights.pt", weights_only=True)
    gen = torch.Generator().manual_seed(0)
    state = {
        k: v + noise * v.std() * torch.randn(v.shape, generator=gen) if v.is_floating_point() and v.numel() > 1 else v
        for k, v in state.items()
    }
    torch.save(state, folder / "weights.pt")
    doc = yaml.safe_load((folder / "model.yaml").read_text())
    doc["version"] = version
    (folder / "model.yaml").write_text(yaml.safe_dump(doc))
    return folder / "model.yaml"


@pytest.mark.slow
def test_cli_compare_identical_and_degraded(cli, registry, lesion_spec, lesion_data, tmp_path):
    db = registry.url
    same = _degraded_copy(lesion_spec, tmp_path, "1.1", 0.0)
    worse = _degraded_copy(lesion_spec, tmp_path, "2.0-degraded", 1.5)
    for version, spec in (("1.0", lesion_spec), ("1.1", same), ("2.0-degraded", worse)):
        res = cli("--db", db, "model", "register", "lesion-cnn", "--version", version, "--spec", spec)
        assert res.code == 0, res.err
    args = ("--data", lesion_data["test"], "--device", "cpu", "--bootstrap", "200", "--json")
    res = cli("--db", db, "eval", "compare", "lesion-cnn@1.0", "lesion-cnn@1.1", *args)
    assert res.code == 0, res.err
    body = res.json()
    assert body["n"] == 300 and body["resampled"] == "patients" and body["recorded"] is False
    assert all(r["difference"] == 0 and r["ci_low"] <= 0 <= r["ci_high"] for r in body["comparisons"])
    res = cli("--db", db, "eval", "compare", "lesion-cnn@1.0", "lesion-cnn@2", *args)  # B by prefix
    assert res.code == 0, res.err
    body = res.json()
    assert body["b"] == "lesion-cnn@2.0-degraded"
    auroc = _rows(body)["auroc"]
    assert auroc["ci_high"] < 0 and auroc["better"] == "A", auroc
    human = cli("--db", db, "eval", "compare", "lesion-cnn@1.0", "lesion-cnn@2", *args[:-1])
    assert human.code == 0 and "auroc" in human.out and "A better" in human.out

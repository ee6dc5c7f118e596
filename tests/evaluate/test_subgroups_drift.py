"""Subgroup gaps (permutation test, pairwise CIs), denominators and small-sample warnings, PSI drift test:
each against simulations whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from govkit.evaluate.drift import PSI_FLAG, psi_test
from govkit.evaluate.metrics import with_ci
from govkit.evaluate.performance import evaluate_performance, heterogeneity_test


def _probs(correct: np.ndarray, y: np.ndarray, rng) -> np.ndarray:
    """Two-class probabilities that classify exactly the records in ``correct`` right."""
    pred = np.where(correct, y, 1 - y)
    p1 = np.where(pred == 1, rng.uniform(0.55, 1.0, len(y)), rng.uniform(0.0, 0.45, len(y)))
    return np.c_[1 - p1, p1]


def _sites(rng, accs, n_per, patients_of=1):
    n = n_per * len(accs)
    site = np.repeat(np.array([f"s{i}" for i in range(len(accs))]), n_per)
    y = rng.integers(0, 2, n)
    correct = rng.random(n) < np.repeat(accs, n_per)
    return _probs(correct, y, rng), y, site, np.arange(n) // patients_of


@pytest.mark.slow
def test_heterogeneity_test_false_positive_rate_and_power():
    """Three identical sites: the gap test rejects ≤ 7 % of the time (the max-gap CI alone excluded 0 in
    every run); one site 25 points worse: it rejects."""
    rng = np.random.default_rng(0)
    rejected = 0
    for s in range(200):
        probs, y, site, _ = _sites(rng, [0.8, 0.8, 0.8], 60)
        rejected += heterogeneity_test(probs, y, site, n_perm=99, seed=s, which=("accuracy",))["accuracy"] < 0.05
    assert rejected / 200 <= 0.07
    probs, y, site, pid = _sites(rng, [0.85, 0.85, 0.6], 80, patients_of=2)
    assert heterogeneity_test(probs, y, site, clusters=pid, n_perm=199)["accuracy"] < 0.05


@pytest.mark.slow
def test_pairwise_difference_ci_coverage():
    """The CI of a subgroup difference covers the true difference (0.1) in 92-98 % of 200 studies, image- and
    patient-level (3 images per patient sharing a patient effect)."""
    rng = np.random.default_rng(1)
    for per in (1, 3):
        hits = 0
        for s in range(200):
            patients = 240 // per
            pa = np.clip(rng.normal(0, 0.6, patients), -1, 1)  # patient effect on correctness (in logit units)
            group = np.repeat(np.arange(patients) % 2, per)
            base = np.where(group == 0, 0.8, 0.7)
            shift = np.repeat(pa, per) * 0.0 if per == 1 else np.repeat(pa, per) * 0.15
            # shift has mean 0 and is symmetric, so each group's mean accuracy stays at `base`
            correct = rng.random(240) < np.clip(base + shift, 0, 1)
            pid = np.repeat(np.arange(patients), per)

            def diff(idx, c=correct, g=group):
                return {"d": float(c[idx][g[idx] == 0].mean() - c[idx][g[idx] == 1].mean())}

            mv = with_ci(diff, 240, clusters=pid if per > 1 else None, n_boot=200, seed=s)[0]
            hits += mv.ci_low <= 0.1 <= mv.ci_high
        assert 0.92 <= hits / 200 <= 0.98, per


def test_evaluate_performance_records_gap_test_pairs_and_denominators():
    rng = np.random.default_rng(2)
    probs, y, site, pid = _sites(rng, [0.8, 0.8, 0.8], 100)
    res = evaluate_performance(probs, y, ["0", "1"], groups={"site": site}, patient_id=pid, n_boot=200, n_perm=199)
    by = {(m.name, tuple(sorted(m.params.items()))): m for m in res.metrics}
    gap = by[("max_subgroup_gap", (("group", "site"), ("metric", "accuracy")))]
    detected = by[
        ("subgroup_gap_detected", (("alpha", 0.05), ("group", "site"), ("metric", "accuracy"), ("permutations", 199)))
    ]
    p = by[("subgroup_gap_p_value", (("group", "site"), ("metric", "accuracy")))]
    assert gap.ci_low > 0  # the max-gap CI is biased upward: it cannot cover a true gap of 0
    assert detected.value == float(p.value < 0.05)
    pair = by[("subgroup_difference", (("a", "s0"), ("b", "s1"), ("group", "site"), ("metric", "accuracy")))]
    acc = {v: float((np.where(probs[:, 1] >= 0.5, 1, 0) == y)[site == v].mean()) for v in ("s0", "s1")}
    assert pair.value == pytest.approx(acc["s0"] - acc["s1"]) and pair.ci_low < pair.value < pair.ci_high
    sens = by[("sensitivity", ())]
    assert sens.n == int((y == 1).sum()) and by[("specificity", ())].n == int((y == 0).sum())
    assert by[("accuracy", ())].n == len(y)


def test_small_classes_within_subgroups_are_flagged_and_unsupported():
    rng = np.random.default_rng(3)
    y = np.r_[np.zeros(100, int), np.ones(20, int), np.zeros(30, int), np.ones(40, int)]
    site = np.r_[np.full(120, "a"), np.full(70, "b")]
    probs = _probs(rng.random(190) < 0.8, y, rng)
    res = evaluate_performance(probs, y, ["0", "1"], groups={"site": site}, n_boot=100, n_perm=49)
    assert any("site=a has 20 cases of class '1'" in w for w in res.warnings)
    assert res.dataset["subgroup_classes"]["site"]["a"] == {"0": 100, "1": 20}
    sens_a = next(m for m in res.metrics if m.name == "sensitivity" and m.params.get("value") == "a")
    assert sens_a.n == 20 and sens_a.status == "unsupported" and "20 cases" in sens_a.reason
    assert next(m for m in res.metrics if m.name == "sensitivity" and m.params.get("value") == "b").status == "ok"


@pytest.mark.slow
def test_psi_drift_flag_false_positive_rate_small_samples_and_power():
    """50 new images from the baseline distribution: PSI alone exceeds 0.2 often, the drift flag (PSI > 0.2
    and permutation p < 0.05) fires ≤ 7 % of the time, and the sample is reported too small."""
    rng = np.random.default_rng(4)
    probs = np.diff(np.r_[0, np.sort(rng.random(19)), 1])
    over, flagged, sims = 0, 0, 1000
    for s in range(sims):
        t = psi_test(rng.multinomial(1000, probs), rng.multinomial(50, probs), n_perm=200, seed=s)
        over += t["psi"] > PSI_FLAG
        flagged += t["drifted"]
    assert over / sims > 0.5 and flagged / sims <= 0.07
    assert t["too_small"]
    base = rng.multinomial(1000, probs)
    shifted = np.roll(probs, 3)
    t = psi_test(base, rng.multinomial(400, shifted), n_perm=500)
    assert t["drifted"] and t["p_value"] < 0.01 and not t["too_small"]

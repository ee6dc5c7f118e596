"""Metrics against scikit-learn on the same predictions, and CI coverage."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from govkit.evaluate.metrics import (
    binary_auroc,
    confusion_matrix,
    ece,
    point_metrics,
    predictions,
    reliability,
    wilson,
    wilson_bounds,
    with_ci,
)


@pytest.fixture(params=[2, 4])
def case(request):
    k = request.param
    rng = np.random.default_rng(k)
    n = 400
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return probs, y, k


def test_point_metrics_match_sklearn(case):
    probs, y, k = case
    got = point_metrics(probs, y)
    pred = predictions(probs)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    if k == 2:
        assert got["auroc"] == pytest.approx(skm.roc_auc_score(y, probs[:, 1]))
        assert got["sensitivity"] == pytest.approx(skm.recall_score(y, pred))
        assert got["specificity"] == pytest.approx(skm.recall_score(y, pred, pos_label=0))
        assert got["ppv"] == pytest.approx(skm.precision_score(y, pred))
        assert got["npv"] == pytest.approx(skm.precision_score(y, pred, pos_label=0))
    else:
        assert got["auroc"] == pytest.approx(skm.roc_auc_score(y, probs, multi_class="ovr", average="macro"))
        assert got["sensitivity"] == pytest.approx(skm.recall_score(y, pred, average="macro"))
        assert got["ppv"] == pytest.approx(skm.precision_score(y, pred, average="macro"))
        spec = [skm.recall_score(y == c, pred == c, pos_label=False) for c in range(k)]
        assert got["specificity"] == pytest.approx(np.mean(spec))
    assert confusion_matrix(y, pred, k).tolist() == skm.confusion_matrix(y, pred, labels=range(k)).tolist()


def test_auroc_handles_ties_like_sklearn():
    y = np.array([0, 0, 1, 1, 0, 1, 1, 0])
    s = np.array([0.1, 0.5, 0.5, 0.9, 0.5, 0.5, 0.2, 0.2])
    assert binary_auroc(s, y == 1) == pytest.approx(skm.roc_auc_score(y, s))
    assert np.isnan(binary_auroc(s, np.zeros(8, bool)))


def test_ece_and_reliability_by_hand():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55]])
    y = np.array([0, 1, 1, 1])
    # confidences .9 (right), .8 (wrong), .7 (right), .55 (right): bins 9, 8, 7, 5
    expected = (abs(0.9 - 1) + abs(0.8 - 0) + abs(0.7 - 1) + abs(0.55 - 1)) / 4
    assert ece(probs, y) == pytest.approx(expected)
    rel = reliability(probs, y)
    assert rel["count"] == [0, 0, 0, 0, 0, 1, 0, 1, 1, 1]


def test_wilson_by_hand_and_its_coverage():
    """Wilson (1927) for 5/20 is [0.1119, 0.4687]; over p and n its 95 % interval covers 92-98 % of the time."""
    lo, hi = wilson(5, 20)
    assert (lo, hi) == pytest.approx((0.11186, 0.46866), abs=1e-4)
    assert wilson(0, 0) == (None, None) and wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    for p, n in ((0.1, 50), (0.5, 40), (0.85, 120)):
        k = rng.binomial(n, p, 4000)
        lo, hi = wilson_bounds(k, np.full(4000, n))
        assert 0.92 <= np.mean((lo <= p) & (p <= hi)) <= 0.98, (p, n)


@pytest.mark.slow
def test_bootstrap_ci_covers_the_truth():
    """95 % CIs of accuracy cover the true value in 92-98 % of 200 simulated studies."""
    rng = np.random.default_rng(0)
    true_acc, n, sims = 0.8, 150, 200
    hits = 0
    for s in range(sims):
        correct = rng.random(n) < true_acc
        mv = with_ci(lambda idx, c=correct: {"acc": float(c[idx].mean())}, n, n_boot=300, seed=s)[0]
        hits += mv.ci_low <= true_acc <= mv.ci_high
    assert 0.92 <= hits / sims <= 0.98


@pytest.mark.slow
def test_patient_level_bootstrap_keeps_coverage_for_clustered_data():
    """Images of one patient are correlated: the cluster bootstrap keeps nominal coverage (92-98 %),
    the image bootstrap does not."""
    rng = np.random.default_rng(1)
    sims, patients, per = 200, 60, 5
    truth = float(np.clip(rng.normal(0.8, 0.15, 200_000), 0, 1).mean())
    hits = {"patient": 0, "image": 0}
    for s in range(sims):
        p_patient = np.clip(rng.normal(0.8, 0.15, patients), 0, 1)
        correct = rng.random((patients, per)) < p_patient[:, None]
        pid = np.repeat(np.arange(patients), per)
        flat = correct.ravel()
        for name, clusters in (("patient", pid), ("image", None)):
            mv = with_ci(
                lambda idx, f=flat: {"acc": float(f[idx].mean())}, len(flat), clusters=clusters, n_boot=200, seed=s
            )[0]
            hits[name] += mv.ci_low <= truth <= mv.ci_high
    assert 0.92 <= hits["patient"] / sims <= 0.98
    assert hits["image"] / sims < 0.9

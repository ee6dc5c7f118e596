"""Attack scores by hand, score direction, metrics, and a real overfit model on load_digits."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import norm

from govkit.privacy import metrics as pm
from govkit.privacy.attacks import MIA_ATTACKS, NEEDS, MIAAttack, Signals
from govkit.privacy.attacks.base import true_label_stats
from govkit.privacy.attacks.lira import LiRA
from govkit.privacy.attacks.rmia import RMIA, rmia_scores


def _phi_reference(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """φ = z_y − log Σ_{j≠y} e^{z_j}, record by record with math.fsum (independent of numpy/scipy)."""
    out = []
    for z, label in zip(logits.astype(float).tolist(), y.tolist(), strict=False):
        rest = [v for j, v in enumerate(z) if j != label]
        top = max(rest)
        out.append(z[label] - (top + math.log(math.fsum(math.exp(v - top) for v in rest))))
    return np.array(out)


def test_true_label_stats_from_logits():
    logits = np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]])
    p, phi = true_label_stats(logits, np.array([0, 1]))
    soft = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert p.tolist() == pytest.approx([soft[0, 0], soft[1, 1]], rel=1e-12)
    assert phi.tolist() == pytest.approx(_phi_reference(logits, np.array([0, 1])).tolist(), rel=1e-12)
    assert p.dtype == phi.dtype == np.float64


@pytest.fixture(scope="module")
def confident_signals():
    """Float32 logits of a real network (target + 6 references) made confident (φ up to ≈ 60), as overfit
    models are on their training records."""
    import torch

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(200, 16)).astype(np.float32))
    y = rng.integers(0, 10, 200)
    with torch.no_grad():
        logits = np.stack([torch.nn.Linear(16, 10)(x).numpy() for _ in range(7)]).astype(np.float64)
    logits[:, np.arange(200), y] += rng.uniform(5, 60, (7, 200))
    ref_in = np.argsort(rng.random((6, 200)), axis=0) < 3
    return logits.astype(np.float32), y, ref_in


def test_lira_scores_equal_a_float64_reference_when_phi_exceeds_20(confident_signals):
    logits, y, ref_in = confident_signals
    p_t, phi_t = true_label_stats(logits[0], y)
    p_r, phi_r = true_label_stats(logits[1:], np.broadcast_to(y, (6, 200)))
    ref_t = _phi_reference(logits[0], y)
    ref_r = np.stack([_phi_reference(z, y) for z in logits[1:]])
    assert phi_t.max() > 20 and np.abs(phi_t - ref_t).max() < 1e-9 and np.abs(phi_r - ref_r).max() < 1e-9
    # the float32-probability formula this replaced is off by nats on the same records
    probs = (
        np.exp(logits[0] - logits[0].max(1, keepdims=True))
        / np.exp(logits[0] - logits[0].max(1, keepdims=True)).sum(1, keepdims=True)
    ).astype(np.float32)
    py = np.clip(probs[np.arange(200), y], 1e-12, 1)
    old = np.log(py) - np.log(np.clip(probs.sum(1) - py, 1e-12, None))
    assert np.abs(old - ref_t).max() > 2
    for attack in (LiRA(online=True), LiRA(online=False)):
        s = Signals(p_t, phi_t, ref_p=p_r, ref_phi=phi_r, ref_in=ref_in if attack.online else None)
        r = Signals(p_t, ref_t, ref_p=p_r, ref_phi=ref_r, ref_in=ref_in if attack.online else None)
        assert attack.score(s) == pytest.approx(attack.score(r), rel=1e-9, abs=1e-9)
    # LOSS keeps confident records apart (log p_y = −log(1 + e^{−φ}) ≠ 0 even when p_y rounds to 1)
    loss = MIA_ATTACKS["loss"].score(Signals(p_t, phi_t))
    assert len(np.unique(loss)) == len(np.unique(phi_t))


def test_loss_by_hand():
    phi = np.array([np.log(0.9 / 0.1), 0.0, 40.0])
    s = Signals(target_p=1 / (1 + np.exp(-phi)), target_phi=phi)
    assert MIA_ATTACKS["loss"].score(s).tolist() == pytest.approx([np.log(0.9), np.log(0.5), -np.exp(-40.0)], rel=1e-12)


def test_population_by_hand():
    # population φ: [2, 0, 0, −2]; target φ = 0 ties two and beats one, φ = 5 beats all
    s = Signals(target_p=np.zeros(2), target_phi=np.array([0.0, 5.0]), pop_target_phi=np.array([2.0, 0.0, 0.0, -2.0]))
    assert MIA_ATTACKS["population"].score(s).tolist() == pytest.approx([(1 + 0.5 * 2) / 4, 1.0])


def test_lira_by_hand_and_global_variance_below_the_threshold():
    ref_phi = np.array([[1.0, 0.0], [3.0, 2.0], [2.0, 4.0]])  # K=3 models, N=2 targets
    ref_in = np.array([[False, False], [True, False], [False, True]])
    target = np.array([2.5, 1.0])
    s_off = Signals(target_p=np.ones(2), target_phi=target, ref_phi=ref_phi[[0, 2]])
    per_record = LiRA(online=False, variance_threshold=2)
    mu, sd = np.array([1.5, 2.0]), np.array([np.std([1, 2], ddof=1), np.std([0, 4], ddof=1)])
    assert per_record.score(s_off).tolist() == pytest.approx(((target - mu) / sd).tolist())
    assert per_record.describe(s_off)["variance"] == "per-record"
    default = LiRA(online=False)  # K = 2 < 64: one global variance
    pooled = ((1 - 1.5) ** 2 + (2 - 1.5) ** 2 + (0 - 2) ** 2 + (4 - 2) ** 2) / (4 - 2)
    assert default.score(s_off).tolist() == pytest.approx(((target - mu) / np.sqrt(pooled)).tolist())
    assert default.describe(s_off) == {"reference_models": 2, "variance": "global", "variance_threshold": 64}
    s = Signals(target_p=np.ones(2), target_phi=target, ref_phi=ref_phi, ref_in=ref_in)
    on = LiRA(online=True).score(s)
    # record 0: OUT {1, 2}, IN {3}; record 1: OUT {0, 2}, IN {4}; pooled variance over OUT
    var_out = ((1 - 1.5) ** 2 + (2 - 1.5) ** 2 + (0 - 1) ** 2 + (2 - 1) ** 2) / (4 - 2)
    var_in = 1e-6  # one IN model each: no spread

    def ln(x, m, v):
        return -0.5 * (np.log(2 * np.pi * v) + (x - m) ** 2 / v)

    expected = [ln(2.5, 3, var_in) - ln(2.5, 1.5, var_out), ln(1.0, 4, var_in) - ln(1.0, 1.0, var_out)]
    assert on.tolist() == pytest.approx(expected)


def test_lira_variance_threshold_option_reaches_the_attack_and_is_recorded():
    from govkit.privacy.audit import _chosen

    chosen = _chosen(("lira-offline", "loss"), "offline", {"variance_threshold": 2})
    s = Signals(np.ones(2), np.array([2.5, 1.0]), ref_phi=np.array([[1.0, 0.0], [2.0, 4.0]]))
    assert chosen["lira-offline"].describe(s)["variance"] == "per-record"
    assert MIA_ATTACKS["lira-offline"].describe(s)["variance"] == "global"  # the registry is left as it was
    assert chosen["loss"] is MIA_ATTACKS["loss"]
    assert list(_chosen(("rmia",), "online", {})) == ["rmia-online"]


def test_rmia_by_hand():
    # offline: Pr(x) = ((1+a) mean_ref + (1-a)) / 2 with a = 0.5
    s = Signals(
        target_p=np.array([0.8, 0.2]),
        target_phi=np.zeros(2),
        ref_p=np.array([[0.4, 0.4]]),
        pop_target_p=np.array([0.5, 0.3, 0.6]),
        pop_ref_p=np.array([[0.5, 0.5, 0.2]]),
    )
    prx = 0.5 * (1.5 * 0.4 + 0.5)
    prz = 0.5 * (1.5 * np.array([0.5, 0.5, 0.2]) + 0.5)
    ratio_x, ratio_z = np.array([0.8, 0.2]) / prx, np.array([0.5, 0.3, 0.6]) / prz
    counts = [(rx / ratio_z >= 1.0).sum() for rx in ratio_x]
    got = RMIA(a=0.5, gamma=1.0).score(s)
    assert np.floor(got * 4).astype(int).tolist() == counts  # (count + tie-break in [0,1)) / (Z + 1)
    assert got[0] > got[1]


def test_rmia_matches_brute_force_and_breaks_ties_by_rank():
    rng = np.random.default_rng(0)
    rx, rz = rng.lognormal(size=300), rng.lognormal(size=200)
    fast = rmia_scores(rx, rz, gamma=2.0)
    brute = ((rx[:, None] / rz[None, :]) >= 2.0).mean(1)
    assert np.floor(fast * 201).astype(int).tolist() == (brute * 200).round().astype(int).tolist()
    # one population record: every count is 0 or 1, so within a count the order is the tie-break's;
    # the ratios come unsorted, so the tie-break must be their ranks (not their sorting permutation)
    ratio = rng.permutation(np.linspace(0.01, 0.99, 50))
    tied = rmia_scores(ratio, np.array([100.0]), gamma=1.0)
    assert np.array_equal(np.argsort(tied), np.argsort(ratio))
    equal = rmia_scores(np.array([0.5, 0.2, 0.5]), np.array([100.0]), gamma=1.0)
    assert equal[0] == equal[2] > equal[1]


@pytest.mark.parametrize("name", sorted(MIA_ATTACKS))
def test_higher_score_means_member(name):
    """Members fit better (higher p_y, φ) in target and in the IN reference models."""
    rng = np.random.default_rng(1)
    n, k = 400, 8
    member = np.r_[np.ones(n // 2, bool), np.zeros(n // 2, bool)]
    base = rng.normal(0, 1, n)
    phi_t = base + 2.0 * member
    ref_in = np.argsort(rng.random((k, n)), axis=0) < k // 2  # balanced, as govkit trains them
    ref_phi = base[None] + 2.0 * ref_in + rng.normal(0, 0.3, (k, n))
    pop = rng.normal(0, 1, 300)
    pop_in = np.argsort(rng.random((k, 300)), axis=0) < k // 2
    s = Signals(
        target_p=expit(phi_t),
        target_phi=phi_t,
        ref_p=expit(ref_phi),
        ref_phi=ref_phi,
        ref_in=ref_in,
        pop_target_p=expit(pop),
        pop_target_phi=pop,
        pop_ref_p=expit(pop[None] + 2.0 * pop_in + rng.normal(0, 0.3, (k, 300))),
        pop_ref_in=pop_in,
    )
    attack = MIA_ATTACKS[name]
    assert attack.needs <= NEEDS and isinstance(attack, MIAAttack)
    if "reference-offline" in attack.needs:
        s.ref_in = np.zeros_like(ref_in)
        s.ref_phi = base[None] + rng.normal(0, 0.3, (k, n))
        s.ref_p = expit(s.ref_phi)
        s.pop_ref_in = None
    scores = attack.score(s)
    assert scores.dtype == np.float64 and scores.shape == (n,)
    assert pm.auc(scores[member], scores[~member]) > 0.8


def test_metrics_roc_and_tpr():
    member, non = np.array([0.9, 0.8, 0.3]), np.array([0.7, 0.2, 0.1, 0.05])
    fpr, tpr, _ = pm.roc(member, non)
    assert pm.tpr_at_fpr(fpr, tpr, 0.0) == pytest.approx(2 / 3)
    assert pm.tpr_at_fpr(fpr, tpr, 0.25) == pytest.approx(1.0)  # threshold 0.3: one non-member (0.7) above
    assert pm.auc(member, non) == pytest.approx(11 / 12)
    lo_cp, hi_cp = pm.clopper_pearson(0, 20)
    assert lo_cp == 0.0 and hi_cp == pytest.approx(1 - 0.05 ** (1 / 20))


def test_weighted_bootstrap_replicates_equal_explicit_resamples():
    """The vectorised replicates equal AUC and TPR computed on the resampled records themselves."""
    from govkit.evaluate.bootstrap import resample_counts

    rng = np.random.default_rng(3)
    s = np.r_[np.round(rng.normal(1, 1, 50), 1), np.round(rng.normal(0, 1, 70), 1)]  # rounded: ties
    is_m = np.r_[np.ones(50, bool), np.zeros(70, bool)]
    w = resample_counts(120, 20, np.random.default_rng(0), strata=is_m)
    assert (w[:, is_m].sum(1) == 50).all() and (w[:, ~is_m].sum(1) == 70).all()
    aucs, tprs = pm._weighted_auc_tpr(s, is_m, w, (0.01, 0.1))
    for b in range(20):
        idx = np.repeat(np.arange(120), w[b].astype(int))
        m, n = s[idx][is_m[idx]], s[idx][~is_m[idx]]
        f, t, _ = pm.roc(m, n)
        assert aucs[b] == pytest.approx(pm.auc(m, n), abs=1e-12)
        assert tprs[0.1][b] == pytest.approx(pm.tpr_at_fpr(f, t, 0.1), abs=1e-12)


@pytest.mark.slow
def test_auc_ci_coverage_image_and_patient_level():
    """Nominal 95 % AUC CIs cover the true AUC 92–98 % of the time; with two near-duplicate images per
    patient only the patient bootstrap does (the image bootstrap is too narrow)."""
    rng = np.random.default_rng(0)
    sims, d = 200, 0.5
    truth = norm.cdf(d / np.sqrt(2))
    hits = sum(
        lo <= truth <= hi
        for lo, hi in (
            pm.bootstrap(rng.normal(d, 1, 150), rng.normal(0, 1, 150), n_boot=200, seed=s)["auc"] for s in range(sims)
        )
    )
    assert 0.92 <= hits / sims <= 0.98
    sb, se, p = 1.0, 0.3, 100
    truth = norm.cdf(d / np.sqrt(2 * (sb**2 + se**2)))
    cl = np.repeat(np.arange(p), 2)
    hit = {"patient": 0, "image": 0}
    for s in range(sims):
        m = np.repeat(rng.normal(d, sb, p), 2) + rng.normal(0, se, 2 * p)
        n = np.repeat(rng.normal(0, sb, p), 2) + rng.normal(0, se, 2 * p)
        for name, kw in (("patient", {"member_clusters": cl, "non_clusters": cl}), ("image", {})):
            lo, hi = pm.bootstrap(m, n, n_boot=200, seed=s, **kw)["auc"]
            hit[name] += lo <= truth <= hi
    assert 0.92 <= hit["patient"] / sims <= 0.98
    assert hit["image"] / sims < 0.9


def test_epsilon_bound_is_valid_under_the_null_and_grows_with_separation():
    """Under no leakage ε > 0 must be rare (the bound holds with 95 % confidence); choosing the
    threshold on the half it is evaluated on would make it positive most of the time."""
    rng = np.random.default_rng(2)
    positive = sum(
        pm.epsilon_lower_bound(rng.normal(size=300), rng.normal(size=300), seed=s)["epsilon"] > 0 for s in range(200)
    )
    assert positive / 200 <= 0.07
    # a split whose selection half separates perfectly but whose evaluation half carries no signal:
    # the threshold chosen on the first half must be judged on the second, giving ε = 0
    sel = pm.epsilon_from_split(
        rng.normal(5, 1, 500), rng.normal(0, 1, 500), rng.normal(0, 1, 500), rng.normal(0, 1, 500)
    )
    assert sel["threshold"] is not None and sel["epsilon"] == 0.0
    far = pm.epsilon_lower_bound(rng.normal(3, 1, 2000), rng.normal(size=2000))
    assert far["epsilon"] > 1.5 and far["delta"] == 0 and far["confidence"] == 0.95


def test_unsupported_tpr_has_no_value_and_names_the_smallest_fpr():
    from govkit.privacy.audit import _metrics, evaluate_scores

    rng = np.random.default_rng(4)
    r = evaluate_scores("loss", rng.normal(1, 1, 250), rng.normal(0, 1, 250), n_boot=50, seed=0)
    assert r.tpr_at_fpr["0.001"] is None and r.tpr_at_fpr["0.01"] is not None
    by = {(m.name, m.status): m for m in _metrics([r], None, "image")}
    bad = by[("tpr_at_fpr_0.001", "unsupported")]
    assert bad.value is None and bad.ci_low is None and "0.004" in bad.reason
    assert by[("tpr_at_fpr_0.01", "ok")].value is not None


def _null_signals(rng, n=300, z=300, k=4, shift=0.0):
    """Members, non-members and population from one distribution (non-members shifted by ``shift``)."""
    is_member = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    phi = rng.normal(0, 1, 2 * n) - shift * ~is_member
    ref_phi = phi[None] + rng.normal(0, 0.5, (k, 2 * n))
    return Signals(expit(phi), phi, ref_phi=ref_phi, pop_target_phi=rng.normal(0, 1, z)), is_member


@pytest.mark.slow
def test_null_control_false_positive_rate_and_power():
    from govkit.privacy.audit import null_control

    rng = np.random.default_rng(5)
    fired = 0
    for s in range(200):
        sig, is_member = _null_signals(rng)
        fired += null_control(sig, is_member, None, None, offline_references=True, n_perm=300, seed=s)["fired"]
    assert fired / 200 <= 0.07
    sig, is_member = _null_signals(rng, shift=0.5)
    out = null_control(sig, is_member, None, None, offline_references=True, n_perm=300)
    assert out["fired"] and all(t["rejected"] for t in out["tests"])
    none = null_control(
        Signals(np.ones(4), np.zeros(4)), np.r_[True, True, False, False], None, None, offline_references=False
    )
    assert not none["available"] and not none["fired"]


def test_permutation_test_moves_patients_together():
    """Two records per patient, identical: a record-level test rejects far too often, the patient-level one
    keeps its level."""
    rng = np.random.default_rng(6)
    cl = np.repeat(np.arange(40), 2)
    p_rec, p_pat = [], []
    for s in range(60):
        a, b = np.repeat(rng.normal(size=40), 2), np.repeat(rng.normal(size=40), 2)
        p_rec.append(pm.auc_permutation_test(a, b, n_perm=300, seed=s)[1])
        p_pat.append(pm.auc_permutation_test(a, b, clusters_a=cl, clusters_b=cl, n_perm=300, seed=s)[1])
    rejected_patient, rejected_record = np.mean(np.array(p_pat) < 0.05), np.mean(np.array(p_rec) < 0.05)
    assert rejected_patient <= 0.1 and rejected_record > rejected_patient
    auc, p = pm.auc_permutation_test(np.arange(10.0) + 100, np.arange(10.0), n_perm=500)
    assert auc == 1.0 and p < 0.01


def test_patient_scores_sum_llrs_and_risk_distribution():
    from govkit.privacy.audit import by_patient, risk_distribution

    ids, summed = by_patient(np.array([1.0, 2.0, 4.0]), np.array(["b", "a", "b"]), summed=True)
    assert ids.tolist() == ["a", "b"] and summed.tolist() == [2.0, 5.0]
    assert by_patient(np.array([1.0, 2.0, 4.0]), np.array(["b", "a", "b"]), summed=False)[1].tolist() == [2.0, 2.5]
    # summing LLRs identifies patients with many weakly leaking records better than averaging
    rng = np.random.default_rng(7)
    pid = np.repeat(np.arange(400), 8)
    member = np.repeat(np.arange(400) < 200, 8)
    llr = rng.normal(0.15 * member, 1.0)
    res = {}
    for how in (True, False):
        _, s = by_patient(llr, pid, summed=how)
        res[how] = pm.auc(s[:200], s[200:])
    assert res[True] >= res[False] - 1e-9
    risk = risk_distribution(
        np.array([0.0, 5.0, 10.0]),
        np.arange(5.0),
        ["p1", "p2", "p3"],
        {"site": np.array(["A", "A", "B"])},
        "patient",
        "lira-online",
    )
    assert risk["risk"].tolist() == [0.0, 1.0, 1.0]
    assert risk["overall"]["n_at_least_0.99"] == 2 and risk["most_exposed"][0]["patient_id"] == "p2"
    assert risk["by_subgroup"]["site"]["B"]["max"] == 1.0 and risk["by_subgroup"]["site"]["A"]["median"] == 0.5


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """An overfit MLP on 600 real digits; 600 held out (also a copy shifted by noise); 597 population."""
    import torch
    from sklearn.datasets import load_digits

    from govkit.models.loading import build_network, make_wrapper
    from govkit.models.spec import load_spec
    from govkit.models.training import train_model

    root = tmp_path_factory.mktemp("digits")
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    parts = {"members": order[:600], "non_members": order[600:1200], "population": order[1200:]}
    for name, idx in parts.items():
        np.savez(
            root / f"{name}.npz",
            x=x[idx],
            y=y[idx],
            patient_id=np.array([f"p{i}" for i in idx]),
            group_site=np.array(["A", "B"])[idx % 2],
        )
    idx = parts["non_members"]
    noisy = np.clip(x[idx] + np.random.default_rng(1).normal(0, 0.25, x[idx].shape), 0, 1).astype(np.float32)
    np.savez(root / "non_members_shifted.npz", x=noisy, y=y[idx], patient_id=np.array([f"p{i}" for i in idx]))
    from tests.privacy.digits_model import write_spec

    spec = load_spec(write_spec(root, epochs=60))
    torch.manual_seed(0)
    model = make_wrapper(build_network(spec), spec)
    train_model(model, x[parts["members"]], y[parts["members"]], spec.train, seed=0)
    torch.save(model.net.state_dict(), root / "weights.pt")
    return root


@pytest.mark.slow
def test_overfit_digits_model_leaks_and_control_is_null(cli, registry, digits):
    db = registry.url
    assert (
        cli("--db", db, "model", "register", "digits-mlp", "--version", "1", "--spec", digits / "model.yaml").code == 0
    )
    res = cli(
        "--db",
        db,
        "privacy",
        "audit",
        "digits-mlp@1",
        "--members",
        digits / "members.npz",
        "--non-members",
        digits / "non_members.npz",
        "--population",
        digits / "population.npz",
        "--attack",
        "loss",
        "--attack",
        "rmia",
        "--attack",
        "lira-offline",
        "--reference-models",
        "2",
        "--control",
        "--device",
        "cpu",
        "--bootstrap",
        "100",
        "--json",
    )
    assert res.code == 0, res.err
    out = res.json()
    by = {a["attack"]: a for a in out["attacks"]}
    assert set(by) == {"loss", "rmia", "lira-offline"}
    assert by["loss"]["auc"] > 0.52  # members really are fitted better
    assert by["rmia"]["auc"] >= by["loss"]["auc"] - 0.02  # reference models help (or at least do not hurt)
    for a in by.values():
        assert a["auc_ci"][0] <= a["auc"] <= a["auc_ci"][1]
        assert a["n_members"] == 600 and a["n_non_members"] == 600
        assert a["tpr_at_fpr"]["0.001"] is None and a["tpr_at_fpr"]["0.01"] is not None  # 1/600 > 0.001
        assert a["epsilon_delta"] == 0 and a["epsilon_confidence"] == 0.95
    assert by["lira-offline"]["details"]["variance"] == "global"
    control = out["control"]
    assert control["available"] and not control["fired"] and len(control["tests"]) == 2
    assert any("0.001" in w and "not supported" in w for w in out["warnings"])
    assert {m["status"] for m in out["metrics"] if m["name"] == "auc"} == {"ok"}
    assert len(out["most_exposed"]) == 10 and out["most_exposed"][0]["patient_id"].startswith("p")
    assert out["reference_models"]["concurrent"] is True
    art = json.loads(Path(out["artifact"]).read_text())
    assert set(art["roc"]) == {"loss", "rmia", "lira-offline"} and len(art["member_risk"]) == 600
    # cached reference models are reused by a second audit
    again = cli(
        "--db",
        db,
        "privacy",
        "audit",
        "digits-mlp@1",
        "--members",
        digits / "members.npz",
        "--non-members",
        digits / "non_members.npz",
        "--population",
        digits / "population.npz",
        "--attack",
        "rmia",
        "--reference-models",
        "2",
        "--device",
        "cpu",
        "--bootstrap",
        "50",
        "--patient-level",
        "--json",
    ).json()
    assert again["reference_models"]["cached"] is True
    risk = again["risk_distribution"]
    assert risk["unit"] == "patient" and set(risk["by_subgroup"]["site"]) == {"A", "B"}
    assert sum(v["n"] for v in risk["by_subgroup"]["site"].values()) == risk["overall"]["n"] == 600
    from sqlalchemy import select

    from govkit.registry.tables import Artifact, Evaluation, Metric

    with registry.unit_of_work() as s:
        ev = s.scalars(select(Evaluation).where(Evaluation.kind == "privacy")).first()
        rows = s.scalars(select(Metric).where(Metric.evaluation_id == ev.id))
        names = {(m.name, m.params.get("attack")) for m in rows}
        assert ("tpr_at_fpr_0.001", "rmia") in names and ("epsilon_lower_bound", "loss") in names
        artifact = s.scalars(select(Artifact).where(Artifact.evaluation_id == ev.id)).first()
        assert artifact.media_type == "application/json"


def test_shifted_non_members_fire_the_null_control_and_mark_every_figure_unreliable(cli, registry, digits):
    """Noise on the non-members separates them from members by a shift, not by membership: the null
    control must say so, and no membership figure of the audit may be "ok"."""
    db = registry.url
    assert (
        cli("--db", db, "model", "register", "digits-mlp", "--version", "1", "--spec", digits / "model.yaml").code == 0
    )
    res = cli(
        "--db",
        db,
        "privacy",
        "audit",
        "digits-mlp@1",
        "--members",
        digits / "members.npz",
        "--non-members",
        digits / "non_members_shifted.npz",
        "--population",
        digits / "population.npz",
        "--attack",
        "loss",
        "--attack",
        "population",
        "--device",
        "cpu",
        "--bootstrap",
        "50",
        "--json",
    )
    assert res.code == 0, res.err
    out = res.json()
    assert out["control"]["fired"] and any("null control fired" in w for w in out["warnings"])
    membership = [m for m in out["metrics"] if m["name"] in ("auc", "epsilon_lower_bound", "tpr_at_fpr_0.01")]
    assert membership and all(m["status"] == "unreliable" and "null control" in m["reason"] for m in membership)
    from sqlalchemy import select

    from govkit.registry.tables import Evaluation, Metric

    with registry.unit_of_work() as s:
        ev = s.scalars(select(Evaluation).where(Evaluation.kind == "privacy").order_by(Evaluation.id.desc())).first()
        rows = s.scalars(select(Metric).where(Metric.evaluation_id == ev.id, Metric.name == "auc"))
        stored = {m.status for m in rows}
    assert stored == {"unreliable"}


def test_attacks_needing_population_refuse_without_it(cli, digits):
    res = cli(
        "privacy",
        "audit",
        digits / "model.yaml",
        "--members",
        digits / "members.npz",
        "--non-members",
        digits / "non_members.npz",
        "--attack",
        "rmia",
        "--device",
        "cpu",
    )
    assert res.code == 2 and "--population" in res.err

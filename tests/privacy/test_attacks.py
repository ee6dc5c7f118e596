"""Attack scores by hand, score direction, metrics, and a real overfit model on load_digits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from govkit.privacy import metrics as pm
from govkit.privacy.attacks import MIA_ATTACKS, Signals
from govkit.privacy.attacks.base import true_label_stats
from govkit.privacy.attacks.lira import LiRA
from govkit.privacy.attacks.rmia import RMIA, rmia_scores


def test_true_label_stats():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    p, phi = true_label_stats(probs, np.array([0, 1]))
    assert p.tolist() == pytest.approx([0.7, 0.1])
    assert phi.tolist() == pytest.approx([np.log(0.7 / 0.3), np.log(0.1 / 0.9)])


def test_loss_by_hand():
    s = Signals(target_p=np.array([0.9, 0.5]), target_phi=np.zeros(2))
    assert MIA_ATTACKS["loss"].score(s).tolist() == pytest.approx([np.log(0.9), np.log(0.5)])


def test_population_by_hand():
    # population losses: -log([0.9, 0.5, 0.5, 0.1]) ; target p=0.5 -> loss equal to two, greater than one
    s = Signals(target_p=np.array([0.5, 0.95]), target_phi=np.zeros(2), pop_target_p=np.array([0.9, 0.5, 0.5, 0.1]))
    assert MIA_ATTACKS["population"].score(s).tolist() == pytest.approx([(1 + 0.5 * 2) / 4, 1.0])


def test_lira_by_hand():
    ref_phi = np.array([[1.0, 0.0], [3.0, 2.0], [2.0, 4.0]])  # K=3 models, N=2 targets
    ref_in = np.array([[False, False], [True, False], [False, True]])
    s = Signals(target_p=np.ones(2), target_phi=np.array([2.5, 1.0]), ref_phi=ref_phi, ref_in=ref_in)
    off = LiRA(online=False, fixed_variance=False).score(Signals(target_p=np.ones(2), target_phi=np.array([2.5, 1.0]),
                                                                  ref_phi=ref_phi[[0, 2]], ref_in=None))
    mu, sd = np.array([1.5, 2.0]), np.array([np.std([1, 2], ddof=1), np.std([0, 4], ddof=1)])
    assert off.tolist() == pytest.approx(((np.array([2.5, 1.0]) - mu) / sd).tolist())
    on = LiRA(online=True, fixed_variance=True).score(s)
    # record 0: OUT {1, 2}, IN {3}; record 1: OUT {0, 2}, IN {4}; pooled variance over OUT
    var_out = ((1 - 1.5) ** 2 + (2 - 1.5) ** 2 + (0 - 1) ** 2 + (2 - 1) ** 2) / (4 - 2)
    var_in = 1e-6  # one IN model each: no spread
    def ln(x, m, v):
        return -0.5 * (np.log(2 * np.pi * v) + (x - m) ** 2 / v)
    expected = [ln(2.5, 3, var_in) - ln(2.5, 1.5, var_out), ln(1.0, 4, var_in) - ln(1.0, 1.0, var_out)]
    assert on.tolist() == pytest.approx(expected)


def test_rmia_by_hand():
    # offline: Pr(x) = ((1+a) mean_ref + (1-a)) / 2 with a = 0.5
    s = Signals(target_p=np.array([0.8, 0.2]), target_phi=np.zeros(2), ref_p=np.array([[0.4, 0.4]]),
                pop_target_p=np.array([0.5, 0.3, 0.6]), pop_ref_p=np.array([[0.5, 0.5, 0.2]]))
    prx = 0.5 * (1.5 * 0.4 + 0.5)
    prz = 0.5 * (1.5 * np.array([0.5, 0.5, 0.2]) + 0.5)
    ratio_x, ratio_z = np.array([0.8, 0.2]) / prx, np.array([0.5, 0.3, 0.6]) / prz
    counts = [(rx / rz >= 1.0).sum() for rx in ratio_x for rz in [ratio_z]]
    got = RMIA(a=0.5, gamma=1.0).score(s)
    assert np.floor(got * 4).astype(int).tolist() == counts  # (count + tie-break in [0,1)) / (Z + 1)
    assert got[0] > got[1]


def test_rmia_matches_brute_force_and_breaks_ties_by_ratio():
    rng = np.random.default_rng(0)
    rx, rz = rng.lognormal(size=300), rng.lognormal(size=200)
    fast = rmia_scores(rx, rz, gamma=2.0)
    brute = ((rx[:, None] / rz[None, :]) >= 2.0).mean(1)
    assert np.array_equal(np.argsort(np.argsort(fast)) >= 0, np.ones(300, bool))
    assert np.floor(fast * 201).astype(int).tolist() == (brute * 200).round().astype(int).tolist()
    tied = rmia_scores(np.array([1.0, 1.1, 50.0]), np.array([100.0]), gamma=1.0)
    assert tied[0] < tied[1] < tied[2]


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
    sig = lambda phi: 1 / (1 + np.exp(-phi))  # noqa: E731 - p_y for a binary task
    pop = rng.normal(0, 1, 300)
    s = Signals(target_p=sig(phi_t), target_phi=phi_t, ref_p=sig(ref_phi), ref_phi=ref_phi, ref_in=ref_in,
                pop_target_p=sig(pop), pop_ref_p=sig(pop[None] + rng.normal(0, 0.3, (k, 300))))
    attack = MIA_ATTACKS[name]
    if attack.needs == "offline":
        s.ref_in = np.zeros_like(ref_in)
        s.ref_phi = base[None] + rng.normal(0, 0.3, (k, n))
        s.ref_p = sig(s.ref_phi)
    scores = attack.score(s)
    assert pm.auc(scores[member], scores[~member]) > 0.8


def test_metrics_roc_tpr_and_null_band():
    member, non = np.array([0.9, 0.8, 0.3]), np.array([0.7, 0.2, 0.1, 0.05])
    fpr, tpr, _ = pm.roc(member, non)
    assert pm.tpr_at_fpr(fpr, tpr, 0.0) == pytest.approx(2 / 3)
    assert pm.tpr_at_fpr(fpr, tpr, 0.25) == pytest.approx(1.0)  # threshold 0.3: one non-member (0.7) above
    assert pm.auc(member, non) == pytest.approx(11 / 12)
    lo, hi = pm.null_band(100, 100)
    assert lo == pytest.approx(0.5 - 3 * np.sqrt(201 / 120000))
    lo_cp, hi_cp = pm.clopper_pearson(0, 20)
    assert lo_cp == 0.0 and hi_cp == pytest.approx(1 - 0.05 ** (1 / 20))


def test_epsilon_is_zero_for_identical_distributions_and_grows_with_separation():
    rng = np.random.default_rng(2)
    same = pm.epsilon_lower_bound(rng.normal(size=2000), rng.normal(size=2000))["epsilon"]
    far = pm.epsilon_lower_bound(rng.normal(3, 1, 2000), rng.normal(size=2000))["epsilon"]
    assert same < 0.3 < 1.5 < far


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """An overfit MLP on 600 real digits; 600 held out; 597 population."""
    import torch
    from sklearn.datasets import load_digits

    from govkit.models.spec import load_spec
    from govkit.models.loading import build_network, make_wrapper
    from govkit.models.training import train_model

    root = tmp_path_factory.mktemp("digits")
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    parts = {"members": order[:600], "non_members": order[600:1200], "population": order[1200:]}
    for name, idx in parts.items():
        np.savez(root / f"{name}.npz", x=x[idx], y=y[idx], patient_id=np.array([f"p{i}" for i in idx]))
    from tests.privacy.digits_model import write_spec

    spec = load_spec(write_spec(root, epochs=60))
    torch.manual_seed(0)
    model = make_wrapper(build_network(spec), spec)
    train_model(model, x[parts["members"]], y[parts["members"]], spec.train, seed=0)
    torch.save(model.net.state_dict(), root / "weights.pt")
    return root


def test_overfit_digits_model_leaks_and_control_is_null(cli, registry, digits):
    db = registry.url
    assert cli("--db", db, "model", "register", "digits-mlp", "--version", "1", "--spec",
               digits / "model.yaml").code == 0
    res = cli("--db", db, "privacy", "audit", "digits-mlp@1", "--members", digits / "members.npz",
              "--non-members", digits / "non_members.npz", "--population", digits / "population.npz",
              "--attack", "loss", "--attack", "rmia", "--attack", "lira-offline", "--reference-models", "2",
              "--control", "--device", "cpu", "--bootstrap", "100", "--json")
    assert res.code == 0, res.err
    out = res.json()
    by = {a["attack"]: a for a in out["attacks"]}
    assert set(by) == {"loss", "rmia", "lira-offline"}
    assert by["loss"]["auc"] > 0.52  # members really are fitted better
    assert by["rmia"]["auc"] >= by["loss"]["auc"] - 0.02  # reference models help (or at least do not hurt)
    for a in by.values():
        assert a["auc_ci"][0] <= a["auc"] <= a["auc_ci"][1]
        assert set(a["tpr_at_fpr"]) == {"0.001", "0.01"} and a["n_members"] == 600 and a["n_non_members"] == 600
        assert a["epsilon_lower_bound"] >= 0
    assert out["control"]["biased"] is False
    assert any("0.001" in w and "not supported" in w for w in out["warnings"])
    assert len(out["most_exposed"]) == 10 and out["most_exposed"][0]["patient_id"].startswith("p")
    assert out["reference_models"]["concurrent"] is True
    art = json.loads(Path(out["artifact"]).read_text())
    assert set(art["roc"]) == {"loss", "rmia", "lira-offline"} and len(art["member_risk"]) == 600
    # cached reference models are reused by a second audit
    again = cli("--db", db, "privacy", "audit", "digits-mlp@1", "--members", digits / "members.npz",
                "--non-members", digits / "non_members.npz", "--population", digits / "population.npz",
                "--attack", "rmia", "--reference-models", "2", "--device", "cpu", "--bootstrap", "50",
                "--patient-level", "--json").json()
    assert again["reference_models"]["cached"] is True
    from sqlalchemy import select

    from govkit.registry.tables import Artifact, Evaluation, Metric

    with registry.unit_of_work() as s:
        ev = s.scalars(select(Evaluation).where(Evaluation.kind == "privacy")).first()
        names = {(m.name, m.params.get("attack")) for m in s.scalars(select(Metric).where(Metric.evaluation_id == ev.id))}
        assert ("tpr_at_fpr_0.001", "rmia") in names and ("epsilon_lower_bound", "loss") in names
        assert s.scalars(select(Artifact).where(Artifact.evaluation_id == ev.id)).first().media_type == "application/json"


def test_attacks_needing_population_refuse_without_it(cli, digits):
    res = cli("privacy", "audit", digits / "model.yaml", "--members", digits / "members.npz",
              "--non-members", digits / "non_members.npz", "--attack", "rmia", "--device", "cpu")
    assert res.code == 2 and "--population" in res.err

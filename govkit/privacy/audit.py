"""The membership-inference audit: targets, reference models, attacks, metrics, records.

Targets are the members (D1, the target model's training data) and the
non-members (D2, held out).  Population data (D3) trains reference models
and serves as RMIA's and the population attack's comparison set.  With
``patient_level`` the scores of each patient's records are averaged and
membership is decided per patient.  With ``control`` the non-members are
split in two random halves and audited against each other: the AUC of
that split must fall in the null band, otherwise the audit is flagged as
biased by the split.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from govkit.errors import BadInput
from govkit.evidence.metric import MetricValue
from govkit.privacy import metrics as pm
from govkit.privacy.attacks import MIA_ATTACKS, Signals
from govkit.privacy.attacks.base import true_label_stats
from govkit.privacy.attacks.rmia import RMIA

N_EXPOSED = 10


@dataclass
class AttackResult:
    attack: str
    auc: float
    auc_ci: list[float]
    tpr_at_fpr: dict[str, float]
    tpr_at_fpr_ci: dict[str, list[float]]
    epsilon_lower_bound: float
    n_members: int
    n_non_members: int
    min_supported_fpr: float
    roc: dict = field(repr=False, default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "attack": self.attack, "auc": self.auc, "auc_ci": self.auc_ci, "tpr_at_fpr": self.tpr_at_fpr,
            "tpr_at_fpr_ci": self.tpr_at_fpr_ci, "epsilon_lower_bound": self.epsilon_lower_bound,
            "n_members": self.n_members, "n_non_members": self.n_non_members,
            "min_supported_fpr": self.min_supported_fpr,
        }


def evaluate_scores(name: str, member: np.ndarray, non: np.ndarray, *, n_boot: int, seed: int) -> AttackResult:
    fpr, tpr, _ = pm.roc(member, non)
    ci = pm.bootstrap(member, non, n_boot=n_boot, seed=seed)
    return AttackResult(
        attack=name, auc=pm.auc(member, non), auc_ci=ci["auc"],
        tpr_at_fpr={str(a): pm.tpr_at_fpr(fpr, tpr, a) for a in pm.FPRS},
        tpr_at_fpr_ci={str(a): ci[a] for a in pm.FPRS},
        epsilon_lower_bound=pm.epsilon_lower_bound(member, non, seed=seed)["epsilon"],
        n_members=len(member), n_non_members=len(non), min_supported_fpr=1.0 / max(len(non), 1),
        roc=pm.downsample_roc(fpr, tpr),
    )


def _by_patient(scores: np.ndarray, pids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean score per patient (sorted patient ids)."""
    uniq, inverse = np.unique(pids, return_inverse=True)
    sums = np.bincount(inverse, weights=scores)
    return uniq, sums / np.bincount(inverse)


def _probs(model, data, device: str) -> np.ndarray:
    from govkit.evaluate.performance import predict_proba

    return predict_proba(model, data, device=device)


def run_audit(registry, model_ref: str, members: str | Path, non_members: str | Path,
              population: str | Path | None = None, *, attacks: tuple[str, ...] = ("loss",),
              reference_models: int = 4, patient_level: bool = False, control: bool = False,
              device: str = "auto", rmia_mode: str = "offline", seed: int = 0, n_boot: int = 300) -> dict:
    from govkit.evidence.records import load_for_eval, record_evaluation
    from govkit.models.datasets import open_dataset
    from govkit.privacy.reference import load_reference, train_references

    unknown = [a for a in attacks if a not in MIA_ATTACKS]
    if unknown:
        raise BadInput(f"unknown attack(s) {unknown}; known: {', '.join(MIA_ATTACKS)}")
    chosen = {a: (RMIA(online=True) if a == "rmia" and rmia_mode == "online" else MIA_ATTACKS[a]) for a in attacks}
    needs = {att.needs for att in chosen.values()}
    needs_population = bool(needs - {"none"}) or "rmia" in chosen
    if needs_population and population is None:
        raise BadInput(f"attack(s) {sorted(a for a, t in chosen.items() if t.needs != 'none')} need --population")
    ref, model, d1, dev = load_for_eval(registry, model_ref, members, device)
    spec = ref.spec
    d2 = open_dataset(non_members, spec.input.dicom)
    d2.validate(spec)
    d3 = None
    if population is not None:
        d3 = open_dataset(population, spec.input.dicom)
        d3.validate(spec)
    if patient_level and (d1.patient_id is None or d2.patient_id is None):
        raise BadInput("--patient-level needs a patient_id for every member and non-member")

    y_t = np.r_[d1.labels, d2.labels]
    is_member = np.r_[np.ones(len(d1), bool), np.zeros(len(d2), bool)]
    p_t, phi_t = true_label_stats(np.r_[_probs(model, d1, dev), _probs(model, d2, dev)], y_t)
    signals = Signals(target_p=p_t, target_phi=phi_t)
    ref_info = None
    if d3 is not None:
        signals.pop_target_p, _ = true_label_stats(_probs(model, d3, dev), d3.labels)
    mode = "online" if "online" in needs else "offline"
    if mode == "online" and reference_models < 2:
        raise BadInput("online attacks need at least 2 reference models (each record IN for half of them)")
    if needs & {"offline", "online"}:
        x3, y3 = d3.images(np.arange(len(d3))), d3.labels
        if mode == "online":
            x_pool = np.concatenate([x3, d1.images(np.arange(len(d1))), d2.images(np.arange(len(d2)))])
            y_pool = np.r_[y3, y_t]
        else:
            x_pool, y_pool = x3, y3
        data_sha = "|".join(d.content_sha256() for d in ((d3, d1, d2) if mode == "online" else (d3,)))
        t0 = time.perf_counter()
        refs = train_references(spec, x_pool, y_pool, k=reference_models, mode=mode, data_sha=data_sha,
                                seed=seed, device=dev)
        ref_models = [load_reference(spec, s, dev) for s in refs.states]
        pt = np.stack([np.r_[_probs(m, d1, dev), _probs(m, d2, dev)] for m in ref_models])
        signals.ref_p, signals.ref_phi = true_label_stats(pt, np.broadcast_to(y_t, pt.shape[:2]))
        pz = np.stack([_probs(m, d3, dev) for m in ref_models])
        signals.pop_ref_p, _ = true_label_stats(pz, np.broadcast_to(d3.labels, pz.shape[:2]))
        n3 = len(d3)
        signals.ref_in = refs.membership[:, n3:] if mode == "online" else np.zeros((len(ref_models), len(y_t)), bool)
        signals.pop_ref_in = refs.membership[:, :n3] if mode == "online" else None
        ref_info = {"k": reference_models, "mode": mode, "seconds_per_model": refs.seconds_per_model,
                    "concurrent": refs.concurrent, "cached": refs.cached,
                    "wall_seconds": time.perf_counter() - t0}

    warnings = []
    results, all_scores = [], {}
    for name, attack in chosen.items():
        scores = attack.score(signals)
        all_scores[name] = scores
        if patient_level:
            pids = np.r_[d1.patient_id.astype(str), d2.patient_id.astype(str)]
            uniq_m, s_m = _by_patient(scores[is_member], pids[is_member])
            uniq_n, s_n = _by_patient(scores[~is_member], pids[~is_member])
            if set(uniq_m) & set(uniq_n):
                raise BadInput("--patient-level: some patients appear among members and non-members")
        else:
            s_m, s_n = scores[is_member], scores[~is_member]
        results.append(evaluate_scores(name, s_m, s_n, n_boot=n_boot, seed=seed))
    n_non = results[0].n_non_members if results else len(d2)
    for a in pm.FPRS:
        if n_non < 1 / a:
            warnings.append(f"TPR at FPR {a} from {n_non} non-members is not supported: the smallest FPR "
                            f"this sample can show is {1 / n_non:.4f} (need ≥ {int(round(1 / a))})")
    control_out = None
    if control:
        rng = np.random.default_rng(seed + 1)
        best = max(results, key=lambda r: r.auc).attack
        non_scores = all_scores[best][~is_member]
        half = rng.permutation(len(non_scores)) < len(non_scores) // 2
        c_auc = pm.auc(non_scores[half], non_scores[~half])
        lo, hi = pm.null_band(int(half.sum()), int((~half).sum()))
        control_out = {"attack": best, "auc": c_auc, "null_band": [lo, hi], "biased": not lo <= c_auc <= hi}
        if control_out["biased"]:
            warnings.append(f"control AUC {c_auc:.3f} outside the null band [{lo:.3f}, {hi:.3f}]: "
                            "the audit is biased by the split")
    exposed, risk = [], np.zeros(0)
    if results:
        # risk of a member: the fraction of non-members the strongest attack scores lower
        best = max(results, key=lambda r: r.auc).attack
        s_m, s_n = all_scores[best][is_member], np.sort(all_scores[best][~is_member])
        risk = np.searchsorted(s_n, s_m, side="left") / max(len(s_n), 1)
        for i in np.argsort(-risk, kind="stable")[:N_EXPOSED]:
            exposed.append({"index": int(i), "patient_id": None if d1.patient_id is None else str(d1.patient_id[i]),
                            "risk": float(risk[i]), "attack": best})

    artifact = _write_artifact(spec.ref, results, risk)
    metrics = []
    for r in results:
        p = {"attack": r.attack}
        metrics += [
            MetricValue("auc", r.auc, r.auc_ci[0], r.auc_ci[1], r.n_members + r.n_non_members, p),
            MetricValue("epsilon_lower_bound", r.epsilon_lower_bound, None, None, r.n_members + r.n_non_members, p),
            *[MetricValue(f"tpr_at_fpr_{a}", v, r.tpr_at_fpr_ci[a][0], r.tpr_at_fpr_ci[a][1], r.n_non_members, p)
              for a, v in r.tpr_at_fpr.items()],
        ]
    if control_out:
        metrics.append(MetricValue("control_auc", control_out["auc"], *control_out["null_band"], len(d2),
                                   {"attack": control_out["attack"]}))
    config = {"members": str(members), "non_members": str(non_members), "population": str(population) if population else None,
              "attacks": list(attacks), "reference_models": ref_info, "patient_level": patient_level,
              "rmia_mode": rmia_mode, "bootstrap": n_boot, "warnings": warnings, "control": control_out,
              "most_exposed": exposed}
    eval_id = record_evaluation(registry, ref, "privacy", config=config, seed=seed, device=dev, metrics=metrics,
                                data_sha256=d1.content_sha256(),
                                artifacts=[("roc-and-risk", artifact, "application/json")])
    return {"model": spec.ref, "evaluation_id": eval_id, "attacks": [r.as_dict() for r in results],
            "control": control_out, "reference_models": ref_info, "most_exposed": exposed,
            "warnings": warnings, "artifact": str(artifact)}


def _write_artifact(model_ref: str, results: list[AttackResult], risk: np.ndarray) -> Path:
    """ROC points per attack (for the log-log plot) and every member's risk score."""
    from govkit.config import home

    out = home() / "artifacts" / "privacy"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"privacy-{model_ref.replace('@', '_')}-{time.time_ns()}.json"
    path.write_text(json.dumps({"roc": {r.attack: r.roc for r in results},
                                "member_risk": [round(float(v), 6) for v in risk]}, sort_keys=True))
    return path

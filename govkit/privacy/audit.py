"""The membership-inference audit: targets, reference models, attacks, metrics, null control, records.

Targets are the members (D1, the target model's training data) and the
non-members (D2, held out).  Population data (D3) trains reference models
and serves as RMIA's and the population attack's comparison set.  What an
audit trains and reads follows the chosen attacks' ``needs``
(:data:`~govkit.privacy.attacks.base.NEEDS`).

Every per-record signal is computed in float64 from logits
(:func:`~govkit.privacy.attacks.base.true_label_stats`).

Units: with ``patient_level`` membership is decided per patient: a
patient's scores are **summed** when they are log-likelihood ratios
(independent records multiply their likelihoods; LiRA online) and averaged
otherwise.  Without it, images are the units, but CIs still resample
patients when patient IDs are known (:mod:`govkit.evaluate.bootstrap`).

**Null control** (on by default): two tests whose null hypothesis is "the
audit's sets differ only by membership".  (a) With offline reference models
(trained on population halves, so on neither members nor non-members), the
reference models' mean φ must not separate members from non-members:
AUC = ½.  (b) With population data, the target model's φ must not separate
non-members from population records, which are both unseen: AUC = ½.  Each
is a two-sided permutation test (patients permuted together) at α/2 (α =
0.05, Bonferroni).  When either rejects, the sets differ by something other
than membership (a distribution shift), every membership figure of the
audit gets ``status="unreliable"`` with the reason, and no gate can pass on
it.  When neither test can be built, the control is reported unavailable.

TPR at an FPR below 1/n (n non-member units) is reported as
``status="unsupported"`` without a value.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from govkit.errors import BadInput
from govkit.evidence.metric import MetricValue
from govkit.privacy import metrics as pm
from govkit.privacy.attacks import MIA_ATTACKS, MIAAttack, Signals
from govkit.privacy.attacks.base import true_label_stats
from govkit.privacy.attacks.lira import VARIANCE_THRESHOLD
from govkit.progress import Progress, silent

N_EXPOSED = 10
CONTROL_ALPHA = 0.05
CONTROL_PERMUTATIONS = 2000
MEMBERSHIP_METRICS = ("auc", "epsilon_lower_bound", *(f"tpr_at_fpr_{a}" for a in pm.FPRS))


@dataclass
class AttackResult:
    attack: str
    auc: float
    auc_ci: list[float | None]
    tpr_at_fpr: dict[str, float | None]
    tpr_at_fpr_ci: dict[str, list[float | None] | None]
    epsilon: dict[str, Any]
    n_members: int
    n_non_members: int
    min_supported_fpr: float
    details: dict[str, Any] = field(default_factory=dict)
    roc: dict[str, list[float]] = field(repr=False, default_factory=dict)

    @property
    def epsilon_lower_bound(self) -> float:
        return float(self.epsilon["epsilon"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "attack": self.attack,
            "auc": self.auc,
            "auc_ci": self.auc_ci,
            "tpr_at_fpr": self.tpr_at_fpr,
            "tpr_at_fpr_ci": self.tpr_at_fpr_ci,
            "epsilon_lower_bound": self.epsilon_lower_bound,
            "epsilon_delta": self.epsilon["delta"],
            "epsilon_confidence": self.epsilon["confidence"],
            "n_members": self.n_members,
            "n_non_members": self.n_non_members,
            "min_supported_fpr": self.min_supported_fpr,
            "details": self.details,
        }


def evaluate_scores(
    name: str,
    member: np.ndarray,
    non: np.ndarray,
    *,
    n_boot: int,
    seed: int,
    member_clusters: np.ndarray | None = None,
    non_clusters: np.ndarray | None = None,
    details: dict[str, Any] | None = None,
) -> AttackResult:
    """AUC, TPR at the supported low FPRs and empirical ε, with cluster-bootstrap CIs."""
    fpr, tpr, _ = pm.roc(member, non)
    ci = pm.bootstrap(member, non, n_boot=n_boot, seed=seed, member_clusters=member_clusters, non_clusters=non_clusters)
    ok = {a: pm.tpr_supported(len(non), a) for a in pm.FPRS}
    return AttackResult(
        attack=name,
        auc=pm.auc(member, non),
        auc_ci=ci["auc"],
        tpr_at_fpr={str(a): pm.tpr_at_fpr(fpr, tpr, a) if ok[a] else None for a in pm.FPRS},
        tpr_at_fpr_ci={str(a): ci[a] if ok[a] else None for a in pm.FPRS},
        epsilon=pm.epsilon_lower_bound(member, non, seed=seed),
        n_members=len(member),
        n_non_members=len(non),
        min_supported_fpr=1.0 / max(len(non), 1),
        details=dict(details or {}),
        roc=pm.downsample_roc(fpr, tpr),
    )


def by_patient(scores: np.ndarray, pids: np.ndarray, *, summed: bool) -> tuple[np.ndarray, np.ndarray]:
    """(sorted patient ids, per-patient score): the sum of the records' scores, or their mean."""
    uniq, inverse = np.unique(pids, return_inverse=True)
    sums = np.bincount(inverse, weights=scores)
    return uniq, sums if summed else sums / np.bincount(inverse)


def null_control(
    signals: Signals,
    is_member: np.ndarray,
    target_clusters: np.ndarray | None,
    pop_clusters: np.ndarray | None,
    *,
    offline_references: bool,
    alpha: float = CONTROL_ALPHA,
    n_perm: int = CONTROL_PERMUTATIONS,
    seed: int = 0,
) -> dict[str, Any]:
    """The two null tests of the module docstring; ``fired`` when either rejects at α/2."""
    tests: list[dict[str, Any]] = []
    m_cl = None if target_clusters is None else target_clusters[is_member]
    n_cl = None if target_clusters is None else target_clusters[~is_member]
    if offline_references and signals.ref_phi is not None:
        ref = np.asarray(signals.ref_phi).mean(0)
        a, p = pm.auc_permutation_test(
            ref[is_member], ref[~is_member], clusters_a=m_cl, clusters_b=n_cl, n_perm=n_perm, seed=seed
        )
        tests.append(
            {"test": "reference models (trained on neither set): members vs non-members", "auc": a, "p_value": p}
        )
    if signals.pop_target_phi is not None:
        phi = np.asarray(signals.target_phi)
        a, p = pm.auc_permutation_test(
            phi[~is_member],
            np.asarray(signals.pop_target_phi),
            clusters_a=n_cl if pop_clusters is not None else None,
            clusters_b=pop_clusters if n_cl is not None else None,
            n_perm=n_perm,
            seed=seed + 1,
        )
        tests.append({"test": "target model: non-members vs population (both unseen)", "auc": a, "p_value": p})
    if not tests:
        return {
            "available": False,
            "fired": False,
            "alpha": alpha,
            "tests": [],
            "reason": "no null test possible: it needs population data or offline reference models",
        }
    level = alpha / len(tests)
    for t in tests:
        t["rejected"] = bool(float(t["p_value"]) < level)
    return {
        "available": True,
        "fired": any(t["rejected"] for t in tests),
        "alpha": alpha,
        "per_test_alpha": level,
        "tests": tests,
    }


def risk_distribution(
    member_scores: np.ndarray,
    non_scores: np.ndarray,
    ids: list[str | None],
    groups: dict[str, np.ndarray],
    unit: str,
    attack: str,
) -> dict[str, Any]:
    """Per-unit risk (fraction of non-member units scored lower) and its distribution.

    Aggregate AUC hides the few units that are almost perfectly identifiable;
    this reports quantiles, how many reach risk ≥ 0.99, the most exposed
    units, and the same per subgroup.
    """
    s_n = np.sort(non_scores)
    risk = np.searchsorted(s_n, member_scores, side="left") / max(len(s_n), 1)

    def summary(r: np.ndarray) -> dict[str, Any]:
        if not len(r):
            return {"n": 0}
        q = np.quantile(r, [0.5, 0.9, 0.99])
        return {
            "n": len(r),
            "median": float(q[0]),
            "p90": float(q[1]),
            "p99": float(q[2]),
            "max": float(r.max()),
            "n_at_least_0.99": int((r >= 0.99).sum()),
        }

    worst = [
        {"index": int(i), "patient_id": ids[i], "risk": float(risk[i]), "attack": attack}
        for i in np.argsort(-risk, kind="stable")[:N_EXPOSED]
    ]
    per_group = {
        g: {str(v): summary(risk[vals.astype(str) == v]) for v in np.unique(vals.astype(str))}
        for g, vals in groups.items()
    }
    return {
        "unit": unit,
        "attack": attack,
        "overall": summary(risk),
        "by_subgroup": per_group,
        "most_exposed": worst,
        "risk": risk,
    }


def _logits(model: Any, data: Any, device: str) -> np.ndarray:
    from govkit.evaluate.performance import predict_logits

    return predict_logits(model, data, device=device)


def _chosen(attacks: tuple[str, ...], rmia_mode: str, options: dict[str, Any]) -> dict[str, MIAAttack]:
    """The registry's attacks, with ``options`` applied to those (dataclass) attacks that have such fields."""
    names = ["rmia-online" if a == "rmia" and rmia_mode == "online" else a for a in attacks]
    unknown = [a for a in names if a not in MIA_ATTACKS]
    if unknown:
        raise BadInput(f"unknown attack(s) {unknown}; known: {', '.join(MIA_ATTACKS)}")
    out: dict[str, MIAAttack] = {}
    for a in names:
        attack: Any = MIA_ATTACKS[a]
        fields: set[str] = {f.name for f in dataclasses.fields(attack)} if dataclasses.is_dataclass(attack) else set()
        kw = {k: v for k, v in options.items() if k in fields}
        out[a] = dataclasses.replace(attack, **kw) if kw else attack
    return out


def run_audit(
    registry: Any,
    model_ref: str,
    members: str | Path,
    non_members: str | Path,
    population: str | Path | None = None,
    *,
    attacks: tuple[str, ...] = ("loss",),
    reference_models: int = 4,
    patient_level: bool = False,
    control: bool = True,
    device: str = "auto",
    rmia_mode: str = "offline",
    seed: int = 0,
    n_boot: int = 300,
    lira_variance_threshold: int = VARIANCE_THRESHOLD,
    progress: Progress = silent,
) -> dict[str, Any]:
    """Run the chosen attacks and record a privacy evaluation (module docstring).

    ``lira_variance_threshold``: LiRA uses per-record variances from this many reference models on,
    one global variance below (recorded in each attack's details).  ``progress`` shows the
    reference models' training and scoring.
    """
    from govkit.evidence.records import load_for_eval, record_evaluation
    from govkit.models.datasets import open_dataset
    from govkit.privacy.reference import load_reference, train_references

    chosen = _chosen(attacks, rmia_mode, {"variance_threshold": lira_variance_threshold})
    needs = frozenset().union(*(a.needs for a in chosen.values()))
    if needs and population is None:
        raise BadInput(f"attack(s) {sorted(n for n, a in chosen.items() if a.needs)} need --population")
    ref, model, d1, dev = load_for_eval(registry, model_ref, members, device)
    spec = ref.spec
    d2 = open_dataset(non_members, spec.input.dicom)
    d2.validate(spec)
    d3 = None
    if population is not None:
        d3 = open_dataset(population, spec.input.dicom)
        d3.validate(spec)
    has_pids = d1.patient_id is not None and d2.patient_id is not None
    if patient_level and not has_pids:
        raise BadInput("--patient-level needs a patient_id for every member and non-member")

    y_t = np.r_[d1.labels, d2.labels]
    is_member = np.r_[np.ones(len(d1), bool), np.zeros(len(d2), bool)]
    pids = (
        np.r_[d1.patient_id.astype(str), d2.patient_id.astype(str)]
        if d1.patient_id is not None and d2.patient_id is not None
        else None
    )
    if pids is not None and set(pids[is_member]) & set(pids[~is_member]):
        raise BadInput("some patients appear among members and non-members: membership is per patient")
    p_t, phi_t = true_label_stats(np.r_[_logits(model, d1, dev), _logits(model, d2, dev)], y_t)
    signals = Signals(target_p=p_t, target_phi=phi_t)
    ref_info = None
    if d3 is not None:
        signals.pop_target_p, signals.pop_target_phi = true_label_stats(_logits(model, d3, dev), d3.labels)
    mode = "online" if "reference-online" in needs else "offline"
    if mode == "online" and reference_models < 2:
        raise BadInput("online attacks need at least 2 reference models (each record IN for half of them)")
    if needs & {"reference-offline", "reference-online"}:
        if d3 is None:
            raise BadInput("reference models need --population")
        x3, y3 = d3.images(np.arange(len(d3))), d3.labels
        if mode == "online":
            x_pool = np.concatenate([x3, d1.images(np.arange(len(d1))), d2.images(np.arange(len(d2)))])
            y_pool = np.r_[y3, y_t]
        else:
            x_pool, y_pool = x3, y3
        data_sha = "|".join(d.content_sha256() for d in ((d3, d1, d2) if mode == "online" else (d3,)))
        t0 = time.perf_counter()
        refs = train_references(
            spec,
            x_pool,
            y_pool,
            k=reference_models,
            mode=mode,
            data_sha=data_sha,
            seed=seed,
            device=dev,
            progress=progress,
        )
        ref_models = [load_reference(spec, s, dev) for s in refs.states]
        scored = [
            (np.r_[_logits(m, d1, dev), _logits(m, d2, dev)], _logits(m, d3, dev))
            for m in progress(ref_models, len(ref_models), "scoring with the reference models")
        ]
        zt, zp = np.stack([t for t, _ in scored]), np.stack([p for _, p in scored])
        signals.ref_p, signals.ref_phi = true_label_stats(zt, np.broadcast_to(y_t, zt.shape[:2]))
        signals.pop_ref_p, _ = true_label_stats(zp, np.broadcast_to(d3.labels, zp.shape[:2]))
        n3 = len(d3)
        signals.ref_in = refs.membership[:, n3:] if mode == "online" else np.zeros((len(ref_models), len(y_t)), bool)
        signals.pop_ref_in = refs.membership[:, :n3] if mode == "online" else None
        ref_info = {
            "k": reference_models,
            "mode": mode,
            "seconds_per_model": refs.seconds_per_model,
            "concurrent": refs.concurrent,
            "cached": refs.cached,
            "wall_seconds": time.perf_counter() - t0,
        }

    unit = "patient" if patient_level else "image"
    warnings: list[str] = []
    results: list[AttackResult] = []
    unit_scores: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
    for name, attack in chosen.items():
        scores = attack.score(signals)
        details = {**attack.describe(signals), "unit": unit}
        ids_m: np.ndarray | None
        if patient_level and pids is not None:
            details["aggregation"] = "sum of log-likelihood ratios" if attack.llr else "mean score"
            ids_m, s_m = by_patient(scores[is_member], pids[is_member], summed=attack.llr)
            _, s_n = by_patient(scores[~is_member], pids[~is_member], summed=attack.llr)
            cl_m = cl_n = None
        else:
            s_m, s_n = scores[is_member], scores[~is_member]
            cl_m, cl_n = (pids[is_member], pids[~is_member]) if pids is not None else (None, None)
            ids_m = None if d1.patient_id is None else d1.patient_id.astype(str)
        unit_scores[name] = (s_m, s_n, ids_m)
        results.append(
            evaluate_scores(
                name, s_m, s_n, n_boot=n_boot, seed=seed, member_clusters=cl_m, non_clusters=cl_n, details=details
            )
        )
    n_non = results[0].n_non_members if results else len(d2)
    for a in pm.FPRS:
        if not pm.tpr_supported(n_non, a):
            warnings.append(
                f"TPR at FPR {a} is not supported by {n_non} non-member {unit}s: the smallest FPR "
                f"this sample can show is {1 / max(n_non, 1):.4f} (need ≥ {round(1 / a)})"
            )

    control_out = None
    if control:
        control_out = null_control(
            signals,
            is_member,
            pids,
            None if d3 is None or d3.patient_id is None else d3.patient_id.astype(str),
            offline_references=ref_info is not None and mode == "offline",
            seed=seed,
        )
        if control_out["fired"]:
            warnings.append(
                "null control fired: "
                + "; ".join(
                    f"{t['test']}: AUC {t['auc']:.3f}, p={t['p_value']:.2g}"
                    for t in control_out["tests"]
                    if t["rejected"]
                )
                + ". The sets differ by more than membership: every membership figure "
                "of this audit is unreliable"
            )
        elif not control_out["available"]:
            warnings.append(f"null control unavailable: {control_out['reason']}")

    risk: dict[str, Any] = {}
    if results:
        best = max(results, key=lambda r: r.auc).attack
        s_m, s_n, ids = unit_scores[best]
        groups = d1.groups
        if patient_level and d1.patient_id is not None:  # a patient's subgroup: that of their first record
            _, first = np.unique(d1.patient_id.astype(str), return_index=True)
            groups = {g: v[first] for g, v in d1.groups.items()}
        risk = risk_distribution(
            s_m, s_n, [None] * len(s_m) if ids is None else [str(i) for i in ids], groups, unit, best
        )
    member_risk = np.asarray(risk.pop("risk", np.zeros(0)))
    exposed = risk.get("most_exposed", [])

    metrics = _metrics(results, control_out, unit)
    artifact = _write_artifact(spec.ref, results, member_risk)
    config = {
        "members": str(members),
        "non_members": str(non_members),
        "population": str(population) if population else None,
        "attacks": list(chosen),
        "reference_models": ref_info,
        "patient_level": patient_level,
        "unit": unit,
        "rmia_mode": rmia_mode,
        "bootstrap": n_boot,
        "bootstrap_clusters": "patients" if pids is not None else "images",
        "warnings": warnings,
        "control": control_out,
        "most_exposed": exposed,
        "risk_distribution": risk,
        "attack_details": {r.attack: r.details for r in results},
    }
    eval_id = record_evaluation(
        registry,
        ref,
        "privacy",
        config=config,
        seed=seed,
        device=dev,
        metrics=metrics,
        data_sha256=d1.content_sha256(),
        artifacts=[("roc-and-risk", artifact, "application/json")],
    )
    return {
        "model": spec.ref,
        "evaluation_id": eval_id,
        "attacks": [r.as_dict() for r in results],
        "control": control_out,
        "reference_models": ref_info,
        "most_exposed": exposed,
        "risk_distribution": risk,
        "warnings": warnings,
        "artifact": str(artifact),
        "metrics": [m.as_dict() for m in metrics],
    }


def _metrics(results: list[AttackResult], control: dict[str, Any] | None, unit: str) -> list[MetricValue]:
    """The audit's figures; all membership figures ``unreliable`` when the null control fired."""
    metrics = []
    for r in results:
        p = {"attack": r.attack, "unit": unit}
        n = r.n_members + r.n_non_members
        metrics += [
            MetricValue("auc", r.auc, r.auc_ci[0], r.auc_ci[1], n, p),
            MetricValue(
                "epsilon_lower_bound",
                r.epsilon_lower_bound,
                None,
                None,
                n,
                {**p, "delta": r.epsilon["delta"], "confidence": r.epsilon["confidence"]},
                ci_level=r.epsilon["confidence"],
            ),
        ]
        for a, v in r.tpr_at_fpr.items():
            ci = r.tpr_at_fpr_ci[a]
            if v is None or ci is None:
                metrics.append(
                    MetricValue(
                        f"tpr_at_fpr_{a}",
                        None,
                        None,
                        None,
                        r.n_non_members,
                        p,
                        status="unsupported",
                        reason=f"{r.n_non_members} non-member {unit}s support FPRs down to "
                        f"{r.min_supported_fpr:.4g} only (smallest supported FPR), "
                        f"not {a}",
                    )
                )
            else:
                metrics.append(MetricValue(f"tpr_at_fpr_{a}", v, ci[0], ci[1], r.n_non_members, p))
    if control is not None and control["available"]:
        for t in control["tests"]:
            metrics.append(MetricValue("control_p_value", t["p_value"], None, None, 0, {"test": t["test"]}))
    if control is not None and control["fired"]:
        reason = "null control fired: " + "; ".join(
            f"{t['test']} (AUC {t['auc']:.3f}, p={t['p_value']:.2g})" for t in control["tests"] if t["rejected"]
        )
        for m in metrics:
            if m.name in MEMBERSHIP_METRICS and m.status == "ok":
                m.status, m.reason = "unreliable", reason
    return metrics


def _write_artifact(model_ref: str, results: list[AttackResult], risk: np.ndarray) -> Path:
    """ROC points per attack (for the log-log plot) and every member unit's risk score."""
    from govkit.config import home

    out = home() / "artifacts" / "privacy"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"privacy-{model_ref.replace('@', '_')}-{time.time_ns()}.json"
    path.write_text(
        json.dumps(
            {"roc": {r.attack: r.roc for r in results}, "member_risk": [round(float(v), 6) for v in risk]},
            sort_keys=True,
        )
    )
    return path

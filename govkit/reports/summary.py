"""Page 1 of each report: what a reader must act on, computed from the evidence dict alone.

* Audit report: the policy verdict (passed, failed, insufficient evidence)
  with every requirement that did not pass, its value, threshold, compared
  figure and unit; open incidents; risks whose residual level is
  unacceptable; every signature and whether it verifies; the age of each
  kind of evidence.
* Model card: intended use, headline performance with CIs (sensitivity with
  its number of positives), key limitations and status.
* De-identification report: the release verdict, the failed files by keyed
  token with their reasons, and the HIPAA pathway the options support.
"""

from __future__ import annotations

import datetime as dt

from govkit.reports import present

PASSING = ("pass", "not-applicable")
HEADLINE = ("auroc", "sensitivity", "specificity", "accuracy", "ppv", "npv", "ece")
CLOSED = "closed"
EVALUATED = ("performance", "privacy", "robustness", "explainability")


def latest(ev: dict, kind: str) -> dict | None:
    rows = ev["evaluations"].get(kind) or []
    return rows[-1] if rows else None


def _matches(params: dict, where: dict) -> bool:
    return all(str(params.get(k)) == str(v) or _close(params.get(k), v) for k, v in where.items())


def _close(a: object, b: object) -> bool:
    try:
        return abs(float(a) - float(b)) <= 1e-9 + 1e-6 * abs(float(b))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def recorded_metric(ev: dict, kind: str, name: str, where: dict) -> tuple[dict, dict] | None:
    """The newest evaluation of ``kind`` recording ``name`` with params matching ``where``, and that metric."""
    for evaluation in reversed(ev["evaluations"].get(kind) or []):
        for m in evaluation["metrics"]:
            if m["name"] == name and _matches(m["params"], where):
                return evaluation, m
    return None


def policy_verdict(policy: dict | None, ev: dict | None = None) -> dict:
    """``passed`` only when every applicable requirement passed; a missing figure is never a pass."""
    if policy is None:
        return {
            "verdict": "insufficient evidence",
            "policy": None,
            "rows": [],
            "all": [],
            "reason": "no policy is attached to this model version",
        }
    defs = policy.get("definitions") or {}
    every = [_row(r, defs.get(r["id"]) or {}, ev) for r in policy["requirements"]]
    rows = [r for r in every if r["status"] not in PASSING]
    if any(r["status"] == "fail" for r in rows):
        verdict = "failed"
    elif rows:
        verdict = "insufficient evidence"
    else:
        verdict = "passed"
    return {"verdict": verdict, "policy": policy["policy"], "rows": rows, "all": every, "reason": None}


def _row(r: dict, d: dict, ev: dict | None) -> dict:
    metric = d.get("metric")
    detail = r.get("detail") or ""
    recorded = None
    where = d.get("where") or {}
    selector = f" ({present.params(where)})" if where else ""
    if metric and r.get("value") is None and r["status"] != "not-applicable":
        detail = f"no {r['evidence']} figure on record: {metric}{selector}"
    if metric and ev is not None and r["evidence"] in EVALUATED:
        found = recorded_metric(ev, r["evidence"], metric, where)
        if found is not None:
            evaluation, recorded = found
            detail = f"evaluation {evaluation['id']}: {metric}{selector}"
            if recorded["ci_low"] is not None:
                detail += f", 95% CI {present.number(recorded['ci_low'])}–{present.number(recorded['ci_high'])}"
            if recorded["n"] is not None:
                detail += f", n = {present.number(recorded['n'])}"
            if r["status"] not in (*PASSING, "fail"):  # the gate's own reason: an FPR below 1/n, a flagged figure
                detail = r.get("detail") or detail
    return {
        "id": r["id"],
        "evidence": r["evidence"],
        "status": r["status"] if r["status"] in (*PASSING, "fail") else "insufficient evidence",
        "reason": r.get("detail") or "",
        "value": _value(r, metric),
        "threshold": present.threshold(r.get("threshold"), metric),
        "compared": present.compared(r.get("threshold"), recorded)
        if metric and r["evidence"] in EVALUATED
        else "value",
        "unit": present.unit(metric or ("open_incidents" if r["evidence"] == "incident" else None)),
        "detail": detail,
    }


def _value(outcome: dict, metric: str | None) -> str:
    v = outcome.get("value")
    if outcome["status"] == "not-applicable":
        return "—"
    if v is None:
        return "no figure on record"
    if present.unit(metric) == present.COUNT and isinstance(v, float) and v.is_integer():
        v = int(v)
    return present.text(v)


def open_incidents(ev: dict) -> list[dict]:
    return [i for i in ev["incidents"] if i["status"] != CLOSED]


def unacceptable_risks(ev: dict) -> list[dict]:
    """Items whose residual risk is unacceptable, or unacceptable with no residual risk evaluated."""
    out = []
    for i in (ev.get("risk") or {}).get("items", []):
        if i.get("residual_acceptable") is False:
            out.append(
                {
                    **i,
                    "why": f"residual {i['residual_level']} ({i['residual_severity']} × "
                    f"{i['residual_probability']}): unacceptable",
                }
            )
        elif i.get("residual_level") is None and i["acceptability"] == "unacceptable":
            out.append(
                {
                    **i,
                    "why": f"{i['risk_level']} ({i['severity']} × {i['probability']}): unacceptable, "
                    "no residual risk evaluated",
                }
            )
    return out


def evidence_ages(ev: dict, now: dt.datetime) -> list[dict]:
    """The newest record of each kind and its age relative to the registry state shown."""
    rows = []
    for kind in ("performance", "privacy", "robustness", "explainability", "drift"):
        newest = latest(ev, kind)
        rows.append({"kind": kind, "at": newest["created_at"] if newest else None})
    risk = ev.get("risk")
    rows.append({"kind": "risk assessment", "at": risk["created_at"] if risk else None})
    sigs = [a["signed_at"] for a in ev["approvals"]]
    rows.append({"kind": "signature", "at": max(sigs) if sigs else None})
    data = ev.get("data_section") or {}
    audits = [
        d["audit"]["created_at"]
        for d in (*data.get("training", []), *data.get("evaluation", []))
        if isinstance(d, dict) and isinstance(d.get("audit"), dict)
    ]
    audits += [r["created_at"] for r in data.get("leakage", []) if r.get("created_at")]
    rows.append({"kind": "dataset audit", "at": max(audits) if audits else None})
    for r in rows:
        r["age"] = present.age(r["at"], now) if r["at"] else "none on record"
    return rows


def audit_summary(ev: dict, now: dt.datetime) -> dict:
    return {
        "policy": policy_verdict(ev.get("policy"), ev),
        "incidents": open_incidents(ev),
        "risks": unacceptable_risks(ev),
        "signatures": ev["approvals"],
        "ages": evidence_ages(ev, now),
        "overrides": ev.get("overrides") or [],
    }


def positives(perf: dict) -> int | None:
    """Cases of the positive class (binary task: the last class) in the evaluation data."""
    classes = (perf["config"].get("dataset") or {}).get("classes") or {}
    if len(classes) != 2:
        return None
    return int(list(classes.values())[-1])


def headline(ev: dict) -> list[dict]:
    perf = latest(ev, "performance")
    if perf is None:
        return []
    n_pos = positives(perf)
    n_all = (perf["config"].get("dataset") or {}).get("n")
    n_neg = n_all - n_pos if n_pos is not None and n_all else None
    out = []
    for name in HEADLINE:
        m = next((m for m in perf["metrics"] if m["name"] == name and not m["params"]), None)
        if m is None:
            continue
        out.append(
            {
                **m,
                "n_positives": n_pos if name == "sensitivity" else None,
                "n_negatives": n_neg if name == "specificity" else None,
            }
        )
    return out


def card_summary(ev: dict) -> dict:
    perf = latest(ev, "performance")
    return {
        "headline": headline(ev),
        "threshold": perf["config"].get("threshold") if perf else None,
        "evaluation": perf,
        "policy": policy_verdict(ev.get("policy"), ev) if ev.get("policy") else None,
        "open_incidents": len(open_incidents(ev)),
    }


def release_verdict(ev: dict) -> dict:
    """Release only when every file was written or deliberately skipped and a recorded verify found nothing."""
    run, ver = ev["run"], ev["verification"]
    reasons = []
    if run["n_failed"]:
        reasons.append(f"{run['n_failed']:,} file(s) failed and were not written")
    if ver is None:
        reasons.append("the output has not been verified (govkit deid verify)")
    elif not ver.get("ok"):
        reasons.append(f"verify found {int(ver.get('n_findings') or 0):,} finding(s) of residual PHI")
    return {"release": not reasons, "reasons": reasons}


def failed_files(ev: dict) -> dict:
    """Failed files by keyed token when the run recorded them, else their reasons with counts."""
    details = ev["run"].get("details") or {}
    files = [
        {"token": f.get("token") or f.get("input_token"), "reason": f.get("reason")}
        for f in details.get("failed_files") or []
    ]
    by_reason = details.get("failures") or {}
    return {"files": files, "by_reason": by_reason}


def deid_summary(ev: dict) -> dict:
    return {"release": release_verdict(ev), "failed": failed_files(ev), "hipaa": ev["hipaa"]}

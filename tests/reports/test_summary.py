"""Verdicts printed on page 1 and the HIPAA pathway: each with a case where the truth is known to be negative."""

from __future__ import annotations

import datetime as dt

import pytest

from govkit.reports import hipaa, present, summary


def _policy(*statuses: str) -> dict:
    reqs = [
        {
            "id": f"r{i}",
            "evidence": "performance",
            "status": st,
            "value": 0.5,
            "threshold": {"min": 0.9, "on": "ci"},
            "detail": "",
        }
        for i, st in enumerate(statuses)
    ]
    return {
        "policy": "p@1",
        "passed": all(s == "pass" for s in statuses),
        "requirements": reqs,
        "definitions": {r["id"]: {"metric": "auroc", "evidence": "performance", "where": {}} for r in reqs},
    }


@pytest.mark.parametrize(
    ("statuses", "verdict"),
    [
        (("pass", "pass"), "passed"),
        (("pass", "not-applicable"), "passed"),
        (("pass", "fail"), "failed"),
        (("insufficient", "fail"), "failed"),
        (("pass", "insufficient"), "insufficient evidence"),
        (("pass", "missing"), "insufficient evidence"),
        (("pass", "something-new"), "insufficient evidence"),  # an unknown status is never a pass
    ],
)
def test_policy_verdict(statuses, verdict):
    out = summary.policy_verdict(_policy(*statuses))
    assert out["verdict"] == verdict
    assert [r["id"] for r in out["rows"]] == [
        f"r{i}" for i, s in enumerate(statuses) if s not in ("pass", "not-applicable")
    ]


def test_no_policy_is_insufficient_evidence():
    assert summary.policy_verdict(None)["verdict"] == "insufficient evidence"


def test_threshold_and_compared_figure():
    assert present.threshold({"min": 0.9, "on": "ci"}, "auroc") == "≥ 0.900"
    assert present.threshold({"max": 0}, "open_incidents") == "≤ 0"
    assert present.threshold({"min": 0.8, "max": 0.95}) == "≥ 0.800 and ≤ 0.950"
    m = {"value": 0.7, "ci_low": 0.61, "ci_high": 0.79}
    assert present.compared({"min": 0.9, "on": "ci"}, m) == "CI lower bound 0.610"
    assert present.compared({"max": 0.1, "on": "ci"}, m) == "CI upper bound 0.790"
    assert present.compared({"min": 0.9, "on": "point"}, m) == "point estimate 0.700"
    assert present.compared(["clinical-lead"]) == "value"


def test_values_are_never_python_reprs():
    assert present.text([]) == "none" and present.text(["a", "b"]) == "a, b"
    assert present.text({"group": "site"}) == "group = site"
    assert present.number(3) == "3" and present.number(1234) == "1,234" and present.number(0.5) == "0.500"
    assert present.number(float("nan")) == "—" and present.number(None) == "—"
    assert present.params({"eps": 0.0039, "attack": "pgd-linf"}) == "attack = pgd-linf, eps = 0.0039"


def test_clip_marks_what_it_cuts():
    assert present.clip("short") == "short"
    cut = present.clip("x" * 5000, 100)
    assert cut.startswith("x" * 100) and "[truncated: 100 of 5,000 characters shown" in cut and "x" * 101 not in cut


def test_unacceptable_risks():
    items = [
        {
            "hazard": "a",
            "risk_level": "high",
            "acceptability": "unacceptable",
            "residual_level": None,
            "residual_acceptable": None,
            "severity": "S5",
            "probability": "P4",
        },
        {
            "hazard": "b",
            "risk_level": "high",
            "acceptability": "unacceptable",
            "residual_level": "low",
            "residual_acceptable": True,
            "severity": "S5",
            "probability": "P4",
            "residual_severity": "S2",
            "residual_probability": "P1",
        },
        {
            "hazard": "c",
            "risk_level": "medium",
            "acceptability": "alarp",
            "residual_level": "high",
            "residual_acceptable": False,
            "severity": "S3",
            "probability": "P3",
            "residual_severity": "S4",
            "residual_probability": "P4",
        },
        {
            "hazard": "d",
            "risk_level": "low",
            "acceptability": "acceptable",
            "residual_level": None,
            "residual_acceptable": None,
            "severity": "S1",
            "probability": "P1",
        },
    ]
    assert [r["hazard"] for r in summary.unacceptable_risks({"risk": {"items": items}})] == ["a", "c"]


def test_release_verdict():
    run = {"n_failed": 0, "details": {}}
    assert summary.release_verdict({"run": run, "verification": {"ok": True, "n_findings": 0}})["release"]
    assert not summary.release_verdict({"run": run, "verification": None})["release"]
    assert not summary.release_verdict({"run": run, "verification": {"ok": False, "n_findings": 2}})["release"]
    failed = summary.release_verdict({"run": {**run, "n_failed": 1}, "verification": {"ok": True}})
    assert not failed["release"] and failed["reasons"] == ["1 file(s) failed and were not written"]


def test_failed_files_by_token():
    ev = {
        "run": {
            "details": {
                "failed_files": [{"token": "a1b2", "reason": "undecodable pixel data"}],
                "failures": {"undecodable pixel data": 1},
            }
        }
    }
    assert summary.failed_files(ev)["files"] == [{"token": "a1b2", "reason": "undecodable pixel data"}]


def test_evidence_age():
    now = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    ev = {
        "evaluations": {"performance": [{"created_at": "2026-01-01T00:00:00+00:00"}]},
        "risk": None,
        "approvals": [],
        "data_section": None,
    }
    ages = {a["kind"]: a["age"] for a in summary.evidence_ages(ev, now)}
    assert ages["performance"] == "59 days" and ages["privacy"] == "none on record"


# --------------------------------------------------------------------------- HIPAA


def _pathway(a: dict, name: str) -> dict:
    return next(p for p in a["pathways"] if p["name"] == name)


def test_date_shifting_does_not_meet_safe_harbor():
    a = hipaa.assess(["clean-pixel-data", "retain-longitudinal-modified-dates"])
    dates = a["identifiers"][2]
    assert dates["met"] is False and "shifted" in dates["how"]
    assert _pathway(a, "Safe Harbor")["supported"] is False
    assert _pathway(a, "Limited Data Set")["supported"] is True  # a limited data set may keep dates
    assert _pathway(a, "Safe Harbor")["advice"] == ["run without option retain-longitudinal-modified-dates"]


def test_full_dates_fail_safe_harbor_and_aggregated_ages_do_not():
    assert (
        _pathway(hipaa.assess(["clean-pixel-data", "retain-longitudinal-full-dates"]), "Safe Harbor")["supported"]
        is False
    )
    # the header engine turns kept ages over 89 into 090Y (tested with the de-identification engine)
    assert (
        _pathway(hipaa.assess(["clean-pixel-data", "retain-patient-characteristics"]), "Safe Harbor")["supported"]
        is True
    )


def test_safe_harbor_needs_pixel_cleaning_and_a_face_review():
    plain = hipaa.assess([])
    assert _pathway(plain, "Safe Harbor")["supported"] is False
    assert _pathway(plain, "Limited Data Set")["supported"] is False  # names may be burned into the pixels
    clean = hipaa.assess(["clean-pixel-data"])
    assert _pathway(clean, "Safe Harbor")["supported"] is True and clean["n_met"] == 17
    assert "face" in _pathway(clean, "Safe Harbor")["verdict"]  # identifier 17 stays a human check
    assert [i["number"] for i in clean["identifiers"] if not i["met"]] == [17]


def test_device_identity_and_uids():
    dev = hipaa.assess(["clean-pixel-data", "retain-device-identity"])
    assert not _pathway(dev, "Safe Harbor")["supported"] and not _pathway(dev, "Limited Data Set")["supported"]
    uids = hipaa.assess(["clean-pixel-data", "retain-uids"])
    assert not _pathway(uids, "Safe Harbor")["supported"] and _pathway(uids, "Limited Data Set")["supported"]


def test_expert_determination_is_never_claimed():
    for opts in ([], ["clean-pixel-data"]):
        assert _pathway(hipaa.assess(opts), "Expert Determination")["supported"] is None


def test_advice_names_only_options_that_exist():
    from govkit.deid.header.profile import OPTIONS

    every = list(OPTIONS)
    for opts in ([], every[:3], every[3:6], every[6:], ["retain-longitudinal-full-dates", "retain-uids"]):
        for p in hipaa.assess(opts)["pathways"]:
            for advice in p["advice"]:
                assert advice.rsplit(" ", 1)[-1] in OPTIONS, advice
    assert set(hipaa.REMEDY_OPTIONS) <= OPTIONS.keys()
    assert len(hipaa.IDENTIFIERS) == 18


def test_heatmap_numbers_meet_wcag_aa_on_every_cell_colour():
    import matplotlib

    from govkit.reports import charts

    cmap = matplotlib.colormaps[charts.HEATMAP]
    for v in (i / 100 for i in range(101)):
        bg = cmap(v)[:3]
        assert charts.contrast(charts.text_colour(bg), bg) >= 4.5, v
    assert charts.contrast((1.0, 1.0, 1.0), (1.0, 1.0, 0.0)) < 4.5  # white on yellow: what the issue reported


def test_dataset_audit_age_from_the_data_section():
    now = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    data = {
        "training": [{"audit": {"id": 1, "created_at": "2026-02-20T00:00:00+00:00"}}],
        "evaluation": [],
        "leakage": [{"created_at": "2026-02-27T00:00:00+00:00"}],
    }
    ev = {"evaluations": {}, "risk": None, "approvals": [], "data_section": data}
    ages = {a["kind"]: a["age"] for a in summary.evidence_ages(ev, now)}
    assert ages["dataset audit"] == "2 days"

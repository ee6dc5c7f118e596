"""The report commands: model card, audit report, de-identification report, exports."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govkit import __version__
from govkit.canonical import sha256_hex
from govkit.errors import BadInput
from govkit.reports import charts, summary
from govkit.reports.evidence import (
    deid_evidence,
    document_id,
    evidence_bytes,
    model_evidence,
)
from govkit.reports.render import TEMPLATE_VERSION, render_html, write_pdf
from govkit.reports.summary import latest as _latest

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from sqlalchemy.orm import Session

    from govkit.registry.db import Registry

#: PS3.15 Table E.1-1 action codes (section E.1.1).
ACTION_LEGEND = {
    "C": "clean: replace with values of similar meaning known not to contain identifying information",
    "D": "replace with a non-zero-length dummy value consistent with the VR",
    "K": "keep (unchanged for non-sequence attributes; cleaned for sequences)",
    "U": "replace with a non-zero-length UID, consistent within the set of instances",
    "X": "remove",
    "Z": "replace with a zero-length value, or a dummy value consistent with the VR",
    # counters of the pixel step (clean-pixel-data), not Table E.1-1 codes
    "pixel-frames": "frames whose pixels were searched for burned-in text",
    "pixel-boxes": "regions of burned-in text blacked out",
}
KIND_NAMES = {"model-card": "Model card", "audit": "Audit report", "deid": "De-identification report"}
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


def _stamp(value: Any) -> dt.datetime:
    stamp = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)).replace(microsecond=0)


def _when(session: Session, evidence: dict) -> dt.datetime:
    """The instant of the registry state a model report shows: its newest evidence event."""
    from sqlalchemy import select

    from govkit.registry.tables import AuditEvent

    seq = evidence["audit_chain"]["evidence_head_seq"]
    ts = session.scalar(select(AuditEvent.occurred_at).where(AuditEvent.seq == seq)) if seq else None
    return _stamp(ts) if ts else EPOCH


def _deid_when(evidence: dict) -> dt.datetime:
    """A de-identification report's instant depends only on its run's records."""
    stamps = [evidence["run"]["finished_at"]]
    if evidence["verification"]:
        stamps.append(evidence["verification"]["at"])
    return max(_stamp(s) for s in stamps)


def _intersectional(m: dict) -> bool:
    """A subgroup defined by two or more attributes (for example ``sex×site``)."""
    return any(sep in str(m["params"].get("group", "")) for sep in ("×", "*", ","))


def _model_context(ev: dict) -> dict:
    perf = _latest(ev, "performance")
    priv = _latest(ev, "privacy")
    rob = _latest(ev, "robustness")
    expl = _latest(ev, "explainability")
    ctx: dict = {
        "ev": ev,
        "perf": None,
        "n_positives": None,
        "data_section": ev.get("data_section"),
        "privacy": priv,
        "robustness": rob,
        "explain": expl,
        "drift": ev["evaluations"].get("drift") or [],
        "charts": {},
        "overlays": [],
        "brief": {},
    }
    if perf:
        ms = perf["metrics"]
        subgroup = [
            m for m in ms if m["params"].get("value") is not None and m["name"] in ("accuracy", "auroc", "sensitivity")
        ]
        ctx["n_positives"] = summary.positives(perf)
        ctx["perf"] = {
            "id": perf["id"],
            "overall": [m for m in ms if not m["params"]],
            "subgroups": [m for m in subgroup if not _intersectional(m)],
            "intersectional": [m for m in subgroup if _intersectional(m)],
            "gaps": [m for m in ms if m["name"] == "max_subgroup_gap"],
            "config": perf["config"],
        }
        if perf["config"].get("reliability"):
            ctx["charts"]["reliability"] = charts.reliability(perf["config"]["reliability"])
    if priv:
        ctx["brief"]["privacy"] = [
            m
            for m in priv["metrics"]
            if m["name"] in ("auc", "tpr_at_fpr_0.001", "tpr_at_fpr_0.01", "epsilon_lower_bound")
        ]
        art = next((a for a in priv["artifacts"] if a["intact"]), None)
        if art:
            ctx["charts"]["roc"] = charts.roc_loglog(json.loads(Path(art["path"]).read_text())["roc"])
    if rob:
        ctx["brief"]["robustness"] = [
            m for m in rob["metrics"] if m["name"] in ("clean_accuracy", "accuracy_drop") or "attack" in m["params"]
        ]
        if rob["config"].get("corruption_results"):
            ctx["charts"]["heatmap"] = charts.corruption_heatmap(rob["config"]["corruption_results"])
        if rob["config"].get("adversarial_results"):
            ctx["charts"]["eps"] = charts.eps_curve(rob["config"]["adversarial_results"])
    if expl:
        from govkit.explain import overlays

        ctx["brief"]["explainability"] = expl["config"].get("tests", [])
        ctx["overlay_legend"] = overlays.LEGEND
        for a in expl["artifacts"]:
            suffix = next((k for k in overlays.KINDS if a["name"].endswith(k)), None)
            if a["intact"] and suffix:
                method = a["name"].removesuffix(suffix)
                ctx["overlays"].append(
                    {
                        "caption": f"{method}: {overlays.KINDS[suffix]}",
                        "url": charts.png_data_url(Path(a["path"]).read_bytes()),
                    }
                )
    counts: dict = {}
    for i in (ev["risk"] or {}).get("items", []):
        key = (int(i["severity"][1:]), int(i["probability"][1:]))
        counts[key] = counts.get(key, 0) + 1
    ctx["matrix_counts"] = counts
    return ctx


TEMPLATES = {"model-card": "model_card.html", "audit": "audit.html", "deid": "deid.html"}


def _context(kind: str, ev: dict, when: dt.datetime) -> dict:
    if kind == "deid":
        return {"ev": ev, "summary": summary.deid_summary(ev), "action_legend": ACTION_LEGEND}
    ctx = _model_context(ev)
    ctx["summary"] = summary.card_summary(ev) if kind == "model-card" else summary.audit_summary(ev, when)
    return ctx


def render_document(kind: str, evidence: dict, title: str, when: dt.datetime, out: Path) -> dict:
    """Render one report from its evidence dict (no registry access): the PDF, its ID and the fetcher's log."""
    doc_id = document_id(kind, evidence)
    html = render_html(
        TEMPLATES[kind],
        {
            **_context(kind, evidence, when),
            "title": title,
            "doc_id": doc_id,
            "doc_kind": KIND_NAMES[kind],
            "created": when.isoformat(),
            "chain": evidence["audit_chain"],
            "template_version": TEMPLATE_VERSION,
            "govkit_version": __version__,
        },
    )
    pdf, fetcher = write_pdf(html, out, evidence_json=evidence_bytes(evidence), when=when)
    return {
        "kind": kind,
        "path": str(out),
        "pdf_sha256": sha256_hex(pdf),
        "document_id": doc_id,
        "refused_urls": fetcher.refused,
        "fetched": fetcher.served,
    }


def _render(
    session: Session, kind: str, subject: str, title: str, evidence: dict, out: Path, when: dt.datetime
) -> dict:
    from govkit.registry.audit import append_event, current_actor
    from govkit.registry.tables import Report

    res = render_document(kind, evidence, title, when, out)
    session.add(
        Report(
            kind=kind,
            subject=subject,
            pdf_sha256=res["pdf_sha256"],
            template_version=TEMPLATE_VERSION,
            path=str(out),
            created_by=current_actor(),
        )
    )
    append_event(
        session,
        "report.render",
        "report",
        subject,
        {
            "kind": kind,
            "pdf_sha256": res["pdf_sha256"],
            "document_id": res["document_id"],
            "refused_urls": len(res["refused_urls"]),
        },
    )
    return {**res, "subject": subject}


def model_card(registry: Registry, ref: str, out: Path) -> dict:
    from govkit.registry.lookup import model_version

    with registry.unit_of_work() as s:
        ev = model_evidence(s, model_version(s, ref))
        return _render(s, "model-card", ref, f"Model card: {ref}", ev, out, _when(s, ev))


def audit_report(registry: Registry, ref: str, out: Path) -> dict:
    from govkit.registry.lookup import model_version

    with registry.unit_of_work() as s:
        ev = model_evidence(s, model_version(s, ref))
        return _render(s, "audit", ref, f"Audit report: {ref}", ev, out, _when(s, ev))


def deid_report(registry: Registry, run_id: str, out: Path) -> dict:
    from govkit.registry.lookup import deid_run

    with registry.unit_of_work() as s:
        run = deid_run(s, run_id)
        ev = deid_evidence(s, run)
        return _render(s, "deid", run.id, f"De-identification report: run {run.id[:8]}", ev, out, _deid_when(ev))


def export(
    registry: Registry, ref: str, fmt: str, out: Path, *, sign_key: Path | None = None, passphrase: bytes | None = None
) -> dict:
    """The evidence as govkit JSON, a Model Card Toolkit (MCT) JSON document, or a CHAI Applied Model Card.

    A CHAI card is validated against the packaged XSD before it is written; ``sign_key`` (CHAI only) signs it
    with a roster signer's Ed25519 key.  Required CHAI elements with no source are listed in ``missing``.
    """
    from govkit.atomicio import write_atomic
    from govkit.registry.audit import append_event
    from govkit.registry.lookup import model_version

    if sign_key is not None and fmt != "chai-xml":
        raise BadInput("--sign applies to --format chai-xml only")
    result: dict = {"format": fmt, "path": str(out)}
    with registry.unit_of_work() as s:
        ev = model_evidence(s, model_version(s, ref))
        if fmt == "chai-xml":
            data, extra = _chai(s, ev, sign_key, passphrase)
            result.update(extra)
        else:
            doc = ev if fmt == "json" else mct_json(ev)
            data = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False).encode()
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, data)
        sha = sha256_hex(data)
        append_event(
            s,
            "report.export",
            "report",
            ref,
            {
                "format": fmt,
                "sha256": sha,
                "signed": bool(result.get("signer")),
                "missing": len(result.get("missing", [])),
            },
        )
    return {**result, "sha256": sha, "document_id": document_id(fmt, ev)}


def _chai(session: Session, ev: dict, sign_key: Path | None, passphrase: bytes | None) -> tuple[bytes, dict]:
    from govkit.reports import chai

    card = chai.fill(ev)
    data = chai.to_xml(card)
    extra: dict = {"missing": card.missing}
    if sign_key is not None:
        from govkit.governance.signatures import load_private_key, signer_for_key

        key = load_private_key(sign_key, passphrase or b"")
        signer = signer_for_key(session, key)
        data = chai.sign(data, key, signer.fingerprint)
        extra.update(signer=signer.name, fingerprint=signer.fingerprint)
    errors = chai.validate(data)
    if errors:  # govkit wrote a card its own schema refuses: a bug, never a file
        raise RuntimeError(f"the CHAI card does not validate: {errors[0]}")
    return data, extra


def verify_card(registry: Registry, path: Path) -> dict:
    """Schema and signature of a CHAI card, the key looked up in the signer roster."""
    from sqlalchemy import select

    from govkit.governance.signatures import revoked_at
    from govkit.registry.tables import Signer
    from govkit.reports import chai

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from None
    with registry.unit_of_work() as s:

        def lookup(fp: str) -> tuple[str, Ed25519PublicKey] | str:
            signer = s.scalar(select(Signer).where(Signer.fingerprint == fp))
            if signer is None:
                return f"key {fp[:16]}… is not in the signer roster"
            if revoked_at(s, signer) is not None:
                return f"the key of signer {signer.name} was revoked"
            return signer.name, _public_key(signer.public_key)

        verdict = chai.verify(data, lookup)
    return {"path": str(path), **verdict.as_dict()}


def _public_key(pem: str) -> Ed25519PublicKey:
    """The roster's public key (the roster only accepts Ed25519 keys)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise BadInput("a roster key is not Ed25519; run 'govkit audit verify'")
    return key


def mct_json(ev: dict) -> dict:
    """Model Card Toolkit schema (v0.0.2) fields filled from the evidence."""
    card, perf = ev["card"], _latest(ev, "performance")
    metrics = []
    for m in (perf or {}).get("metrics", []):
        entry = {
            "type": m["name"],
            "value": str(m["value"]),
            "slice": ",".join(f"{k}={v}" for k, v in sorted(m["params"].items())),
        }
        if m["ci_low"] is not None:
            entry["confidence_interval"] = {"lower_bound": str(m["ci_low"]), "upper_bound": str(m["ci_high"])}
        metrics.append(entry)
    return {
        "schema_version": "0.0.2",
        "model_details": {
            "name": ev["model"]["name"],
            "overview": card.get("details", ""),
            "version": {"name": ev["model"]["version"]},
            "owners": [{"name": o} for o in card.get("owners", [])],
            "licenses": [{"identifier": card["license"]}] if card.get("license") else [],
        },
        "model_parameters": {
            "data": [{"name": d["dataset"], "sensitive": {"sensitive_data_used": []}} for d in ev["lineage"]],
            "input_format": json.dumps(ev["model"]["input"], sort_keys=True),
            "output_format": ", ".join(ev["model"]["classes"] or []),
        },
        "quantitative_analysis": {"performance_metrics": metrics},
        "considerations": {
            "users": [{"description": card["intended_users"]}] if card.get("intended_users") else [],
            "use_cases": [{"description": card["intended_use"]}] if card.get("intended_use") else [],
            "limitations": [{"description": card["caveats_and_limitations"]}]
            if card.get("caveats_and_limitations")
            else [],
            "ethical_considerations": [{"name": card["ethical_considerations"]}]
            if card.get("ethical_considerations")
            else [],
            "out_of_scope_uses": [{"description": card["out_of_scope_uses"]}] if card.get("out_of_scope_uses") else [],
        },
    }

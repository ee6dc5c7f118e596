"""The CHAI Applied Model Card (schema v0.2): export, offline validation, XML digital signature.

:func:`card_xml` fills the card from the evidence of a model version (the
spec's card, the recorded evaluations, the risk register, the lifecycle and
the attached policy).  A required CHAI element with no source in the record
is written empty and listed in ``missing``; nothing is invented.

:func:`validate` checks a document against the packaged XSD
(``policies/chai/schema.xsd``, Coalition for Health AI, MIT-style licence in
``policies/chai/LICENSE``).  The XSD imports the W3C XML Signature schema
by URL; it is mapped to the copy that ships with ``xmlschema`` and nothing is
fetched (``allow="local"``).

:func:`sign` adds the enveloped ``ds:Signature`` the schema allows (W3C
XML Signature 1.1): exclusive C14N, SHA-256 digest of the card without the
signature, Ed25519 signature (RFC 9231 ``eddsa-ed25519``) over the
canonical ``SignedInfo``, and the key's fingerprint as ``KeyName``.
:func:`verify` accepts exactly that shape (one reference to the whole
document, these transforms and algorithms), so a signature cannot be moved
onto other content.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from govkit.errors import BadInput
from govkit.reports import present
from govkit.reports.summary import latest, policy_verdict
from govkit.resources import resource_dir

if TYPE_CHECKING:
    import xmlschema
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from lxml import etree

NS = "https://mc.chai.org/v0.2/schema.xsd"
DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
ED25519 = "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519"

PERFORMANCE = ("auroc", "sensitivity", "specificity", "accuracy", "ppv", "npv")


# --------------------------------------------------------------------------- schema


@functools.lru_cache(maxsize=1)
def _schema() -> xmlschema.XMLSchema10:
    from pathlib import Path

    import xmlschema

    dsig = Path(xmlschema.__file__).parent / "schemas" / "DSIG" / "xmldsig-core-schema.xsd"
    return xmlschema.XMLSchema10(
        str(resource_dir("policies") / "chai" / "schema.xsd"), locations={DS: str(dsig)}, allow="local"
    )


def _parse(data: bytes) -> etree._Element:
    """Parse untrusted XML: no DTD, no entities, no network."""
    from lxml import etree

    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=False
    )
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise BadInput(f"not well-formed XML: {exc.msg} (line {exc.lineno})") from None


def validate(data: bytes) -> list[str]:
    """Schema errors of a CHAI Applied Model Card, one line each (empty when valid)."""
    root = _parse(data)
    if root.tag != f"{{{NS}}}AppliedModelCard":
        return [f"the root element must be AppliedModelCard in namespace {NS}"]
    errors = []
    for err in _schema().iter_errors(root):
        where = err.path or "/"
        errors.append(f"{where}: {err.reason}")
    return errors


# --------------------------------------------------------------------------- filling the card


@dataclass
class Card:
    """The elements of one card, in schema order, and the required ones with no source."""

    values: dict[str, Any] = field(default_factory=dict)
    missing: list[dict[str, str]] = field(default_factory=list)

    def take(self, element: str, source: str, value: Any) -> None:
        """A required element: its value, or empty and listed as missing."""
        text = _text(value)
        if not text:
            self.missing.append({"element": element, "source": source})
        self.values[element] = text

    def optional(self, element: str, value: Any) -> None:
        text = _text(value)
        if text:
            self.values[element] = text


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "; ".join(_text(v) for v in value if _text(v))
    return str(value).strip()


def _join(*parts: Any) -> str:
    return "\n\n".join(p for p in (_text(x) for x in parts) if p)


def _metric_json(m: dict) -> str:
    out = {"value": m["value"], "n": m["n"]}
    if m["ci_low"] is not None:
        out["ci95"] = [m["ci_low"], m["ci_high"]]
    if m["params"]:
        out["params"] = m["params"]
    if m.get("status", "ok") != "ok":
        out["status"] = m["status"]
    return json.dumps(out, sort_keys=True, ensure_ascii=False)


def _label(m: dict) -> str:
    return m["name"] + ("" if not m["params"] else f" ({present.params(m['params'])})")


def _goals(ev: dict, kinds: tuple[str, ...], metrics: Callable[[str], bool]) -> str:
    """The policy's thresholds for these metrics, as the goal of a key metric."""
    policy = ev.get("policy")
    if not policy:
        return ""
    defs = policy.get("definitions") or {}
    goals = []
    for rid, d in sorted(defs.items()):
        if d.get("evidence") in kinds and d.get("metric") and metrics(d["metric"]):
            bounds = {k: d[k] for k in ("min", "max") if d.get(k) is not None}
            where = f" ({present.params(d['where'])})" if d.get("where") else ""
            goals.append(f"{d['metric']}{where} {present.threshold(bounds, d['metric'])} (requirement {rid})")
    return f"Policy {policy['policy']}: " + "; ".join(goals) if goals else ""


def _interpretation(ev: dict, kinds: tuple[str, ...], metrics: Callable[[str], bool]) -> str:
    """The attached policy's verdict on the requirements behind one key metric."""
    verdict = policy_verdict(ev.get("policy"), ev)
    if verdict["policy"] is None:
        return ""
    defs = (ev.get("policy") or {}).get("definitions") or {}
    rows = [
        r
        for r in verdict["all"]
        if r["evidence"] in kinds
        and r["status"] != "not-applicable"
        and metrics((defs.get(r["id"]) or {}).get("metric") or "")
    ]
    if not rows:
        return ""
    return f"Policy {verdict['policy']}: " + "; ".join(
        f"{r['id']}: {r['status']} (value {r['value']}, threshold {r['threshold']}, compared {r['compared']})"
        for r in rows
    )


def _test_type(perf: dict | None, card: dict) -> str:
    if perf is None:
        return ""
    cfg = perf["config"]
    n = (cfg.get("dataset") or {}).get("n")
    kind = "external validation" if card.get("external_validation") else "internal retrospective evaluation"
    return f"{kind} on {n} held-out cases; 95% CIs from {cfg.get('bootstrap')} bootstrap resamples" + (
        " of patients" if cfg.get("patient_level") else ""
    )


def _key_metric(
    card: Card, ev: dict, name: str, results: list[dict], goal: str, interpretation: str, validation: tuple[str, Any]
) -> None:
    perf = latest(ev, "performance")
    c = ev["card"]
    card.take(f"{name}/MetricGoal", "policy thresholds or card.metrics", goal or c.get("metrics"))
    if not results:
        card.missing.append({"element": f"{name}/Results", "source": "recorded evaluations"})
    card.values[f"{name}/Results"] = [(_label(m), _metric_json(m)) for m in results] or [("", "")]
    card.take(f"{name}/Interpretation", "the attached policy's verdict", interpretation)
    card.take(f"{name}/TestType", "a recorded performance evaluation", _test_type(perf, c))
    card.take(f"{name}/TestingDataDescription", "card.evaluation_data", c.get("evaluation_data"))
    card.take(f"{name}/ValidationProcessAndJustification", validation[0], validation[1])


def fill(ev: dict) -> Card:
    """Every CHAI element from the evidence of one model version."""
    c, m = ev["card"], ev["model"]
    card = Card()
    card.take("BasicInfo/ModelName", "model name", m["name"])
    card.take("BasicInfo/ModelDeveloper", "card.owners", c.get("owners"))
    card.take("BasicInfo/DeveloperContact", "card.contact", c.get("contact"))
    history = ev.get("stage_history") or []
    card.take("ReleaseInfo/ReleaseStage", "lifecycle state", f"govkit lifecycle state: {ev['state']}")
    released = history[-1]["at"] if history else m["registered_at"]
    card.take("ReleaseInfo/ReleaseDate", "lifecycle history", str(released)[:10])
    card.take("ReleaseInfo/ReleaseVersion", "model version", m["version"])
    card.take("ReleaseInfo/GlobalAvailability", "card.global_availability", c.get("global_availability"))
    card.optional("ReleaseInfo/RegulatoryApproval", c.get("regulatory_approval"))
    card.take("ModelSummary/Summary", "card.details", c.get("details"))
    card.values["ModelSummary/Keywords"] = sorted(
        {str(v) for v in [m.get("task"), *(m.get("tags") or {}).values()] if v}
    )
    card.take("UsesAndDirections/IntendedUseAndWorkflow", "card.intended_use", c.get("intended_use"))
    card.take("UsesAndDirections/PrimaryIntendedUsers", "card.intended_users", c.get("intended_users"))
    card.take(
        "UsesAndDirections/HowToUse",
        "card.decision_role or card.recommendations",
        _join(c.get("decision_role"), c.get("recommendations")),
    )
    card.take("UsesAndDirections/TargetedPatientPopulation", "card.intended_population", c.get("intended_population"))
    card.take("UsesAndDirections/CautionedOutOfScopeSettings", "card.out_of_scope_uses", c.get("out_of_scope_uses"))
    risks = [
        f"{i['hazard']} ({i['risk_level']}, residual {i['residual_level'] or 'not evaluated'})"
        for i in (ev.get("risk") or {}).get("items", [])
    ]
    card.take(
        "Warnings/KnownRisksAndLimitations",
        "card.caveats_and_limitations",
        _join(
            c.get("caveats_and_limitations"),
            ("Risk register: " + "; ".join(risks)) if risks and c.get("caveats_and_limitations") else "",
        ),
    )
    card.take(
        "Warnings/KnownBiasesOrEthicalConsiderations", "card.ethical_considerations", c.get("ethical_considerations")
    )
    risk_class = (m.get("tags") or {}).get("risk_class")
    card.take(
        "Warnings/ClinicalRiskLevel", "tag risk_class", f"{risk_class} (govkit risk class tag)" if risk_class else None
    )
    facts = "TrustIngredients/AISystemFacts"
    classes = ", ".join(m.get("classes") or [])
    card.take(
        f"{facts}/OutcomesAndOutputs",
        "card.output_description or the spec's classes",
        c.get("output_description")
        or (
            f"{m['task']} classification: the probability of each class ({classes})"
            if m.get("task") and classes
            else None
        ),
    )
    card.take(
        f"{facts}/ModelType",
        "card.model_type or the spec",
        c.get("model_type")
        or (f"{m['task']} classifier (PyTorch), entrypoint {m.get('entrypoint')}" if m.get("task") else None),
    )
    card.take(f"{facts}/InputDataSource", "card.training_data", c.get("training_data"))
    inp = m.get("input") or {}
    card.take(
        f"{facts}/OutputAndInputDataTypes",
        "the spec's input and classes",
        _join(
            f"Input: images of {inp.get('channels')}×{inp.get('height')}×{inp.get('width')} (channels × height × width)"
            if inp
            else "",
            f"Output: {c.get('output_type') or 'class probabilities'} for {classes}" if classes else "",
        ),
    )
    card.take(f"{facts}/DevelopmentDataCharacterization", "card.training_demographics", c.get("training_demographics"))
    card.take(f"{facts}/BiasMitigationApproaches", "card.bias_mitigation", c.get("bias_mitigation"))
    card.take(
        f"{facts}/OngoingMaintenance",
        "card.monitoring, card.update_schedule, card.revalidation_schedule",
        _join(c.get("monitoring"), c.get("update_schedule"), c.get("revalidation_schedule")),
    )
    privacy = latest(ev, "privacy")
    if privacy:
        shown = [x for x in privacy["metrics"] if x["name"] in ("auc", "tpr_at_fpr_0.01", "epsilon_lower_bound")]
        card.optional(
            f"{facts}/Security",
            "Membership-inference audit (evaluation "
            f"{privacy['id']}): " + "; ".join(f"{_label(x)} = {present.number(x['value'])}" for x in shown),
        )
    chain = ev["audit_chain"]
    card.optional(
        f"{facts}/Transparency",
        "Evidence and approvals are recorded in a hash-chained govkit registry; "
        f"audit chain head {chain['head_seq']}:{chain['head_hash']}",
    )
    info = "TrustIngredients/TransparencyInformation"
    card.take(f"{info}/FundingSource", "card.funding", c.get("funding"))
    card.optional(f"{info}/ThirdPartyInformation", c.get("external_validation_party"))
    card.take(f"{info}/StakeholdersConsulted", "card.stakeholders_consulted", c.get("stakeholders_consulted"))
    perf = latest(ev, "performance")
    pm = perf["metrics"] if perf else []
    _key_metric(
        card,
        ev,
        "KeyMetrics/UsefulnessUsabilityEfficacy",
        [x for x in pm if x["name"] in PERFORMANCE and not x["params"]],
        _goals(ev, ("performance",), lambda n: n in PERFORMANCE),
        _interpretation(ev, ("performance",), lambda n: n in PERFORMANCE),
        ("card.external_validation_process", c.get("external_validation_process")),
    )
    _key_metric(
        card,
        ev,
        "KeyMetrics/FairnessEquity",
        [x for x in pm if x["name"] == "max_subgroup_gap"],
        _goals(ev, ("performance",), lambda n: n == "max_subgroup_gap"),
        _interpretation(ev, ("performance",), lambda n: n == "max_subgroup_gap"),
        ("card.fairness_approach", c.get("fairness_approach")),
    )
    rob = latest(ev, "robustness")
    safety = [x for x in pm if x["name"] == "ece"] + [
        x
        for x in (rob["metrics"] if rob else [])
        if x["name"] in ("clean_accuracy", "accuracy_drop") or "attack" in x["params"]
    ]
    _key_metric(
        card,
        ev,
        "KeyMetrics/SafetyReliability",
        safety,
        _goals(ev, ("robustness",), lambda n: True),
        _interpretation(ev, ("robustness",), lambda n: True),
        ("card.revalidation_schedule", c.get("revalidation_schedule")),
    )
    card.optional("Resources/EvaluationReferences", c.get("outcome_evaluation_refs"))
    card.take("Resources/PeerReviewedPublications", "card.citation", c.get("citation"))
    card.take("Resources/PatientConsentOrDisclosure", "card.patient_consent", c.get("patient_consent"))
    card.take("Bibliography", "card.citation", c.get("citation"))
    return card


def card_field_elements() -> dict[str, list[str]]:
    """The CHAI elements each card field fills: :func:`fill` run on a card whose every field holds a marker.

    The mapping is read off :func:`fill` itself (with a performance evaluation and a
    spec's classes present, so that no conditional use is missed), never kept as a
    second copy.  A field no element uses maps to ``[]``.
    """
    import re

    from govkit.models.card import CARD_SCHEMA, LIST

    def marker(name: str) -> str:
        return f"\x00{name}\x00"

    card = {f: [marker(f)] if kind == LIST else marker(f) for f, kind in CARD_SCHEMA.items()}
    model: dict[str, Any] = {"name": "m", "version": "1", "registered_at": "", "task": "binary"}
    model |= {"classes": ["a", "b"], "input": {"channels": 1, "height": 1, "width": 1}}
    perf = {"id": 0, "config": {"dataset": {"n": 1}, "bootstrap": 1}, "metrics": []}
    ev = {
        "card": card,
        "model": model,
        "state": "draft",
        "evaluations": {"performance": [perf]},
        "audit_chain": {"head_seq": 0, "head_hash": ""},
    }
    out: dict[str, list[str]] = {f: [] for f in CARD_SCHEMA}
    for element, value in fill(ev).values.items():
        for name in re.findall("\x00([a-z_]+)\x00", str(value)):
            if element not in out[name]:
                out[name].append(element)
    return out


ORDER = (
    ("BasicInfo", ("ModelName", "ModelDeveloper", "DeveloperContact")),
    ("ReleaseInfo", ("ReleaseStage", "ReleaseDate", "ReleaseVersion", "GlobalAvailability", "RegulatoryApproval")),
    ("ModelSummary", ("Summary", "Keywords")),
    (
        "UsesAndDirections",
        (
            "IntendedUseAndWorkflow",
            "PrimaryIntendedUsers",
            "HowToUse",
            "TargetedPatientPopulation",
            "CautionedOutOfScopeSettings",
        ),
    ),
    ("Warnings", ("KnownRisksAndLimitations", "KnownBiasesOrEthicalConsiderations", "ClinicalRiskLevel")),
    ("TrustIngredients", ("AISystemFacts", "TransparencyInformation")),
    ("KeyMetrics", ("UsefulnessUsabilityEfficacy", "FairnessEquity", "SafetyReliability")),
    (
        "Resources",
        (
            "EvaluationReferences",
            "ClinicalTrial",
            "PeerReviewedPublications",
            "ReimbursementStatus",
            "PatientConsentOrDisclosure",
        ),
    ),
)
FACTS = (
    "OutcomesAndOutputs",
    "ModelType",
    "FoundationModels",
    "InputDataSource",
    "OutputAndInputDataTypes",
    "DevelopmentDataCharacterization",
    "BiasMitigationApproaches",
    "OngoingMaintenance",
    "Security",
    "Transparency",
)
INFO = ("FundingSource", "ThirdPartyInformation", "StakeholdersConsulted")
KEY_METRIC = (
    "MetricGoal",
    "Results",
    "Interpretation",
    "TestType",
    "TestingDataDescription",
    "ValidationProcessAndJustification",
)


def to_xml(card: Card) -> bytes:
    """The card as XML in schema order."""
    from lxml import etree

    def sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        el = etree.SubElement(parent, f"{{{NS}}}{name}")
        if text is not None:
            el.text = text
        return el

    v = card.values
    root = etree.Element(f"{{{NS}}}AppliedModelCard", nsmap={None: NS})
    for section, names in ORDER:
        sec = sub(root, section)
        for name in names:
            path = f"{section}/{name}"
            if section == "TrustIngredients":
                group = sub(sec, name)
                for child in FACTS if name == "AISystemFacts" else INFO:
                    if f"{path}/{child}" in v:
                        sub(group, child, v[f"{path}/{child}"])
            elif section == "KeyMetrics":
                group = sub(sec, name)
                for child in KEY_METRIC:
                    if child == "Results":
                        results = sub(group, "Results")
                        for label, value in v[f"{path}/Results"]:
                            r = sub(results, "MetricResult")
                            sub(r, "Label", label)
                            sub(r, "ValueJson", value)
                    else:
                        sub(group, child, v[f"{path}/{child}"])
            elif path == "ModelSummary/Keywords":
                kw = sub(sec, "Keywords")
                for word in v[path]:
                    sub(kw, "Keyword", word)
            elif path in v:
                sub(sec, name, v[path])
    sub(root, "Bibliography", v["Bibliography"])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# --------------------------------------------------------------------------- XML signature


def _c14n(element: etree._Element) -> bytes:
    from lxml import etree

    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def _digest(root: etree._Element) -> str:
    """SHA-256 of the exclusive C14N of the document without its signature (the enveloped transform)."""
    import copy

    doc = copy.deepcopy(root)
    for sig in doc.findall(f"{{{DS}}}Signature"):
        doc.remove(sig)
    return base64.b64encode(hashlib.sha256(_c14n(doc)).digest()).decode("ascii")


def sign(data: bytes, key: Ed25519PrivateKey, fingerprint: str) -> bytes:
    """Append an enveloped ``ds:Signature`` made with the Ed25519 private ``key``."""
    from lxml import etree

    root = _parse(data)
    if root.find(f"{{{DS}}}Signature") is not None:
        raise BadInput("the card is already signed")
    sig = etree.SubElement(root, f"{{{DS}}}Signature", nsmap={"ds": DS})
    info = etree.SubElement(sig, f"{{{DS}}}SignedInfo")
    etree.SubElement(info, f"{{{DS}}}CanonicalizationMethod", Algorithm=EXC_C14N)
    etree.SubElement(info, f"{{{DS}}}SignatureMethod", Algorithm=ED25519)
    ref = etree.SubElement(info, f"{{{DS}}}Reference", URI="")
    transforms = etree.SubElement(ref, f"{{{DS}}}Transforms")
    etree.SubElement(transforms, f"{{{DS}}}Transform", Algorithm=ENVELOPED)
    etree.SubElement(transforms, f"{{{DS}}}Transform", Algorithm=EXC_C14N)
    etree.SubElement(ref, f"{{{DS}}}DigestMethod", Algorithm=SHA256)
    etree.SubElement(ref, f"{{{DS}}}DigestValue").text = _digest(root)
    value = etree.SubElement(sig, f"{{{DS}}}SignatureValue")
    value.text = base64.b64encode(key.sign(_c14n(info))).decode("ascii")
    key_info = etree.SubElement(sig, f"{{{DS}}}KeyInfo")
    etree.SubElement(key_info, f"{{{DS}}}KeyName").text = fingerprint
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@dataclass
class Verdict:
    ok: bool
    reason: str
    fingerprint: str | None = None
    signer: str | None = None

    def as_dict(self) -> dict:
        return {"ok": self.ok, "reason": self.reason, "fingerprint": self.fingerprint, "signer": self.signer}


def _shape(sig: etree._Element) -> str | None:
    """Why the signature is not the one shape govkit writes (None when it is)."""

    def algo(el: etree._Element | None) -> str | None:
        return None if el is None else el.get("Algorithm")

    info = sig.find(f"{{{DS}}}SignedInfo")
    if info is None:
        return "no SignedInfo"
    if algo(info.find(f"{{{DS}}}CanonicalizationMethod")) != EXC_C14N:
        return "unsupported canonicalisation"
    if algo(info.find(f"{{{DS}}}SignatureMethod")) != ED25519:
        return "unsupported signature method (govkit signs with Ed25519)"
    refs = info.findall(f"{{{DS}}}Reference")
    if len(refs) != 1 or refs[0].get("URI") != "":
        return "the signature must have exactly one reference, to the whole card"
    transforms = [algo(t) for t in refs[0].iterfind(f"{{{DS}}}Transforms/{{{DS}}}Transform")]
    if transforms != [ENVELOPED, EXC_C14N]:
        return "unsupported transforms"
    if algo(refs[0].find(f"{{{DS}}}DigestMethod")) != SHA256:
        return "unsupported digest method"
    return None


def verify(data: bytes, public_key_for: Callable[[str], tuple[str, Any] | str]) -> Verdict:
    """Check the card's schema and its signature.

    ``public_key_for(fingerprint)`` gives the roster's (signer name, Ed25519 public key), or why the key
    cannot be used (unknown, revoked).
    """
    import binascii

    from cryptography.exceptions import InvalidSignature

    errors = validate(data)
    if errors:
        return Verdict(False, f"not a valid CHAI card: {errors[0]}")
    root = _parse(data)
    sigs = list(root.iter(f"{{{DS}}}Signature"))
    if not sigs:
        return Verdict(False, "the card is not signed")
    if len(sigs) != 1 or sigs[0].getparent() is not root:
        return Verdict(False, "the card must hold exactly one signature, as the last child of AppliedModelCard")
    sig = sigs[0]
    problem = _shape(sig)
    if problem:
        return Verdict(False, problem)
    fp = (sig.findtext(f"{{{DS}}}KeyInfo/{{{DS}}}KeyName") or "").strip()
    found = public_key_for(fp)
    if isinstance(found, str):
        return Verdict(False, found, fp)
    signer, public = found
    info = sig.find(f"{{{DS}}}SignedInfo")
    if (info.findtext(f"{{{DS}}}Reference/{{{DS}}}DigestValue") or "").strip() != _digest(root):
        return Verdict(False, "the card was changed after it was signed (digest mismatch)", fp, signer)
    try:
        raw = base64.b64decode(sig.findtext(f"{{{DS}}}SignatureValue") or "", validate=True)
        public.verify(raw, _c14n(info))
    except (InvalidSignature, binascii.Error, ValueError):
        return Verdict(False, "the signature does not verify under the signer's key", fp, signer)
    return Verdict(True, "signature valid", fp, signer)

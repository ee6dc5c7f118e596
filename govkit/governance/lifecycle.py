"""Model lifecycle: draft → validated → approved → deployed → retired.

Every transition is a new :class:`~govkit.registry.tables.StageTransition`
row and an audit event, so the full stage history is kept.  Promotions are
gated by the policy attached to the model version (or one given explicitly):

* to ``validated``: every requirement except approvals and incidents passes;
* to ``approved`` and ``deployed``: every requirement passes;
* to ``retired``: always allowed, from any state but ``retired``.

Signatures (:func:`approve`) record the signer's name, role, decision, the
meaning of the signature and the time, as 21 CFR 11.50 asks.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from govkit.canonical import sha256_hex
from govkit.errors import BadInput
from govkit.governance.policy import Policy, PolicyReport, check_policy, parse_policy
from govkit.registry.audit import append_event, current_actor
from govkit.registry.tables import DECISIONS, Approval, ModelVersion, PolicyAttachment, StageTransition

STATES = ("draft", "validated", "approved", "deployed", "retired")
NEXT = {"draft": "validated", "validated": "approved", "approved": "deployed"}
VALIDATION_EXEMPT = ("approval", "incident")


def current_state(session: Session, mv: ModelVersion) -> str:
    state = session.scalar(select(StageTransition.to_state).where(StageTransition.model_version_id == mv.id)
                           .order_by(StageTransition.id.desc()).limit(1))
    return state or "draft"


def history(session: Session, mv: ModelVersion) -> list[dict]:
    rows = session.scalars(select(StageTransition).where(StageTransition.model_version_id == mv.id)
                           .order_by(StageTransition.id))
    return [{"from": r.from_state, "to": r.to_state, "actor": r.actor, "reason": r.reason,
             "at": r.created_at.isoformat()} for r in rows]


def attach_policy(session: Session, mv: ModelVersion, text: str, source: str) -> Policy:
    policy = parse_policy(text, source)
    session.add(PolicyAttachment(model_version_id=mv.id, policy_name=policy.name, policy_version=policy.version,
                                 content=text, sha256=sha256_hex(text.encode()), attached_by=current_actor()))
    append_event(session, "policy.attach", "model_version", _ref(mv),
                 {"policy": f"{policy.name}@{policy.version}", "sha256": sha256_hex(text.encode())})
    return policy


def attached_policy(session: Session, mv: ModelVersion) -> Policy | None:
    row = session.scalar(select(PolicyAttachment).where(PolicyAttachment.model_version_id == mv.id)
                         .order_by(PolicyAttachment.id.desc()).limit(1))
    return parse_policy(row.content, f"attached policy {row.policy_name}@{row.policy_version}") if row else None


def _ref(mv: ModelVersion) -> str:
    return f"{mv.model.name}@{mv.version}"


@dataclass
class Promotion:
    model: str
    from_state: str
    to_state: str
    allowed: bool
    report: PolicyReport | None
    reason: str

    def as_dict(self) -> dict:
        return {"model": self.model, "from": self.from_state, "to": self.to_state, "allowed": self.allowed,
                "reason": self.reason, "policy": self.report.as_dict() if self.report else None}


def promote(session: Session, mv: ModelVersion, to_state: str, *, policy: Policy | None = None,
            reason: str | None = None) -> Promotion:
    """Move ``mv`` to ``to_state`` if the rules and the policy allow it.

    A refused promotion is recorded in the audit chain too; the caller commits
    it and then reports the refusal (the CLI exits 1).
    """
    if to_state not in STATES:
        raise BadInput(f"unknown state {to_state!r}; states: {' → '.join(STATES)}")
    state = current_state(session, mv)
    ref = _ref(mv)
    if state == "retired":
        raise BadInput(f"{ref} is retired; register a new version instead")
    report = None
    if to_state == "retired":
        allowed, why = True, reason or "retired"
    elif NEXT.get(state) != to_state:
        raise BadInput(f"{ref} is {state}; it can move to {NEXT.get(state, 'nothing')} or retired, not {to_state}")
    else:
        policy = policy or attached_policy(session, mv)
        if policy is None:
            raise BadInput(f"{ref} has no policy attached: pass --policy or run 'govkit policy attach'")
        report = check_policy(session, mv, policy)
        exempt = VALIDATION_EXEMPT if to_state == "validated" else ()
        blocking = [o for o in report.outcomes if o.status in ("fail", "missing") and o.evidence not in exempt]
        allowed = not blocking
        why = reason or ("policy passed" if allowed else
                         "blocked by " + ", ".join(f"{o.id} ({o.status})" for o in blocking))
    if allowed:
        session.add(StageTransition(model_version_id=mv.id, from_state=state, to_state=to_state,
                                    actor=current_actor(), reason=why))
    append_event(session, "model.promote" if allowed else "model.promote.refused", "model_version", ref,
                 {"from": state, "to": to_state, "reason": why,
                  "policy": report.policy if report else None})
    return Promotion(ref, state, to_state, allowed, report, why)


def approve(session: Session, mv: ModelVersion, *, role: str, decision: str, meaning: str,
            signer: str | None = None) -> Approval:
    if decision not in DECISIONS:
        raise BadInput(f"decision must be one of {', '.join(DECISIONS)}")
    if not meaning.strip():
        raise BadInput("--meaning must state what the signature means (21 CFR 11.50)")
    row = Approval(model_version_id=mv.id, signer=signer or current_actor(), role=role, decision=decision,
                   meaning=meaning)
    session.add(row)
    session.flush()
    append_event(session, "approval.sign", "model_version", _ref(mv),
                 {"signer": row.signer, "role": role, "decision": decision, "meaning": meaning,
                  "approval_id": row.id})
    return row


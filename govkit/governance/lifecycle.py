"""Model lifecycle: draft → validated → approved → deployed → retired.

Every transition is a new :class:`~govkit.registry.tables.StageTransition`
row and an audit event, so the full stage history is kept.  Promotions are
gated by the policy attached to the model version:

* to ``validated``: every requirement except approvals and incidents passes;
* to ``approved`` and ``deployed``: every requirement passes;
* to ``retired``: always allowed, from any state but ``retired``.

Policies are content-addressed: the transition records the SHA-256 of the
canonical policy that gated it.  Gating on any other policy than the
attached one is an *override*: it needs a reason and the electronic
signature of a signer holding an override role
(:data:`govkit.governance.signatures.OVERRIDE_ROLES`); :func:`overrides`
lists them for the audit report.  Signatures themselves live in
:mod:`govkit.governance.signatures`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govkit.errors import BadInput
from govkit.governance.policy import BLOCKING, Policy, PolicyReport, check_policy, parse_policy, record_policy
from govkit.registry.audit import append_event, current_actor
from govkit.registry.tables import ModelVersion, PolicyAttachment, PolicyOverride, Signer, StageTransition

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

STATES = ("draft", "validated", "approved", "deployed", "retired")
NEXT = {"draft": "validated", "validated": "approved", "approved": "deployed"}
VALIDATION_EXEMPT = ("approval", "incident")


def current_state(session: Session, mv: ModelVersion) -> str:
    state = session.scalar(
        select(StageTransition.to_state)
        .where(StageTransition.model_version_id == mv.id)
        .order_by(StageTransition.id.desc())
        .limit(1)
    )
    return state or "draft"


def history(session: Session, mv: ModelVersion) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(StageTransition).where(StageTransition.model_version_id == mv.id).order_by(StageTransition.id)
    )
    return [
        {
            "from": r.from_state,
            "to": r.to_state,
            "actor": r.actor,
            "reason": r.reason,
            "policy_sha256": r.policy_sha256,
            "override": r.override_id,
            "at": r.created_at.isoformat(),
        }
        for r in rows
    ]


def attach_policy(session: Session, mv: ModelVersion, policy: Policy) -> Policy:
    """Gate ``mv`` by ``policy`` from now on (recorded by its canonical SHA-256)."""
    record_policy(session, policy)
    session.add(
        PolicyAttachment(
            model_version_id=mv.id,
            policy_name=policy.name,
            policy_version=policy.version,
            content=policy.content,
            sha256=policy.sha256,
            attached_by=current_actor(),
        )
    )
    append_event(session, "policy.attach", "model_version", _ref(mv), {"policy": policy.ref, "sha256": policy.sha256})
    return policy


def attached_policy(session: Session, mv: ModelVersion) -> Policy | None:
    row = session.scalar(
        select(PolicyAttachment)
        .where(PolicyAttachment.model_version_id == mv.id)
        .order_by(PolicyAttachment.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    policy = parse_policy(row.content, f"attached policy {row.policy_name}@{row.policy_version}")
    if policy.sha256 != row.sha256:
        raise BadInput(
            f"the attached policy {policy.ref} of {_ref(mv)} does not match its recorded SHA-256; "
            "run 'govkit audit verify'"
        )
    return policy


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
    override: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "from": self.from_state,
            "to": self.to_state,
            "allowed": self.allowed,
            "reason": self.reason,
            "override": self.override,
            "policy": self.report.as_dict() if self.report else None,
        }


def promote(
    session: Session,
    mv: ModelVersion,
    to_state: str,
    *,
    policy: Policy | None = None,
    reason: str | None = None,
    override_key: Ed25519PrivateKey | None = None,
) -> Promotion:
    """Move ``mv`` to ``to_state`` if the rules and the policy allow it.

    ``policy`` other than the attached one needs ``override_key`` (the
    private key of a signer holding an override role) and ``reason``.  A
    refused promotion is recorded in the audit chain too; the caller commits
    it and then reports the refusal (the CLI exits 1).
    """
    from govkit.phiguard import check_text

    if to_state not in STATES:
        raise BadInput(f"unknown state {to_state!r}; states: {' → '.join(STATES)}")
    if reason:
        check_text(reason, "reason")
    state = current_state(session, mv)
    ref = _ref(mv)
    if state == "retired":
        raise BadInput(f"{ref} is retired; register a new version instead")
    report = None
    override_id = None
    gate_sha = None
    if to_state == "retired":
        allowed, why = True, reason or "retired"
    elif NEXT.get(state) != to_state:
        raise BadInput(f"{ref} is {state}; it can move to {NEXT.get(state, 'nothing')} or retired, not {to_state}")
    else:
        attached = attached_policy(session, mv)
        if attached is None:
            raise BadInput(f"{ref} has no policy attached: run 'govkit policy attach' first")
        if policy is not None:
            record_policy(session, policy)
        gate = policy or attached
        if gate.sha256 != attached.sha256:
            if override_key is None or not reason:
                raise BadInput(
                    f"{gate.ref} (sha256 {gate.sha256[:12]}…) is not the policy attached to {ref} "
                    f"({attached.ref}, sha256 {attached.sha256[:12]}…): promoting under another policy "
                    "needs --override --reason TEXT signed by an authorised signer"
                )
            from govkit.governance.signatures import sign_override

            override_id = sign_override(
                session, mv, override_key, from_state=state, to_state=to_state, policy_sha256=gate.sha256, reason=reason
            ).id
        elif override_key is not None:
            raise BadInput("--override is only for promoting under a policy other than the attached one")
        gate_sha = gate.sha256
        report = check_policy(session, mv, gate)
        exempt = VALIDATION_EXEMPT if to_state == "validated" else ()
        blocking = [o for o in report.outcomes if o.status in BLOCKING and o.evidence not in exempt]
        allowed = not blocking
        why = "policy passed" if allowed else "blocked by " + ", ".join(f"{o.id} ({o.status})" for o in blocking)
        if override_id is not None:
            why = f"OVERRIDE of {attached.ref} by {gate.ref}: {why}"
        if reason:
            why = f"{why}; {reason}"
    if allowed:
        session.add(
            StageTransition(
                model_version_id=mv.id,
                from_state=state,
                to_state=to_state,
                actor=current_actor(),
                reason=why,
                policy_sha256=gate_sha,
                override_id=override_id,
            )
        )
    append_event(
        session,
        "model.promote" if allowed else "model.promote.refused",
        "model_version",
        ref,
        {
            "from": state,
            "to": to_state,
            "reason": why,
            "policy": report.policy if report else None,
            "policy_sha256": gate_sha,
            "override": override_id,
        },
    )
    return Promotion(ref, state, to_state, allowed, report, why, override_id)


def overrides(session: Session, mv: ModelVersion) -> list[dict[str, Any]]:
    """Every promotion of ``mv`` gated by a policy other than the attached one, with its signature's validity.

    Keys: id, from, to, policy_sha256, attached_sha256, reason, signer, role,
    fingerprint, signed_at (ISO-8601 with zone), valid, invalid_reason.
    """
    from govkit.governance.signatures import override_problem

    out = []
    for o in session.scalars(
        select(PolicyOverride).where(PolicyOverride.model_version_id == mv.id).order_by(PolicyOverride.id)
    ):
        signer = session.get(Signer, o.signer_id)
        problem = override_problem(session, o)
        out.append(
            {
                "id": o.id,
                "from": o.from_state,
                "to": o.to_state,
                "policy_sha256": o.policy_sha256,
                "attached_sha256": o.attached_sha256,
                "reason": o.reason,
                "signer": signer.name if signer else None,
                "role": o.role,
                "fingerprint": o.fingerprint,
                "signed_at": o.created_at.isoformat(),
                "valid": problem is None,
                "invalid_reason": problem,
            }
        )
    return out

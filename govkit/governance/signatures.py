"""Signers and electronic signatures (21 CFR Part 11).

* **Roster** (11.100): an administrator registers each signer with the roles
  they may sign in and an Ed25519 public key (:func:`add_signer`); a key is
  unique to one signer.  Revoking a signer (:func:`revoke_signer`) is an
  audited record: signatures made after it are invalid.
* **Signing** (11.50, 11.70, 11.200): :func:`sign_approval` builds the
  canonical record of what is signed (the model version, its artifact, code
  and spec hashes, a digest of its evidence, the attached policy's hash, the
  decision, its meaning, the role, the signer and the time), signs it with
  the signer's private key, unlocked by the signer's passphrase (the second
  component besides the key file), and stores record and signature together.
* **Verifying**: :func:`verify_signed` checks that the stored row still says
  what was signed, that the signature verifies under the roster key, that
  the signer held the role and that the key was not revoked before the time
  of signing.  ``audit verify`` runs it over every signature
  (:func:`signature_problems`); reports show :func:`signature_rows`.

Private keys are PKCS#8 PEM files encrypted with the passphrase
(``cryptography``'s best available encryption); govkit never stores or logs
a private key or a passphrase.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govkit.canonical import canonical_json, sha256_hex
from govkit.errors import BadInput, NotFound
from govkit.registry.audit import ChainReport, append_event, current_actor, row_hash
from govkit.registry.tables import (
    DECISIONS,
    Approval,
    Artifact,
    Evaluation,
    Metric,
    ModelVersion,
    PolicyAttachment,
    PolicyOverride,
    Registration,
    Signer,
    SignerRevocation,
    utcnow,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PASSPHRASE_ENV = "GOVKIT_SIGNING_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
ROLE_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
#: Roles allowed to sign a promotion under a policy other than the attached one.
OVERRIDE_ROLES = ("quality-manager",)


# --------------------------------------------------------------------------- keys


def _public_key(pem: str) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem.encode())
    except ValueError:
        raise BadInput("not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BadInput("the public key must be Ed25519 (make one with 'govkit signer keygen')")
    return key


def fingerprint(public: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte Ed25519 public key, hex."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return sha256_hex(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def keygen(path: Path, passphrase: bytes) -> tuple[Path, str]:
    """Write a new passphrase-encrypted private key at ``path`` (mode 0600) and its
    public key at ``path + ".pub"``; return the public key's path and fingerprint."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        BestAvailableEncryption,
        Encoding,
        PrivateFormat,
        PublicFormat,
    )

    if len(passphrase) < 8:
        raise BadInput("the passphrase must have at least 8 characters")
    pub_path = path.with_name(path.name + ".pub")
    for p in (path, pub_path):
        if p.exists():
            raise BadInput(f"{p} exists; govkit never overwrites a key")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(passphrase))
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(private)
        fh.flush()
        os.fsync(fh.fileno())
    pub_path.write_bytes(public)
    return pub_path, fingerprint(key.public_key())


def load_private_key(path: Path, passphrase: bytes) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read signing key {path}: {exc.strerror}") from None
    try:
        key = load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError):
        raise BadInput(f"cannot unlock signing key {path}: wrong passphrase or not an encrypted govkit key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadInput(f"signing key {path} is not an Ed25519 key")
    return key


# --------------------------------------------------------------------------- roster


def _check_roles(roles: list[str]) -> list[str]:
    if not roles:
        raise BadInput("a signer needs at least one --role")
    bad = [r for r in roles if not ROLE_PATTERN.fullmatch(r)]
    if bad:
        raise BadInput(f"role names are lower-case words joined by '-' (e.g. clinical-lead), got {bad}")
    return sorted(set(roles))


def add_signer(session: Session, name: str, roles: list[str], public_pem: str) -> Signer:
    """Register ``name`` with ``roles`` and an Ed25519 public key (audited)."""
    name = name.strip()
    if not name:
        raise BadInput("a signer needs a name")
    roles = _check_roles(roles)
    fp = fingerprint(_public_key(public_pem))
    if session.scalar(select(Signer).where(Signer.name == name)) is not None:
        raise BadInput(f"signer {name!r} is already registered; revoke it and register a new name to change keys")
    if session.scalar(select(Signer).where(Signer.fingerprint == fp)) is not None:
        raise BadInput("this public key already belongs to another signer (a key is unique to one person)")
    row = Signer(name=name, roles=roles, public_key=public_pem, fingerprint=fp, added_by=current_actor())
    session.add(row)
    session.flush()
    append_event(session, "signer.add", "signer", name, {"roles": roles, "fingerprint": fp})
    return row


def signer_by_name(session: Session, name: str) -> Signer:
    row = session.scalar(select(Signer).where(Signer.name == name))
    if row is None:
        raise NotFound(f"unknown signer {name!r}")
    return row


def revoked_at(session: Session, signer: Signer) -> dt.datetime | None:
    return session.scalar(
        select(SignerRevocation.created_at)
        .where(SignerRevocation.signer_id == signer.id)
        .order_by(SignerRevocation.id)
        .limit(1)
    )


def revoke_signer(session: Session, name: str, reason: str) -> SignerRevocation:
    from govkit.phiguard import check_text

    signer = signer_by_name(session, name)
    if revoked_at(session, signer) is not None:
        raise BadInput(f"signer {name!r} is already revoked")
    if not reason.strip():
        raise BadInput("a revocation needs a --reason")
    check_text(reason, "reason")
    row = SignerRevocation(signer_id=signer.id, reason=reason, revoked_by=current_actor())
    session.add(row)
    session.flush()
    append_event(session, "signer.revoke", "signer", name, {"fingerprint": signer.fingerprint, "reason": reason})
    return row


def roster(session: Session) -> list[dict[str, Any]]:
    out = []
    for s in session.scalars(select(Signer).order_by(Signer.id)):
        rev = revoked_at(session, s)
        out.append(
            {
                "name": s.name,
                "roles": s.roles,
                "fingerprint": s.fingerprint,
                "added_by": s.added_by,
                "added_at": s.created_at.isoformat(),
                "revoked_at": rev.isoformat() if rev else None,
            }
        )
    return out


def signer_for_key(session: Session, key: Ed25519PrivateKey) -> Signer:
    """The roster entry of ``key``'s public half; refused when unknown or revoked."""
    fp = fingerprint(key.public_key())
    signer = session.scalar(select(Signer).where(Signer.fingerprint == fp))
    if signer is None:
        raise BadInput(f"key {fp[:16]}… is not in the signer roster; an administrator adds it with 'govkit signer add'")
    if revoked_at(session, signer) is not None:
        raise BadInput(f"the key of signer {signer.name!r} was revoked")
    return signer


# --------------------------------------------------------------------------- what is signed


def evidence_digest(session: Session, mv: ModelVersion) -> str:
    """SHA-256 over the content hashes of the version's evaluations, metrics and artifacts."""
    parts: list[list[str]] = []
    for ev in session.scalars(select(Evaluation).where(Evaluation.model_version_id == mv.id).order_by(Evaluation.id)):
        parts.append(["evaluations", str(ev.id), row_hash(ev)])
        for m in session.scalars(select(Metric).where(Metric.evaluation_id == ev.id).order_by(Metric.id)):
            parts.append(["metrics", str(m.id), row_hash(m)])
        for a in session.scalars(select(Artifact).where(Artifact.evaluation_id == ev.id).order_by(Artifact.id)):
            parts.append(["artifacts", str(a.id), row_hash(a)])
    return sha256_hex(canonical_json(parts))


def attached_policy_sha256(session: Session, mv: ModelVersion) -> str | None:
    return session.scalar(
        select(PolicyAttachment.sha256)
        .where(PolicyAttachment.model_version_id == mv.id)
        .order_by(PolicyAttachment.id.desc())
        .limit(1)
    )


def _subject(session: Session, mv: ModelVersion) -> dict[str, Any]:
    return {
        "model": f"{mv.model.name}@{mv.version}",
        "artifact_sha256": mv.artifact_sha256,
        "code_sha256": mv.code_sha256,
        "spec_sha256": mv.spec_sha256,
        "evidence_sha256": evidence_digest(session, mv),
    }


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def _sign(key: Ed25519PrivateKey, content: dict[str, Any]) -> str:
    return base64.b64encode(key.sign(canonical_json(content))).decode("ascii")


def registration_of(session: Session, mv: ModelVersion) -> Registration | None:
    return session.scalar(select(Registration).where(Registration.model_version_id == mv.id))


def sign_registration(session: Session, mv: ModelVersion, key: Ed25519PrivateKey | None) -> Registration:
    """Record who registered ``mv``: the roster signer owning ``key`` (signed), or,
    without a key, an unauthenticated registrant (NULL signer)."""
    if key is None:
        row = Registration(model_version_id=mv.id)
    else:
        signer = signer_for_key(session, key)
        created = utcnow()
        content = {
            **{k: v for k, v in _subject(session, mv).items() if k != "evidence_sha256"},
            "kind": "registration",
            "signer": signer.name,
            "signed_at": _stamp(created),
            "fingerprint": signer.fingerprint,
        }
        row = Registration(
            model_version_id=mv.id,
            signer_id=signer.id,
            fingerprint=signer.fingerprint,
            signed_content=content,
            signature=_sign(key, content),
            created_at=created,
        )
    session.add(row)
    session.flush()
    return row


def registration_problem(session: Session, r: Registration) -> str | None:
    mv = _model_version(session, r.model_version_id)
    signer = session.get(Signer, r.signer_id) if r.signer_id is not None else None
    return verify_signed(
        session,
        r.signed_content,
        r.signature,
        r.fingerprint,
        {
            "model": f"{mv.model.name}@{mv.version}",
            "signer": signer.name if signer else None,
            "kind": "registration",
            "signed_at": _stamp(r.created_at),
            "artifact_sha256": mv.artifact_sha256,
            "code_sha256": mv.code_sha256,
            "spec_sha256": mv.spec_sha256,
        },
    )


def unauthenticated_registrant(session: Session, mv: ModelVersion) -> str | None:
    """Why ``mv``'s registrant is not an authenticated roster signer, or None when it is."""
    reg = registration_of(session, mv)
    if reg is None or reg.signature is None:
        return "registered without a signer key (unauthenticated registrant)"
    problem = registration_problem(session, reg)
    return f"registration signature invalid: {problem}" if problem else None


def _authorise(session: Session, mv: ModelVersion, key: Ed25519PrivateKey, role: str) -> Signer:
    signer = signer_for_key(session, key)
    if role not in signer.roles:
        raise BadInput(f"signer {signer.name!r} does not hold role {role!r} (roster roles: {', '.join(signer.roles)})")
    reg = registration_of(session, mv)
    if reg is not None and reg.signer_id == signer.id:
        raise BadInput(
            f"{signer.name} registered {mv.model.name}@{mv.version} and cannot sign for it (separation of duties)"
        )
    return signer


def sign_approval(
    session: Session, mv: ModelVersion, key: Ed25519PrivateKey, *, role: str, decision: str, meaning: str
) -> Approval:
    """Sign a decision on ``mv`` as the roster signer owning ``key``."""
    from govkit.phiguard import check_text

    if decision not in DECISIONS:
        raise BadInput(f"decision must be one of {', '.join(DECISIONS)}")
    if not meaning.strip():
        raise BadInput("--meaning must state what the signature means (21 CFR 11.50)")
    check_text(meaning, "meaning")
    signer = _authorise(session, mv, key, role)
    signed_at = utcnow()
    content = {
        **_subject(session, mv),
        "policy_sha256": attached_policy_sha256(session, mv),
        "kind": "approval",
        "signer": signer.name,
        "role": role,
        "decision": decision,
        "meaning": meaning,
        "signed_at": _stamp(signed_at),
        "fingerprint": signer.fingerprint,
    }
    row = Approval(
        model_version_id=mv.id,
        signer=signer.name,
        role=role,
        decision=decision,
        meaning=meaning,
        signed_at=signed_at,
        signer_id=signer.id,
        fingerprint=signer.fingerprint,
        signed_content=content,
        signature=_sign(key, content),
    )
    session.add(row)
    session.flush()
    append_event(
        session,
        "approval.sign",
        "model_version",
        f"{mv.model.name}@{mv.version}",
        {
            "signer": signer.name,
            "role": role,
            "decision": decision,
            "meaning": meaning,
            "approval_id": row.id,
            "fingerprint": signer.fingerprint,
        },
    )
    return row


def sign_override(
    session: Session,
    mv: ModelVersion,
    key: Ed25519PrivateKey,
    *,
    from_state: str,
    to_state: str,
    policy_sha256: str,
    reason: str,
) -> PolicyOverride:
    """A signed promotion of ``mv`` under the policy ``policy_sha256`` instead of the attached one."""
    from govkit.phiguard import check_text

    if not reason.strip():
        raise BadInput("an override needs --reason")
    check_text(reason, "reason")
    signer = signer_for_key(session, key)
    roles = [r for r in OVERRIDE_ROLES if r in signer.roles]
    if not roles:
        raise BadInput(
            f"signer {signer.name!r} may not override the attached policy (needs role {' or '.join(OVERRIDE_ROLES)})"
        )
    _authorise(session, mv, key, roles[0])
    created = utcnow()
    content = {
        **_subject(session, mv),
        "kind": "policy-override",
        "from": from_state,
        "to": to_state,
        "policy_sha256": policy_sha256,
        "attached_sha256": attached_policy_sha256(session, mv),
        "reason": reason,
        "signer": signer.name,
        "role": roles[0],
        "signed_at": _stamp(created),
        "fingerprint": signer.fingerprint,
    }
    row = PolicyOverride(
        model_version_id=mv.id,
        from_state=from_state,
        to_state=to_state,
        policy_sha256=policy_sha256,
        attached_sha256=content["attached_sha256"],
        reason=reason,
        signer_id=signer.id,
        role=roles[0],
        fingerprint=signer.fingerprint,
        signed_content=content,
        signature=_sign(key, content),
        created_at=created,
    )
    session.add(row)
    session.flush()
    return row


# --------------------------------------------------------------------------- verifying


def verify_signed(
    session: Session, content: dict[str, Any] | None, signature: str | None, fp: str | None, stated: dict[str, Any]
) -> str | None:
    """Why a stored signature is invalid, or None when it is valid.

    ``stated`` holds what the row itself says (signer, role, decision, …);
    each must equal the signed content.
    """
    from cryptography.exceptions import InvalidSignature

    if content is None or signature is None or fp is None:
        return "unsigned (recorded without an electronic signature)"
    signer = session.scalar(select(Signer).where(Signer.fingerprint == fp))
    if signer is None or content.get("fingerprint") != fp:
        return "the key is not in the signer roster"
    changed = sorted(k for k, v in stated.items() if content.get(k) != v)
    if changed:
        return f"the record differs from what was signed ({', '.join(changed)})"
    try:
        _public_key(signer.public_key).verify(base64.b64decode(signature), canonical_json(content))
    except (InvalidSignature, ValueError):
        return "the signature does not verify under the signer's key"
    if content.get("signer") != signer.name:
        return "signed under another signer's name"
    if "role" in content and content["role"] not in signer.roles:
        return f"the signer does not hold role {content.get('role')!r}"
    rev = revoked_at(session, signer)
    if rev is not None and str(content.get("signed_at", "")) >= _stamp(rev):
        return "signed after the signer's key was revoked"
    return None


def _model_version(session: Session, mv_id: int) -> ModelVersion:
    mv = session.get(ModelVersion, mv_id)
    if mv is None:
        raise NotFound(f"model version {mv_id} is missing from the registry")
    return mv


def approval_problem(session: Session, a: Approval) -> str | None:
    mv = _model_version(session, a.model_version_id)
    return verify_signed(
        session,
        a.signed_content,
        a.signature,
        a.fingerprint,
        {
            "model": f"{mv.model.name}@{mv.version}",
            "signer": a.signer,
            "role": a.role,
            "decision": a.decision,
            "meaning": a.meaning,
            "signed_at": _stamp(a.signed_at),
            "kind": "approval",
            "artifact_sha256": mv.artifact_sha256,
            "code_sha256": mv.code_sha256,
        },
    )


def override_problem(session: Session, o: PolicyOverride) -> str | None:
    mv = _model_version(session, o.model_version_id)
    signer = session.get(Signer, o.signer_id)
    return verify_signed(
        session,
        o.signed_content,
        o.signature,
        o.fingerprint,
        {
            "model": f"{mv.model.name}@{mv.version}",
            "signer": signer.name if signer else None,
            "role": o.role,
            "from": o.from_state,
            "to": o.to_state,
            "policy_sha256": o.policy_sha256,
            "attached_sha256": o.attached_sha256,
            "reason": o.reason,
            "signed_at": _stamp(o.created_at),
            "kind": "policy-override",
            "artifact_sha256": mv.artifact_sha256,
            "code_sha256": mv.code_sha256,
        },
    )


def signature_rows(session: Session, mv: ModelVersion) -> list[dict[str, Any]]:
    """Every signature on ``mv``, oldest first, verified.

    Keys: signer, role, decision, meaning, signed_at (ISO-8601 with zone),
    fingerprint, valid, reason (why invalid), superseded (a later signature by
    the same signer exists; both stay on record).
    """
    rows = list(session.scalars(select(Approval).where(Approval.model_version_id == mv.id).order_by(Approval.id)))
    last_by_signer = {a.signer.casefold(): a.id for a in rows}
    out = []
    for a in rows:
        problem = approval_problem(session, a)
        out.append(
            {
                "id": a.id,
                "signer": a.signer,
                "role": a.role,
                "decision": a.decision,
                "meaning": a.meaning,
                "signed_at": a.signed_at.isoformat(),
                "fingerprint": a.fingerprint,
                "valid": problem is None,
                "reason": problem,
                "superseded": last_by_signer[a.signer.casefold()] != a.id,
            }
        )
    return out


def signature_problems(session: Session) -> list[str]:
    """Every signed row whose signature is invalid (unsigned approvals from before
    electronic signatures are reported by :func:`signature_rows`, not here)."""
    out = []
    for a in session.scalars(select(Approval).order_by(Approval.id)):
        if a.signature is None and a.signed_content is None and a.fingerprint is None:
            continue
        if (problem := approval_problem(session, a)) is not None:
            out.append(f"approvals #{a.id}: signature invalid: {problem}")
    for o in session.scalars(select(PolicyOverride).order_by(PolicyOverride.id)):
        if (problem := override_problem(session, o)) is not None:
            out.append(f"policy_overrides #{o.id}: signature invalid: {problem}")
    for r in session.scalars(select(Registration).where(Registration.signature.is_not(None)).order_by(Registration.id)):
        if (problem := registration_problem(session, r)) is not None:
            out.append(f"registrations #{r.id}: signature invalid: {problem}")
    return out


def verify_registry(session: Session, *, head: tuple[int, str] | None = None) -> ChainReport:
    """Everything ``govkit audit verify`` proves: the chain, every row of every table, every signature.

    Reports call this too, so the PDF's "audit chain" verdict is the CLI's.
    """
    from govkit.registry.audit import verify_chain

    report = verify_chain(session, head=head)
    if report.first_broken_seq is not None:
        return report
    return report.with_problems(signature_problems(session))

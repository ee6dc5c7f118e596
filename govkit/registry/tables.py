"""The registry's ORM models (SQLAlchemy 2.0, typed ``Mapped[...]``).

Every table is insert-only: a change is a new row that supersedes the old
one (``supersedes_id``) or an event row (stage transitions, incident
updates).  Database triggers installed by the migrations reject UPDATE and
DELETE on every table (:data:`APPEND_ONLY_TABLES`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back with its zone.

    SQLite has no zone-aware type: without this a stored time would come back
    naive, print without a zone and hash differently from what was written.
    A naive value given to govkit is refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("govkit stores only zone-aware timestamps")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


Created = Mapped[dt.datetime]


def created_col() -> Mapped[dt.datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, nullable=False)


EVALUATION_KINDS = ("performance", "privacy", "robustness", "explainability", "drift")
DECISIONS = ("approve", "reject", "conditional")


class Model(Base):
    __tablename__ = "models"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Created = created_col()
    versions: Mapped[list[ModelVersion]] = relationship(back_populates="model")


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version: Mapped[str] = mapped_column(String(100))
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]]
    spec_sha256: Mapped[str] = mapped_column(String(64))
    code_version: Mapped[str | None] = mapped_column(String(200))
    # SHA-256 over the entrypoint's source files (None for TorchScript artifacts); per-file
    # hashes are in ``spec["code_files"]`` so a refusal can name the changed file
    code_sha256: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Created = created_col()
    model: Mapped[Model] = relationship(back_populates="versions")
    training_data: Mapped[list[ModelTrainingData]] = relationship()


class ModelTrainingData(Base):
    """Lineage: the dataset versions a model version was trained on."""

    __tablename__ = "model_training_data"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    dataset_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"))
    role: Mapped[str] = mapped_column(String(50), default="train")


class StageTransition(Base):
    """Lifecycle history: draft → validated → approved → deployed → retired."""

    __tablename__ = "stage_transitions"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    # SHA-256 of the canonical policy that gated this transition, and the override used, if any
    policy_sha256: Mapped[str | None] = mapped_column(String(64))
    override_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Created = created_col()


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Created = created_col()
    versions: Mapped[list[DatasetVersion]] = relationship(back_populates="dataset")


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    version: Mapped[str] = mapped_column(String(100))
    content_sha256: Mapped[str] = mapped_column(String(64))
    manifest: Mapped[dict[str, Any]]
    deid_run_id: Mapped[str | None] = mapped_column(ForeignKey("deid_runs.id"))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Created = created_col()
    dataset: Mapped[Dataset] = relationship(back_populates="versions")


class DeidRun(Base):
    """One de-identification run.  Holds the key's fingerprint, never the key."""

    __tablename__ = "deid_runs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    profile_revision: Mapped[str] = mapped_column(String(20))
    options: Mapped[list[Any]]
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    counts: Mapped[dict[str, Any]]
    n_files: Mapped[int] = mapped_column(Integer)
    n_ok: Mapped[int] = mapped_column(Integer)
    n_failed: Mapped[int] = mapped_column(Integer)
    n_skipped: Mapped[int] = mapped_column(Integer)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    software: Mapped[dict[str, Any]]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))


class Evaluation(Base):
    __tablename__ = "evaluations"
    __table_args__ = (
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in EVALUATION_KINDS) + ")",
            name="ck_evaluations_kind",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"))
    kind: Mapped[str] = mapped_column(String(20))
    config: Mapped[dict[str, Any]]
    seed: Mapped[int | None] = mapped_column(Integer)
    device: Mapped[str] = mapped_column(String(50))
    software: Mapped[dict[str, Any]]
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id"))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Created = created_col()
    metrics: Mapped[list[Metric]] = relationship(back_populates="evaluation")
    artifacts: Mapped[list[Artifact]] = relationship(back_populates="evaluation")


class Metric(Base):
    """A typed metric value with its sample size and confidence interval.

    ``params`` holds the selectors a policy matches on, for example
    ``{"attack": "rmia"}`` or ``{"attack": "pgd-linf", "eps": 0.0039}``.
    """

    __tablename__ = "metrics"
    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id"))
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    ci_level: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int | None] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # "ok", "unsupported" (the sample cannot support the figure) or "unreliable"
    # (its own control fired); gates treat anything but "ok" as insufficient evidence
    status: Mapped[str] = mapped_column(String(20), default="ok", server_default="ok")
    reason: Mapped[str | None] = mapped_column(Text)
    evaluation: Mapped[Evaluation] = relationship(back_populates="metrics")


class Artifact(Base):
    __tablename__ = "artifacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id"))
    name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(100))
    evaluation: Mapped[Evaluation] = relationship(back_populates="artifacts")


class RiskAssessment(Base):
    """A version of a model's ISO 14971 risk assessment; new versions supersede."""

    __tablename__ = "risk_assessments"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    revision: Mapped[int] = mapped_column(Integer)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("risk_assessments.id"))
    matrix: Mapped[dict[str, Any]]
    author: Mapped[str] = mapped_column(String(200))
    created_at: Created = created_col()
    items: Mapped[list[RiskItem]] = relationship(back_populates="assessment")


class RiskItem(Base):
    __tablename__ = "risk_items"
    __table_args__ = (
        CheckConstraint("severity BETWEEN 1 AND 5", name="ck_risk_items_severity"),
        CheckConstraint("probability BETWEEN 1 AND 5", name="ck_risk_items_probability"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("risk_assessments.id"))
    hazard: Mapped[str] = mapped_column(Text)
    hazardous_situation: Mapped[str] = mapped_column(Text)
    harm: Mapped[str] = mapped_column(Text)
    severity: Mapped[int] = mapped_column(Integer)
    probability: Mapped[int] = mapped_column(Integer)
    risk_level: Mapped[str] = mapped_column(String(20))
    controls: Mapped[list[Any]] = mapped_column(default=list)
    residual_severity: Mapped[int | None] = mapped_column(Integer)
    residual_probability: Mapped[int | None] = mapped_column(Integer)
    residual_level: Mapped[str | None] = mapped_column(String(20))
    residual_acceptable: Mapped[bool | None]
    source: Mapped[str | None] = mapped_column(String(200))
    assessment: Mapped[RiskAssessment] = relationship(back_populates="items")


class Approval(Base):
    """An electronic signature: signer, role, decision, meaning and time (21 CFR 11.50).

    ``signed_content`` is the canonical record the signer's Ed25519 key signed
    (model version, artifact and code hashes, evidence digest, policy hash,
    decision, meaning, time; 21 CFR 11.70 links the signature to the record);
    ``signature`` is the base64 signature and ``fingerprint`` names the key
    in the signer roster (:class:`Signer`).
    """

    __tablename__ = "approvals"
    __table_args__ = (
        CheckConstraint(
            "decision IN (" + ", ".join(f"'{d}'" for d in DECISIONS) + ")",
            name="ck_approvals_decision",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    signer: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(100))
    decision: Mapped[str] = mapped_column(String(20))
    meaning: Mapped[str] = mapped_column(Text)
    signed_at: Created = created_col()
    signer_id: Mapped[int | None] = mapped_column(Integer)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    signed_content: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    signature: Mapped[str | None] = mapped_column(Text)


class Signer(Base):
    """A person allowed to sign, with the roles an administrator gave them and
    their Ed25519 public key (21 CFR 11.100: signatures are unique to one person)."""

    __tablename__ = "signers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    roles: Mapped[list[Any]]
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    added_by: Mapped[str] = mapped_column(String(200))
    created_at: Created = created_col()


class Registration(Base):
    """Who registered a model version: the roster signer whose key signed the
    registration (``signer_id``, ``fingerprint``, ``signed_content``,
    ``signature``), or NULLs when it was registered without a key
    (unauthenticated: no approval can then satisfy a sign-off requirement)."""

    __tablename__ = "registrations"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), unique=True)
    signer_id: Mapped[int | None] = mapped_column(Integer)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    signed_content: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    signature: Mapped[str | None] = mapped_column(Text)
    created_at: Created = created_col()


class SignerRevocation(Base):
    """A signer's key withdrawn: signatures made after ``created_at`` are invalid."""

    __tablename__ = "signer_revocations"
    id: Mapped[int] = mapped_column(primary_key=True)
    signer_id: Mapped[int] = mapped_column(ForeignKey("signers.id"))
    reason: Mapped[str] = mapped_column(Text)
    revoked_by: Mapped[str] = mapped_column(String(200))
    created_at: Created = created_col()


class PolicyRecord(Base):
    """Every policy govkit has seen, content-addressed: one content per ``name@version``."""

    __tablename__ = "policies"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(50))
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Created = created_col()


class PolicyOverride(Base):
    """A promotion gated by a policy other than the attached one, signed by an authorised signer."""

    __tablename__ = "policy_overrides"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    policy_sha256: Mapped[str] = mapped_column(String(64))
    attached_sha256: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    signer_id: Mapped[int] = mapped_column(ForeignKey("signers.id"))
    role: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))
    signed_content: Mapped[dict[str, Any]]
    signature: Mapped[str] = mapped_column(Text)
    created_at: Created = created_col()


class CardRevision(Base):
    """A corrected model card for a registered version (artifact and code unchanged)."""

    __tablename__ = "card_revisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    revision: Mapped[int] = mapped_column(Integer)
    card: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Created = created_col()


class Document(Base):
    """A document attached to a model version as evidence of one kind (e.g. the EU
    declaration of conformity): stored by name and SHA-256, not by content."""

    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    kind: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Created = created_col()


class Incident(Base):
    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    description: Mapped[str] = mapped_column(Text)
    case_ref: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(20))
    reported_by: Mapped[str] = mapped_column(String(200))
    reported_at: Created = created_col()
    updates: Mapped[list[IncidentUpdate]] = relationship()


class IncidentUpdate(Base):
    """A status change of an incident (triage, close): the incident row never changes."""

    __tablename__ = "incident_updates"
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Created = created_col()


class Report(Base):
    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(300))
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    template_version: Mapped[str] = mapped_column(String(50))
    path: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Created = created_col()


class PolicyAttachment(Base):
    """The deployment policy a model version is gated by (newest attachment wins)."""

    __tablename__ = "policy_attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    policy_name: Mapped[str] = mapped_column(String(200))
    policy_version: Mapped[str] = mapped_column(String(50))
    content: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    attached_by: Mapped[str] = mapped_column(String(200))
    created_at: Created = created_col()


class DataAudit(Base):
    """The result of ``govkit data audit`` for a registered dataset version.

    ``against`` names the other splits it was compared with; ``result`` holds
    the audit's JSON object (leakage, balance, warnings) and its figures as
    metric rows (``result["metrics"]``), which ``evidence: data`` policy
    requirements match on.  ``sha256`` is the canonical hash of ``result``.
    """

    __tablename__ = "data_audits"
    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"))
    against: Mapped[list[Any]]
    result: Mapped[dict[str, Any]]
    sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Created = created_col()


class AuditEvent(Base):
    """One link of the hash chain (see :mod:`govkit.registry.audit`)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    occurred_at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    entity_type: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


APPEND_ONLY_TABLES = tuple(sorted(Base.metadata.tables))

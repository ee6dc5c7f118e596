"""Register a model version: spec, weights or artifact, and the entrypoint's code (insert-only, audited).

Lives in governance (not the registry) because registration checks the card
for PHI (:mod:`govkit.phiguard`, which uses de-identification's detector).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from govkit.errors import BadInput
from govkit.registry.audit import append_event, current_actor
from govkit.registry.catalog import get_or_create
from govkit.registry.db import Registry
from govkit.registry.lookup import dataset_version
from govkit.registry.tables import Model, ModelTrainingData, ModelVersion, StageTransition

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def register_model(
    registry: Registry,
    name: str,
    version: str,
    spec_path: str | Path,
    *,
    training_data: list[str] | tuple[str, ...] = (),
    code_version: str | None = None,
    key: Ed25519PrivateKey | None = None,
) -> dict[str, Any]:
    """Store the spec, artifact and code hashes as ``NAME@VERSION`` (state ``draft``).

    The weights are read with ``torch.load(weights_only=True)`` and must be a
    plain state dict; the model is built once so that an entrypoint which
    raises or exits is refused now, not at evaluation time.

    ``key`` is the registrant's roster signing key: the registration is signed
    and the registrant (by key fingerprint) may not sign approvals of this
    version.  Without a key the registrant is unauthenticated and no approval
    can satisfy a policy's sign-off requirement for the version.
    """
    from govkit.governance.signatures import sign_registration
    from govkit.models.card import card_texts
    from govkit.models.loading import load_network
    from govkit.models.spec import load_spec
    from govkit.phiguard import check_text

    spec = load_spec(spec_path)
    if (spec.name, spec.version) != (name, version):
        raise BadInput(f"spec {spec_path} describes {spec.ref}, not {name}@{version}")
    for field, text in card_texts(spec.card):
        check_text(text, field)
    load_network(spec)
    artifact_sha, spec_sha = spec.artifact_sha256(), spec.spec_sha256()
    code_files, code_sha = spec.code_files(), spec.code_sha256()
    with registry.unit_of_work() as s:
        model = get_or_create(s, Model, name)
        existing = next((v for v in model.versions if v.version == version), None)
        if existing is not None:
            if (existing.artifact_sha256, existing.spec_sha256, existing.code_sha256) == (
                artifact_sha,
                spec_sha,
                code_sha,
            ):
                return {
                    "model": f"{name}@{version}",
                    "artifact_sha256": artifact_sha,
                    "code_sha256": code_sha,
                    "created": False,
                }
            raise BadInput(
                f"{name}@{version} is already registered with another artifact, code or spec; register a new version"
            )
        lineage = [dataset_version(s, ref) for ref in training_data]
        mv = ModelVersion(
            model_id=model.id,
            version=version,
            artifact_sha256=artifact_sha,
            spec={"spec": spec.raw, "base_dir": str(spec.base_dir), "code_files": code_files},
            spec_sha256=spec_sha,
            code_version=code_version,
            code_sha256=code_sha,
            tags=spec.tags,
            created_by=current_actor(),
        )
        s.add(mv)
        s.flush()
        for dv in lineage:
            s.add(ModelTrainingData(model_version_id=mv.id, dataset_version_id=dv.id, role="train"))
        s.add(
            StageTransition(
                model_version_id=mv.id, from_state=None, to_state="draft", actor=current_actor(), reason="registered"
            )
        )
        registration = sign_registration(s, mv, key)
        append_event(
            s,
            "model.register",
            "model_version",
            f"{name}@{version}",
            {
                "artifact_sha256": artifact_sha,
                "spec_sha256": spec_sha,
                "code_sha256": code_sha,
                "training_data": list(training_data),
                "registrant_fingerprint": registration.fingerprint,
            },
        )
    return {
        "model": f"{name}@{version}",
        "artifact_sha256": artifact_sha,
        "code_sha256": code_sha,
        "created": True,
        "registrant_fingerprint": registration.fingerprint,
    }

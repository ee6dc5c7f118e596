"""Signers with real Ed25519 keys for the governance tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

PASSPHRASE = "correct horse battery staple"  # noqa: S105 - a test key's passphrase


@dataclass
class Person:
    name: str
    key: Path
    public: Path


@pytest.fixture
def make_signer(cli, tmp_path, monkeypatch):
    """``make_signer(db, name, *roles)``: keygen + ``signer add`` through the CLI; returns a :class:`Person`."""
    monkeypatch.setenv("GOVKIT_SIGNING_PASSPHRASE", PASSPHRASE)

    def make(db: str, name: str, *roles: str) -> Person:
        key = tmp_path / f"{name.replace(' ', '_').replace('.', '')}.key"
        res = cli("--db", db, "signer", "keygen", key, "--json")
        assert res.code == 0, res.err
        public = Path(res.json()["public_key"])
        args = [x for r in roles for x in ("--role", r)]
        res = cli("--db", db, "signer", "add", name, *args, "--public-key", public)
        assert res.code == 0, res.err
        return Person(name, key, public)

    return make


def roster_key(session, name, roles):
    """An in-session roster entry with a fresh Ed25519 key; returns the private key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from govkit.governance.signatures import add_signer

    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    add_signer(session, name, list(roles), pem)
    return key


def signed_registration(session, mv):
    """Record ``mv`` as registered by its own engineer signer (an authenticated registrant)."""
    from govkit.governance.signatures import sign_registration

    sign_registration(session, mv, roster_key(session, f"Registrar of {mv.model.name}", ["engineer"]))

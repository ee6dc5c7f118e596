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

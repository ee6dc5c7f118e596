"""``govkit signer``: the roster of people who may sign, and their keys (21 CFR 11.100, 11.200)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from govkit.cli.app import App, json_option, pass_app

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def passphrase(confirm: bool = False) -> bytes:
    """The signing passphrase: ``GOVKIT_SIGNING_PASSPHRASE`` (automation) or a hidden prompt."""
    from govkit.errors import BadInput
    from govkit.governance.signatures import PASSPHRASE_ENV

    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env.encode()
    if not sys.stdin.isatty():  # click.get_text_stream is deprecated (gone in click 9)
        raise BadInput(f"no passphrase: set {PASSPHRASE_ENV} or run on a terminal to be prompted")
    value: str = click.prompt("Signing passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
    return value.encode()


def unlock(key_path: Path) -> Ed25519PrivateKey:
    """The private key at ``key_path``, unlocked with the signer's passphrase."""
    from govkit.governance.signatures import load_private_key

    return load_private_key(key_path, passphrase())


@click.group()
def signer() -> None:
    """Register signers (name, roles, public key), make keys, revoke."""


@signer.command()
@click.argument("key_path", metavar="KEY_FILE", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@pass_app
def keygen(app: App, key_path: Path) -> None:
    """Write a new Ed25519 private key, encrypted with a passphrase, to KEY_FILE (and KEY_FILE.pub)."""
    from govkit.governance.signatures import keygen as make

    pub, fp = make(key_path, passphrase(confirm=True))
    app.emit(
        {"private_key": str(key_path), "public_key": str(pub), "fingerprint": fp},
        f"wrote {key_path} (private, passphrase-encrypted) and {pub}; fingerprint {fp}",
    )


@signer.command()
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help="A role the signer may sign in (repeatable).")
@click.option(
    "--public-key",
    "public_key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The signer's Ed25519 public key (PEM), e.g. from 'govkit signer keygen'.",
)
@json_option
@pass_app
def add(app: App, name: str, roles: tuple[str, ...], public_key: Path) -> None:
    """Register NAME with roles and a public key (administrators; audited)."""
    from govkit.governance.signatures import add_signer

    with app.registry().unit_of_work() as s:
        row = add_signer(s, name, list(roles), public_key.read_text())
        out = {"name": row.name, "roles": row.roles, "fingerprint": row.fingerprint}
    app.emit(out, f"signer {out['name']} ({', '.join(out['roles'])}) key {out['fingerprint'][:16]}…")


@signer.command()
@click.argument("name")
@click.option("--reason", required=True, help="Why the key is withdrawn (no PHI).")
@json_option
@pass_app
def revoke(app: App, name: str, reason: str) -> None:
    """Revoke NAME's key: later signatures with it are invalid (audited)."""
    from govkit.governance.signatures import revoke_signer

    with app.registry().unit_of_work() as s:
        at = revoke_signer(s, name, reason).created_at.isoformat()
    app.emit({"name": name, "revoked_at": at}, f"signer {name} revoked at {at}")


@signer.command("list")
@json_option
@pass_app
def list_signers(app: App) -> None:
    """The roster."""
    from govkit.governance.signatures import roster

    with app.registry().unit_of_work() as s:
        rows = roster(s)
    app.emit(
        {"signers": rows},
        lambda: (
            "\n".join(
                f"{r['name']:<24} {', '.join(r['roles']):<32} {r['fingerprint'][:16]}…"
                + (f"  REVOKED {r['revoked_at']}" if r["revoked_at"] else "")
                for r in rows
            )
            or "no signers"
        ),
    )

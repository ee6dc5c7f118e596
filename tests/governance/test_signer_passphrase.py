"""``govkit signer``'s passphrase: from GOVKIT_SIGNING_PASSPHRASE, else a prompt on a terminal, else refused."""

from __future__ import annotations


def test_keygen_without_a_passphrase_or_a_terminal_is_refused(cli, tmp_path, monkeypatch):
    """No passphrase in the environment and stdin not a terminal (pytest's stdin is not): exit 2, one
    actionable line, and no key written (never a key encrypted with an empty or guessed passphrase)."""
    monkeypatch.delenv("GOVKIT_SIGNING_PASSPHRASE", raising=False)
    key = tmp_path / "alice.key"
    res = cli("signer", "keygen", key)
    assert res.code == 2, res.err
    assert res.err.strip().splitlines() == [
        "govkit: error: no passphrase: set GOVKIT_SIGNING_PASSPHRASE or run on a terminal to be prompted"
    ]
    assert not key.exists() and not key.with_name("alice.key.pub").exists()


def test_keygen_takes_the_passphrase_from_the_environment(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("GOVKIT_SIGNING_PASSPHRASE", "a test passphrase")
    key = tmp_path / "alice.key"
    res = cli("signer", "keygen", key, "--json")
    assert res.code == 0, res.err
    assert key.exists() and b"ENCRYPTED" in key.read_bytes()

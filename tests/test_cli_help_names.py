"""``--help`` lists the registry's names, read only when help is shown (issue #19)."""

from __future__ import annotations

import subprocess
import sys

from govkit.robustness.attacks import ADVERSARIAL_ATTACKS
from govkit.robustness.corruptions import CORRUPTIONS


def test_robustness_help_lists_every_corruption_and_attack(cli):
    res = cli("robustness", "run", "--help")
    assert res.code == 0
    flat = " ".join(res.out.split()).replace("- ", "-")  # help text wraps at hyphens
    assert all(name in flat for name in [*CORRUPTIONS, *ADVERSARIAL_ATTACKS])


def test_loading_the_robustness_commands_does_not_import_the_registry():
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; import govkit.cli.main, govkit.cli.robustness; "
            "print(sorted({'torch', 'govkit.robustness.corruptions', 'govkit.robustness.attacks'} & set(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "[]"


def _flat(text: str) -> str:
    return " ".join(text.split()).replace("- ", "-")  # help text wraps at hyphens


def test_explain_help_lists_every_method_and_check_and_the_true_default(cli):
    from govkit.explain.checks import EXPLANATION_CHECKS
    from govkit.explain.methods import ATTRIBUTION_METHODS
    from govkit.explain.run import DEFAULT_METHODS

    res = cli("explain", "run", "--help")
    assert res.code == 0
    flat = _flat(res.out)
    assert all(name in flat for name in [*ATTRIBUTION_METHODS, *EXPLANATION_CHECKS])
    assert f"(default: {', '.join(DEFAULT_METHODS)})" in flat


def test_privacy_help_lists_every_attack(cli):
    from govkit.privacy.attacks import MIA_ATTACKS

    res = cli("privacy", "audit", "--help")
    assert res.code == 0
    flat = _flat(res.out)
    assert all(name in flat for name in MIA_ATTACKS)


def test_unknown_names_are_usage_errors_listing_the_known_ones(cli, tmp_path):
    from govkit.explain.checks import EXPLANATION_CHECKS
    from govkit.privacy.attacks import MIA_ATTACKS

    d = tmp_path / "d.npz"
    d.write_bytes(b"")
    res = cli("privacy", "audit", "m@1", "--members", d, "--non-members", d, "--attack", "loss", "--attack", "nope")
    assert res.code == 2 and len(res.err.splitlines()) == 1
    assert "unknown nope" in res.err and ", ".join(MIA_ATTACKS) in res.err
    res = cli("explain", "run", "m@1", "--data", d, "--checks", "stability,bogus")
    assert res.code == 2 and "unknown bogus" in res.err and ", ".join(EXPLANATION_CHECKS) in res.err


def test_loading_the_explain_and_privacy_commands_imports_no_registry():
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; import govkit.cli.main, govkit.cli.explain, govkit.cli.privacy; "
            "print(sorted({'torch', 'captum', 'govkit.explain.methods', 'govkit.explain.checks', "
            "'govkit.privacy.attacks'} & set(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "[]"


def test_help_follows_the_registries(cli, monkeypatch):
    """A name registered later shows in --help: the lists are read from the registries, not written out."""
    from govkit.explain.checks import EXPLANATION_CHECKS
    from govkit.explain.methods import ATTRIBUTION_METHODS
    from govkit.privacy.attacks import MIA_ATTACKS

    for registry, name in (
        (ATTRIBUTION_METHODS, "zz-method"),
        (EXPLANATION_CHECKS, "zz-check"),
        (MIA_ATTACKS, "zz-mia"),
    ):
        monkeypatch.setitem(registry, name, object())
    assert all(n in _flat(cli("explain", "run", "--help").out) for n in ("zz-method", "zz-check"))
    assert "zz-mia" in _flat(cli("privacy", "audit", "--help").out)

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

"""Usage errors are one line on stderr naming the problem and the ``--help`` to read, exit 2 (issue #19)."""

from __future__ import annotations

import json

import pytest

CASES = [
    # (argv, words the line must hold, the --help it points to)
    (["eval", "performance"], ["Missing argument", "MODEL"], "govkit eval performance --help"),
    (["no-such-group"], ["No such command", "no-such-group"], "govkit --help"),
    (["eval", "no-such-command"], ["No such command", "no-such-command"], "govkit eval --help"),
    (["audit", "log", "--limit", "0"], ["--limit", "0"], "govkit audit log --help"),
    (
        ["eval", "performance", "m@1", "--data", "{data}", "--threshold", "3"],
        ["--threshold", "3.0"],
        "govkit eval performance --help",
    ),
    (["report", "audit", "m@1", "-o", "report.txt"], ["report.txt", "must end in .pdf"], "govkit report audit --help"),
    (
        ["report", "export", "m@1", "--format", "chai-xml", "-o", "card.json"],
        ["card.json", "must end in .xml"],
        "govkit report export --help",
    ),
    (
        ["robustness", "run", "m@1", "--bogus-option"],
        ["No such option", "--bogus-option"],
        "govkit robustness run --help",
    ),
]


@pytest.mark.parametrize(("argv", "words", "helpcmd"), CASES, ids=[" ".join(c[0][:3]) for c in CASES])
def test_usage_error_is_one_line_naming_problem_and_help(cli, tmp_path, argv, words, helpcmd):
    data = tmp_path / "d.npz"
    data.write_bytes(b"")
    res = cli(*[a.replace("{data}", str(data)) for a in argv])
    assert res.code == 2
    assert res.out == ""
    lines = res.err.splitlines()
    assert len(lines) == 1, res.err
    assert lines[0].startswith("govkit: error: ")
    assert "Usage:" not in res.err and "Try '" not in res.err
    assert all(w in lines[0] for w in words), lines[0]
    assert f"(see '{helpcmd}')" in lines[0]


def test_usage_error_under_json_is_one_object(cli):
    res = cli("eval", "performance", "--json")
    assert res.code == 2
    assert json.loads(res.out) == {
        "error": "Missing argument 'MODEL' (see 'govkit eval performance --help')",
        "exit_code": 2,
    }
    assert len(res.err.splitlines()) == 1


@pytest.mark.parametrize("argv", [[], ["eval"]])
def test_a_group_without_a_command_prints_its_help(cli, argv):
    res = cli(*argv)
    assert res.code == 2 and res.err.startswith("Usage: govkit") and "Commands:" in res.err
    assert "govkit: error" not in res.err

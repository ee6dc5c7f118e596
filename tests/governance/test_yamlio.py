"""The one safe YAML loader: alias bombs, recursion, depth and size are refused fast with the line."""

from __future__ import annotations

import time

import pytest

from govkit import yamlio
from govkit.errors import BadInput

LAUGHS = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
]
BOMB = "\n".join(LAUGHS) + "\n"


def test_alias_bomb_is_refused_fast_with_the_line():
    t = time.perf_counter()
    with pytest.raises(BadInput, match=r"bomb.yaml line 6: aliases expand to more than 100,000 nodes"):
        yamlio.load(BOMB, "bomb.yaml")
    assert time.perf_counter() - t < 1.0


def test_small_aliases_still_work():
    doc = yamlio.load("base: &b {lr: 0.1}\nrun: *b\n")
    assert doc == {"base": {"lr": 0.1}, "run": {"lr": 0.1}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &a [*a]\n", "line 1: recursive alias"),
        ("[" * 200 + "]" * 200, "nesting deeper than 64 levels"),
        ("x: [" + ", ".join(["*a"] * 101) + "]\n", "more than 100 aliases"),
        ("a: [1, 2\n", "invalid YAML"),
    ],
)
def test_malformed_yaml_is_bad_input(text, message):
    with pytest.raises(BadInput, match=message):
        yamlio.load(text.replace("*a]", "*a]") if "recursive" in message else text, "f.yaml")


def test_size_limit(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("x: " + "a" * (yamlio.MAX_BYTES + 1))
    with pytest.raises(BadInput, match="larger than"):
        yamlio.load_file(big)


def test_lines_are_recorded_and_strippable():
    doc = yamlio.load("x: 1\ny:\n  z: 2\n", lines=True)
    assert doc["__line__"] == 1 and doc["y"]["__line__"] == 3
    assert yamlio.strip_lines(doc) == {"x": 1, "y": {"z": 2}}


@pytest.mark.parametrize("what", ["spec", "policy"])
def test_bomb_in_spec_or_policy_is_exit_2(cli, registry, tmp_path, what):
    f = tmp_path / f"{what}.yaml"
    f.write_text(BOMB)
    t = time.perf_counter()
    if what == "spec":
        res = cli("--db", registry.url, "model", "register", "x", "--version", "1", "--spec", f)
    else:
        res = cli("--db", registry.url, "policy", "check", "x@1", "--policy", f)
    assert res.code == 2 and "line 6" in res.err and "alias bomb" in res.err, res.err
    assert time.perf_counter() - t < 5

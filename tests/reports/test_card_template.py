"""``govkit model card-template``: every card field, with the HTI-1 and CHAI items it answers (issue #19)."""

from __future__ import annotations

import json
import re

import pytest

from govkit.errors import BadInput
from govkit.governance.card import hti1_items
from govkit.models import card as card_module
from govkit.models.card import CARD_SCHEMA, LIST, validate_card
from govkit.reports.card_template import card_template
from govkit.reports.chai import card_field_elements, fill
from govkit.yamlio import load, load_file


def _blocks(text: str) -> dict[str, str]:
    """Field name -> the comment block printed above it."""
    out, comments = {}, []
    for line in text.splitlines():
        if line.startswith("#"):
            comments.append(line)
        elif m := re.fullmatch(r"([a-z_]+):", line):
            out[m.group(1)] = "\n".join(comments)
            comments = []
        elif not line.strip():
            comments = [] if not out and not comments else comments
    return out


def _filled(text: str) -> str:
    """Every empty field set to a placeholder of its kind."""
    lines = []
    for line in text.splitlines():
        if m := re.fullmatch(r"([a-z_]+):", line):
            value = ["Example Org"] if CARD_SCHEMA[m.group(1)] == LIST else f"Example {m.group(1)}"
            line = f"{line} {json.dumps(value)}"
        lines.append(line)
    return "\n".join(lines)


def test_template_lists_every_field_and_validates_once_filled():
    text = card_template()
    parsed = load(text, "template")
    assert list(parsed) == list(CARD_SCHEMA)  # every field, schema order, nothing else
    with pytest.raises(BadInput, match="must be"):  # an unfilled field never passes as a blank card
        validate_card(parsed)
    filled = load(_filled(text), "filled template")
    assert validate_card(filled) == filled and set(filled) == set(CARD_SCHEMA)


def test_a_schema_field_without_template_help_fails(monkeypatch):
    monkeypatch.setitem(card_module.CARD_SCHEMA, "new_field", card_module.TEXT)
    with pytest.raises(RuntimeError, match="new_field"):
        card_template()


def test_each_field_names_its_hti1_attributes_and_chai_elements():
    blocks = _blocks(card_template())
    assert set(blocks) == set(CARD_SCHEMA)
    answered = set()
    for item in hti1_items():
        for source in item["answered_by"]:
            kind, _, name = source.partition(".")
            if kind == "card":
                assert f"HTI-1: {item['group']}: {item['text']} [{item['id']}]" in blocks[name]
                answered.add(name)
    for name in set(CARD_SCHEMA) - answered:
        assert "HTI-1: none" in blocks[name]
    chai = card_field_elements()
    for name, block in blocks.items():
        assert f"CHAI: {', '.join(chai[name]) or 'none'}" in block
    # the CHAI mapping is the export's: the intended use goes where the template says, and factors nowhere
    assert chai["intended_use"] == ["UsesAndDirections/IntendedUseAndWorkflow"]
    assert "TrustIngredients/TransparencyInformation/StakeholdersConsulted" in blocks["stakeholders_consulted"]
    assert "CHAI: none" in blocks["factors"]


def test_chai_mapping_matches_the_export():
    """A card filled from the template lands in the CHAI elements the template names."""
    card = load(_filled(card_template()), "filled")
    ev = {
        "card": card,
        "model": {"name": "m", "version": "1", "registered_at": "2026-01-01", "task": "binary", "classes": ["a", "b"]},
        "state": "draft",
        "evaluations": {},
        "audit_chain": {"head_seq": 0, "head_hash": ""},
    }
    values = fill(ev).values
    for name, elements in card_field_elements().items():
        for element in elements:
            if "KeyMetrics" not in element:  # key metrics are written only with an evaluation
                shown = card[name][0] if CARD_SCHEMA[name] == LIST else card[name]
                assert shown in str(values[element]), (name, element)


def test_cli_prints_writes_and_refuses_to_overwrite(cli, tmp_path):
    res = cli("model", "card-template")
    assert res.code == 0 and res.out == card_template()
    out = tmp_path / "card.yaml"
    assert cli("model", "card-template", "-o", out).code == 0
    assert load_file(out) == load(card_template())
    out.write_text("mine: kept\n")
    res = cli("model", "card-template", "-o", out)
    assert res.code == 2 and "--force" in res.err and len(res.err.splitlines()) == 1
    assert out.read_text() == "mine: kept\n"
    assert cli("model", "card-template", "-o", out, "--force").code == 0
    assert out.read_text() == card_template()
    res = cli("model", "card-template", "-o", tmp_path / "card.txt")
    assert res.code == 2 and "must end in .yaml" in res.err and not (tmp_path / "card.txt").exists()
    res = cli("model", "card-template", "--json")
    assert res.code == 0 and res.json()["fields"] == list(CARD_SCHEMA)

"""``audit log --action``: an unknown action is refused with the known ones listed (issue #19)."""

from __future__ import annotations

import re
from pathlib import Path

from govkit.registry.audit import ACTIONS

ROOT = Path(__file__).resolve().parent.parent


def test_unknown_action_is_exit_2_listing_the_known_ones(cli):
    res = cli("audit", "log", "--action", "deid.verfy")
    assert res.code == 2 and res.out == ""
    assert res.err.count("\n") == 1 and res.err.startswith("govkit: error: unknown audit action 'deid.verfy'")
    assert all(a in res.err for a in ("deid.verify", "model.register", "incident.closed"))
    assert cli("audit", "log", "--action", "deid.verify", "--json").json() == {"events": []}


def test_every_action_govkit_appends_is_known():
    """Each literal action passed to append_event anywhere in govkit is in ACTIONS (and nothing else is)."""
    written = set()
    for path in (ROOT / "govkit").rglob("*.py"):
        text = path.read_text()
        for call in re.findall(r'append_event\(\s*\w+,\s*("[a-z_.]+"(?: if \w+ else "[a-z_.]+")?)', text):
            written |= set(re.findall(r'"([a-z_]+\.[a-z_.]+)"', call))  # dotted: not the docstring's example
        if 'f"incident.{' in text:
            written |= {"incident.triaged", "incident.closed"}  # the statuses `incident triage/close` set
    assert written == ACTIONS

"""``data register`` lineage: the de-identification run that wrote a DST is the newest
recorded one, by its recorded time, whatever the manifests are called; a manifest left
by a killed run (no record) does not break it."""

from __future__ import annotations

import dataclasses
import datetime as dt

from govkit.deid.batch.coordinator import record_run, run
from govkit.registry.catalog import find_deid_run


def test_lineage_picks_the_newest_recorded_run(registry, corpus, tmp_path, key_file):
    dst = tmp_path / "dst"
    first = run(corpus, dst, key_path=key_file)
    record_run(registry, first)
    second = run(corpus, dst, key_path=key_file)
    record_run(registry, second)
    # a recorded run whose manifest sorts last by name, but which finished before the others
    old = dt.datetime.fromisoformat(first.started_at) - dt.timedelta(days=1)
    older = dataclasses.replace(
        first, run_id="ffffffff-0000-4000-8000-000000000000", started_at=old.isoformat(), finished_at=old.isoformat()
    )
    (dst / ".govkit" / f"manifest-{older.run_id}.jsonl").write_text("")
    record_run(registry, older)
    # and a run killed mid-way: a torn manifest, no record
    (dst / ".govkit" / "manifest-ffffffff-ffff-4fff-bfff-ffffffffffff.jsonl").write_text('{"input": "3f')
    target = next(p for p in dst.rglob("*.dcm") if ".govkit" not in p.parts)
    with registry.unit_of_work() as s:
        assert find_deid_run(s, target) == second.run_id
        assert find_deid_run(s, tmp_path / "elsewhere" / "x.dcm") is None

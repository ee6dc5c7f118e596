"""Datasheets and provenance of registered datasets.

The schema is ``policies/datasheet-schema.yaml`` (Gebru et al. 2021,
"Datasheets for Datasets"): seven sections of questions, plus provenance
(source, site, external, consent, legal basis).  :func:`build_datasheet`
merges a datasheet file with the command-line provenance, checks names and
types, and checks every text for PHI with :func:`govkit.phiguard.check_text`
(the fields marked ``party`` name the people and organisations responsible
and are not checked).  The result is stored in the dataset version's
manifest (``manifest["datasheet"]``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from govkit.errors import BadInput
from govkit.resources import resource_dir


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return _load_yaml(resource_dir("policies") / "datasheet-schema.yaml", "datasheet schema")


def _load_yaml(path: Path, what: str) -> Any:
    from govkit.yamlio import load_file

    return load_file(path, what)


def _texts(value: Any, where: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in items):
        raise BadInput(f"{where}: must be text or a list of text")
    return items


def build_datasheet(path: Path | None, provenance: dict[str, Any]) -> dict[str, Any] | None:
    """The checked datasheet (``provenance`` + ``sections``), or None when nothing was given.

    ``provenance`` holds the command-line values (None when not given); a value
    given both in the file and on the command line must agree.
    """
    doc: dict[str, Any] = {}
    if path is not None:
        loaded = _load_yaml(path, "datasheet")
        if not isinstance(loaded, dict):
            raise BadInput(f"datasheet {path}: must be a mapping of sections")
        doc = loaded
    where = f"datasheet {path}" if path is not None else "datasheet"
    sch = schema()
    unknown = sorted(set(doc) - set(sch["sections"]) - set(sch["provenance"]))
    if unknown:
        raise BadInput(f"{where}: unknown field(s) {', '.join(map(str, unknown))}; see policies/datasheet-schema.yaml")
    prov: dict[str, Any] = {}
    for key, spec in sch["provenance"].items():
        file_value, cli_value = doc.get(key), provenance.get(key)
        if file_value is not None and cli_value is not None and file_value != cli_value:
            raise BadInput(f"{where}: {key} is {file_value!r} in the file but {cli_value!r} on the command line")
        value = cli_value if cli_value is not None else file_value
        if value is None:
            continue
        if spec["type"] == "bool" and not isinstance(value, bool):
            raise BadInput(f"{where}: {key} must be true or false")
        if spec["type"] == "text":
            _texts(value, f"{where}: {key}")
        prov[key] = value
    sections: dict[str, dict[str, Any]] = {}
    for name, questions in sch["sections"].items():
        given = doc.get(name)
        if given is None:
            continue
        if not isinstance(given, dict):
            raise BadInput(f"{where}: section {name} must be a mapping of its questions to text")
        bad = sorted(set(given) - set(questions))
        if bad:
            raise BadInput(
                f"{where}: unknown question(s) {', '.join(map(str, bad))} in section {name} "
                f"(known: {', '.join(questions)})"
            )
        for q, v in given.items():
            _texts(v, f"{where}: {name}.{q}")
        sections[name] = dict(given)
    if not prov and not sections:
        return None
    _check_phi(prov, sections, sch)
    return {**prov, "sections": sections}


def _check_phi(prov: dict[str, Any], sections: dict[str, dict[str, Any]], sch: dict[str, Any]) -> None:
    try:
        from govkit.phiguard import check_text
    except ImportError:  # pragma: no cover - only until govkit.phiguard is installed
        return
    for key, value in prov.items():
        if sch["provenance"][key]["type"] == "text":
            for t in _texts(value, key):
                check_text(t, f"datasheet {key}")
    for name, answers in sections.items():
        for q, v in answers.items():
            if not sch["sections"][name][q].get("party"):
                for t in _texts(v, q):
                    check_text(t, f"datasheet {name}.{q}")


def summary(datasheet: dict[str, Any] | None) -> dict[str, Any]:
    """What a report shows: provenance and each answered question, first line only."""
    if not datasheet:
        return {}
    out = {k: v for k, v in datasheet.items() if k != "sections"}
    out["sections"] = {
        name: {
            q: (v if isinstance(v, str) else "; ".join(v)).strip().splitlines()[0][:300]
            for q, v in answers.items()
            if v
        }
        for name, answers in (datasheet.get("sections") or {}).items()
    }
    return out

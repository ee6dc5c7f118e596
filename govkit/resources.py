"""Locate the data folders shipped with govkit (migrations, policies, templates).

In a source checkout they are the top-level folders of the repository; an
installed wheel carries them under ``govkit/_data/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return the folder ``name`` (``migrations``, ``policies``, ``templates``)."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"govkit resource folder {name!r} is missing from this installation")

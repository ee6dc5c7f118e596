"""pydicom/deid recipes (``FORMAT dicom``, ``%header`` ...) applied after the profile.

A recipe lets a site add its own rules (``REPLACE``, ``BLANK``, ``REMOVE``,
``ADD`` ...) on top of Annex E; it runs through the ``deid`` package itself,
so recipes written for deid behave the same here.  govkit applies the
profile first, so a recipe can only act on already de-identified data; the
verification step still checks the final output.
"""

from __future__ import annotations

import contextlib
import functools
import io
from pathlib import Path

from pydicom.dataset import Dataset

from govkit.errors import BadInput


@contextlib.contextmanager
def _quiet():
    """deid logs to stdout and exits on errors; keep both inside govkit's control."""
    from deid.logger import bot

    old = bot.level
    bot.level = 0
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    except SystemExit as exc:
        raise ValueError(f"deid recipe error (exit {exc.code})") from None
    finally:
        bot.level = old


@functools.lru_cache(maxsize=4)
def _recipe(path: str):
    from deid.config import DeidRecipe

    with _quiet():
        return DeidRecipe(deid=path, base=False)


def load_recipe(path: Path) -> str:
    """Validate a recipe file and return its absolute path (workers reload it)."""
    if not path.is_file():
        raise BadInput(f"recipe {path} does not exist")
    first = next((ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()), "")
    if not first.upper().startswith("FORMAT DICOM"):
        raise BadInput(f"recipe {path} must start with 'FORMAT dicom'")
    try:
        _recipe(str(path.resolve()))
    except Exception as exc:  # noqa: BLE001 - deid raises many kinds
        raise BadInput(f"invalid recipe {path}: {exc}") from None
    return str(path.resolve())


def apply_recipe(ds: Dataset, path: str) -> Dataset:
    """Apply the recipe at ``path`` to ``ds`` in place."""
    from deid.dicom.parser import DicomParser

    with _quiet():
        parser = DicomParser(ds, recipe=_recipe(path))
        parser.parse()
    return parser.dicom

"""Progress of long loops: an optional callback that the CLI turns into a bar on a terminal.

A :class:`Progress` takes the items of a loop, their number (or ``None``) and
a label, and returns the items to iterate over; :func:`silent`, the default
of every API that takes one, returns them unchanged.  ``govkit.cli.app.App.progress``
is one: a progress bar on stderr when it is a terminal, nothing on a pipe or
under ``--json``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Progress(Protocol):
    def __call__(self, items: Iterable[T], length: int | None, label: str, /) -> Iterable[T]: ...


def silent(items: Iterable[T], length: int | None, label: str, /) -> Iterable[T]:
    """No progress shown."""
    return items

"""The one atomic write: readers see the old file or the new one, never a part.

The bytes go to a temporary file in the destination's own folder (so the
rename stays on one file system), are flushed and ``fsync``-ed, the file is
renamed over the destination, and the folder is ``fsync``-ed so the rename
itself survives a power cut (POSIX ``rename(2)``, ``fsync(2)``).  On any
failure the temporary file is removed: nothing named ``.tmp-*`` is left.

:func:`write_atomic` does all of it.  A caller that must decide *after*
writing whether the file goes into place (the de-identification batch
claims each output path first) uses :func:`write_temp`, then
:func:`replace` or :func:`discard`.  A caller that writes many files may
pass ``durable=False`` to both and call :func:`sync_filesystem` once after
the temporary files are written (before any rename) and once after the
renames: one flush per batch instead of two per file, with the same
guarantee (data on disk before the rename that publishes it).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TMP_PREFIX = ".tmp-"

Data = bytes | str | Callable[[BinaryIO], object]


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename or a new entry in ``folder`` durable (a no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def discard(tmp: str | os.PathLike[str] | None) -> None:
    """Remove a temporary file if it is still there."""
    if tmp is None:
        return
    try:
        os.unlink(tmp)
    except OSError:
        pass


def sync_filesystem(path: str | os.PathLike[str]) -> None:
    """Flush every file and folder written on the file system holding ``path`` (Linux
    ``syncfs(2)``; elsewhere ``sync(2)``)."""
    try:
        import ctypes

        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def write_temp(
    folder: str | os.PathLike[str],
    data: Data,
    *,
    mode: int = 0o644,
    prefix: str = TMP_PREFIX,
    suffix: str = "",
    durable: bool = True,
) -> str:
    """Write ``data`` (bytes, text as UTF-8, or a function writing to a binary file)
    to a new temporary file in ``folder``, fsync it and return its path.

    ``mode`` is set before any byte is written, so a private file (a
    crosswalk, ``0o600``) is never readable by others, not even briefly.
    """
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            if callable(data):
                data(fh)
            else:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
    except BaseException:
        discard(tmp)
        raise
    return tmp


def replace(tmp: str | os.PathLike[str], path: str | os.PathLike[str], *, durable: bool = True) -> None:
    """Rename a file written by :func:`write_temp` into place and make the rename durable
    (``durable=False``: the caller calls :func:`sync_filesystem` after its batch)."""
    try:
        os.replace(tmp, path)
    except BaseException:
        discard(tmp)
        raise
    if durable:
        fsync_dir(Path(path).parent)


def write_atomic(path: str | os.PathLike[str], data: Data, *, mode: int = 0o644, prefix: str = TMP_PREFIX) -> None:
    """Write ``data`` to ``path`` atomically (the folder must exist)."""
    path = Path(path)
    replace(write_temp(path.parent, data, mode=mode, prefix=prefix), path)

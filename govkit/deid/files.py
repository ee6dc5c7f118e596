"""What de-identification reads and where it writes: SRC discovery and path checks.

* SRC and DST never overlap, and the run report and crosswalk are kept
  outside both (:func:`check_paths`).
* Only regular files are read; symbolic links are not followed
  (:func:`discover`).
* govkit's own folder in DST (:data:`MANIFEST_DIR`) is never taken as input.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from govkit.errors import BadInput

MANIFEST_DIR = ".govkit"


def is_within(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def check_paths(src: Path, dst: Path, *outside: Path | None) -> tuple[Path, Path]:
    """Resolve SRC and DST and refuse overlapping locations."""
    if not src.exists():
        raise BadInput(f"source {src} does not exist")
    src_r, dst_r = src.resolve(), dst.resolve()
    src_root = src_r if src_r.is_dir() else src_r.parent
    if is_within(dst_r, src_root):
        raise BadInput(f"destination {dst} is inside the source {src}: govkit never writes into SRC")
    if src_r.is_dir() and is_within(src_r, dst_r):
        raise BadInput(f"source {src} is inside the destination {dst}")
    for p in outside:
        if p is not None and (is_within(p.resolve(), dst_r) or is_within(p.resolve(), src_root)):
            raise BadInput(f"{p} must be kept outside both SRC and DST")
    return src_r, dst_r


def discover(src: Path) -> Iterator[Path]:
    """Regular files under ``src`` (a file or a folder), sorted, symlinks not followed."""
    if src.is_file():
        yield src
        return
    for root, dirs, files in os.walk(src, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d != MANIFEST_DIR)
        for name in sorted(files):
            yield Path(root) / name

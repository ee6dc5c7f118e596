"""What de-identification reads and where it writes: SRC discovery, safe reads, path checks.

* SRC and DST never overlap, and the run report and crosswalk are kept
  outside both (:func:`check_paths`); DST, the report and the crosswalk are
  checked writable before any work (:func:`check_writable`).
* Discovery does not follow symbolic links (:func:`discover`), but lists
  them, and any other entry that is not a folder, so that each is reported.
* Only regular files are read, up to a size limit, and a symbolic link put
  in place of a file after discovery is not followed either
  (:func:`read_source`: ``O_NOFOLLOW``, ``O_NONBLOCK`` so a FIFO never blocks).
* File names are printed with control characters escaped (:func:`printable`).
* govkit's own folder in DST (:data:`MANIFEST_DIR`) is never taken as input.
"""

from __future__ import annotations

import os
import stat
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from govkit.deid.refusals import Refusal
from govkit.errors import BadInput

MANIFEST_DIR = ".govkit"
DEFAULT_MAX_FILE_BYTES = 4 << 30


def is_within(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def check_paths(src: Path, dst: Path, *outside: Path | None) -> tuple[Path, Path]:
    """Resolve SRC and DST and refuse overlapping locations."""
    if not src.exists():
        raise BadInput(f"source {printable(str(src))} does not exist")
    src_r, dst_r = src.resolve(), dst.resolve()
    src_root = src_r if src_r.is_dir() else src_r.parent
    if is_within(dst_r, src_root):
        raise BadInput(
            f"destination {printable(str(dst))} is inside the source {printable(str(src))}: "
            "govkit never writes into SRC"
        )
    if src_r.is_dir() and is_within(src_r, dst_r):
        raise BadInput(f"source {printable(str(src))} is inside the destination {printable(str(dst))}")
    for p in outside:
        if p is not None and (is_within(p.resolve(), dst_r) or is_within(p.resolve(), src_root)):
            raise BadInput(f"{printable(str(p))} must be kept outside both SRC and DST")
    return src_r, dst_r


def check_writable(folder: Path, what: str) -> None:
    """Create ``folder`` if needed and prove a file can be written there; else :class:`BadInput`.

    Run before any work, so a bad destination is exit 2 with nothing written.
    """
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"{what} {printable(str(folder))} is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise BadInput(f"cannot write {what} {printable(str(folder))}: {exc.strerror or 'not writable'}") from None


def check_output_file(path: Path, what: str) -> None:
    """A file the run writes at the end (report, crosswalk): not a folder, its folder writable."""
    if path.is_dir():
        raise BadInput(f"{what} {printable(str(path))} is a folder; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise BadInput(f"cannot write {what} {printable(str(path))}: permission denied")
    check_writable(path.parent, f"the folder of {what}")


def discover(src: Path, *, skip_own: str = "any") -> Iterator[Path]:
    """Every entry under ``src`` that is not a folder, sorted; symbolic links are listed, not followed.

    ``src`` itself may be a file (or a link the user named on purpose).  Folders named
    :data:`MANIFEST_DIR` are left out at any depth (``skip_own="any"``), only at the top of
    ``src`` (``"top"``: verify, for which a ``.govkit`` deeper in DST is content, not govkit's
    own folder) or nowhere (``"none"``).
    """
    if not src.is_dir():
        yield src
        return
    yield from _walk(src, skip_own, True)


def _walk(folder: Path, skip_own: str, top: bool) -> Iterator[Path]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        yield folder  # an unreadable folder is reported like an unreadable file
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            if entry.name != MANIFEST_DIR or skip_own == "none" or (skip_own == "top" and not top):
                yield from _walk(Path(entry.path), skip_own, False)
        else:
            yield Path(entry.path)


def read_source(path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file, or a :class:`Refusal` (link, FIFO, device, too large, unreadable)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if os.path.islink(path):
            raise Refusal("not-regular-file", kind="a symbolic link") from None
        raise Refusal("unreadable", error=_strerror(exc)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refusal("not-regular-file", kind=_kind(st.st_mode))
        if st.st_size > max_bytes:
            raise Refusal("too-large", cap=human_size(max_bytes))
        os.set_blocking(fd, True)
        chunks, left = [], st.st_size + 1  # one byte more: a file that grew past its size is noticed
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise Refusal("too-large", cap=human_size(max_bytes))
        return data
    except OSError as exc:
        raise Refusal("unreadable", error=_strerror(exc)) from None
    finally:
        os.close(fd)


def _strerror(exc: OSError) -> str:
    return (exc.strerror or "input/output error").lower()


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a plain file"


def human_size(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


def parse_size(text: str) -> int:
    """``4GiB``, ``4G``, ``500MB``, ``1048576`` -> bytes (binary units); :class:`BadInput` otherwise."""
    t = text.strip().upper().replace(" ", "").removesuffix("B").removesuffix("I")
    shift = {"K": 10, "M": 20, "G": 30, "T": 40}.get(t[-1:], 0)
    number = t[:-1] if shift else t
    if not number.isdigit() or int(number) == 0:
        raise BadInput(f"size {text!r} is not a positive size such as 4GiB, 500MiB or 1048576")
    return int(number) << shift


def printable(name: str) -> str:
    """``name`` on one safe line: control and format characters (newlines, escape
    sequences, bidirectional overrides), undecodable bytes and backslashes escaped."""
    out = []
    for ch in name:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not valid UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)

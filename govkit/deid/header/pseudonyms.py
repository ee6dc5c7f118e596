"""Keyed, deterministic pseudonyms (PS3.15 E.1.1: "internally consistent").

Everything derives from one secret key with HMAC-SHA256, so the same input
maps to the same output across files, runs, worker processes and machines,
and nobody without the key can reverse or confirm a mapping.

* UIDs become ``2.25.<128-bit integer>`` (PS3.5 B.2, the UUID-derived root).
* PatientID becomes ``GK`` plus 20 base-32 characters.
* Dates shift by a per-patient offset of 365–3652 days into the past, so
  intervals within one patient are preserved.

The key lives in ``$GOVKIT_HOME/deid.key`` (created with mode 0600 on first
use) or in the file given with ``--key``.  Only :attr:`Pseudonymizer.fingerprint`
is ever recorded.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from govkit.errors import BadInput

KEY_FILE = "deid.key"
KEY_BYTES = 32
MIN_SHIFT_DAYS = 365
MAX_SHIFT_DAYS = 3652


def load_key(path: str | Path | None = None) -> bytes:
    """Read the key from ``path``, or from (creating) the default key file."""
    if path is None:
        from govkit.config import home

        path = home() / KEY_FILE
        if not path.exists():
            _create_key(path)
    path = Path(path)
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise BadInput(f"cannot read key file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"key file {path} is not text: it must hold the key as hexadecimal") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise BadInput(f"key file {path} is not hexadecimal") from None
    if len(key) < 16:
        raise BadInput(f"key file {path} holds {len(key)} bytes; at least 16 are required")
    return key


def _create_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(KEY_BYTES) + "\n")


class Pseudonymizer:
    """Keyed mappings for UIDs, patient IDs and date offsets."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._uids: dict[str, str] = {}

    def __repr__(self) -> str:  # never show the key
        return f"Pseudonymizer(fingerprint={self.fingerprint[:16]}…)"

    def _mac(self, domain: bytes, value: str) -> bytes:
        return hmac.new(self._key, domain + b"\x00" + value.encode("utf-8"), hashlib.sha256).digest()

    @property
    def fingerprint(self) -> str:
        """A public identifier of the key (safe to record)."""
        return hmac.new(self._key, b"govkit key fingerprint v1", hashlib.sha256).hexdigest()

    def uid(self, value: str) -> str:
        """``2.25.<int>`` derived from ``value`` (at most 44 characters)."""
        value = value.strip().rstrip("\x00")
        out = self._uids.get(value)
        if out is None:
            out = "2.25." + str(int.from_bytes(self._mac(b"uid", value)[:16], "big"))
            self._uids[value] = out
        return out

    def patient_id(self, value: str) -> str:
        digest = self._mac(b"patient-id", value.strip())
        return "GK" + base64.b32encode(digest[:15]).decode("ascii")[:20]

    def date_shift_days(self, patient_id: str) -> int:
        """Per-patient shift, in days, applied by ``retain-longitudinal-modified-dates``."""
        n = int.from_bytes(self._mac(b"date-shift", patient_id.strip())[:8], "big")
        return -(MIN_SHIFT_DAYS + n % (MAX_SHIFT_DAYS - MIN_SHIFT_DAYS + 1))

    def token(self, domain: str, value: str, length: int = 16) -> str:
        """A keyed hex token, e.g. to identify an input file without its content."""
        return self._mac(domain.encode(), value).hex()[:length]


def shift_date(value: str, days: int) -> str:
    """Shift a DA value (``YYYYMMDD``); anything unparsable is removed (fail closed)."""
    v = value.strip()
    try:
        d = dt.datetime.strptime(v[:8], "%Y%m%d").date()
    except ValueError:
        return ""
    return (d + dt.timedelta(days=days)).strftime("%Y%m%d")


def shift_datetime(value: str, days: int) -> str:
    """Shift the date part of a DT value, keeping time and offset."""
    v = value.strip()
    if len(v) < 8:
        return ""
    shifted = shift_date(v[:8], days)
    return shifted + v[8:] if shifted else ""

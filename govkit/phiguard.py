"""Keep PHI out of the registry's free text.

The registry is insert-only: PHI written into it can never be removed.  Every
free text that enters it (incident descriptions, risk texts, approval
meanings, reasons, card fields, dataset descriptions) passes
:func:`check_text` first, which runs de-identification's own text detector
(Presidio on the installed spaCy pipeline plus govkit's identifier patterns,
:class:`govkit.deid.text.cleaner.TextCleaner`) and refuses the text, naming
only the entity type, never the text.  A case reference must be a
pseudonymous ID (:func:`check_case_ref`).
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from govkit.errors import BadInput

if TYPE_CHECKING:
    from govkit.deid.text.cleaner import TextCleaner

#: A pseudonymous case reference: a short prefix and a token of at least
#: 8 hexadecimal digits (a keyed hash or a random ID), e.g. ``case-7f3a91c2``.
CASE_REF = re.compile(r"[A-Za-z]{1,12}-[0-9a-f]{8,64}")
#: Detector entities that are not HIPAA identifiers (45 CFR 164.514(b)(2)) and
#: are common in governance text ("Release under the QMS"): not refused.
NOT_PHI = frozenset({"ORGANIZATION", "NRP"})


def _counts(entity: str, span: str) -> bool:
    """Whether a detected span is refused in registry text.

    Organisations and NRP are not HIPAA identifiers; an ID needs at least four
    digits (``Apache-2.0`` and ``CASE-17`` are not record numbers); a URL needs
    a scheme or ``www.`` (``lesion_task.py`` is a file name).
    """
    if entity in NOT_PHI:
        return False
    if entity == "ID_NUMBER":
        return sum(c.isdigit() for c in span) >= 4
    if entity == "URL":
        return "://" in span or span.lower().startswith("www.")
    return True


@functools.lru_cache(maxsize=1)
def _detector() -> TextCleaner:
    from govkit.deid.text.cleaner import TextCleaner

    return TextCleaner()


def check_text(text: str, field: str) -> None:
    """:class:`BadInput` (exit 2) naming the entity types found in ``text``; nothing is echoed."""
    if not text or not text.strip():
        return
    found = sorted({s.entity for s in _detector().find(text) if _counts(s.entity, text[s.start : s.end])})
    if found:
        raise BadInput(
            f"{field} looks like it contains PHI ({', '.join(found)}); the registry is insert-only, "
            "so nothing was stored: rephrase without patient details"
        )


def check_case_ref(ref: str) -> None:
    """A case reference is a pseudonymous ID (``PREFIX-HEXTOKEN``), never an MRN, name or accession number."""
    if not CASE_REF.fullmatch(ref):
        raise BadInput(
            "--case-ref must be a pseudonymous ID such as case-7f3a91c2 (a prefix, '-', and at least "
            "8 hex digits), never an MRN, accession number or name; nothing was stored"
        )

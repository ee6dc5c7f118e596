"""Identifiers recognisable by their shape alone: e-mail addresses, phone numbers,
US Social Security numbers, payment card numbers and IBANs.

HIPAA Safe Harbor lists them among the identifiers to remove wherever they
appear (45 CFR 164.514(b)(2)(i)(D)-(F), (J)).  ``deid run`` scrubs them from
every value it keeps, whatever the options (the profile's ``K`` attributes,
unlisted text, safe private values), and ``deid verify`` flags them with
Presidio's recognisers (:data:`DIRECT_ENTITIES`).  So that a run never writes
what its own verify rejects, the shapes here are a superset of Presidio's:

* phone numbers are found by the library Presidio's ``PhoneRecognizer`` uses
  (``phonenumbers``), with its regions and leniency (:data:`PHONE_REGIONS`);
* US SSNs in Presidio's medium-confidence shapes (``078-05-1120``,
  ``078 05 1120``), and nine digits in a row next to an SSN context word;
* card numbers: 13 to 19 digits, spaces or hyphens between groups, passing the
  Luhn check; IBANs: country code, check digits and 11 to 30 characters
  passing the ISO 13616 mod-97 check;
* e-mail addresses: ``local@domain.tld``.

No model and no network: this runs on every kept value at the cost of one
regular-expression search for values without ``@`` or a run of six digits.
"""

from __future__ import annotations

import re

#: What ``deid verify`` reports in a retained value (Presidio entity names).
DIRECT_ENTITIES = frozenset({"EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "IBAN_CODE", "CREDIT_CARD"})
#: presidio_analyzer.predefined_recognizers.PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS, leniency 1 (VALID).
PHONE_REGIONS = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")
PHONE_LENIENCY = 1

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
#: A value can hold a shape below only if it has an ``@`` or six digits in a run of
#: digits and separators: the cheap test every kept value gets.
_CANDIDATE = re.compile(r"@|\d(?:[\s().+/-]*\d){5}")
_SSN = re.compile(r"(?<![\d-])\d{3}([- .])\d{2}\1\d{4}(?![\d-])")
_SSN_BARE = re.compile(r"(?<!\d)(?:\d{9}|\d{5}-\d{4}|\d{3}-\d{6})(?!\d)")
_SSN_CONTEXT = re.compile(r"ssn|social|security", re.IGNORECASE)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")


def spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, entity) of every e-mail address, phone, SSN, card number and IBAN in ``text``."""
    if not text or not _CANDIDATE.search(text):
        return []
    found = [(m.start(), m.end(), "EMAIL_ADDRESS") for m in EMAIL.finditer(text)]
    found += [(m.start(), m.end(), "US_SSN") for m in _SSN.finditer(text)]
    if _SSN_CONTEXT.search(text):
        found += [(m.start(), m.end(), "US_SSN") for m in _SSN_BARE.finditer(text)]
    found += [(m.start(), m.end(), "CREDIT_CARD") for m in _CARD.finditer(text) if _luhn(m.group())]
    found += [(m.start(), m.end(), "IBAN_CODE") for m in _IBAN.finditer(text) if _iban_ok(m.group())]
    found += _phones(text)
    return sorted(set(found))


def _phones(text: str) -> list[tuple[int, int, str]]:
    import phonenumbers  # what Presidio's PhoneRecognizer runs (a dependency of presidio-analyzer)

    return [
        (match.start, match.end, "PHONE_NUMBER")
        for region in PHONE_REGIONS
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=PHONE_LENIENCY)
    ]


def _luhn(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


def _iban_ok(value: str) -> bool:
    s = value.replace(" ", "")
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def kinds(found: list[tuple[int, int, str]]) -> list[str]:
    """Readable names of the entities in ``found`` for a per-file note (no values)."""
    names = {
        "EMAIL_ADDRESS": "e-mail address",
        "PHONE_NUMBER": "phone number",
        "US_SSN": "SSN",
        "CREDIT_CARD": "card number",
        "IBAN_CODE": "IBAN",
    }
    return sorted({names[e] for _, _, e in found})

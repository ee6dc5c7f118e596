"""Which HIPAA de-identification pathway a de-identification run's options can support.

45 CFR 164.514 offers three ways to use or disclose imaging data without
authorisation:

* **Safe Harbor** (164.514(b)(2)): the 18 identifiers of the individual (and of
  relatives, employers, household members) are removed, *including all
  elements of dates except the year* and ages over 89.  Shifted dates are
  still dates: date shifting (``retain-longitudinal-modified-dates``) does not
  meet Safe Harbor (HHS guidance on de-identification, 2012, section 3.3).
* **Limited Data Set** (164.514(e)): 16 direct identifiers removed; dates,
  ages and town/city/state/ZIP may stay.  Needs a data use agreement.
* **Expert Determination** (164.514(b)(1)): a qualified expert documents that
  the risk of re-identification is very small.  govkit's records are input to
  that determination; they are never the determination.

:func:`assess` maps the run's PS3.15 Annex E options to each identifier
(met / not met, and why) and to each pathway.  Advice names only options
that exist in :data:`govkit.deid.profile.OPTIONS`.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The 18 Safe Harbor identifiers, 164.514(b)(2)(i)(A)-(R).
IDENTIFIERS: tuple[str, ...] = (
    "Names",
    "Geographic subdivisions smaller than a state",
    "All elements of dates (except year) related to the individual; ages over 89",
    "Telephone numbers",
    "Fax numbers",
    "E-mail addresses",
    "Social security numbers",
    "Medical record numbers",
    "Health plan beneficiary numbers",
    "Account numbers",
    "Certificate/license numbers",
    "Vehicle identifiers and serial numbers, including license plates",
    "Device identifiers and serial numbers",
    "Web URLs",
    "IP addresses",
    "Biometric identifiers, including finger and voice prints",
    "Full-face photographs and any comparable images",
    "Any other unique identifying number, characteristic or code",
)

#: Identifiers (1-based) a Limited Data Set may keep: geographic (town/city/state/ZIP), dates and ages,
#: and other unique codes (164.514(e)(2) lists only the 16 others).
LDS_MAY_KEEP = frozenset({2, 3, 18})

#: Identifiers that can also appear as text burned into the pixels.
BURNABLE = frozenset({1, 3, 4, 7, 8, 10})


REMEDY_OPTIONS = (
    "retain-longitudinal-full-dates",
    "retain-longitudinal-modified-dates",
    "retain-device-identity",
    "retain-uids",
    "clean-pixel-data",
)


def _handling(options: frozenset[str]) -> dict[int, tuple[bool, str, list[str]]]:
    """Identifier number -> (met, how the run handles it, the option changes that would meet it)."""
    pixels = "clean-pixel-data" in options
    kept = [f"run without option {o}" for o in REMEDY_OPTIONS[:2] if o in options]
    if "retain-longitudinal-full-dates" in options:
        dates = (False, "dates kept unchanged (retain-longitudinal-full-dates)")
    elif "retain-longitudinal-modified-dates" in options:
        dates = (
            False,
            "dates shifted per patient (retain-longitudinal-modified-dates): shifted dates are "
            "still dates and do not meet Safe Harbor",
        )
    else:
        dates = (
            True,
            "dates removed or replaced by dummy values (Annex E actions X/Z/D); ages over 89 kept by "
            "retain-patient-characteristics become 090Y",
        )
    out: dict[int, tuple[bool, str, list[str]]] = {
        1: (True, "person-name attributes removed or replaced by a keyed pseudonym; free text cleaned", []),
        2: (True, "address attributes removed (X)", []),
        3: (*dates, kept),
        4: (True, "telephone attributes removed (X); free text cleaned", []),
        5: (True, "telecom attributes removed (X)", []),
        6: (True, "removed (X); e-mail addresses removed from free text", []),
        7: (True, "patient identifiers removed; social security numbers removed from free text", []),
        8: (True, "Patient ID replaced by a keyed pseudonym; other record numbers removed", []),
        9: (True, "insurance attributes removed (X)", []),
        10: (True, "account and admission identifiers removed (X)", []),
        11: (True, "licence-like identifiers removed (X); medical licence numbers removed from free text", []),
        12: (True, "no vehicle attribute is kept (X)", []),
        13: (
            (
                False,
                "device serial numbers and identity kept (retain-device-identity)",
                ["run without option retain-device-identity"],
            )
            if "retain-device-identity" in options
            else (True, "device serial numbers removed or dummied (X/Z/D)", [])
        ),
        14: (True, "URL attributes dummied; URLs removed from free text", []),
        15: (True, "IP addresses removed from free text", []),
        16: (True, "no biometric attribute is kept; govkit does not assess voice or fingerprints in pixels", []),
        17: (
            False,
            "not established: govkit does not remove facial features from images; a reviewer must "
            "confirm that no image shows a face or a reconstructable face",
            [],
        ),
        18: (
            (False, "original UIDs kept (retain-uids)", ["run without option retain-uids"])
            if "retain-uids" in options
            else (
                True,
                "UIDs replaced by keyed UIDs; private attributes removed"
                + (" except the safe list (retain-safe-private)" if "retain-safe-private" in options else ""),
                [],
            )
        ),
    }
    if not pixels:
        for n in BURNABLE:
            _, how, remedy = out[n]
            out[n] = (
                False,
                how + "; burned-in text in the pixels was not cleaned",
                [*remedy, "add option clean-pixel-data"],
            )
    return out


def _advice(blockers: list[dict]) -> list[str]:
    return sorted({r for i in blockers for r in i["remedy"]})


def assess(options: Iterable[str]) -> dict:
    """The 18 identifiers (met or not, how, remedy) and the pathways the options can support."""
    opts = frozenset(options)
    handling = _handling(opts)
    identifiers = [
        {
            "number": n,
            "identifier": IDENTIFIERS[n - 1],
            "met": handling[n][0],
            "how": handling[n][1],
            "remedy": handling[n][2],
        }
        for n in range(1, 19)
    ]
    unmet = [i for i in identifiers if not i["met"]]
    sh_blockers = [i for i in unmet if i["number"] != 17]
    lds_blockers = [i for i in sh_blockers if i["number"] not in LDS_MAY_KEEP]
    face = "a reviewer confirms that no image shows a face (identifier 17)"

    def numbers(items: list[dict]) -> str:
        return ", ".join(str(i["number"]) for i in items)

    pathways = [
        {
            "name": "Safe Harbor",
            "citation": "45 CFR 164.514(b)(2)",
            "supported": not sh_blockers,
            "verdict": f"provided {face}" if not sh_blockers else f"identifier(s) {numbers(sh_blockers)} not met",
            "conditions": [face, "no actual knowledge that the remaining information could identify a patient"],
            "advice": _advice(sh_blockers),
        },
        {
            "name": "Limited Data Set",
            "citation": "45 CFR 164.514(e)",
            "supported": not lds_blockers,
            "verdict": f"provided {face} and a data use agreement is in place"
            if not lds_blockers
            else f"identifier(s) {numbers(lds_blockers)} not met",
            "conditions": [face, "a data use agreement with the recipient (164.514(e)(4))"],
            "advice": _advice(lds_blockers),
        },
        {
            "name": "Expert Determination",
            "citation": "45 CFR 164.514(b)(1)",
            "supported": None,
            "verdict": "needs a qualified expert's documented determination; this run's options, counts and verify "
            "result are inputs to it, not the determination",
            "conditions": ["a qualified expert's written determination of very small re-identification risk"],
            "advice": [],
        },
    ]
    return {
        "options": sorted(opts),
        "identifiers": identifiers,
        "pathways": pathways,
        "n_met": len(identifiers) - len(unmet),
    }

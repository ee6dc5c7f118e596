"""Public helpers for testing govkit and its plug-ins.

Conformance checks that any implementation of a govkit protocol can run on
itself (in the spirit of scikit-learn's ``check_estimator``), and generators
of test corpora with known ground truth.  Nothing here is imported by the
runtime packages.
"""

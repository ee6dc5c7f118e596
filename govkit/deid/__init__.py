"""De-identification of DICOM: PS3.15 Annex E for the header, OCR for burned-in text.

Sub-packages, from the bottom up (each imports only those listed before it):

* :mod:`govkit.deid.files` and :mod:`govkit.deid.dicomio`: what is read from
  SRC (regular files only, no symlinks followed) and how a DICOM file is
  parsed and checked.
* :mod:`govkit.deid.text`: a file's identifiers in every form they are
  written in, and the free-text cleaner (Presidio plus patterns).
* :mod:`govkit.deid.header`: the Annex E profile, the keyed pseudonyms, the
  engine that applies the profile to one dataset, site recipes.
* :mod:`govkit.deid.pixels`: OCR engines, burned-in text redaction, known and
  clinical regions.
* :mod:`govkit.deid.batch`: one file in a worker, output commit and claims,
  the executors (local processes, Dask) and the run coordinator.
* :mod:`govkit.deid.verify` and :mod:`govkit.deid.scan`: independent checks of
  outputs, and a read-only listing of a file's PHI.

Corpus generators for tests and benchmarks live in :mod:`govkit.testing`.
"""

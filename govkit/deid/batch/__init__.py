"""Batch de-identification of a folder: one file in a worker
(:mod:`~govkit.deid.batch.worker`), output paths, commit and claims
(:mod:`~govkit.deid.batch.outputs`), where the work runs
(:mod:`~govkit.deid.batch.executors`: local processes or Dask), and the run
(:mod:`~govkit.deid.batch.coordinator`: checks, lock, manifest, report)."""

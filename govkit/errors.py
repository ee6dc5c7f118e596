"""Exceptions with the CLI exit codes they map to.

Exit codes (documented in the README):

* ``0`` success;
* ``1`` a check failed (policy gate, residual PHI, broken audit chain,
  a batch with failed files);
* ``2`` bad usage or bad input;
* ``3`` an internal error (a bug);
* ``4`` the execution environment failed (a worker process died, a Dask
  scheduler cannot be reached or lost the run); rerunning resumes.
"""

from __future__ import annotations

EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_EXECUTOR_FAILED = 4


class GovkitError(Exception):
    """Base class: a message fit for one line on stderr, and an exit code."""

    exit_code = EXIT_BAD_INPUT


class BadInput(GovkitError):
    """The user gave something govkit cannot use (exit 2)."""


class NotFound(BadInput):
    """A named record (model, version, dataset, run) does not exist (exit 2)."""


class ExecutorFailed(GovkitError):
    """Workers or the cluster failed, not the input; the run can be resumed (exit 4)."""

    exit_code = EXIT_EXECUTOR_FAILED

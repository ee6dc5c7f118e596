"""govkit: governance and compliance toolkit for medical-imaging AI.

The package is a typed Python API with a thin Click CLI on top
(:mod:`govkit.cli`).  Heavy dependencies (PyTorch, Presidio, OCR engines)
are imported lazily by the modules that need them, so ``import govkit`` and
``govkit --help`` stay fast.
"""

__version__ = "0.1.0"

"""Evidence shared by every kind of evaluation: figures (:class:`MetricValue`)
and their recording in the registry (:mod:`govkit.evidence.records`).

This package sits below ``evaluate``, ``privacy``, ``robustness`` and
``explain`` so that none of them needs to import another to record results.
"""

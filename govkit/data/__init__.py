"""Dataset audit: leakage between splits, duplicates, balance, label sanity, datasheets.

``govkit data audit`` (:func:`govkit.data.audit.run_audit`) compares a dataset
with the other splits it is used with; :mod:`govkit.data.records` turns the
recorded audits into evidence for policies and reports.
"""

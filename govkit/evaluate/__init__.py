"""Evaluation: metrics with confidence intervals, fairness, and evaluation records."""

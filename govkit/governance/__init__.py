"""Governance: deployment policies (more of the workflow lands here: lifecycle, risk, incidents)."""

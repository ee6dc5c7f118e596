"""Membership-inference privacy audit: attacks, reference models, low-FPR metrics, empirical ε."""

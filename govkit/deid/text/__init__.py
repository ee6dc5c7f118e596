"""Identifying text: a file's own identifiers in every form they reappear in
(:mod:`~govkit.deid.text.identifiers`), dates in every common format
(:mod:`~govkit.deid.text.dates`, shared with the burned-in text matcher), and the free-text cleaner
(:mod:`~govkit.deid.text.cleaner`, Presidio plus patterns, PS3.15 E.3.5)."""

"""Identifying text: a file's own identifiers in every form they reappear in
(:mod:`~govkit.deid.text.identifiers`), and the free-text cleaner
(:mod:`~govkit.deid.text.cleaner`, Presidio plus patterns, PS3.15 E.3.5)."""

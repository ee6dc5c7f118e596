"""The header: PS3.15 Annex E Table E.1-1 as data (:mod:`~govkit.deid.header.profile`),
keyed pseudonyms (:mod:`~govkit.deid.header.pseudonyms`), the engine that applies
the profile to one dataset at every depth (:mod:`~govkit.deid.header.engine`),
and site recipes run through pydicom/deid (:mod:`~govkit.deid.header.recipes`)."""

"""The SQL registry: typed ORM, explicit sessions, migrations and the audit chain.

Typical use from a notebook::

    from govkit.registry import open_registry, audit
    reg = open_registry("sqlite:///registry.sqlite")
    with reg.unit_of_work() as session:
        audit.append_event(session, "note", "model", "demo@1", {"text": "hello"})
    with reg.unit_of_work() as session:
        assert audit.verify_chain(session).ok
"""

from govkit.registry.db import Registry, open_registry

__all__ = ["Registry", "open_registry"]

"""The suite-wide network guard (tests/conftest.py): loopback works, nothing else does."""

from __future__ import annotations

import socket

import pytest

from tests import conftest


def test_loopback_connections_work():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            pass


@pytest.mark.parametrize("address", [("192.0.2.1", 80), ("2001:db8::1", 443), ("publicsuffix.org", 443)])
def test_other_connections_fail_and_are_recorded(address):
    with pytest.raises(OSError, match="network access is not allowed"):
        socket.create_connection(address, timeout=1)
    assert conftest._NETWORK_ATTEMPTS  # the test would fail at teardown ...
    conftest._NETWORK_ATTEMPTS.clear()  # ... so this one clears what it provoked on purpose


def test_swallowed_attempts_are_recorded_too():
    try:
        socket.create_connection(("198.51.100.7", 80), timeout=1)
    except OSError:
        pass  # as tldextract does when its download fails
    assert len(conftest._NETWORK_ATTEMPTS) == 1
    conftest._NETWORK_ATTEMPTS.clear()

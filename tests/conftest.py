"""Shared fixtures: registries on SQLite *and* PostgreSQL, and a CLI runner.

PostgreSQL: ``GOVKIT_TEST_PG_URL`` (set by ``.ci/run``) names a server whose
user may create databases.  When it is unset, the suite starts a throw-away
server with ``scripts/testpg.sh``.  A missing server is an error, never a
skip: registry tests must run on both backends.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Under pytest-xdist, each worker gets its share of the cores for PyTorch/OpenMP
    (by default every worker would start one thread per core, and they would contend)."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(workers))))


def _load_example(name: str, path: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def lesion_data(tmp_path_factory):
    """The example lesion task, small (1,200 train / 300 test / 200 population)."""
    task = _load_example("lesion_task", ROOT / "examples" / "lesion" / "lesion_task.py")
    return task.write(tmp_path_factory.mktemp("lesion"), n_train=1200, n_test=300, n_population=200)


@pytest.fixture(scope="session")
def lesion_spec(lesion_data, tmp_path_factory):
    """The example CNN trained on ``lesion_data['train']``; returns its spec path."""
    train = _load_example("lesion_train", ROOT / "examples" / "lesion" / "train.py")
    return train.train(lesion_data["train"], tmp_path_factory.mktemp("model"), "lesion-cnn", "1.0")


@pytest.fixture(scope="session")
def shortcut_spec(lesion_data, tmp_path_factory):
    """The example CNN trained on the site-marker shortcut variant."""
    train = _load_example("lesion_train", ROOT / "examples" / "lesion" / "train.py")
    return train.train(lesion_data["train_shortcut"], tmp_path_factory.mktemp("shortcut"), "lesion-cnn-shortcut", "1.0")


_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", ""})
_NETWORK_ATTEMPTS: list[str] = []


def _is_loopback(address: object) -> bool:
    import ipaddress

    if not isinstance(address, tuple):  # AF_UNIX path (str/bytes), netlink, ...
        return True
    host = str(address[0]).split("%")[0].lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost: resolving it is network already
        return False


@pytest.fixture(scope="session", autouse=True)
def _no_network():
    """Block every socket connection that leaves the machine, for the whole session.

    Loopback (PostgreSQL, Dask, local servers) and Unix sockets keep working.  An
    attempt raises in the code that made it *and* fails the test that made it,
    even when the code swallows the error (as tldextract does).
    """
    import socket

    originals = {name: getattr(socket.socket, name) for name in ("connect", "connect_ex")}

    def guard(name: str):
        original = originals[name]

        def guarded(sock: socket.socket, address: object, *args: object):
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
                _NETWORK_ATTEMPTS.append(f"{name}({address!r})")
                raise OSError(f"network access is not allowed in govkit's tests ({address!r})")
            return original(sock, address, *args)

        return guarded

    original_getaddrinfo = socket.getaddrinfo
    own_names = {socket.gethostname().lower(), socket.getfqdn().lower()}

    def getaddrinfo(host: object, *args: object, **kwargs: object):
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.lower() not in own_names and not _is_loopback((name, 0)):
            try:
                import ipaddress

                ipaddress.ip_address(name.split("%")[0])  # a literal address needs no lookup
            except ValueError:
                _NETWORK_ATTEMPTS.append(f"getaddrinfo({name!r})")
                raise socket.gaierror(f"network access is not allowed in govkit's tests (lookup of {name!r})") from None
        return original_getaddrinfo(host, *args, **kwargs)

    for name in originals:
        setattr(socket.socket, name, guard(name))
    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(socket.socket, name, original)
        socket.getaddrinfo = original_getaddrinfo


@pytest.fixture(autouse=True)
def _fail_on_network(_no_network):
    """Turn a blocked connection attempt during a test into that test's failure."""
    _NETWORK_ATTEMPTS.clear()
    yield
    if _NETWORK_ATTEMPTS:
        attempts = ", ".join(_NETWORK_ATTEMPTS)
        _NETWORK_ATTEMPTS.clear()
        pytest.fail(f"the test tried to open a network connection: {attempts}")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own GOVKIT_HOME and no inherited DB URL."""
    monkeypatch.setenv("GOVKIT_HOME", str(tmp_path_factory.mktemp("govkit-home")))
    monkeypatch.delenv("GOVKIT_DB_URL", raising=False)
    monkeypatch.setenv("GOVKIT_ACTOR", "test-user")


@pytest.fixture(scope="session")
def pg_server_url():
    url = os.environ.get("GOVKIT_TEST_PG_URL")
    if url:
        yield url
        return
    base = Path(tempfile.mkdtemp(prefix="govkit-testpg-"))
    data = base / "data"
    with socket.socket() as probe:  # a free port: each xdist worker starts its own server
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    out = subprocess.run(
        [str(ROOT / "scripts" / "testpg.sh"), "start", str(data), port],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        pytest.fail(f"could not start PostgreSQL for the tests: {out.stderr.strip()}")
    try:
        yield out.stdout.strip()
    finally:
        subprocess.run([str(ROOT / "scripts" / "testpg.sh"), "stop", str(data)], check=False)


def _pg_admin(server_url: str):
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(server_url)
    return psycopg.connect(
        host=u.host,
        port=u.port,
        user=u.username,
        password=u.password,
        dbname=u.database,
        autocommit=True,
    )


@pytest.fixture
def pg_url(pg_server_url):
    """A fresh, empty PostgreSQL database for one test."""
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"govkit_t_{uuid.uuid4().hex[:12]}"
    with _pg_admin(pg_server_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    yield url
    with _pg_admin(pg_server_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh registry URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.sqlite'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def registry(db_url):
    from govkit.registry import open_registry

    reg = open_registry(db_url)
    yield reg
    reg.dispose()


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self):
        import json

        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    """Run ``govkit ARGS...`` in-process through the real entry point."""
    from govkit.cli.main import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
        else:  # pragma: no cover - main always exits
            code = 0
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def run_govkit(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    """Run the installed ``govkit`` console script in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "govkit.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )

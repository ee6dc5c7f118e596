"""CLI contract: --json, exit codes, one-line errors, light start-up."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import run_govkit


def test_help_lists_groups(cli):
    res = cli("--help")
    assert res.code == 0
    for group in ("db", "audit", "model"):
        assert group in res.out


def test_unknown_model_is_exit_2_one_line(cli):
    res = cli("model", "show", "nope@1")
    assert res.code == 2
    assert res.err == "govkit: error: unknown model 'nope'\n"


def test_bad_reference_is_exit_2(cli):
    res = cli("model", "show", "no-version", "--json")
    assert res.code == 2
    assert json.loads(res.out) == {"error": "expected model reference NAME@VERSION, got 'no-version'", "exit_code": 2}


def test_usage_error_is_exit_2(cli):
    assert cli("audit", "log", "--limit", "0").code == 2
    assert cli("no-such-group").code == 2


def test_default_database_lives_in_govkit_home(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("GOVKIT_HOME", str(tmp_path / "home"))
    assert cli("audit", "verify").code == 0
    assert (tmp_path / "home" / "registry.sqlite").is_file()


def test_env_db_url_is_used(cli, tmp_path, monkeypatch):
    db = tmp_path / "env.sqlite"
    monkeypatch.setenv("GOVKIT_DB_URL", f"sqlite:///{db}")
    assert cli("audit", "verify").code == 0 and db.is_file()


def test_console_script_runs_and_stays_light(tmp_path):
    res = run_govkit("--version")
    assert res.returncode == 0 and "govkit" in res.stdout
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from govkit.cli.main import cli; import govkit.cli.audit, govkit.cli.db, govkit.cli.model; "
            "heavy = {'torch', 'presidio_analyzer', 'spacy', 'pytesseract', 'weasyprint'} & set(sys.modules); "
            "print(sorted(heavy))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "[]"


def test_traceback_only_with_verbose(tmp_path):
    env = {"GOVKIT_HOME": str(tmp_path)}
    quiet = run_govkit("--db", "mysql://x", "audit", "verify", env=env)
    loud = run_govkit("-v", "--db", "mysql://x", "audit", "verify", env=env)
    assert quiet.returncode == loud.returncode == 2
    assert "Traceback" not in quiet.stderr and "Traceback" in loud.stderr


def test_verbose_shows_debug_log_without_secrets(cli, tmp_path):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    quiet = cli("--db", db, "audit", "verify")
    loud = cli("-v", "--db", db, "audit", "verify")
    assert quiet.code == loud.code == 0
    assert "DEBUG" not in quiet.err
    assert f"govkit: DEBUG: govkit.cli.app: opening the registry at {db}" in loud.err
    # a password in the URL is never logged (the connection fails: nothing listens on port 1)
    res = cli("-v", "--db", "postgresql+psycopg://u:s3cret-pw@127.0.0.1:1/x", "audit", "verify")
    assert res.code == 2
    assert "opening the registry at postgresql+psycopg://u:***@127.0.0.1:1/x" in res.err
    assert "s3cret-pw" not in res.err


def test_internal_error_is_exit_3_with_traceback_only_with_verbose(cli, monkeypatch):
    from govkit.cli import app as app_module

    def broken(self):
        raise ZeroDivisionError("planted bug")

    monkeypatch.setattr(app_module.App, "registry", broken)
    quiet = cli("audit", "verify")
    loud = cli("-v", "audit", "verify")
    assert quiet.code == loud.code == 3
    assert quiet.err.splitlines() == [
        "govkit: error: internal error: ZeroDivisionError: planted bug (rerun with -v for details)"
    ]
    assert "Traceback" in loud.err and 'raise ZeroDivisionError("planted bug")' in loud.err

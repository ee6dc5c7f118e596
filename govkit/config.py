"""Where govkit keeps its state, and how the database URL is chosen.

* ``GOVKIT_HOME`` overrides the per-user data directory
  (``platformdirs.user_data_dir("govkit")``).
* ``GOVKIT_DB_URL`` (or ``--db``) overrides the registry URL; the default is
  the embedded SQLite file ``$GOVKIT_HOME/registry.sqlite``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_HOME = "GOVKIT_HOME"
ENV_DB_URL = "GOVKIT_DB_URL"


def home() -> Path:
    """The govkit home directory, created (mode 0700) when missing."""
    env = os.environ.get(ENV_HOME)
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir("govkit", appauthor=False))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def default_db_url() -> str:
    """The registry URL from ``GOVKIT_DB_URL``, else the embedded SQLite file."""
    env = os.environ.get(ENV_DB_URL)
    if env:
        return env
    return f"sqlite:///{home() / 'registry.sqlite'}"

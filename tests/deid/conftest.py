from __future__ import annotations

import pytest

from govkit.testing.dicom_corpus import phi_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """Two patients x 3 files with PHI planted in every listed attribute."""
    root = tmp_path_factory.mktemp("corpus") / "src"
    phi_corpus(root, patients=2, files_per_patient=3)
    return root


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "test.key"
    path.write_text("ab" * 32 + "\n")
    return path

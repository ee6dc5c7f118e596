"""``deid runs`` / ``deid runs show`` and run ids / NAME@VERSION by unambiguous prefix (issue #19)."""

from __future__ import annotations

import pytest

from govkit.errors import BadInput
from govkit.registry.lookup import by_prefix
from govkit.testing.dicom_corpus import phi_corpus


def test_prefix_resolution():
    refs = ["lesion-cnn@1", "lesion-cnn@1.0", "lesion-cnn@1.1", "other@2"]
    assert by_prefix("lesion-cnn@1", refs, "model") == "lesion-cnn@1"  # exact wins
    assert by_prefix("oth", refs, "model") == "other@2"
    assert by_prefix("nope", refs, "model") is None
    ambiguous = r"ambiguous model 'lesion-cnn@1\.': it begins lesion-cnn@1\.0, lesion-cnn@1\.1$"
    with pytest.raises(BadInput, match=ambiguous):
        by_prefix("lesion-cnn@1.", refs, "model")


def test_runs_list_show_and_prefix(cli, tmp_path):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    src = tmp_path / "src"
    phi_corpus(src, patients=1, files_per_patient=1)
    ids = [cli("--db", db, "deid", "run", src, tmp_path / f"dst{i}", "--json").json()["run_id"] for i in (0, 1)]
    assert cli("--db", db, "deid", "verify", tmp_path / "dst0", "--source", src).code == 0

    listed = cli("--db", db, "deid", "runs", "--json").json()["runs"]
    by_id = {r["id"]: r for r in listed}
    assert set(by_id) == set(ids)
    assert by_id[ids[0]]["verify"] == "passed" and by_id[ids[1]]["verify"] == "not verified"
    assert by_id[ids[0]]["started_at"].endswith("+00:00") and by_id[ids[0]]["n_ok"] == 1
    text = cli("--db", db, "deid", "runs").out
    assert ids[0] in text and str(src) not in text and "dst0" not in text  # no source or DST path

    prefix = next(ids[0][:n] for n in range(1, 37) if not ids[1].startswith(ids[0][:n]))
    shown = cli("--db", db, "deid", "runs", "show", prefix, "--json")
    assert shown.code == 0 and shown.json()["id"] == ids[0] and shown.json()["key_fingerprint"]
    report = cli("--db", db, "report", "deid", prefix, "-o", tmp_path / "d.pdf", "--json")
    assert report.code == 0, report.err

    ambiguous = cli("--db", db, "deid", "runs", "show", "")
    assert ambiguous.code == 2 and ambiguous.err.count("\n") == 1
    assert "ambiguous de-identification run" in ambiguous.err and all(i in ambiguous.err for i in ids)
    assert cli("--db", db, "deid", "runs", "show", "zzz").code == 2


def test_dataset_reference_by_prefix(cli, tmp_path, lesion_data):
    from govkit.registry import open_registry
    from govkit.registry.lookup import dataset_version

    db = f"sqlite:///{tmp_path / 'd.sqlite'}"
    for name, version, split in (("lesion", "1.0", "test"), ("lesion", "1.1", "train"), ("other", "2", "test")):
        assert cli("--db", db, "data", "register", name, "--version", version, lesion_data[split]).code == 0
    with open_registry(db).unit_of_work() as s:
        assert dataset_version(s, "oth").version == "2"
        assert dataset_version(s, "lesion@1.1").version == "1.1"
        with pytest.raises(BadInput, match=r"ambiguous dataset 'lesion@1\.': it begins lesion@1\.0, lesion@1\.1$"):
            dataset_version(s, "lesion@1.")

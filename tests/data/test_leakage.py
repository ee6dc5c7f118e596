"""Planted leakage is found pair for pair, and a clean split has no pair."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from govkit.data.hashing import VARIANTS, batch_signatures, transform_coeffs
from govkit.data.leakage import DEFAULT_THRESHOLD
from govkit.testing.data_corpus import ALTERATIONS, split
from tests.data.conftest import save


def _found(out, kind):
    return {(p["a"], p["b"]) for p in out["leakage"]["pairs"] if p["kind"] == kind}


@pytest.mark.parametrize("search", ["lsh", "exhaustive"])
def test_every_planted_pair_found_and_nothing_else(cli, planted, search):
    r = cli("data", "audit", planted["train"], "--against", planted["test"], "--search", search, "--json")
    assert r.code == 1, r.err
    out = r.json()
    a, b = out["datasets"][0]["name"], out["datasets"][1]["name"]
    truth = planted["truth"]
    assert out["search"]["method"] == search
    assert _found(out, "duplicate") == {(f"{a}[{s}]", f"{b}[{d}]") for s, d in truth["duplicates"]}
    assert _found(out, "near-duplicate") == {(f"{a}[{s}]", f"{b}[{d}]") for s, d in truth["near"]}
    assert {p["patient"] for p in out["leakage"]["pairs"] if p["kind"] == "patient"} == {
        p.casefold() for p in truth["patients"]
    }
    assert out["leakage"]["patient_overlap"] == len(truth["patients"])
    assert out["leakage"]["duplicates"] == len(truth["duplicates"])
    assert out["leakage"]["near_duplicates"] == len(truth["near"])
    # every alteration is represented, and each pair carries its distance
    assert {truth["near_kind"][k] for k in truth["near"]} == set(ALTERATIONS)
    for p in out["leakage"]["pairs"]:
        if p["kind"] == "duplicate":
            assert p["distance"] == 0
        elif p["kind"] == "near-duplicate":
            assert 0 <= p["distance"] <= DEFAULT_THRESHOLD
            kind = truth["near_kind"][(int(p["a"].rsplit("[")[1][:-1]), int(p["b"].rsplit("[")[1][:-1]))]
            # flipped, rotated and inverted copies say which variant matched
            assert p["transform"] == (kind if kind in VARIANTS else "identity"), (kind, p)
    assert out["balance"]["within_duplicates"]["duplicates"] == 0


@pytest.mark.parametrize("search", ["auto", "lsh", "exhaustive"])
def test_clean_split_has_no_pair(cli, planted, search):
    r = cli("data", "audit", planted["train"], "--against", planted["clean"], "--search", search, "--json")
    assert r.code == 0, r.err
    out = r.json()
    assert out["search"]["method"] == ("exhaustive" if search == "auto" else search)
    assert out["leakage"] == {"patient_overlap": 0, "duplicates": 0, "near_duplicates": 0, "found": False, "pairs": []}
    human = cli("data", "audit", planted["train"], "--against", planted["clean"]).out
    assert "no leakage found (near copies: within the scope above)" in human and "it may miss larger edits" in human


def test_threshold_separates_planted_copies_from_unrelated_images(planted):
    """The calibration behind DEFAULT_THRESHOLD: the farthest planted copy and the closest unrelated pair."""
    from govkit.data.hashing import Signatures, batch_signatures
    from govkit.data.leakage import Split, image_pairs
    from govkit.models.datasets import open_dataset

    splits = []
    for name in ("train", "test"):
        d = open_dataset(planted[name])
        splits.append(Split(name, d, Signatures(*batch_signatures(d.images(np.arange(len(d)))))))
    pairs, _ = image_pairs(splits, 0.6, method="exhaustive")
    truth = {(f"train[{s}]", f"test[{d}]") for s, d in planted["truth"]["near"]}
    planted_d = [p["distance"] for p in pairs[1].near if (p["a"], p["b"]) in truth]
    unrelated = [p["distance"] for p in pairs[1].near + pairs[0].near if (p["a"], p["b"]) not in truth]
    assert len(planted_d) == len(truth)
    assert max(planted_d) < DEFAULT_THRESHOLD  # the farthest: a 2-row crop padded back, 0.19
    assert min(unrelated) > DEFAULT_THRESHOLD * 1.35  # the closest unrelated pair: 0.40


_PIXELS = {
    "flip-h": lambda x: x[..., ::-1],
    "rotate-180": lambda x: x[..., ::-1, ::-1],
    "rotate-90": lambda x: np.rot90(x, 1, axes=(2, 3)),
    "rotate-270+invert": lambda x: 1 - np.rot90(x, -1, axes=(2, 3)),
    "anti-transpose": lambda x: x[..., ::-1, ::-1].swapaxes(-1, -2),
    "invert": lambda x: 1 - x,
}


@pytest.mark.parametrize("name", sorted(_PIXELS))
def test_variant_band_is_the_band_of_the_transformed_pixels(name):
    x = np.random.default_rng(0).random((3, 1, 64, 48)).astype(np.float32)
    expected = batch_signatures(np.ascontiguousarray(_PIXELS[name](x)))[1]
    assert np.abs(transform_coeffs(batch_signatures(x)[1], name) - expected).max() < 1e-5


def test_within_dataset_duplicates_are_balance_warnings_not_leakage(cli, planted, tmp_path):
    a, _ = planted["arrays"]
    arrays = {k: np.array(v) for k, v in a.items()}
    arrays["x"][10] = arrays["x"][3]  # exact copy under another patient
    arrays["x"][11] = np.clip(arrays["x"][4] + 0.03, 0, 1)  # re-export with a shift
    path = save(tmp_path / "dup.npz", arrays)
    r = cli("data", "audit", path, "--against", planted["clean"], "--json")
    assert r.code == 0, r.err
    out = r.json()
    assert out["leakage"]["found"] is False
    within = out["balance"]["within_duplicates"]
    assert within["duplicates"] == 1 and within["near_duplicates"] == 1
    assert any("inside the dataset" in w for w in out["warnings"])


def test_missing_patient_ids_are_unsupported_not_clean(cli, planted, tmp_path):
    rng = np.random.default_rng(3)
    arrays = split(100, rng, "D")
    del arrays["patient_id"]
    r = cli("data", "audit", planted["train"], "--against", save(tmp_path / "nopid.npz", arrays), "--json")
    assert r.code == 0
    out = r.json()
    m = next(m for m in out["metrics"] if m["name"] == "patient_overlap")
    assert m["status"] == "unsupported" and m["value"] is None
    assert any("cannot be checked" in w for w in out["warnings"])


def test_lesion_shortcut_variant_shares_patients_and_images(cli, lesion_data):
    """The example task's shortcut training set reuses the clean one's draws: every patient is shared."""
    r = cli(
        "data",
        "audit",
        lesion_data["train"],
        "--against",
        lesion_data["train_shortcut"],
        "--against",
        lesion_data["test"],
        "--json",
    )
    assert r.code == 1
    per = {a["against"]: a for a in r.json()["against"]}
    shortcut, test = per.values()
    assert shortcut["patient_overlap"] == 600 and shortcut["duplicates"] + shortcut["near_duplicates"] >= 1000
    assert test == {**test, "patient_overlap": 0, "duplicates": 0, "near_duplicates": 0}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["nope.npz"], "not found"),
        (["x@1"], "unknown dataset"),
    ],
)
def test_bad_input_is_one_line_exit_2(cli, args, needle):
    r = cli("data", "audit", *args)
    assert r.code == 2
    assert needle in r.err and len(r.err.strip().splitlines()) == 1


def test_same_split_twice_is_refused(cli, planted):
    r = cli("data", "audit", planted["train"], "--against", planted["train"])
    assert r.code == 2 and "same content" in r.err


def test_threshold_out_of_range_is_refused(cli, planted):
    r = cli("data", "audit", planted["train"], "--against", planted["clean"], "--near-duplicate-threshold", "1.5")
    assert r.code == 2 and "between 0 and 1" in r.err


def test_png_manifests_of_different_sizes_find_a_cropped_re_export(cli, tmp_path):
    """A 2-pixel crop saved at its new size (62×64 PNG) is a near copy of the 64×64 original."""
    import csv

    from PIL import Image

    rng = np.random.default_rng(11)
    a, b = split(40, rng, "A"), split(40, rng, "B")

    def write(name, arrays, crop_row=None):
        folder = tmp_path / name
        folder.mkdir()
        rows = []
        for i, x in enumerate(arrays["x"]):
            img = (x[0] * 255).round().astype(np.uint8)
            if i == crop_row:
                img = (a["x"][5][0, 2:, :] * 255).round().astype(np.uint8)
            Image.fromarray(img).save(folder / f"{i}.png")
            rows.append({"path": f"{i}.png", "label": int(arrays["y"][i]), "patient_id": arrays["patient_id"][i]})
        with open(folder / "manifest.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        return folder / "manifest.csv"

    r = cli("data", "audit", write("a", a), "--against", write("b", b, crop_row=17), "--json")
    assert r.code == 1, r.err
    out = r.json()
    pairs = [(p["kind"], p["a"].split("[")[1], p["b"].split("[")[1]) for p in out["leakage"]["pairs"]]
    assert pairs == [("near-duplicate", "5]", "17]")]


@pytest.mark.parametrize(
    ("mine", "theirs"),
    [
        ("P00000", "p00000"),
        ("P00000", " P00000"),
        ("P00000", "P00000 "),
        ("P00000", "Ｐ０００００"),
        (7, 7.0),
        ("07", "7"),
    ],
)
def test_patient_ids_match_across_case_width_space_and_type(mine, theirs):
    """An export that changed an ID's case, width, padding or number type still shares the patient."""
    from govkit.data.leakage import patient_keys

    a, b = patient_keys(np.array([mine, "Q1"], dtype=object)), patient_keys(np.array([theirs, "Q2"], dtype=object))
    assert len(np.intersect1d(a, b)) == 1


def test_distinct_patient_ids_stay_distinct():
    from govkit.data.leakage import patient_keys

    keys = patient_keys(np.array(["P1", "P10", "P1a", "1.5", "15"], dtype=object))
    assert len(set(keys.tolist())) == 5


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["DATA", "OTHER"])
def test_non_finite_pixels_are_bad_input_naming_split_and_images(cli, planted, tmp_path, where, value):
    """A NaN or infinite pixel in either split: one line naming the split and images, exit 2 (never 3, never clean)."""
    arrays = {k: np.array(v) for k, v in planted["arrays"][0 if where == "DATA" else 1].items()}
    for i in (3, 9, 11, 12, 20, 30, 41):
        arrays["x"][i, 0, 5, i % 64] = value
    bad = save(tmp_path / "bad.npz", arrays)
    args = (bad, "--against", planted["clean"]) if where == "DATA" else (planted["train"], "--against", bad)
    r = cli("data", "audit", *args)
    assert r.code == 2, r.err
    assert len(r.err.strip().splitlines()) == 1
    assert str(bad) in r.err and "7 image(s)" in r.err and "NaN, infinite" in r.err
    assert "index 3, 9, 11, 12, 20, …" in r.err
    assert "Error" not in r.err and "internal" not in r.err


def test_non_finite_image_has_no_embedding():
    """Signatures flag the image and give it no embedding (the search never sees a NaN)."""
    from govkit.data.hashing import batch_signatures

    x = np.random.default_rng(5).random((3, 1, 64, 64)).astype(np.float32)
    x[1, 0, 7, 7] = np.nan
    x[2, 0, 0, 0] = np.inf
    _, coeffs, flat, finite = batch_signatures(x)
    assert finite.tolist() == [True, False, False] and flat.tolist() == [False, True, True]
    assert np.isfinite(coeffs).all() and not coeffs[1:].any()


def _mark(size: int):
    """A burned-in ``size``×``size`` box at full intensity, somewhere in the image."""

    def mark(x, rng):
        r, c = rng.integers(0, x.shape[-1] - size, 2)
        y = x.copy()
        y[:, r : r + size, c : c + size] = 1
        return y

    return mark


#: Alterations inside the documented envelope (``SCOPE["finds"]``) beyond the
#: corpus' ALTERATIONS (which the tests above plant): each at its documented limit.
ENVELOPE = {
    "shift-1px": lambda x, rng: np.roll(x, 1, axis=2),
    "rotate-3deg": lambda x, rng: ndimage.rotate(x[0], 3, reshape=False, mode="nearest")[None],
    "mark-3x3": _mark(3),
    "blur": lambda x, rng: ndimage.gaussian_filter(x, (0, 1, 1)),
    "noise-0.05": lambda x, rng: x + rng.normal(scale=0.05, size=x.shape),
}


def test_detection_envelope(cli, tmp_path):
    """Copies at the limits the audit states it finds are found, nothing else is, and every audit states its scope."""
    from govkit.data.leakage import SCOPE

    rng = np.random.default_rng(21)
    a, b = split(600, rng, "A"), split(600, rng, "B")
    per = 10
    src = rng.choice(600, per * len(ENVELOPE), replace=False)
    dst = rng.choice(600, per * len(ENVELOPE), replace=False)
    kind = {}
    for k, (name, alter) in enumerate(ENVELOPE.items()):
        for s, d in zip(src[k * per : (k + 1) * per], dst[k * per : (k + 1) * per], strict=True):
            b["x"][d] = np.clip(alter(a["x"][s], rng), 0, 1)
            kind[(f"A[{s}]", f"B[{d}]")] = name
    r = cli("data", "audit", save(tmp_path / "a.npz", a), "--against", save(tmp_path / "b.npz", b), "--json")
    assert r.code == 1, r.err
    out = r.json()
    names = {d["name"]: k for d, k in zip(out["datasets"], "AB", strict=True)}

    def short(ref: str) -> str:
        name, index = ref.split("[")
        return f"{names[name]}[{index}"

    found = {(short(p["a"]), short(p["b"])) for p in out["leakage"]["pairs"]}
    missed = {kind[k] for k in set(kind) - found}
    assert not missed, missed
    assert found == set(kind)  # no unrelated pair
    assert out["search"]["scope"] == {**SCOPE, "at_threshold": DEFAULT_THRESHOLD}
    human = cli("data", "audit", tmp_path / "a.npz", "--against", tmp_path / "b.npz").out
    assert "may miss larger edits" in human and "a 1-pixel shift" in human

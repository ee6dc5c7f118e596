"""Attribution overlays: colour bar, mask legend and captions, in the PNGs and in the rendered audit report."""

from __future__ import annotations

import numpy as np
import pytest

from govkit.explain import overlays
from tests.reports.conftest import pdftotext, squash

VERMILLION = np.array([0xD5, 0x5E, 0x00]) / 255


def _synthetic(n: int = 8, size: int = 32):
    rng = np.random.default_rng(0)
    x = rng.random((n, 1, size, size)).astype(np.float32)
    maps = rng.normal(size=(n, 1, size, size)).astype(np.float32)[:, 0]
    masks = np.zeros((n, size, size), bool)
    masks[:, 8:20, 8:20] = True
    target = np.arange(n) % 2
    return x, maps, target, masks


def _pixels(path) -> np.ndarray:
    import matplotlib.image

    return matplotlib.image.imread(path)[..., :3].reshape(-1, 3)


def test_overlay_pngs_carry_a_colour_bar_and_a_colour_blind_safe_mask_outline(tmp_path):
    from matplotlib import colormaps

    x, maps, target, masks = _synthetic()
    files = overlays.write_overlays(tmp_path, "saliency", x, maps, target, masks)
    assert sorted(f.rsplit("saliency", 1)[1] for f in files) == sorted(overlays.KINDS)
    px = _pixels(files[0])
    assert (np.abs(px - VERMILLION).max(1) < 0.08).sum() > 50  # the outline and its legend line
    cyan = np.array([0.0, 1.0, 1.0])
    assert (np.abs(px - cyan).max(1) < 0.1).sum() == 0  # the old cyan outline is gone
    top = colormaps["cividis"](1.0)[:3]  # the colour bar's top: pure cividis yellow, not blended
    assert (np.abs(px - np.array(top)).max(1) < 0.02).sum() > 20
    plain = overlays.write_overlays(tmp_path / "no-mask", "saliency", x, maps, target, None)
    assert len(plain) == 2 and (np.abs(_pixels(plain[0]) - VERMILLION).max(1) < 0.08).sum() == 0


@pytest.mark.slow
def test_audit_report_explains_the_overlays(cli, sqlite_db, untrained_spec, tmp_path):
    from pathlib import Path

    from govkit.evidence.records import record_evaluation, resolve_model
    from govkit.registry import open_registry

    db, ref = sqlite_db, "lesion-cnn@1.0"
    assert cli("--db", db, "model", "register", "lesion-cnn", "--version", "1.0", "--spec", untrained_spec).code == 0
    x, maps, target, masks = _synthetic()
    files = overlays.write_overlays(tmp_path / "ov", "grad-cam", x, maps, target, masks)
    registry = open_registry(db)
    try:
        record_evaluation(
            registry,
            resolve_model(registry, ref),
            "explainability",
            config={"checks": [], "tests": [], "n": len(x), "overlays": files, "notes": []},
            seed=0,
            device="cpu",
            metrics=[],
            artifacts=[(Path(f).name, Path(f), "image/png") for f in files],
        )
    finally:
        registry.dispose()
    pdf = tmp_path / "audit.pdf"
    res = cli("--db", db, "report", "audit", ref, "-o", pdf)
    assert res.code == 0, res.err
    flat = squash(pdftotext(pdf))
    assert squash("Reading the overlays.") in flat
    for text in (overlays.LEGEND["map"], overlays.LEGEND["mask"], overlays.LEGEND["titles"]):
        assert squash(text) in flat, text
    for caption in overlays.KINDS.values():
        assert squash(f"grad-cam: {caption}. Colour: {overlays.LEGEND['scale']}") in flat, caption


def test_no_template_puts_a_value_in_an_alt_text():
    """Alt texts are fixed words: captions (from recorded artifact names) stay in element text."""
    from govkit.resources import resource_dir

    for template in resource_dir("templates").glob("*.html"):
        assert 'alt="{{' not in template.read_text(), template.name

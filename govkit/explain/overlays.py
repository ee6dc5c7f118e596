"""Overlay PNGs for reports: heat-maps over images, top cases per class, worst localisation failures.

Rendered with matplotlib's Agg backend and fixed metadata, so the same
inputs give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PNG_META = {"Software": None}  # no version string: reproducible files


def _figure(images, maps, titles, masks=None, cols=4):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    rows = max(1, (n + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.4 * rows), dpi=100)
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, img, m, title, k in zip(np.atleast_1d(axes).ravel(), images, maps, titles, range(n), strict=False):
        ax.imshow(img[0] if img.shape[0] == 1 else np.moveaxis(img, 0, -1), cmap="gray", vmin=0, vmax=1)
        scale = np.abs(m).max() or 1.0
        ax.imshow(np.abs(m) / scale, cmap="inferno", alpha=0.5, vmin=0, vmax=1)
        if masks is not None and masks[k].any():
            ax.contour(masks[k], levels=[0.5], colors="cyan", linewidths=0.8)
        ax.set_title(title, fontsize=7)
    fig.tight_layout()
    return fig


def _save(fig, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.savefig(path, format="png", metadata=PNG_META)
    plt.close(fig)
    return str(path)


def write_overlays(out: Path, method: str, x, maps, target, masks) -> list[str]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    k = min(8, len(x))
    files.append(
        _save(
            _figure(
                x[:k], maps[:k], [f"#{i} class {target[i]}" for i in range(k)], None if masks is None else masks[:k]
            ),
            out / f"{method}-overlay.png",
        )
    )
    strength = np.abs(maps).reshape(len(maps), -1).max(1)
    picks = [i for c in np.unique(target) for i in np.argsort(-strength * (target == c))[:4]]
    files.append(
        _save(
            _figure(
                x[picks],
                maps[picks],
                [f"top class {target[i]}" for i in picks],
                None if masks is None else masks[picks],
            ),
            out / f"{method}-top-per-class.png",
        )
    )
    if masks is not None and masks.any():
        pos = np.clip(maps, 0, None).reshape(len(maps), -1)
        inside = (pos * masks.reshape(len(masks), -1)).sum(1) / np.maximum(pos.sum(1), 1e-12)
        cand = [i for i in np.argsort(inside) if masks[i].any()][:8]
        files.append(
            _save(
                _figure(x[cand], maps[cand], [f"mass in lesion {inside[i]:.2f}" for i in cand], masks[cand]),
                out / f"{method}-worst-localisation.png",
            )
        )
    return files

"""Overlay PNGs for reports: heat-maps over images, top cases per class, worst localisation failures.

Each figure carries a colour bar (the attribution's magnitude, scaled to each
image's own maximum) and, where lesion masks exist, a legend for their
outline; :data:`LEGEND` says the same in words for the reports' captions.
Colours are colour-blind safe: the attribution in ``cividis`` (Nuñez,
Anderton & Renslow 2018), the mask outline in Okabe-Ito vermillion (Okabe &
Ito 2008), which stands out against every cividis colour and the grey image.
Rendered with matplotlib's Agg backend and fixed metadata, so the same
inputs give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PNG_META = {"Software": None}  # no version string: reproducible files
MAP_CMAP = "cividis"
MASK_COLOUR = "#D55E00"  # Okabe-Ito vermillion
SCALE_LABEL = "|attribution| / image's maximum"
#: Overlay file suffix -> what the figure shows (its heading, and the report's caption).
KINDS = {
    "-overlay.png": "attribution maps of sample cases, with the lesion mask's outline",
    "-top-per-class.png": "the four cases of each class with the strongest attribution",
    "-worst-localisation.png": "the cases whose attribution lies furthest outside the lesion mask",
}
#: What the colours mean, in words (the report prints it under every overlay).
LEGEND = {
    "map": "Colour over the grey image: the magnitude of the attribution to the true class, scaled to each "
    "image's own maximum, from dark blue (0, no attribution) through grey to yellow (1, the image's "
    "strongest attribution); colour bar at the right. Scales are per image: colours do not compare "
    "across images.",
    "mask": "Vermillion (orange-red) outline: the lesion mask of the dataset.",
    "titles": "Above each image: the case and its true class, or the score that selected it.",
    "scale": f"{SCALE_LABEL}, 0 (dark blue) to 1 (yellow)",
    "outline": "the lesion mask (vermillion)",
}


def _figure(images, maps, titles, masks=None, cols=4, heading: str = ""):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    n = len(images)
    rows = max(1, (n + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols + 1.0, 2.4 * rows + 0.6), dpi=100)
    flat = np.atleast_1d(axes).ravel()
    for ax in flat:
        ax.axis("off")
    outlined = False
    for ax, img, m, title, k in zip(flat, images, maps, titles, range(n), strict=False):
        ax.imshow(img[0] if img.shape[0] == 1 else np.moveaxis(img, 0, -1), cmap="gray", vmin=0, vmax=1)
        scale = np.abs(m).max() or 1.0
        ax.imshow(np.abs(m) / scale, cmap=MAP_CMAP, alpha=0.6, vmin=0, vmax=1)
        if masks is not None and masks[k].any():
            ax.contour(masks[k], levels=[0.5], colors=MASK_COLOUR, linewidths=1.0)
            outlined = True
        ax.set_title(title, fontsize=7)
    bar = fig.colorbar(
        ScalarMappable(Normalize(0, 1), MAP_CMAP), ax=list(flat), fraction=0.04, pad=0.02, ticks=[0, 0.5, 1]
    )
    bar.set_label(SCALE_LABEL, fontsize=7)
    bar.ax.tick_params(labelsize=7)
    if outlined:
        fig.legend(
            handles=[Line2D([], [], color=MASK_COLOUR, lw=1.5, label="lesion mask outline")],
            loc="lower left",
            fontsize=7,
            frameon=False,
        )
    if heading:
        fig.suptitle(heading, fontsize=8)
    return fig


def _save(fig, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.savefig(path, format="png", metadata=PNG_META)
    plt.close(fig)
    return str(path)


def write_overlays(out: Path, method: str, x, maps, target, masks) -> list[str]:
    """The overlay PNGs of one method (:data:`KINDS`), written under ``out``; their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    k = min(8, len(x))
    files.append(
        _save(
            _figure(
                x[:k],
                maps[:k],
                [f"#{i} class {target[i]}" for i in range(k)],
                None if masks is None else masks[:k],
                heading=f"{method}: {KINDS['-overlay.png']}",
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
                heading=f"{method}: {KINDS['-top-per-class.png']}",
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
                _figure(
                    x[cand],
                    maps[cand],
                    [f"mass in lesion {inside[i]:.2f}" for i in cand],
                    masks[cand],
                    heading=f"{method}: {KINDS['-worst-localisation.png']}",
                ),
                out / f"{method}-worst-localisation.png",
            )
        )
    return files

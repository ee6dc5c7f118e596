"""Deterministic SVG charts (matplotlib, Agg): the same data gives the same bytes.

Charts are embedded as ``data:image/svg+xml`` URLs, the only kind of
resource the report renderer fetches besides its own templates.

Colour: lines use the Okabe-Ito palette (distinguishable with the common
colour-vision deficiencies) with distinct markers; the heat-map uses
``cividis`` (Nuñez et al. 2018, designed for colour-vision deficiency) with a
colour bar, and each number's text colour (black or white) is chosen for the
highest WCAG 2.1 contrast against its cell, which is always at least 4.5:1
(level AA).
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

#: Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
HEATMAP = "cividis"


def _luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour with channels in 0..1."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """WCAG 2.1 contrast ratio (1..21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_colour(background: tuple[float, float, float]) -> tuple[float, float, float]:
    """Black or white, whichever contrasts more with ``background`` (always >= 4.5:1)."""
    black, white = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    return black if contrast(black, background) >= contrast(white, background) else white


def _style(i: int) -> dict:
    return {"color": OKABE_ITO[i % len(OKABE_ITO)], "marker": MARKERS[i % len(MARKERS)], "ms": 3}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "govkit", "svg.fonttype": "path", "font.size": 8, "figure.dpi": 100})
    return plt


def _data_url(fig: Any) -> str:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def roc_loglog(curves: dict[str, dict]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4, 3.2))
    for i, (name, c) in enumerate(sorted(curves.items())):
        fpr, tpr = np.asarray(c["fpr"]), np.asarray(c["tpr"])
        keep = (fpr > 0) & (tpr > 0)
        ax.loglog(
            fpr[keep],
            tpr[keep],
            label=name,
            lw=1.2,
            color=OKABE_ITO[i % len(OKABE_ITO)],
            linestyle=("-", "--", ":", "-.")[i % 4],
        )
    ax.loglog([1e-4, 1], [1e-4, 1], "k--", lw=0.6, label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_xlim(1e-3, 1)
    ax.set_ylim(1e-3, 1)
    ax.legend(fontsize=6)
    ax.set_title("Membership inference ROC (log-log)")
    return _data_url(fig)


def corruption_heatmap(results: list[dict]) -> str:
    plt = _plt()
    names = sorted({r["name"] for r in results})
    sevs = sorted({r["severity"] for r in results})
    grid = np.full((len(names), len(sevs)), np.nan)
    for r in results:
        grid[names.index(r["name"]), sevs.index(r["severity"])] = r["accuracy"]
    fig, ax = plt.subplots(figsize=(4, 0.35 * len(names) + 1))
    cmap = plt.get_cmap(HEATMAP)
    im = ax.imshow(grid, vmin=0, vmax=1, cmap=cmap, aspect="auto")
    ax.set_xticks(range(len(sevs)), [f"s{s}" for s in sevs])
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(sevs)):
            if np.isfinite(grid[i, j]):
                ax.text(
                    j,
                    i,
                    f"{grid[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color=text_colour(cmap(float(grid[i, j]))[:3]),
                )
    fig.colorbar(im, ax=ax, label="accuracy")
    ax.set_title("Accuracy by corruption and severity")
    return _data_url(fig)


def eps_curve(results: list[dict]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4, 3))
    for i, attack in enumerate(sorted({r["attack"] for r in results})):
        pts = sorted((r["eps"], r["accuracy"]) for r in results if r["attack"] == attack)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=attack, **_style(i))
    ax.set_xlabel("ε (image space)")
    ax.set_ylabel("robust accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=6)
    ax.set_title("Robust accuracy vs ε")
    return _data_url(fig)


def reliability(rel: dict) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(3.2, 3))
    pts = [(c, a) for c, a in zip(rel["confidence"], rel["accuracy"], strict=True) if c is not None and a is not None]
    ax.plot([0, 1], [0, 1], "k--", lw=0.6)
    ax.plot([p[0] for p in pts], [p[1] for p in pts], **_style(0))
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title("Calibration (reliability)")
    return _data_url(fig)


def png_data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")

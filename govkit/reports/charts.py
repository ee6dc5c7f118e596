"""Deterministic SVG charts (matplotlib, Agg): the same data gives the same bytes.

Charts are embedded as ``data:image/svg+xml`` URLs, the only kind of
resource the report renderer fetches besides its own templates.
"""

from __future__ import annotations

import base64
import io

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "govkit", "svg.fonttype": "path", "font.size": 8,
                         "figure.dpi": 100})
    return plt


def _data_url(fig) -> str:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def roc_loglog(curves: dict[str, dict]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4, 3.2))
    for name, c in sorted(curves.items()):
        fpr, tpr = np.asarray(c["fpr"]), np.asarray(c["tpr"])
        keep = (fpr > 0) & (tpr > 0)
        ax.loglog(fpr[keep], tpr[keep], label=name, lw=1.2)
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
    im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(sevs)), [f"s{s}" for s in sevs])
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(sevs)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=6, color="white")
    fig.colorbar(im, ax=ax, label="accuracy")
    ax.set_title("Accuracy by corruption and severity")
    return _data_url(fig)


def eps_curve(results: list[dict]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4, 3))
    for attack in sorted({r["attack"] for r in results}):
        pts = sorted((r["eps"], r["accuracy"]) for r in results if r["attack"] == attack)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=attack)
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
    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title("Calibration (reliability)")
    return _data_url(fig)


def png_data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")

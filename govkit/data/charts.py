"""The Data section's chart: shares in training vs evaluation data, as deterministic SVG.

Same conventions as :mod:`govkit.reports.charts` (matplotlib Agg, fixed SVG
hash salt, no dates, embedded as a ``data:`` URL); it lives here because the
report package reads this one, not the other way round.  Colours are the
Okabe–Ito palette (distinguishable with every common colour-vision
deficiency), and the bars are also hatched differently.
"""

from __future__ import annotations

import base64
import io

import numpy as np

OKABE_ITO_BLUE, OKABE_ITO_ORANGE = "#0072B2", "#E69F00"


def share_bars(rows: dict[str, dict[str, float | None]], label_a: str, label_b: str, title: str) -> str:
    """Horizontal paired bars: ``rows[label] = {"a": share, "b": share}``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "govkit", "svg.fonttype": "path", "font.size": 8, "figure.dpi": 100})
    labels = list(rows)
    y = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(4.2, 0.28 * len(labels) + 0.9))
    for off, key, label, colour, hatch in (
        (-0.2, "a", label_a, OKABE_ITO_BLUE, ""),
        (0.2, "b", label_b, OKABE_ITO_ORANGE, "//"),
    ):
        vals = [rows[k][key] or 0.0 for k in labels]
        ax.barh(y + off, vals, height=0.4, color=colour, hatch=hatch, edgecolor="#333333", linewidth=0.3, label=label)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of images")
    ax.legend(fontsize=6, loc="lower right")
    ax.set_title(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")

"""One figure of evidence: a value with its confidence interval, sample size,
and whether the sample can bear a verdict on it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class MetricValue:
    name: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    params: dict[str, Any] = field(default_factory=dict)
    ci_level: float = 0.95
    # "ok"; "unsupported" when the sample cannot support the figure (value is
    # then None); "unreliable" when the figure's own control fired.  Only "ok"
    # figures can pass a gate.
    status: str = "ok"
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

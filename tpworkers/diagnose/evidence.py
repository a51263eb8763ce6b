"""What a cluster finding is: a severity, a plain-language title, evidence with every number
labelled measured / reported / modelled, a recommendation and the lesson that explains it."""
from __future__ import annotations

from dataclasses import dataclass

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
PROVENANCES = ("measured", "reported", "modelled")


@dataclass(frozen=True)
class Evidence:
    label: str
    value: float
    unit: str
    provenance: str  # "measured" (here, now) | "reported" (NVML, nvidia-smi, pasted) | "modelled"
    source: str = ""

    def __post_init__(self):
        if self.provenance not in PROVENANCES:
            raise ValueError(f"provenance {self.provenance!r} is not one of {', '.join(PROVENANCES)}")

    def __str__(self) -> str:
        note = f"; {self.source}" if self.source else ""
        return f"{self.label}: {self.value:.4g} {self.unit} ({self.provenance}{note})"


@dataclass(frozen=True)
class Finding:
    severity: str  # "critical" | "warning" | "info"
    title: str
    evidence: tuple[Evidence, ...]
    recommendation: str
    lesson: str  # what-tp-splits, all-reduce-tax, the-wire, tp-or-replicas, sizing-tp, cluster-findings

    def render(self) -> str:
        lines = [f"[{self.severity.upper()}] {self.title}"]
        lines += [f"  - {e}" for e in self.evidence]
        lines += [f"  -> {self.recommendation}", f"  lesson: {self.lesson}"]
        return "\n".join(lines)

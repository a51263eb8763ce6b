"""Cluster findings: rules over a node's topology, measurements and deployments.

Each Finding (tpworkers.diagnose.evidence) has a severity, a plain-language title, evidence (every
number marked measured, reported or modelled), a recommendation and the lesson that explains
it. Modelled numbers all come from tpworkers.catalog.costmodel and the link/GPU catalogs. This module
holds the node's rules (NVLink state, pair bonds, measured bandwidth, PCIe width, error
counters); tpworkers.diagnose.deployment_rules the rules about what runs on the node.
CLI: ``python -m tpworkers.diagnose [--earlier PROBE.json] FILES...``
(see tpworkers.diagnose.inputs for what the files may contain).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from tpworkers.diagnose.deployment_rules import deployment_findings
from tpworkers.diagnose.deployments import Deployment
from tpworkers.diagnose.evidence import SEVERITY_ORDER, Evidence, Finding
from tpworkers.diagnose.nvml_probe import error_counter_increases
from tpworkers.diagnose.pairlinks import no_active_nvlink, nvlink_states, pair_link
from tpworkers.diagnose.topology import Node, PairMeasurement, source_words

__all__ = ["Evidence", "Finding", "Inputs", "diagnose"]
GB = 1e9


@dataclass
class Inputs:
    node: Node
    deployments: list[Deployment] = field(default_factory=list)
    measurements: list[PairMeasurement] = field(default_factory=list)
    earlier_probe: Node | None = None  # to compare NVLink error counters


def diagnose(inputs: Inputs) -> list[Finding]:
    found = [*_nvlink_state(inputs.node), *_weak_bonds(inputs.node),
             *_low_bandwidth(inputs.node, inputs.measurements), *_pcie_below_max(inputs.node)]
    if inputs.earlier_probe is not None:
        found += _errors_rising(inputs.earlier_probe, inputs.node)
    for dep in inputs.deployments:
        found += deployment_findings(inputs.node, dep)
    return sorted(found, key=lambda f: SEVERITY_ORDER[f.severity])


def _links_evidence(state) -> Evidence:
    return Evidence(f"GPU{state.gpu} active NVLinks", state.active, f"of {state.total}", "reported",
                    state.source)


def _nvlink_state(node: Node) -> list[Finding]:
    if no_active_nvlink(node):
        states = nvlink_states(node)
        return [Finding(
            "info", f"No NVLink is active on this node ({len(states)} GPUs list NVLinks, none up)",
            tuple(_links_evidence(s) for s in states[:2]),
            "If NVLink bridges are installed, reseat them and check `nvidia-smi nvlink -s`; "
            "without bridges these GPUs reach each other over PCIe only.", "the-wire")]
    states = nvlink_states(node)
    healthy = [s for s in states if s.active == s.total][:1]
    found = []
    down = [s for s in states if s.down and s.active == 0]
    if down:
        names = " and ".join(f"GPU{s.gpu}" for s in down)
        joined = len(down) == 2 and not node.nvlink_count(down[0].gpu, down[1].gpu)
        title = f"The NVLink between {names} is down" if joined else f"NVLink is down on {names}"
        found.append(Finding(
            "critical", f"{title} (0 of {down[0].total} links active)",
            tuple(_links_evidence(s) for s in down + healthy),
            f"Reseat or replace the NVLink bridge/cable of {names}, then confirm with "
            f"`nvidia-smi nvlink -s`; until then keep {names} out of one TP group.", "the-wire"))
    for s in states:
        if 0 < s.active < s.total:
            found.append(Finding(
                "warning", f"GPU{s.gpu} has {len(s.inactive)} of {s.total} NVLinks inactive "
                           f"(links {', '.join(map(str, s.inactive))})",
                (_links_evidence(s), *[_links_evidence(h) for h in healthy if h.gpu != s.gpu]),
                "Fewer links mean less bandwidth for every collective through this GPU; "
                "check the link with `nvidia-smi nvlink -e` and schedule a repair.", "the-wire"))
    return found


def _weak_bonds(node: Node) -> list[Finding]:
    """A pair bonded by fewer NVLinks than the others, seen in topo -m alone (when per-link
    states are known, _nvlink_state already names the inactive links)."""
    pairs = [p for p in node.pairs if p.nvlink_count]
    best = max((p.nvlink_count for p in pairs), default=0)
    found = []
    for pair in pairs:
        gpus = [node.find_gpu(g) for g in (pair.a, pair.b)]
        if pair.nvlink_count < best and not any(g and g.nvlinks for g in gpus):
            source = source_words(pair, "nvlink_count")
            found.append(Finding(
                "warning", f"GPU{pair.a}-GPU{pair.b} is bonded by {pair.nvlink_count} NVLinks; "
                           f"other pairs by {best}",
                (Evidence(f"GPU{pair.a}-GPU{pair.b} NVLinks", pair.nvlink_count, "links", "reported", source),
                 Evidence("best pair on this node", best, "links", "reported", source)),
                "Some links of this pair may be down; run `nvidia-smi nvlink -s` on both GPUs.",
                "the-wire"))
    return found


def _low_bandwidth(node: Node, measurements: list[PairMeasurement]) -> list[Finding]:
    pairs = {m.gpus: m.large_message_busbw_Bps() for m in measurements if len(m.gpus) == 2}
    found = []
    for gpus, busbw in pairs.items():
        peers = [bw for other, bw in pairs.items() if other != gpus]
        link = pair_link(node, *gpus)
        evidence = [Evidence(f"GPU{gpus[0]}-GPU{gpus[1]} all-reduce busbw", busbw / GB, "GB/s", "measured")]
        problems = []
        if len(peers) >= 2 and busbw < 0.5 * statistics.median(peers):
            evidence.append(Evidence("median of the other pairs", statistics.median(peers) / GB,
                                     "GB/s", "measured"))
            problems.append("far below its peers")
        if busbw < 0.25 * link.bandwidth_Bps:
            evidence.append(Evidence(f"{link.name} per direction", link.bandwidth_Bps / GB, "GB/s",
                                     "modelled", link.source))
            problems.append(f"below a quarter of its {link.kind} link's modelled peak")
        if problems:
            found.append(Finding(
                "warning", f"GPU{gpus[0]}-GPU{gpus[1]} all-reduce bandwidth is {' and '.join(problems)}",
                tuple(evidence), "Check the pair's links (`nvidia-smi nvlink -s`, `topo -m`) and "
                "that NCCL uses P2P (NCCL_DEBUG=INFO shows 'via P2P').", "the-wire"))
    return found


def _pcie_below_max(node: Node) -> list[Finding]:
    found = []
    for g in node.gpus:
        src = source_words(g, "pcie_width_current")
        if g.pcie_width_current and g.pcie_width_max and g.pcie_width_current < g.pcie_width_max:
            found.append(Finding(
                "warning", f"GPU{g.index}'s PCIe link runs x{g.pcie_width_current} of x{g.pcie_width_max}",
                (Evidence("PCIe width", g.pcie_width_current, f"lanes of {g.pcie_width_max}", "reported", src),),
                "Reseat the card or check the slot/riser: fewer lanes cut host and P2P bandwidth "
                "in proportion.", "cluster-findings"))
        if g.pcie_gen_current and g.pcie_gen_max and g.pcie_gen_current < g.pcie_gen_max:
            found.append(Finding(
                "info", f"GPU{g.index}'s PCIe runs Gen{g.pcie_gen_current} of Gen{g.pcie_gen_max}",
                (Evidence("PCIe generation", g.pcie_gen_current, f"of Gen{g.pcie_gen_max}", "reported",
                          source_words(g, "pcie_gen_current")),),
                "GPUs lower their PCIe generation when idle; probe again under load before acting.",
                "cluster-findings"))
    return found


def _errors_rising(before: Node, after: Node) -> list[Finding]:
    by_gpu: dict[int, list] = {}
    for gpu, link, counter, grew in error_counter_increases(before, after):
        by_gpu.setdefault(gpu, []).append(Evidence(
            f"link {link} {counter} errors", grew, "new since the earlier probe", "reported", "NVML"))
    return [Finding("warning", f"NVLink error counters are rising on GPU{gpu}", tuple(ev),
                    "A link that keeps retrying loses bandwidth and may fail; check `nvidia-smi "
                    "nvlink -e` and plan a repair.", "cluster-findings")
            for gpu, ev in by_gpu.items()]

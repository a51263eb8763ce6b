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

from tpworkers.catalog.gpus import find_gpu
from tpworkers.diagnose.deployment_rules import deployment_findings
from tpworkers.diagnose.deployment_fields import Deployment
from tpworkers.diagnose.evidence import SEVERITY_ORDER, Evidence, Finding
from tpworkers.diagnose.nvml_probe import error_counter_increases
from tpworkers.diagnose.pairlinks import no_active_nvlink, nvlink_states, p2p_refusal, pair_link
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
    found = [*_nvlink_state(inputs.node), *_weak_bonds(inputs.node), *_no_p2p(inputs.node),
             *_low_bandwidth(inputs.node, inputs.measurements), *_pcie_below_max(inputs.node)]
    if inputs.earlier_probe is not None:
        found += _errors_rising(inputs.earlier_probe, inputs.node)
    for dep in inputs.deployments:
        found += deployment_findings(inputs.node, dep)
    return sorted(found, key=lambda f: SEVERITY_ORDER[f.severity])


def _links_evidence(state) -> Evidence:
    return Evidence(f"GPU{state.gpu} active NVLinks", state.active, f"of {state.total}", "reported",
                    state.source)


def _wired_evidence(state) -> Evidence:
    product = find_gpu(state.name)
    return Evidence(f"NVLinks a healthy {product.key} has up", state.wired, "links", "modelled",
                    state.wired_source)


def _nvlink_state(node: Node) -> list[Finding]:
    if no_active_nvlink(node):
        states = nvlink_states(node)
        return [Finding(
            "info", f"No NVLink is active on this node ({len(states)} GPUs list NVLinks, none up)",
            tuple(_links_evidence(s) for s in states[:2]),
            "If NVLink bridges are installed, reseat them and check `nvidia-smi nvlink -s`; "
            "without bridges these GPUs reach each other over PCIe only.", "the-wire")]
    states = nvlink_states(node)
    healthy = [s for s in states if s.missing == 0 and s.active][:1]
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
        # Judged against the product's wiring: an H100 PCIe lists 18 links and its bridges
        # wire 12, so 12 up is whole; 4 of a V100's 6 is two short.
        if 0 < s.active and s.missing:
            expected = f", {s.expected} expected" if s.expected < s.total else ""
            wired = (_wired_evidence(s),) if s.wired else ()
            found.append(Finding(
                "warning", f"GPU{s.gpu} has {len(s.inactive)} of {s.total} NVLinks inactive "
                           f"(links {', '.join(map(str, s.inactive))}{expected})",
                (_links_evidence(s), *wired, *[_links_evidence(h) for h in healthy if h.gpu != s.gpu]),
                "Fewer links mean less bandwidth for every collective through this GPU; "
                "check the link with `nvidia-smi nvlink -e` and schedule a repair.", "the-wire"))
    return found


def _weak_bonds(node: Node) -> list[Finding]:
    """A GPU bonded to its peers by fewer NVLinks in all than the other GPUs of the node, seen in
    topo -m alone (when per-link states are known, _nvlink_state names the inactive links).
    Bonds may differ from pair to pair by design (a DGX-1's cube mesh bonds each V100 to two
    peers by 2 links and to two by 1): what a missing link changes is a GPU's total."""
    pairs = [p for p in node.pairs if p.nvlink_count]
    totals: dict[int, int] = {}
    for pair in pairs:
        for g in (pair.a, pair.b):
            totals[g] = totals.get(g, 0) + pair.nvlink_count
    best = max(totals.values(), default=0)
    short = [g for g, total in sorted(totals.items())
             if total < best and not ((record := node.find_gpu(g)) and record.nvlinks)]
    if not short:
        return []
    source = source_words(pairs[0], "nvlink_count")
    between = [p for p in pairs if p.a in short and p.b in short]
    where = (f"GPU{between[0].a}-GPU{between[0].b}'s bond (NV{between[0].nvlink_count}) looks short: "
             if len(short) == 2 and between else "")
    names = " and ".join(f"GPU{g}" for g in short)
    evidence = [Evidence(f"GPU{g} NVLinks to its peers", totals[g], "links in all, " + ", ".join(
        f"NV{p.nvlink_count} to GPU{p.b if p.a == g else p.a}" for p in pairs if g in (p.a, p.b)),
        "reported", source) for g in short[:4]]
    evidence.append(Evidence("most of any GPU on this node", best, "links in all", "reported", source))
    return [Finding(
        "warning", f"{where}{names} {'has' if len(short) == 1 else 'have'} {totals[short[0]]} NVLinks "
                   f"to {'its' if len(short) == 1 else 'their'} peers in all; other GPUs of this node {best}",
        tuple(evidence),
        f"Some links may be down: run `nvidia-smi nvlink -s` on {names}. Unequal bonds between "
        "pairs alone are no fault (a DGX-1 bonds V100 pairs by 1 or 2 links by design): a GPU "
        "with fewer links in all is.", "the-wire")]


def _no_p2p(node: Node) -> list[Finding]:
    """Pairs without NVLink that topo -p2p says cannot use PCIe peer-to-peer either."""
    refused = [(p, why) for p in node.pairs if not p.nvlink_count and (why := p2p_refusal(node, p.a, p.b))]
    if not refused:
        return []
    names = ", ".join(f"GPU{p.a}-GPU{p.b}" for p, _ in refused[:4]) + (" ..." if len(refused) > 4 else "")
    return [Finding(
        "info", f"No peer-to-peer path between {names}: topo -p2p reports {refused[0][1]}",
        tuple(Evidence(f"GPU{p.a}-GPU{p.b} P2P read", 0, f"({why})", "reported", source_words(p, "p2p_read"))
              for p, why in refused[:4]),
        "NCCL stages these pairs' traffic through host memory (SHM), so a TP group over them is "
        "slower than PCIe P2P would be; `NCCL_DEBUG=INFO` shows 'via SHM'. Consumer GPUs often "
        "lack P2P: prefer TP=1 replicas where the model fits one GPU.", "the-wire")]


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

"""Cluster findings: rules over a node's topology, deployments and measurements.

Each Finding has a severity, a plain-language title, evidence (every number marked measured,
reported or modelled), a recommendation and the lesson that explains it. Modelled numbers
all come from tpworkers.costmodel. CLI: ``python -m tpworkers.findings diagnose FILES...``
(see tpworkers.diagnose_inputs for what the files may contain).
"""
from __future__ import annotations

import itertools
import statistics
import sys
from dataclasses import dataclass, field

from tpworkers import costmodel
from tpworkers.deployments import Deployment
from tpworkers.gpus import find_gpu, memory_from_name
from tpworkers.links import LINKS, Link, assumed_pcie, link_for_gpu, nvlink_bond, pcie_link
from tpworkers.nvml_probe import error_counter_increases
from tpworkers.topology import Node, PairMeasurement

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
GB = 1e9
# Assumptions stated with every modelled number that uses them.
TOKENS_IN_FLIGHT, CONTEXT_TOKENS, BATCH = 8, 8192, 8


@dataclass(frozen=True)
class Evidence:
    label: str
    value: float
    unit: str
    provenance: str  # "measured" | "reported" | "modelled"
    source: str = ""

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


@dataclass
class Inputs:
    node: Node
    deployments: list[Deployment] = field(default_factory=list)
    measurements: list[PairMeasurement] = field(default_factory=list)
    earlier_probe: Node | None = None  # to compare NVLink error counters


def diagnose(inputs: Inputs) -> list[Finding]:
    found = [*_nvlink_down(inputs.node), *_low_bandwidth(inputs.node, inputs.measurements),
             *_pcie_below_max(inputs.node)]
    if inputs.earlier_probe is not None:
        found += _errors_rising(inputs.earlier_probe, inputs.node)
    for dep in inputs.deployments:
        found += _deployment_findings(inputs.node, dep)
    return sorted(found, key=lambda f: SEVERITY_ORDER[f.severity])


def gpu_memory_bytes(node: Node, index: int) -> float | None:
    """NVML's figure, else the one the name or the GPU catalog gives."""
    gpu = node.gpu(index)
    return gpu.memory_bytes or memory_from_name(gpu.name or "")


def _source(record, name: str) -> str:
    """Where a reported field came from, in words."""
    return {"reported-nvml": "NVML", "reported-nvidia-smi": "nvidia-smi"}.get(
        record.sources.get(name, ""), "")


def _active(gpu) -> int:
    return sum(1 for link in gpu.nvlinks if link.state == "active")


def _nvlink_down(node: Node) -> list[Finding]:
    with_links = [g for g in node.gpus if g.nvlinks]
    healthy = [g for g in with_links if _active(g) == len(g.nvlinks)]
    peer = [Evidence(f"GPU{g.index} active NVLinks", _active(g), f"of {len(g.nvlinks)}",
                     "reported", _source(g.nvlinks[0], "state")) for g in healthy[:1]]
    found = []
    down = [g for g in with_links if _active(g) == 0]
    if down:
        names = " and ".join(f"GPU{g.index}" for g in down)
        joined = len(down) == 2 and not node.nvlink_count(down[0].index, down[1].index)
        title = (f"The NVLink between {names} is down" if joined else f"NVLink is down on {names}")
        found.append(Finding(
            "critical", f"{title} (0 of {len(down[0].nvlinks)} links active)",
            tuple(Evidence(f"GPU{g.index} active NVLinks", 0, f"of {len(g.nvlinks)}", "reported",
                           _source(g.nvlinks[0], "state")) for g in down) + tuple(peer),
            f"Reseat or replace the NVLink bridge/cable of {names}, then confirm with "
            f"`nvidia-smi nvlink -s`; until then keep {names} out of one TP group.", "the-wire"))
    for g in with_links:
        if 0 < _active(g) < len(g.nvlinks):
            inactive = [link.link for link in g.nvlinks if link.state != "active"]
            found.append(Finding(
                "warning", f"GPU{g.index} has {len(inactive)} of {len(g.nvlinks)} NVLinks inactive "
                           f"(links {', '.join(map(str, inactive))})",
                (Evidence(f"GPU{g.index} active NVLinks", _active(g), f"of {len(g.nvlinks)}",
                          "reported", _source(g.nvlinks[0], "state")), *peer),
                "Fewer links mean less bandwidth for every collective through this GPU; "
                "check the link with `nvidia-smi nvlink -e` and schedule a repair.", "the-wire"))
    counts = {(p.a, p.b): p.nvlink_count for p in node.pairs if p.nvlink_count}
    best = max(counts.values(), default=0)
    for (a, b), count in counts.items():
        if count < best and not (node.gpu(a).nvlinks or node.gpu(b).nvlinks):
            found.append(Finding(
                "warning", f"GPU{a}-GPU{b} is bonded by {count} NVLinks; other pairs by {best}",
                (Evidence(f"GPU{a}-GPU{b} NVLinks", count, "links", "reported", "topo -m"),
                 Evidence("best pair on this node", best, "links", "reported", "topo -m")),
                "Some links of this pair are down; run `nvidia-smi nvlink -s` on both GPUs.",
                "the-wire"))
    return found


def _nvlink_for(node: Node, gpus: tuple[int, ...]) -> Link:
    """The NVLink a group's ring runs over: the GPU product's catalog link, else NVLink 4
    scaled to the weakest bond (an assumption the source text states)."""
    product = link_for_gpu(node.gpu(gpus[0]).name or "")
    if product:
        return product
    bond = min(node.nvlink_count(a, b) or 0 for a, b in itertools.combinations(gpus, 2))
    link = nvlink_bond(4, max(bond, 1))
    return Link(link.key, link.name, link.bandwidth_Bps, link.alpha_s, link.kind,
                f"GPU product unknown, NVLink 4 assumed; {link.source}")


def _pcie_for(node: Node, gpus: tuple[int, ...]) -> Link:
    """PCIe of the slowest GPU of a group: reported generation/width, else an assumption."""
    gens = [node.gpu(g).pcie_gen_current for g in gpus]
    widths = [node.gpu(g).pcie_width_current for g in gpus]
    if all(gens) and all(widths):
        return pcie_link(min(gens), min(widths))
    return assumed_pcie(node.gpu(gpus[0]).name or "")


def _nvlinked(node: Node, gpus: tuple[int, ...]) -> bool:
    return all(node.nvlink_count(a, b) for a, b in itertools.combinations(gpus, 2))


def _comm(dep: Deployment, tp: int, link: Link, label: str) -> Evidence:
    if tp == 1:
        return Evidence(label, 0.0, "ms/token", "modelled", "TP=1 has no all-reduce")
    est = costmodel.decode_comm_per_token(dep.shape, tp, TOKENS_IN_FLIGHT, dep.activation_dtype, link)
    return Evidence(label, est.seconds_per_token * 1e3, "ms/token", "modelled",
                    f"{est.allreduces} all-reduces of {costmodel.fmt_bytes(est.bytes_each)} over "
                    f"{link.name}, {TOKENS_IN_FLIGHT} tokens in flight")


def _deployment_findings(node: Node, dep: Deployment) -> list[Finding]:
    if dep.shape is None:
        return [Finding("info", f"Cannot size {dep.model_ref}: it is not in the catalog", (),
                        f"{dep.model_error} The topology checks still ran.", "sizing-tp")]
    found = []
    errors = costmodel.tp_constraint_errors(dep.shape, dep.tp)
    if errors:
        valid = costmodel.valid_tp_sizes(dep.shape)
        found.append(Finding(
            "critical", f"TP={dep.tp} cannot split {dep.shape.name}: {'; '.join(errors)}",
            (Evidence("attention heads", dep.shape.num_attention_heads, "heads", "reported", "config.json"),
             Evidence("KV heads", dep.shape.num_key_value_heads, "heads", "reported", "config.json")),
            f"Use a TP size that divides the model: {', '.join(map(str, valid))}.", "sizing-tp"))
        return found
    gpus = dep.gpu_indices
    known = {g.index for g in node.gpus}
    if dep.nodes > 1 or (known and dep.tp > len(known)):
        found.append(_spans_nodes(node, dep))
    elif len(gpus) > 1 and set(gpus) <= known and not _nvlinked(node, gpus):
        found.append(_crosses_pcie(node, dep, gpus))
    memory = min((gpu_memory_bytes(node, g) or 0) for g in gpus) if set(gpus) <= known else 0
    if memory:
        found += _sizing(node, dep, memory)
    return found


def _crosses_pcie(node: Node, dep: Deployment, gpus: tuple[int, ...]) -> Finding:
    missing = [(a, b) for a, b in itertools.combinations(gpus, 2) if not node.nvlink_count(a, b)]
    capable = any(g.nvlinks or link_for_gpu(g.name or "") for g in node.gpus)
    pcie = _pcie_for(node, gpus)
    evidence = [Evidence(f"GPU{a}-GPU{b} NVLinks", 0, f"links, path {node.find_pair(a, b).path or '?'}",
                         "reported", _source(node.find_pair(a, b), "nvlink_count"))
                for a, b in missing]
    evidence.append(_comm(dep, dep.tp, pcie, f"now: TP={dep.tp} on {_names(gpus)} over PCIe"))
    evidence.append(_comm(dep, 1, pcie, "option: TP=1 replicas"))
    options = ["run TP=1 replicas (no all-reduce)"]
    alternative = next((c for c in itertools.combinations(sorted(g.index for g in node.gpus), dep.tp)
                        if _nvlinked(node, c)), None)
    if alternative:
        link = _nvlink_for(node, alternative)
        evidence.append(_comm(dep, dep.tp, link, f"option: TP={dep.tp} on {_names(alternative)}"))
        options.append(f"move the TP group to {_names(alternative)} ({evidence[-1].value:.3g} "
                       f"ms/token of all-reduce, modelled)")
    return Finding(
        "critical" if capable else "warning",
        f"This TP group's all-reduces cross PCIe: {', '.join(f'GPU{a}-GPU{b}' for a, b in missing)} "
        f"{'have' if len(missing) > 1 else 'has'} no NVLink",
        tuple(evidence), "Either " + ", or ".join(options) + ".", "the-wire")


def _names(gpus) -> str:
    return "+".join(f"GPU{g}" for g in gpus)


def _spans_nodes(node: Node, dep: Deployment) -> Finding:
    per_node = len(node.gpus) or dep.tp // dep.nodes
    nvlink = _nvlink_for(node, tuple(sorted(g.index for g in node.gpus))[:2]) if len(node.gpus) > 1 \
        else LINKS["nvlink4"]
    return Finding(
        "warning", f"TP={dep.tp} spans nodes: every all-reduce crosses the network",
        (Evidence("TP size", dep.tp, "GPUs", "reported", dep.text[:60]),
         Evidence("GPUs per node", per_node, "GPUs", "reported"),
         _comm(dep, dep.tp, LINKS["ib-ndr"], "all-reduce over InfiniBand NDR"),
         _comm(dep, dep.tp, nvlink, f"same all-reduce if it stayed on {nvlink.name}")),
        f"Keep TP inside one node (TP <= {per_node}) and use pipeline parallelism or replicas "
        "across nodes (Megatron-LM keeps TP groups inside 8-GPU NVLink domains).", "all-reduce-tax")


def _sizing(node: Node, dep: Deployment, memory: float) -> list[Finding]:
    context = dep.context_tokens or CONTEXT_TOKENS
    fit = lambda tp: costmodel.memory_fit(dep.shape, dep.weight_dtype, memory, context, BATCH,
                                         kv_dtype=dep.kv_dtype, tp=tp)
    one, now = fit(1), fit(dep.tp)
    assumption = f"{context} tokens x batch {BATCH}, {costmodel.DEFAULT_OVERHEAD_FRACTION:.0%} overhead"
    first = node.gpu(dep.gpu_indices[0])
    product = find_gpu(first.name or "")
    memory_ev = Evidence("GPU memory", memory / GB, "GB", "reported",
                         "NVML" if first.memory_bytes else f"datasheet figure for {first.name}"
                         + (f" ({product.source})" if product else ""))
    if not now.fits:
        return [Finding(
            "critical", f"{dep.shape.name} in {dep.weight_dtype} does not fit at TP={dep.tp}",
            (Evidence("per-GPU total", now.total / GB, "GB", "modelled", assumption), memory_ev),
            f"Use a larger TP ({', '.join(map(str, costmodel.valid_tp_sizes(dep.shape)))}), "
            "a smaller dtype, or a shorter context.", "sizing-tp")]
    if dep.tp > 1 and one.fits:
        return [Finding(
            "warning", f"TP={dep.tp} is not needed: {dep.shape.name} in {dep.weight_dtype} "
                       f"({one.weights / GB:.0f} GB of weights) fits one {memory / GB:.0f} GB GPU",
            (Evidence("weights", one.weights / GB, "GB", "modelled",
                      f"{costmodel.param_count(dep.shape) / 1e9:.1f}B params x "
                      f"{costmodel.dtype_bytes(dep.weight_dtype):g} B"),
             Evidence("KV cache", one.kv / GB, "GB", "modelled",
                      f"{context} tokens x batch {BATCH} in {dep.kv_dtype}"), memory_ev,
             Evidence("headroom at TP=1", one.headroom / GB, "GB", "modelled", assumption)),
            f"Run {len(dep.gpu_indices)} TP=1 replicas, one per GPU: no all-reduce per token, "
            f"and each replica serves its own requests.", "tp-or-replicas")]
    return []


def _low_bandwidth(node: Node, measurements: list[PairMeasurement]) -> list[Finding]:
    pairs = {m.gpus: m.large_message_busbw_Bps() for m in measurements if len(m.gpus) == 2}
    found = []
    for gpus, busbw in pairs.items():
        peers = [bw for other, bw in pairs.items() if other != gpus]
        link = _nvlink_for(node, gpus) if node.nvlink_count(*gpus) else _pcie_for(node, gpus)
        evidence = [Evidence(f"GPU{gpus[0]}-GPU{gpus[1]} all-reduce busbw", busbw / GB, "GB/s", "measured")]
        problems = []
        if len(peers) >= 2 and busbw < 0.5 * statistics.median(peers):
            evidence.append(Evidence("median of the other pairs", statistics.median(peers) / GB,
                                     "GB/s", "measured"))
            problems.append("far below its peers")
        if busbw < 0.25 * link.bandwidth_Bps:
            evidence.append(Evidence(f"{link.name} per direction", link.bandwidth_Bps / GB, "GB/s",
                                     "modelled", link.source))
            problems.append(f"below a quarter of its {link.kind} link")
        if problems:
            found.append(Finding(
                "warning", f"GPU{gpus[0]}-GPU{gpus[1]} all-reduce bandwidth is {' and '.join(problems)}",
                tuple(evidence), "Check the pair's links (`nvidia-smi nvlink -s`, `topo -m`) and "
                "that NCCL uses P2P (NCCL_DEBUG=INFO shows 'via P2P').", "the-wire"))
    return found


def _pcie_below_max(node: Node) -> list[Finding]:
    found = []
    for g in node.gpus:
        src = _source(g, "pcie_width_current")
        if g.pcie_width_current and g.pcie_width_max and g.pcie_width_current < g.pcie_width_max:
            found.append(Finding(
                "warning", f"GPU{g.index}'s PCIe link runs x{g.pcie_width_current} of x{g.pcie_width_max}",
                (Evidence("PCIe width", g.pcie_width_current, f"lanes of {g.pcie_width_max}", "reported", src),),
                "Reseat the card or check the slot/riser; fewer lanes halve host and P2P bandwidth.",
                "cluster-findings"))
        if g.pcie_gen_current and g.pcie_gen_max and g.pcie_gen_current < g.pcie_gen_max:
            found.append(Finding(
                "info", f"GPU{g.index}'s PCIe runs Gen{g.pcie_gen_current} of Gen{g.pcie_gen_max}",
                (Evidence("PCIe generation", g.pcie_gen_current, f"of Gen{g.pcie_gen_max}", "reported", src),),
                "GPUs lower their PCIe generation when idle; probe again under load before acting.",
                "cluster-findings"))
    return found


def _errors_rising(before: Node, after: Node) -> list[Finding]:
    by_gpu: dict[int, list] = {}
    for gpu, link, counter, grew in error_counter_increases(before, after):
        by_gpu.setdefault(gpu, []).append(Evidence(f"link {link} {counter} errors", grew, "new", "reported"))
    return [Finding("warning", f"NVLink error counters are rising on GPU{gpu}", tuple(ev),
                    "A link that keeps retrying loses bandwidth and may fail; check `nvidia-smi "
                    "nvlink -e` and plan a repair.", "cluster-findings")
            for gpu, ev in by_gpu.items()]


if __name__ == "__main__":
    from tpworkers.diagnose_inputs import main
    sys.exit(main(sys.argv[1:]))

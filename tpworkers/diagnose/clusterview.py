"""What the cluster page shows for one node, built from plain topology data (no Django):
the `nvidia-smi topo -m` matrix, NVLink state per GPU (``pairlinks.nvlink_states``, shared with the
findings), the measured per-pair bandwidth heatmap beside each link's
modelled peak (``pairlinks.pair_link``), and how long ago the worker last spoke.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

from tpworkers.diagnose import limits
from tpworkers.diagnose.pairlinks import pair_link
from tpworkers.diagnose.topology import NVML, SMI, SOURCE_WORDS, Node, Topology

GB = 1e9
# topo -m legend, in the words nvidia-smi uses (the tooltip of each cell).
LEVEL_MEANING = {
    "X": "Self",
    "PIX": "PCIe: traverses at most a single PCIe bridge",
    "PXB": "PCIe: traverses multiple PCIe bridges (without the host bridge)",
    "PHB": "PCIe: traverses a PCIe host bridge (typically the CPU)",
    "NODE": "PCIe plus the interconnect between PCIe host bridges within a NUMA node",
    "SYS": "PCIe plus the SMP interconnect between NUMA nodes (e.g. QPI/UPI): the slowest path",
}


def topology_node(data: dict, hostname: str) -> Node:
    """The stored topology as a Node: the worker stores one node, a paste may store
    ``{"nodes": [...]}`` (Topology.to_dict); an empty dict is a node nobody described yet."""
    nodes = Topology.from_dict(data if "nodes" in data else {"nodes": [data]} if data else {}).nodes
    node = nodes[0] if nodes else Node(hostname)
    node.hostname = hostname
    return _within_limits(node)


def _within_limits(node: Node) -> Node:
    """A node stored before pastes were bounded (a 400-GPU paste) is shown cut to the limits,
    saying so, so that every view stays bounded; the stored data is left as it was."""
    gpus = len(node.gpus)
    if gpus <= limits.MAX_GPUS_PER_NODE and len(node.nics) <= limits.MAX_NICS_PER_NODE \
            and all(len(g.nvlinks) <= limits.MAX_NVLINKS_PER_GPU for g in node.gpus):
        return node
    node.gpus = [g for g in node.gpus if 0 <= g.index < limits.MAX_GPUS_PER_NODE]
    for gpu in node.gpus:
        gpu.nvlinks = gpu.nvlinks[:limits.MAX_NVLINKS_PER_GPU]
    kept = {g.index for g in node.gpus}
    node.pairs = [p for p in node.pairs if p.a in kept and p.b in kept]
    node.nics = node.nics[:limits.MAX_NICS_PER_NODE]
    names = {n.name for n in node.nics}
    node.nic_paths = [p for p in node.nic_paths if p.gpu in kept and p.nic in names]
    node.reasons.append(f"{CUT_NOTE} {gpus} GPUs and is shown cut to what a node holds: {limits.NODE_SIZE_WHY}")
    return node


CUT_NOTE = "The stored topology lists"


def cut_note(node: Node) -> str:
    """Why a node is shown cut to the limits ("" when it is shown whole)."""
    return next((reason for reason in node.reasons if reason.startswith(CUT_NOTE)), "")


def node_dict(node: Node) -> dict:
    """What Node.topology stores (the same shape the worker stores)."""
    return dataclasses.asdict(node)


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


@dataclass
class Cell:
    text: str
    css: str
    title: str


@dataclass
class MatrixRow:
    label: str
    cells: list[Cell]


@dataclass
class Matrix:
    columns: list[str]
    rows: list[MatrixRow]
    nic_legend: list[tuple[str, str]]
    sources: list[str]  # in words: "NVML", "pasted nvidia-smi"


def _nvlink_shade(count: int) -> str:
    """Green, darker with more bonded links (NV1-3 light, NV4-11 mid, NV12+ dark)."""
    return "nv-high" if count >= 12 else "nv-mid" if count >= 4 else "nv-low"


def pair_cell(node: Node, a: int, b: int) -> Cell:
    if a == b:
        return Cell("X", "self", LEVEL_MEANING["X"])
    count = node.nvlink_count(a, b)
    if count:
        return Cell(f"NV{count}", _nvlink_shade(count),
                    f"GPU{a}-GPU{b}: NVLink, a bonded set of {count} links")
    pair = node.find_pair(a, b)
    if pair is None or pair.path is None:
        return Cell("?", "unknown", f"GPU{a}-GPU{b}: not reported")
    return Cell(pair.path, f"pcie-{pair.path.lower()}", f"GPU{a}-GPU{b}: {LEVEL_MEANING[pair.path]}")


def matrix(node: Node) -> Matrix:
    gpus = [g.index for g in node.gpus]
    nics = [n.name for n in node.nics]
    paths = {(p.gpu, p.nic): p.path for p in node.nic_paths}
    rows = []
    for a in gpus:
        cells = [pair_cell(node, a, b) for b in gpus]
        for nic in nics:
            level = paths.get((a, nic))
            cells.append(Cell(level or "?", f"pcie-{level.lower()}" if level else "unknown",
                              f"GPU{a}-{nic}: {LEVEL_MEANING.get(level, 'not reported')}"))
        rows.append(MatrixRow(f"GPU{a}", cells))
    sources = {src for p in node.pairs for src in p.sources.values()}
    sources |= {src for p in node.nic_paths for src in p.sources.values()}
    return Matrix([f"GPU{g}" for g in gpus] + nics, rows,
                  [(n.name, n.device) for n in node.nics if n.device and n.device != n.name],
                  sorted(SOURCE_WORDS[s] for s in sources if s in (NVML, SMI)))


@dataclass
class PairBandwidth:
    a: int
    b: int
    busbw_GBps: float | None  # measured; None when no finished run covers this pair
    peak_GBps: float  # modelled
    link_name: str
    link_source: str
    run_id: int | None = None

    @property
    def fraction(self) -> float | None:
        return None if self.busbw_GBps is None else self.busbw_GBps / self.peak_GBps

    @property
    def css(self) -> str:
        """Heat by share of the modelled peak reached: the colour answers 'is this pair OK?'."""
        if self.fraction is None:
            return "unmeasured"
        return "heat-good" if self.fraction >= 0.6 else "heat-fair" if self.fraction >= 0.3 else "heat-poor"


@dataclass
class Heatmap:
    gpus: list[int]
    pairs: list[PairBandwidth]
    grid: list[tuple[int, list[PairBandwidth | None]]] = field(default_factory=list)

    @property
    def measured(self) -> list[PairBandwidth]:
        return [p for p in self.pairs if p.busbw_GBps is not None]


def heatmap(node: Node, measured: dict[tuple[int, int], tuple[float, int]]) -> Heatmap:
    """``measured``: (a, b) -> (busbw GB/s, run id) of the latest finished run on that pair."""
    gpus = [g.index for g in node.gpus]
    pairs = {}
    for a, b in itertools.combinations(gpus, 2):
        link = pair_link(node, a, b)
        busbw, run_id = measured.get((a, b), (None, None))
        pairs[a, b] = PairBandwidth(a, b, busbw, link.bandwidth_Bps / GB, link.name, link.source, run_id)
    grid = [(a, [None if a == b else pairs[min(a, b), max(a, b)] for b in gpus]) for a in gpus]
    return Heatmap(gpus, list(pairs.values()), grid)


def best_busbw_at_largest_size(rows: list[dict]) -> float | None:
    """A sweep's large-message bus bandwidth: the best busbw among rows of its largest size."""
    if not rows:
        return None
    largest = max(row["size_bytes"] for row in rows)
    return max(row["busbw_GBps"] for row in rows if row["size_bytes"] == largest)


def gpu_pairs(node: Node, gpu_count: int) -> list[tuple[int, int]]:
    """Every pair of this node's GPUs (from the topology, else the worker's device count)."""
    gpus = [g.index for g in node.gpus] or list(range(gpu_count))
    return list(itertools.combinations(gpus, 2))

"""Topology of GPU nodes: GPUs, NVLinks, PCIe paths between GPU pairs, NICs, measurements.

Every record carries ``sources``: field name -> where the value came from, one of
``reported-nvml`` (NVML through nvidia-ml-py), ``reported-nvidia-smi`` (pasted text) or
``measured`` (collective sweeps); topology_merge.merge combines several partial views of a node.

PCIe path levels, nearest first (the legend nvidia-smi topo -m prints under its matrix):
X self; PIX at most one PCIe bridge; PXB several bridges; PHB through a host bridge;
NODE between host bridges of one NUMA node; SYS across NUMA nodes (old drivers: SOC).
A pair bonded by NVLink shows as NV<count> in topo -m; its PCIe level is then not printed.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from tpworkers.catalog import costmodel

NVML, SMI, MEASURED = "reported-nvml", "reported-nvidia-smi", "measured"
SOURCE_WORDS = {NVML: "NVML", SMI: "pasted nvidia-smi", MEASURED: "measured"}
PATH_LEVELS = ("X", "PIX", "PXB", "PHB", "NODE", "SYS")


@dataclass
class NvLinkLink:
    link: int
    state: str | None = None  # "active" | "inactive"
    version: int | None = None
    speed_Bps: float | None = None  # per direction, as nvidia-smi nvlink -s prints it
    remote_gpu: int | None = None
    remote_bus_id: str | None = None
    remote_link: int | None = None  # the link number at the far end (nvlink -R "...: Link M")
    errors: dict[str, int] | None = None  # replay, recovery, crc_flit, crc_data
    sources: dict[str, str] = field(default_factory=dict)


@dataclass
class GPU:
    index: int
    name: str | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    memory_bytes: int | None = None
    numa_affinity: int | None = None  # the CPU NUMA node nearest the GPU (topo -m "NUMA Affinity")
    gpu_numa_id: int | None = None  # the GPU's own NUMA node where GPU memory is one (Grace
    # Hopper): topo -m "GPU NUMA ID", NVML nvmlDeviceGetNumaNodeId
    cpu_affinity: str | None = None
    pcie_gen_current: int | None = None
    pcie_gen_max: int | None = None
    pcie_width_current: int | None = None
    pcie_width_max: int | None = None
    nvlinks: list[NvLinkLink] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)


@dataclass
class GPUPair:
    a: int
    b: int
    path: str | None = None  # PCIe level from PATH_LEVELS
    nvlink_count: int | None = None  # bonded links (topo -m NV#); 0 = not joined by NVLink
    p2p_read: str | None = None  # topo -p2p r: OK, CNS, GNS, TNS, NS, U
    measured_busbw_Bps: float | None = None
    measured_alpha_s: float | None = None
    sources: dict[str, str] = field(default_factory=dict)


@dataclass
class NIC:
    name: str  # "NIC0" as topo -m labels it
    device: str | None = None  # "mlx5_0"
    sources: dict[str, str] = field(default_factory=dict)


@dataclass
class NicPath:
    gpu: int
    nic: str
    path: str | None = None
    sources: dict[str, str] = field(default_factory=dict)


@dataclass
class Node:
    hostname: str = "node"
    driver_version: str | None = None
    cuda_version: str | None = None
    gpus: list[GPU] = field(default_factory=list)
    pairs: list[GPUPair] = field(default_factory=list)
    nics: list[NIC] = field(default_factory=list)
    nic_paths: list[NicPath] = field(default_factory=list)
    probe_status: str = "ok"  # "ok" | "partial" | "unavailable"
    reasons: list[str] = field(default_factory=list)  # exact messages of failed queries
    sources: dict[str, str] = field(default_factory=dict)

    def find_gpu(self, index: int) -> GPU | None:
        return next((gpu for gpu in self.gpus if gpu.index == index), None)

    def gpu(self, index: int) -> GPU:
        """A GPU this node has; KeyError for one it does not (see ``add_gpu`` to create)."""
        gpu = self.find_gpu(index)
        if gpu is None:
            raise KeyError(f"{self.hostname} has no GPU{index}")
        return gpu

    def add_gpu(self, index: int) -> GPU:
        """The GPU of this index, created when missing: for parsers and probes that report it."""
        gpu = self.find_gpu(index)
        if gpu is None:
            gpu = GPU(index)
            self.gpus.append(gpu)
            self.gpus.sort(key=lambda g: g.index)
        return gpu

    def find_pair(self, a: int, b: int) -> GPUPair | None:
        a, b = sorted((a, b))
        return next((p for p in self.pairs if (p.a, p.b) == (a, b)), None)

    def add_pair(self, a: int, b: int) -> GPUPair:
        """The pair record of a and b, created when missing: for parsers and probes."""
        pair = self.find_pair(a, b)
        if pair is None:
            pair = GPUPair(*sorted((a, b)))
            self.pairs.append(pair)
            self.pairs.sort(key=lambda p: (p.a, p.b))
        return pair

    def bond(self, a: int, b: int) -> list[NvLinkLink]:
        """The links of GPU a whose far end is GPU b (known when the source names remotes)."""
        gpu = self.find_gpu(a)
        return [link for link in gpu.nvlinks if link.remote_gpu == b] if gpu else []

    def nvlink_count(self, a: int, b: int) -> int | None:
        """Active links joining a and b: counted from per-link remotes, else topo -m's NV#."""
        links = self.bond(a, b) or self.bond(b, a)
        if links:
            return sum(1 for link in links if link.state == "active")
        pair = self.find_pair(a, b)
        return pair.nvlink_count if pair else None


@dataclass
class Topology:
    nodes: list[Node] = field(default_factory=list)

    def node(self, hostname: str) -> Node:
        for node in self.nodes:
            if node.hostname == hostname:
                return node
        node = Node(hostname)
        self.nodes.append(node)
        return node

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Topology:
        return cls(nodes=[_node_from_dict(n) for n in data.get("nodes", [])])


def normalise_bus_id(bus_id: str) -> str:
    """PCI bus id as NVML prints it: 8-hex-digit domain, upper case ("00000000:18:00.0")."""
    parts = bus_id.strip().upper().split(":")
    if len(parts) == 3:
        parts[0] = parts[0][-8:].rjust(8, "0")
    elif len(parts) == 2:
        parts.insert(0, "00000000")
    return ":".join(parts)


def resolve_remote_gpus(node: Node) -> None:
    """Name the far-end GPU of links whose remote bus id belongs to a GPU of this node
    (on NVSwitch systems the far end is a switch, so those links stay unresolved)."""
    by_bus = {normalise_bus_id(g.pci_bus_id): g.index for g in node.gpus if g.pci_bus_id}
    for gpu in node.gpus:
        for link in gpu.nvlinks:
            if link.remote_bus_id and link.remote_gpu is None:
                remote = by_bus.get(normalise_bus_id(link.remote_bus_id))
                if remote is not None:
                    put(link, link.sources.get("remote_bus_id", SMI), remote_gpu=remote)


def source_words(record: Any, name: str) -> str:
    """Where a record's field came from, in words ("NVML", "pasted nvidia-smi"; "" if unset)."""
    return SOURCE_WORDS.get(record.sources.get(name, ""), "")


def put(record: Any, source: str, **values: Any) -> None:
    """Set fields on a record and mark each with ``source`` (None values are skipped)."""
    for name, value in values.items():
        if value is not None:
            setattr(record, name, value)
            record.sources[name] = source


@dataclass(frozen=True)
class PairMeasurement:
    """A measured collective over a group of GPUs (usually a pair) on one node: either a
    sweep of (size_bytes, seconds) points or an already computed large-message busbw."""
    gpus: tuple[int, ...]
    points: tuple[tuple[float, float], ...] = ()
    busbw_Bps: float | None = None
    op: str = "all_reduce"
    node: str | None = None

    def large_message_busbw_Bps(self) -> float:
        if self.busbw_Bps is not None:
            return self.busbw_Bps
        if not self.points:
            raise ValueError(f"measurement of GPUs {self.gpus} has neither points nor busbw")
        size, seconds = max(self.points)
        return costmodel.busbw_Bps(self.op, len(self.gpus), size, seconds)

    def fitted_alpha_s(self) -> float | None:
        if self.op != "all_reduce" or len({s for s, _ in self.points}) < 2:
            return None
        return costmodel.fit_alpha_beta(self.points, len(self.gpus))[0]


def add_measurement(node: Node, m: PairMeasurement) -> None:
    """Record a two-GPU measurement on its pair (group measurements stay with the caller)."""
    if len(m.gpus) == 2:
        put(node.add_pair(*m.gpus), MEASURED, measured_busbw_Bps=m.large_message_busbw_Bps(),
            measured_alpha_s=m.fitted_alpha_s())


def _gpu_from_dict(g: dict[str, Any]) -> GPU:
    g = {**g, "nvlinks": [NvLinkLink(**link) for link in g.get("nvlinks", [])]}
    if "numa_node" in g:
        # Topologies saved before the two NUMA fields were split kept one "numa_node": topo -m's
        # NUMA Affinity when nvidia-smi text reported it, NVML's GPU NUMA id when NVML did.
        sources = dict(g.get("sources", {}))
        source = sources.pop("numa_node", SMI)
        name = "gpu_numa_id" if source == NVML else "numa_affinity"
        g[name] = g.pop("numa_node")
        if g[name] is not None:
            sources[name] = source
        g["sources"] = sources
    return GPU(**g)


def _node_from_dict(d: dict[str, Any]) -> Node:
    gpus = [_gpu_from_dict(g) for g in d.get("gpus", [])]
    return Node(**{**d, "gpus": gpus,
                   "pairs": [GPUPair(**p) for p in d.get("pairs", [])],
                   "nics": [NIC(**n) for n in d.get("nics", [])],
                   "nic_paths": [NicPath(**p) for p in d.get("nic_paths", [])]})

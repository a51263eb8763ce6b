"""Fill a topology.Node from NVML (nvidia-ml-py, module ``pynvml``); every field reported-nvml.

Never raises for a missing driver, a missing GPU, an unsupported query or a binding this
nvidia-ml-py lacks: the node's ``probe_status`` says "unavailable" (nothing could be read),
"partial" (a query the topology needs failed) or "ok", and ``reasons`` keeps each failing
call once, with NVML's exact message and where it failed, e.g.
"nvmlInit: NVML Shared Library Not Found" on a machine without the driver, or
"nvmlDeviceGetNvLinkErrorCounter: Not Supported (GPU 0 links 0-11, GPU 1 links 0-11)".
Optional queries (error counters, NVLink version, GPU NUMA id, and NVLink on a GPU that has
none) are noted in ``reasons`` but leave the probe "ok".

Calls used (NVML API reference, https://docs.nvidia.com/deploy/nvml-api/):
nvmlDeviceGetNvLinkState / Version / RemotePciInfo / ErrorCounter per link up to
NVML_NVLINK_MAX_LINKS (stopping at the first link NVML refuses),
nvmlDeviceGetTopologyCommonAncestor (PCIe level), nvmlDeviceGetP2PStatus (read, index 0),
nvmlDeviceGet{Curr,Max}PcieLink{Generation,Width}.
The error counters (replay, recovery, CRC flit, CRC data) let two probes be compared
(``error_counter_increases``).
"""
from __future__ import annotations

import json
import socket
import sys
from typing import Any

from tpworkers.diagnose.topology import GPU, NVML, Node, NvLinkLink, Topology, put, resolve_remote_gpus

# nvmlGpuTopologyLevel_t -> topo -m legend (nvml.h; INTERNAL = two GPUs on one board).
_TOPOLOGY_LEVELS = {0: "PIX", 10: "PIX", 20: "PXB", 30: "PHB", 40: "NODE", 50: "SYS"}
# nvmlGpuP2PStatus_t -> topo -p2p legend.
_P2P_STATUS = {0: "OK", 1: "CNS", 2: "GNS", 3: "TNS", 4: "DR", 5: "NS", 6: "U"}
_ERROR_COUNTERS = {"replay": 0, "recovery": 1, "crc_flit": 2, "crc_data": 3}
_P2P_CAPS_INDEX_READ = 0  # pynvml defines NVML_P2P_CAPS_INDEX_READ as the tuple (0,)
_P2P_CAPS_INDEX_NVLINK = 2
# nvmlNvlinkVersion_t (pynvml NVML_NVLINK_VERSION_*) -> NVLink generation: the enum counts
# sub-versions, so an H100 reports 6 (NVML_NVLINK_VERSION_4_0) and an A100 4 (3_0).
NVLINK_GENERATION = {1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 6: 4, 7: 5, 8: 6}
# Calls whose failure leaves the topology whole: noted, but the probe stays "ok".
_OPTIONAL = {"nvmlDeviceGetNvLinkErrorCounter", "nvmlDeviceGetNvLinkVersion",
             "nvmlDeviceGetNumaNodeId", "nvmlDeviceGetNvLinkState"}


class _Reader:
    """Calls NVML, turning each NVMLError (or a binding missing from this nvidia-ml-py) into a
    noted failure instead of an exception; ``reasons`` lists each failing call once."""

    def __init__(self, nvml: Any):
        self.nvml = nvml
        self.failed: dict[tuple[str, str], list[tuple[str, int | None]]] = {}

    def __call__(self, fn_name: str, *args: Any, at: str = "", link: int | None = None,
                 note: bool = True) -> Any:
        """``at`` ("GPU 0", "GPU 0-GPU 1") and ``link`` say where a failure happened;
        ``note=False`` for a refusal that only marks the end of a list."""
        fn = getattr(self.nvml, fn_name, None)
        try:
            if fn is None:
                raise _MissingBinding()
            return fn(*args)
        except (self.nvml.NVMLError, _MissingBinding) as exc:
            if note:
                self.failed.setdefault((fn_name, str(exc)), []).append((at, link))
            return None

    def reasons(self) -> list[str]:
        return [f"{fn}: {message}{_where(places)}" for (fn, message), places in self.failed.items()]

    def partial(self) -> bool:
        return any(fn not in _OPTIONAL for fn, _ in self.failed)


class _MissingBinding(Exception):
    def __str__(self) -> str:
        return "not supported by this nvidia-ml-py (the binding is missing)"


def _where(places: list[tuple[str, int | None]]) -> str:
    """Places a call failed -> " (GPU 0 links 0-11, GPU 1 links 0-11)"; "" for system calls."""
    links: dict[str, list[int]] = {}
    for at, link in places:
        if at:
            links.setdefault(at, [])
            if link is not None and link not in links[at]:
                links[at].append(link)
    parts = [at + (f" {_span(ls)}" if ls else "") for at, ls in links.items()]
    return f" ({', '.join(parts)})" if parts else ""


def _span(links: list[int]) -> str:
    if len(links) > 1 and links == list(range(links[0], links[-1] + 1)):
        return f"links {links[0]}-{links[-1]}"
    return ("link " if len(links) == 1 else "links ") + ", ".join(map(str, links))


def probe(nvml: Any = None, hostname: str | None = None) -> Node:
    """Read this machine's GPUs through NVML (``nvml`` defaults to the pynvml module)."""
    node = Node(hostname or socket.gethostname())
    if nvml is None:
        try:
            import pynvml as nvml
        except ImportError as exc:
            return _unavailable(node, f"import pynvml: {exc}")
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        return _unavailable(node, f"nvmlInit: {exc}")
    read = _Reader(nvml)
    try:
        _read_node(read, node)
    finally:
        nvml.nvmlShutdown()
    node.reasons += read.reasons()
    if node.probe_status != "unavailable":
        node.probe_status = "partial" if read.partial() else "ok"
    return node


def _unavailable(node: Node, reason: str) -> Node:
    node.probe_status, node.reasons = "unavailable", [reason]
    return node


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _read_node(read: _Reader, node: Node) -> None:
    put(node, NVML, driver_version=_text(read("nvmlSystemGetDriverVersion")))
    cuda = read("nvmlSystemGetCudaDriverVersion")
    put(node, NVML, cuda_version=f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None)
    count = read("nvmlDeviceGetCount")
    if not count:
        node.probe_status = "unavailable"
        if count == 0:
            node.reasons.append("nvmlDeviceGetCount: no GPU found")
        return
    handles = {}
    for index in range(count):
        handle = read("nvmlDeviceGetHandleByIndex", index, at=f"GPU {index}")
        if handle is not None:
            handles[index] = handle
            _read_gpu(read, node.add_gpu(index), handle)
    indices = sorted(handles)
    for i, a in enumerate(indices):
        for b in indices[i + 1:]:
            at = f"GPU {a}-GPU {b}"
            level = read("nvmlDeviceGetTopologyCommonAncestor", handles[a], handles[b], at=at)
            status = read("nvmlDeviceGetP2PStatus", handles[a], handles[b], _P2P_CAPS_INDEX_READ, at=at)
            put(node.add_pair(a, b), NVML, path=_TOPOLOGY_LEVELS.get(level),
                p2p_read=_P2P_STATUS.get(status))
    resolve_remote_gpus(node)
    for i, a in enumerate(indices):
        for b in indices[i + 1:]:
            if node.gpu(a).nvlinks and node.gpu(b).nvlinks:
                nvlink_p2p = read("nvmlDeviceGetP2PStatus", handles[a], handles[b],
                                  _P2P_CAPS_INDEX_NVLINK, at=f"GPU {a}-GPU {b}")
                put(node.add_pair(a, b), NVML,
                    nvlink_count=_bonded_links(node, a, b, nvlink_p2p == 0))


def _bonded_links(node: Node, a: int, b: int, nvlink_p2p: bool) -> int:
    """Active links joining a and b. Direct links name the peer's bus id; on NVSwitch systems
    they name a switch, and every peer reachable over NVLink gets all of a GPU's active links
    (topo -m prints NV18 for every H100 SXM pair), so the bond is the smaller of the two."""
    direct = node.nvlink_count(a, b)
    if direct:
        return direct
    if not nvlink_p2p:
        return 0
    switched = [sum(1 for link in node.gpu(g).nvlinks
                    if link.state == "active" and link.remote_gpu is None) for g in (a, b)]
    return min(switched)


def _read_gpu(read: _Reader, gpu: GPU, handle: Any) -> None:
    at = {"at": f"GPU {gpu.index}"}
    pci = read("nvmlDeviceGetPciInfo", handle, **at)
    memory = read("nvmlDeviceGetMemoryInfo", handle, **at)
    numa = read("nvmlDeviceGetNumaNodeId", handle, **at)
    put(gpu, NVML,
        name=_text(read("nvmlDeviceGetName", handle, **at)),
        uuid=_text(read("nvmlDeviceGetUUID", handle, **at)),
        pci_bus_id=_text(pci.busId) if pci is not None else None,
        memory_bytes=memory.total if memory is not None else None,
        gpu_numa_id=numa if isinstance(numa, int) and numa >= 0 else None,
        pcie_gen_current=read("nvmlDeviceGetCurrPcieLinkGeneration", handle, **at),
        pcie_gen_max=read("nvmlDeviceGetMaxPcieLinkGeneration", handle, **at),
        pcie_width_current=read("nvmlDeviceGetCurrPcieLinkWidth", handle, **at),
        pcie_width_max=read("nvmlDeviceGetMaxPcieLinkWidth", handle, **at))
    for index in range(getattr(read.nvml, "NVML_NVLINK_MAX_LINKS", 18)):
        # The first link NVML refuses ends the list (InvalidArgument past the last link, or
        # NotSupported on GPUs without NVLink); only a refusal of link 0 is worth noting.
        where = {"at": f"GPU {gpu.index}", "link": index}
        state = read("nvmlDeviceGetNvLinkState", handle, index, **where, note=index == 0)
        if state is None:
            break
        link = NvLinkLink(index)
        remote = read("nvmlDeviceGetNvLinkRemotePciInfo", handle, index, **where) if state else None
        version = read("nvmlDeviceGetNvLinkVersion", handle, index, **where)
        put(link, NVML, state="active" if state == 1 else "inactive",
            version=NVLINK_GENERATION.get(version),
            remote_bus_id=_text(remote.busId) if remote is not None else None,
            errors=_error_counters(read, handle, where))
        gpu.nvlinks.append(link)


def _error_counters(read: _Reader, handle: Any, where: dict) -> dict[str, int] | None:
    counters = {name: read("nvmlDeviceGetNvLinkErrorCounter", handle, where["link"], code, **where)
                for name, code in _ERROR_COUNTERS.items()}
    counters = {name: value for name, value in counters.items() if value is not None}
    return counters or None


def error_counter_increases(before: Node, after: Node) -> list[tuple[int, int, str, int]]:
    """(gpu, link, counter, increase) for every NVLink error counter that grew between probes."""
    grown = []
    old = {(g.index, l.link): l.errors or {} for g in before.gpus for l in g.nvlinks}
    for gpu in after.gpus:
        for link in gpu.nvlinks:
            previous = old.get((gpu.index, link.link), {})
            for name, value in (link.errors or {}).items():
                if name in previous and value > previous[name]:
                    grown.append((gpu.index, link.link, name, value - previous[name]))
    return grown


def describe(node: Node) -> str:
    """Plain-text summary of a probed node."""
    lines = [f"{node.hostname}: NVML probe {node.probe_status}"
             + (f", driver {node.driver_version}" if node.driver_version else "")
             + (f", CUDA {node.cuda_version}" if node.cuda_version else "")]
    for gpu in node.gpus:
        active = sum(1 for link in gpu.nvlinks if link.state == "active")
        memory = f"{gpu.memory_bytes / 1e9:.0f} GB" if gpu.memory_bytes else "? GB"
        lines.append(f"  GPU{gpu.index} {gpu.name} {memory} bus {gpu.pci_bus_id} "
                     f"PCIe Gen{gpu.pcie_gen_current}x{gpu.pcie_width_current} "
                     f"(max Gen{gpu.pcie_gen_max}x{gpu.pcie_width_max}) "
                     f"NVLink {active}/{len(gpu.nvlinks)} active")
    for pair in node.pairs:
        lines.append(f"  GPU{pair.a}-GPU{pair.b}: NV{pair.nvlink_count or 0} path {pair.path} "
                     f"P2P read {pair.p2p_read}")
    lines += [f"  ! {reason}" for reason in node.reasons]
    return "\n".join(lines)


def gpu_summary() -> dict:
    """The GPU section of /healthz (and of the GPU check): GPUs as NVML reports them, or the
    exact reason none are seen. Never raises: a driver that crashes the probe is a reason."""
    summary = {"ok": False, "source": NVML, "count": 0, "gpus": []}
    try:
        node = probe()
    except Exception as exc:
        return {**summary, "probe_status": "failed", "reason": f"the NVML probe failed: {exc!r}"}
    gpus = [{"index": gpu.index, "name": gpu.name, "uuid": gpu.uuid} for gpu in node.gpus]
    summary.update(ok=bool(gpus), count=len(gpus), gpus=gpus, probe_status=node.probe_status)
    if node.reasons:
        summary["reason"] = "; ".join(node.reasons)
    elif not gpus:
        summary["reason"] = "NVML reports no GPUs"
    return summary


def main(argv: list[str]) -> int:
    """python -m tpworkers.diagnose.nvml_probe [--json]"""
    node = probe()
    if "--json" in argv:
        print(json.dumps(Topology([node]).to_dict(), indent=1))
    else:
        print(describe(node))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

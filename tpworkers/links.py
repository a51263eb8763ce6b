"""Catalog of interconnect links, with the figure behind every number.

``bandwidth_Bps`` is bytes per second *per direction*, the B of the ring all-reduce model
t = 2(n-1)·alpha + 2(n-1)/n · S/B. With alpha = 0 that model gives busbw = B, so B is also the
large-message bus bandwidth (nccl-tests doc/PERFORMANCE.md) a perfect ring would reach.

``alpha_s`` (per ring step latency) values are typical ASSUMPTIONS, not measurements; each
citation says so. When a measured sweep exists, ``costmodel.fitted_link`` replaces both
alpha and B with values fitted to it.
"""
from __future__ import annotations

from dataclasses import dataclass

from tpworkers.gpus import find_gpu

GB = 1e9

_FACTS = "/work/shared/facts.md 'Links'"
_ALPHA_NVLINK = "alpha 2 us per ring step is a typical assumption, not a measurement"
_ALPHA_PCIE = ("alpha 10 us per ring step is a typical assumption (nccl#1530: ~24 us for an 8 B "
               "all-reduce on PCIe 4090s), not a measurement")
_ALPHA_NET = "alpha 5 us per ring step is a typical RDMA assumption, not a measurement"


@dataclass(frozen=True)
class Link:
    key: str
    name: str
    bandwidth_Bps: float
    alpha_s: float
    kind: str  # "nvlink" | "pcie" | "network"
    source: str
    measured: bool = False  # True once alpha/B come from a fitted sweep


# NVLink per-link, per-direction speed by version. Source: facts.md 'Links' —
# NVLink 3: 12 links x 25 GB/s/dir = 300 GB/s/dir (600 GB/s bidirectional, A100);
# NVLink 4: 26.5625 GB/s/dir per link (nvidia-smi prints `Link N: 26.562 GB/s`), 18 on H100 SXM;
# NVLink 5: 18 links, 1.8 TB/s bidirectional -> 50 GB/s/dir per link (B200).
NVLINK_LINK_Bps = {3: 25 * GB, 4: 26.5625 * GB, 5: 50 * GB}

# PCIe x16 per direction (facts.md 'Links': Gen3 ~16, Gen4 ~32, Gen5 ~64, Gen6 ~128 GB/s).
PCIE_X16_Bps = {3: 16 * GB, 4: 32 * GB, 5: 64 * GB, 6: 128 * GB}

_ALL = [
    Link("nvlink3", "NVLink 3 (A100 SXM, 12 links)", 12 * NVLINK_LINK_Bps[3], 2e-6, "nvlink",
         f"600 GB/s bidirectional = 300 GB/s per direction, {_FACTS}; {_ALPHA_NVLINK}"),
    Link("nvlink4", "NVLink 4 (H100/H200 SXM, 18 links)", 18 * NVLINK_LINK_Bps[4], 2e-6, "nvlink",
         f"18 links x 26.5625 GB/s per direction ~ 478 GB/s (900 GB/s bidirectional), {_FACTS}; "
         f"{_ALPHA_NVLINK}"),
    Link("nvlink4-bridge", "NVLink 4 bridge (H100 PCIe/NVL pair, NV12)", 300 * GB, 2e-6, "nvlink",
         "600 GB/s bidirectional per NVIDIA's H100 PCIe/NVL datasheet = 300 GB/s per direction; "
         f"measured all-reduce busbw ~116 GB/s on such a pair (nccl#1161); {_ALPHA_NVLINK}"),
    Link("nvlink5", "NVLink 5 (B200, 18 links)", 18 * NVLINK_LINK_Bps[5], 2e-6, "nvlink",
         f"1.8 TB/s bidirectional = 900 GB/s per direction, {_FACTS}; {_ALPHA_NVLINK}"),
    *[Link(f"pcie{gen}", f"PCIe Gen{gen} x16", bw, 10e-6, "pcie",
           f"~{bw / GB:.0f} GB/s per direction for x16, {_FACTS}; {_ALPHA_PCIE}")
      for gen, bw in PCIE_X16_Bps.items()],
    Link("ib-hdr", "InfiniBand HDR (200 Gb/s)", 25 * GB, 5e-6, "network",
         f"HDR 200 Gb/s ~ 25 GB/s per port, {_FACTS}; {_ALPHA_NET}"),
    Link("ib-ndr", "InfiniBand NDR (400 Gb/s)", 50 * GB, 5e-6, "network",
         f"NDR 400 Gb/s ~ 50 GB/s per port, {_FACTS}; {_ALPHA_NET}"),
    Link("eth-100g", "100 GbE", 12.5 * GB, 5e-6, "network",
         f"100 Gb/s / 8 = 12.5 GB/s line rate; {_ALPHA_NET}"),
    Link("eth-400g", "400 GbE", 50 * GB, 5e-6, "network",
         f"400 Gb/s / 8 = 50 GB/s line rate; {_ALPHA_NET}"),
]
LINKS: dict[str, Link] = {link.key: link for link in _ALL}


def get_link(key: str) -> Link:
    try:
        return LINKS[key]
    except KeyError:
        raise ValueError(f"unknown link {key!r}; known: {', '.join(LINKS)}") from None


def pcie_link(generation: int, width: int = 16) -> Link:
    """PCIe link of a generation and lane count: bandwidth scales linearly with width."""
    base = get_link(f"pcie{generation}")
    if width == 16:
        return base
    if width not in (1, 2, 4, 8):
        raise ValueError(f"PCIe width x{width} is not one of x1, x2, x4, x8, x16")
    return Link(f"pcie{generation}x{width}", f"PCIe Gen{generation} x{width}",
                base.bandwidth_Bps * width / 16, base.alpha_s, "pcie",
                f"{base.source}; scaled by {width}/16 lanes")


def nvlink_bond(version: int, links: int) -> Link:
    """A GPU pair joined by ``links`` NVLinks of ``version`` (topo -m shows it as NV<links>)."""
    if version not in NVLINK_LINK_Bps:
        raise ValueError(f"NVLink version {version} is not in the catalog (known: 3, 4, 5)")
    if links < 1:
        raise ValueError(f"an NVLink bond needs at least one link, got {links}")
    per_link = NVLINK_LINK_Bps[version]
    return Link(f"nvlink{version}-nv{links}", f"NVLink {version} x{links} links",
                links * per_link, 2e-6, "nvlink",
                f"{links} links x {per_link / GB:g} GB/s per direction, {_FACTS}; {_ALPHA_NVLINK}")


def link_for_gpu(gpu_name: str) -> Link | None:
    """The NVLink a GPU product ships with (None when the GPU catalog does not know it)."""
    gpu = find_gpu(gpu_name)
    return LINKS[gpu.nvlink] if gpu and gpu.nvlink else None


def assumed_pcie(gpu_name: str) -> Link:
    """PCIe x16 of the generation a GPU product ships with (Gen4 for one the catalog does not
    know), stated as an assumption: for pairs whose reported generation is missing."""
    gpu = find_gpu(gpu_name)
    base = LINKS[f"pcie{gpu.pcie_gen if gpu else 4}"]
    return Link(base.key, base.name, base.bandwidth_Bps, base.alpha_s, "pcie",
                f"PCIe generation not reported, {base.name} assumed for {gpu_name or 'this GPU'}; "
                f"{base.source}")

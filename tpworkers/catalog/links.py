"""Catalog of interconnect links, with the public figure behind every number.

``bandwidth_Bps`` is bytes per second *per direction*, the B of the ring all-reduce model
t = 2(n-1)·alpha + 2(n-1)/n · S/B. With alpha = 0 that model gives busbw = B, so B is also the
large-message bus bandwidth (nccl-tests doc/PERFORMANCE.md) a perfect ring would reach.

``alpha_s`` (per ring step latency) values are typical ASSUMPTIONS, not measurements; each
citation says so. When a measured sweep exists, ``costmodel.fitted_link`` replaces both
alpha and B with values fitted to it. ``assumption`` says what else was assumed about a link
(a PCIe generation nobody reported, a GPU product nobody named), for evidence texts.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tpworkers.catalog.gpus import find_gpu

GB = 1e9

NVLINK_PAGE = "NVIDIA NVLink page, https://www.nvidia.com/en-us/data-center/nvlink/"
A100_SHEET = ("NVIDIA A100 datasheet, https://www.nvidia.com/content/dam/en-zz/Solutions/"
              "Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf")
H100_SHEET = ("NVIDIA H100 Tensor Core GPU datasheet, "
              "https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet")
PCI_SIG = ("PCI-SIG PCI Express Base Specification: 8, 16, 32, 64 GT/s per lane for Gen3-6, "
           "https://pcisig.com/specifications")
IBTA = "InfiniBand Trade Association roadmap, https://www.infinibandta.org/infiniband-roadmap/"
_ALPHA_NVLINK = "alpha 2 us per ring step is a typical assumption, not a measurement"
_ALPHA_PCIE = ("alpha 10 us per ring step is a typical assumption (NVIDIA/nccl#1530: ~24 us "
               "for an 8 B all-reduce on PCIe RTX 4090s), not a measurement")
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
    assumption: str = ""  # what was assumed to pick this link, e.g. an unreported PCIe generation

    def model_inputs(self) -> str:
        """alpha and B as the evidence of a modelled number states them."""
        alpha = "fitted" if self.measured else "assumed"
        text = (f"alpha = {self.alpha_s * 1e6:.3g} us per ring step ({alpha}), "
                f"B = {self.bandwidth_Bps / GB:.3g} GB/s per direction "
                f"({'fitted' if self.measured else 'catalog'})")
        return f"{text}; {self.assumption}" if self.assumption else text


# NVLink per-link, per-direction rate by generation, as NVIDIA specifies it:
# NVLink 2: 6 links, 300 GB/s bidirectional per V100 SXM2 -> 25 GB/s per link per direction
#   (nvidia-smi nvlink -s prints `Link N: 25.781 GB/s`);
# NVLink 3: 12 links, 600 GB/s bidirectional per A100 -> 25 GB/s per link per direction;
# NVLink 4: 18 links, 900 GB/s bidirectional per H100 SXM -> 25 GB/s per link per direction
#   (nvidia-smi nvlink -s prints the signalling rate, `Link N: 26.562 GB/s`; the catalog keeps
#   the specified data rate so that 18 links give NVIDIA's 450 GB/s per direction);
# NVLink 5: 18 links, 1.8 TB/s bidirectional per B200 -> 50 GB/s per link per direction.
NVLINK_LINK_Bps = {2: 25 * GB, 3: 25 * GB, 4: 25 * GB, 5: 50 * GB}
NVLINK_LINKS = {2: 6, 3: 12, 4: 18, 5: 18}  # links per GPU of the full part

# PCIe x16 per direction: GT/s per lane x 16 lanes / 8 bits, 128b/130b encoding ~ 1.5% less.
PCIE_X16_Bps = {3: 16 * GB, 4: 32 * GB, 5: 64 * GB, 6: 128 * GB}


def _nvlink(key: str, name: str, version: int, links: int, figure: str, cite: str) -> Link:
    per_dir = links * NVLINK_LINK_Bps[version]
    return Link(key, name, per_dir, 2e-6, "nvlink",
                f"{figure} = {per_dir / GB:g} GB/s per direction ({links} links x "
                f"{NVLINK_LINK_Bps[version] / GB:g} GB/s), {cite}; {_ALPHA_NVLINK}")


_ALL = [
    _nvlink("nvlink2", "NVLink 2 (V100 SXM2, 6 links)", 2, 6, "300 GB/s bidirectional",
            "NVIDIA V100 datasheet, https://images.nvidia.com/content/technologies/volta/pdf/"
            "volta-v100-datasheet-update-us-1165301-r5.pdf"),
    Link("nvlink3-ga102", "NVLink 3 bridge (RTX A6000 / RTX 3090 pair, NV4)", 56.25 * GB, 2e-6, "nvlink",
         "112.5 GB/s bidirectional per bridged pair = 56.25 GB/s per direction (4 links x 14.0625 "
         "GB/s; nvidia-smi nvlink -s prints `Link N: 14.062 GB/s`), NVIDIA RTX A6000 datasheet; "
         f"{_ALPHA_NVLINK}"),
    _nvlink("nvlink3", "NVLink 3 (A100 SXM, 12 links)", 3, 12, "600 GB/s bidirectional",
            f"{A100_SHEET}; {NVLINK_PAGE}"),
    _nvlink("nvlink3-a800", "NVLink 3, cut down (A800, 8 links)", 3, 8, "400 GB/s bidirectional",
            "NVIDIA A800 datasheet (A100 with NVLink limited to 400 GB/s; Reuters, 7 Nov 2022, "
            "'Nvidia offers new advanced chip for China that meets U.S. export controls')"),
    _nvlink("nvlink4", "NVLink 4 (H100/H200 SXM, 18 links)", 4, 18, "900 GB/s bidirectional",
            f"{H100_SHEET}; {NVLINK_PAGE}"),
    _nvlink("nvlink4-h800", "NVLink 4, cut down (H800 SXM, 8 links)", 4, 8, "400 GB/s bidirectional",
            "NVIDIA H800 datasheet (H100 with NVLink limited to 400 GB/s; Reuters, 21 Mar 2023, "
            "'Nvidia tweaks flagship H100 chip for export to China as H800')"),
    _nvlink("nvlink4-bridge", "NVLink 4 bridge (H100 PCIe/NVL pair, NV12)", 4, 12,
            "600 GB/s bidirectional per GPU pair",
            f"{H100_SHEET} (H100 PCIe and H100 NVL columns); measured all-reduce busbw ~116 GB/s "
            "on such a pair, NVIDIA/nccl#1161"),
    _nvlink("nvlink5", "NVLink 5 (B200, 18 links)", 5, 18, "1.8 TB/s bidirectional", NVLINK_PAGE),
    *[Link(f"pcie{gen}", f"PCIe Gen{gen} x16", bw, 10e-6, "pcie",
           f"~{bw / GB:.0f} GB/s per direction for x16, {PCI_SIG}; {_ALPHA_PCIE}")
      for gen, bw in PCIE_X16_Bps.items()],
    Link("ib-hdr", "InfiniBand HDR (200 Gb/s)", 25 * GB, 5e-6, "network",
         f"HDR 200 Gb/s / 8 = 25 GB/s per 4x port, {IBTA}; {_ALPHA_NET}"),
    Link("ib-ndr", "InfiniBand NDR (400 Gb/s)", 50 * GB, 5e-6, "network",
         f"NDR 400 Gb/s / 8 = 50 GB/s per 4x port, {IBTA}; {_ALPHA_NET}"),
    Link("eth-100g", "100 GbE", 12.5 * GB, 5e-6, "network",
         f"100 Gb/s / 8 = 12.5 GB/s line rate, IEEE 802.3ba-2010 (100GBASE); {_ALPHA_NET}"),
    Link("eth-400g", "400 GbE", 50 * GB, 5e-6, "network",
         f"400 Gb/s / 8 = 50 GB/s line rate, IEEE 802.3bs-2017 (400GBASE); {_ALPHA_NET}"),
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
        raise ValueError(f"NVLink version {version} is not in the catalog (known: 2, 3, 4, 5)")
    if links < 1:
        raise ValueError(f"an NVLink bond needs at least one link, got {links}")
    full = LINKS[f"nvlink{version}"]
    per_link = NVLINK_LINK_Bps[version]
    return Link(f"nvlink{version}-nv{links}", f"NVLink {version} x{links} links",
                links * per_link, full.alpha_s, "nvlink",
                f"{links} links x {per_link / GB:g} GB/s per direction; {full.source}")


def link_for_gpu(gpu_name: str) -> Link | None:
    """The NVLink a GPU product ships with (None when the GPU catalog does not know it)."""
    gpu = find_gpu(gpu_name)
    return LINKS[gpu.nvlink] if gpu and gpu.nvlink else None


# Per-link rates nvidia-smi nvlink -s prints (signalling rate, GB/s) -> NVLink generation: what a
# paste without GPU names still tells about its links (NVLink 2 25.781, NVLink 3 on A100 25,
# NVLink 4 26.562, NVLink 5 53.125; the narrower GA102 bridge link 14.062 has no entry).
_REPORTED_LINK_GBps = {25.781: 2, 25.0: 3, 26.562: 4, 53.125: 5}


def version_from_reported_speed(speed_Bps: float) -> int | None:
    """The NVLink generation whose per-link rate nvidia-smi prints as ``speed_Bps``."""
    return next((v for rate, v in _REPORTED_LINK_GBps.items()
                 if abs(speed_Bps / GB - rate) < 0.01), None)


def nvlink_version(link: Link) -> int:
    """The NVLink generation of a catalog NVLink ("nvlink4-bridge" -> 4)."""
    return int(link.key[len("nvlink")])


def assumed_pcie(gpu_name: str) -> Link:
    """PCIe x16 of the generation a GPU product ships with (Gen4 for one the catalog does not
    know), stated as an assumption: for pairs whose reported generation is missing."""
    gpu = find_gpu(gpu_name)
    base = LINKS[f"pcie{gpu.pcie_gen if gpu else 4}"]
    why = (f"PCIe generation not reported, Gen{gpu.pcie_gen} x16 assumed (what {gpu.key} ships with)"
           if gpu else f"PCIe generation not reported, Gen4 x16 assumed for "
                       f"{gpu_name or 'an unnamed GPU'}")
    return dataclasses.replace(base, source=f"{why}; {base.source}", assumption=why)

"""Catalog of GPU products: memory, HBM bandwidth, the NVLink and PCIe they ship with, and the
public figure behind every number. The one place the lab knows a GPU by its name.

``find_gpu`` reads a name as nvidia-smi or NVML reports it ("NVIDIA H100 80GB HBM3", "NVIDIA
H100 NVL"); ``get_gpu`` takes the short key lessons write ("H100", "H100-NVL", "H200").
Entries are tried in order, so a more specific pattern (H100 NVL, GH200) comes before the one
it contains (H100, H200). ``memory_bytes`` and ``hbm_Bps`` are None where one figure does not
fit every variant sold under the name: a name that carries its size ("A100-SXM4-80GB") still
gives the memory (see ``memory_from_name``), except where that size is not the GPU's memory
(``size_in_name`` False: "GH200 480GB" counts the Grace CPU's LPDDR5X too).

Wiring (what a healthy machine of this product shows, the yardstick the findings judge by):
``nvlinks_wired`` is how many NVLinks a healthy GPU has up; ``nvidia-smi nvlink -s`` may list
more (an H100 PCIe or NVL lists 18 while its three bridges wire 12: nvlink -s on such a pair
shows 12 active, NVIDIA H100 datasheet "NVLink bridge 600 GB/s" = 12 x 50 GB/s).
``topology`` says how those links are laid out: "nvswitch" (every pair NV<wired>), "bridge"
(cards bridged in pairs: NV<wired> to one peer, PCIe to the rest), "mesh" (links spread over
peers, pairs bonded unequally by design: the DGX-1's hybrid cube mesh bonds each V100 to four
peers by 1 or 2 of its 6 links, NVIDIA DGX-1 System Architecture white paper, WP-08437-001).
Unequal bonds are therefore not a fault by themselves: a GPU is short of links when it has
fewer up than its product wires (or, product unknown, than its peers on the same node).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

GB, TB = 1e9, 1e12

_H100_SHEET = ("NVIDIA H100 Tensor Core GPU datasheet, "
               "https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet")
_H200_PAGE = "NVIDIA H200 product page, https://www.nvidia.com/en-us/data-center/h200/"
_GH200_PAGE = ("NVIDIA GH200 Grace Hopper Superchip page, "
               "https://www.nvidia.com/en-us/data-center/grace-hopper-superchip/")
_A100_SHEET = ("NVIDIA A100 datasheet, https://www.nvidia.com/content/dam/en-zz/Solutions/"
               "Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf")
_NVLINK_PAGE = "NVIDIA NVLink page, https://www.nvidia.com/en-us/data-center/nvlink/"
_V100_SHEET = ("NVIDIA V100 datasheet, https://images.nvidia.com/content/technologies/volta/pdf/"
               "volta-v100-datasheet-update-us-1165301-r5.pdf")
_DGX1_PAPER = ("NVIDIA DGX-1 System Architecture white paper (WP-08437-001): hybrid cube mesh, "
               "6 NVLinks per V100")
_A6000_SHEET = ("NVIDIA RTX A6000 datasheet (NVLink bridge 112.5 GB/s bidirectional between two "
                "cards), https://www.nvidia.com/content/dam/en-zz/Solutions/design-visualization/"
                "quadro-product-literature/proviz-print-nvidia-rtx-a6000-datasheet-us-nvidia-1454980-r9-web.pdf")


@dataclass(frozen=True)
class Gpu:
    key: str
    pattern: str            # regular expression matched against the reported name, any case
    memory_bytes: float | None  # as sold, decimal GB
    hbm_Bps: float | None   # memory bandwidth, bytes per second
    nvlink: str | None      # key in tpworkers.catalog.links.LINKS
    pcie_gen: int           # the PCIe generation the card ships with
    source: str
    size_in_name: bool = True  # a size in the reported name ("80GB") is the GPU's memory
    nvlinks_wired: int | None = None  # NVLinks a healthy GPU has up (None: no NVLink)
    topology: str = ""  # "nvswitch" | "bridge" | "mesh" | "" (no NVLink)


GPUS: list[Gpu] = [
    Gpu("B200", r"B200|GB200|B100", None, None, "nvlink5", 5,
        f"NVLink 5, 1.8 TB/s bidirectional, {_NVLINK_PAGE}", nvlinks_wired=18, topology="nvswitch"),
    Gpu("H100-NVL", r"H100 NVL", 94 * GB, 3.9 * TB, "nvlink4-bridge", 5,
        f"94 GB HBM3, 3.9 TB/s, NVLink bridge 600 GB/s, {_H100_SHEET} (H100 NVL column)",
        nvlinks_wired=12, topology="bridge"),
    Gpu("H100-PCIe", r"H100 PCIe", 80 * GB, 2.0 * TB, "nvlink4-bridge", 5,
        f"80 GB HBM2e, 2 TB/s, NVLink bridge 600 GB/s, {_H100_SHEET} (H100 PCIe column)",
        nvlinks_wired=12, topology="bridge"),
    Gpu("GH200", r"GH200", None, None, "nvlink4", 5,
        f"96 GB HBM3 or 144 GB HBM3e depending on the variant (the name's size counts CPU memory "
        f"too), NVLink 900 GB/s, {_GH200_PAGE}", size_in_name=False, nvlinks_wired=18,
        topology="nvswitch"),
    Gpu("H200", r"H200", 141 * GB, 4.8 * TB, "nvlink4", 5,
        f"141 GB HBM3e, 4.8 TB/s, NVLink 900 GB/s, {_H200_PAGE}", nvlinks_wired=18, topology="nvswitch"),
    Gpu("H800", r"H800", None, None, "nvlink4-h800", 5,
        "H100 with NVLink cut to 400 GB/s bidirectional (NVIDIA H800 datasheet)", nvlinks_wired=8,
        topology="nvswitch"),
    Gpu("H100", r"H100", 80 * GB, 3.35 * TB, "nvlink4", 5,
        f"80 GB HBM3, 3.35 TB/s, NVLink 900 GB/s, {_H100_SHEET} (H100 SXM column)", nvlinks_wired=18,
        topology="nvswitch"),
    Gpu("A800", r"A800", None, None, "nvlink3-a800", 4,
        "A100 with NVLink cut to 400 GB/s bidirectional (NVIDIA A800 datasheet)", nvlinks_wired=8,
        topology="nvswitch"),
    Gpu("A100", r"A100", None, None, "nvlink3", 4,
        f"40 or 80 GB (the reported name carries it), NVLink 600 GB/s, PCIe Gen4, {_A100_SHEET}",
        nvlinks_wired=12, topology="nvswitch"),
    Gpu("V100-SXM2", r"V100-SXM|V100 SXM", None, None, "nvlink2", 3,
        f"16 or 32 GB (the reported name carries it), NVLink 300 GB/s (6 links), {_V100_SHEET}; "
        f"{_DGX1_PAPER}", nvlinks_wired=6, topology="mesh"),
    Gpu("RTX-A6000", r"RTX A6000", None, None, "nvlink3-ga102", 4,
        f"NVLink bridge between two cards, 4 links, {_A6000_SHEET}", nvlinks_wired=4, topology="bridge"),
]
_BY_KEY = {gpu.key: gpu for gpu in GPUS}


def get_gpu(key: str) -> Gpu:
    try:
        return _BY_KEY[key]
    except KeyError:
        raise ValueError(f"unknown GPU {key!r}; known: {', '.join(_BY_KEY)}") from None


def find_gpu(name: str) -> Gpu | None:
    """The catalog entry for a reported GPU name (None when the catalog does not know it)."""
    return next((gpu for gpu in GPUS if re.search(gpu.pattern, name or "", re.IGNORECASE)), None)


def sized_gpus() -> list[Gpu]:
    """The GPUs whose memory the catalog knows: what the sizing calculators offer."""
    return [gpu for gpu in GPUS if gpu.memory_bytes]


def memory_in_name(name: str) -> float | None:
    """The memory a reported name carries ("A100-SXM4-80GB" -> 80 GB), when that size is the
    GPU's own memory (not for GH200, whose "480GB" counts the CPU's memory too)."""
    gpu = find_gpu(name)
    match = re.search(r"(\d+)\s*GB", name or "", re.IGNORECASE)
    return int(match.group(1)) * GB if match and (gpu is None or gpu.size_in_name) else None


def memory_from_name(name: str) -> float | None:
    """Memory as sold, from a name that carries it ("A100-SXM4-80GB"), else from the catalog."""
    gpu = find_gpu(name)
    return memory_in_name(name) or (gpu.memory_bytes if gpu else None)


MAX_GPU_INDEX = 63  # beyond any single node's GPUs; where a node is known, its real count is checked


def parse_gpu_list(value: object, distinct: bool = True) -> tuple[int, ...]:
    """GPU indices as people write them: '0,1', '2, 3', or a YAML list [0, 1]. ValueError, in
    words for the person who typed it, unless they are whole numbers from 0 to MAX_GPU_INDEX,
    each named once (distinct=False lets ranks share a GPU: gloo over CUDA on the command line).
    The one parser for the run forms, the command lines and the deployments."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    parts = [str(item).strip() for item in items if str(item).strip()]
    if not all(part.isdigit() and len(part) <= 3 for part in parts):
        raise ValueError(f"expected GPU indices separated by commas, like 0,1 or 2,3; got {value!r}")
    gpus = tuple(int(part) for part in parts)
    if distinct and len(set(gpus)) != len(gpus):
        raise ValueError(f"each GPU may be named once; got {value!r}")
    if any(gpu > MAX_GPU_INDEX for gpu in gpus):
        raise ValueError(f"GPU indices go from 0 to {MAX_GPU_INDEX}; got {value!r}")
    return gpus

"""Catalog of GPU products: memory, HBM bandwidth, the NVLink and PCIe they ship with, and the
figure behind every number. The one place the lab knows a GPU by its name.

``find_gpu`` reads a name as nvidia-smi or NVML reports it ("NVIDIA H100 80GB HBM3", "NVIDIA
H100 NVL"); ``get_gpu`` takes the short key lessons write ("H100", "H100-NVL", "H200").
Entries are tried in order, so a more specific pattern (H100 NVL, GH200) comes before the one
it contains (H100, H200). ``memory_bytes`` and ``hbm_Bps`` are None where no cited figure is
at hand: a name that carries its size ("A100-SXM4-80GB") still gives the memory (see
``memory_from_name``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

GB, TB = 1e9, 1e12

_FACTS = "/work/shared/facts.md 'Links' (NVIDIA datasheets)"
_H100_SHEET = "NVIDIA H100 Tensor Core GPU datasheet (H100 SXM / PCIe / NVL columns)"


@dataclass(frozen=True)
class Gpu:
    key: str
    pattern: str            # regular expression matched against the reported name, any case
    memory_bytes: float | None  # as sold, decimal GB
    hbm_Bps: float | None   # memory bandwidth, bytes per second
    nvlink: str | None      # key in tpworkers.links.LINKS
    pcie_gen: int           # the PCIe generation the card ships with
    source: str


GPUS: list[Gpu] = [
    Gpu("B200", r"B200|GB200|B100", None, None, "nvlink5", 5, f"NVLink 5, {_FACTS}"),
    Gpu("H100-NVL", r"H100 NVL", 94 * GB, 3.9 * TB, "nvlink4-bridge", 5,
        f"94 GB, {_FACTS}; 3.9 TB/s, {_H100_SHEET}; NVLink bridge pairs"),
    Gpu("H100-PCIe", r"H100 PCIe", 80 * GB, 2.0 * TB, "nvlink4-bridge", 5,
        f"80 GB, {_FACTS}; 2 TB/s, {_H100_SHEET}; NVLink bridge pairs"),
    Gpu("GH200", r"GH200", None, None, "nvlink4", 5, f"NVLink 4, {_FACTS}"),
    Gpu("H200", r"H200", 141 * GB, 4.8 * TB, "nvlink4", 5, f"141 GB, HBM3e ~4.8 TB/s, {_FACTS}"),
    Gpu("H100", r"H100", 80 * GB, 3.35 * TB, "nvlink4", 5, f"80 GB, HBM3 ~3.35 TB/s (SXM), {_FACTS}"),
    Gpu("H800", r"H800", None, None, "nvlink4", 5, f"NVLink 4, {_FACTS}"),
    Gpu("A100", r"A100|A800", None, None, "nvlink3", 4, f"NVLink 3, {_FACTS}"),
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


def memory_from_name(name: str) -> float | None:
    """Memory as sold, from a name that carries it ("A100-SXM4-80GB"), else from the catalog."""
    if match := re.search(r"(\d+)\s*GB", name or ""):
        return int(match.group(1)) * GB
    gpu = find_gpu(name)
    return gpu.memory_bytes if gpu else None

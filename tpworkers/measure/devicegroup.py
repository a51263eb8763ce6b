"""Device groups: which processes run an experiment, on which devices, with which NCCL settings.

The NCCL preset for "what if the wire were slower" lives here: NCCL_P2P_DISABLE=1 takes NVLink and
PCIe peer-to-peer away, so NCCL falls back to shared host memory (SHM), and NCCL_NVLS_ENABLE=0 keeps
NVSwitch multicast (NVLS) out of it too (NCCL docs, "Environment Variables"). Which transport NCCL
really chose is read back from its NCCL_DEBUG=INFO log lines.
"""

import argparse
import os
import re
from dataclasses import dataclass

from tpworkers.catalog.gpus import parse_gpu_list


class ConfigError(ValueError):
    """A requested experiment that cannot run; raised before any process starts."""


@dataclass(frozen=True)
class DeviceGroup:
    """Which processes run an experiment and how they talk."""

    nproc: int = 2              # world size: one process per rank
    backend: str = "gloo"       # "gloo" (CPU, or CUDA tensors staged through host) or "nccl"
    device: str = "cpu"         # where tensors live: "cpu" or "cuda"
    gpus: tuple[int, ...] = ()  # CUDA index per rank, e.g. (2, 3); () on CUDA means 0..nproc-1
    p2p: bool = True            # False: NCCL_P2P_DISABLE=1 + NCCL_NVLS_ENABLE=0, i.e. off NVLink

    def __post_init__(self):
        gpus = tuple(int(g) for g in self.gpus)
        if self.device == "cuda" and not gpus:
            gpus = tuple(range(self.nproc))
        object.__setattr__(self, "gpus", gpus)

    def validate(self) -> None:
        """Raise ConfigError naming the first violated constraint."""
        if self.nproc < 1:
            raise ConfigError(f"nproc must be at least 1, got {self.nproc}")
        if self.backend not in ("gloo", "nccl"):
            raise ConfigError(f"backend must be 'gloo' or 'nccl', got {self.backend!r}")
        if self.device not in ("cpu", "cuda"):
            raise ConfigError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.backend == "nccl" and self.device != "cuda":
            raise ConfigError("the nccl backend needs device='cuda': NCCL moves GPU memory only")
        if not self.p2p and self.backend != "nccl":
            raise ConfigError("p2p=False sets NCCL_P2P_DISABLE=1, which only applies to the nccl backend")
        if self.device == "cpu":
            if self.gpus:
                raise ConfigError(f"gpus={self.gpus} only applies to device='cuda'")
            limit = max_cpu_ranks()
            if self.nproc > limit:
                raise ConfigError(
                    f"nproc={self.nproc} is more than the {limit} CPU ranks this machine runs "
                    f"(2 per core, at least 4; {os.cpu_count()} cores)")
            return
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device='cuda' but torch sees no CUDA GPU (torch.cuda.is_available() is False)")
        if len(self.gpus) != self.nproc:
            raise ConfigError(f"nproc={self.nproc} needs one GPU index per rank, got gpus={self.gpus}")
        visible = torch.cuda.device_count()
        missing = [g for g in self.gpus if not 0 <= g < visible]
        if missing:
            raise ConfigError(
                f"gpus={self.gpus} asks for GPU {missing[0]} but only {visible} GPUs are visible "
                f"(indices 0..{visible - 1}): world size larger than devices available")
        if self.backend == "nccl" and len(set(self.gpus)) != len(self.gpus):
            raise ConfigError(f"NCCL needs its own GPU for every rank; gpus={self.gpus} repeats a GPU")

    def check_memory(self, bytes_per_rank: int, what: str) -> None:
        """ConfigError when the ranks' buffers cannot fit: on CPU all ranks share the host's
        available RAM; on CUDA every GPU holds the buffers of the ranks placed on it (and gloo
        over CUDA stages each buffer through host memory as well). Buffers only: the CUDA
        context and NCCL's own buffers come on top."""
        if self.device == "cuda":
            for gpu in sorted(set(self.gpus)):
                ranks = self.gpus.count(gpu)
                need, have = ranks * bytes_per_rank, gpu_memory_bytes(gpu)
                if need > have:
                    raise ConfigError(
                        f"{what} needs {_gib(bytes_per_rank)} of buffers per rank; {ranks} rank(s) on "
                        f"GPU {gpu} need {_gib(need)} but it has {_gib(have)}: choose a smaller max size")
        if self.device == "cpu" or self.backend == "gloo":
            need, have = self.nproc * bytes_per_rank, host_memory_available()
            if need > have:
                raise ConfigError(
                    f"{what} needs {_gib(bytes_per_rank)} of buffers per rank, {_gib(need)} for "
                    f"{self.nproc} ranks, but this machine has {_gib(have)} of RAM available: "
                    "choose a smaller max size or fewer ranks")

    def rank_device(self, rank: int):
        import torch

        return torch.device("cuda", self.gpus[rank]) if self.device == "cuda" else torch.device("cpu")

    def rank_env(self, log_dir: str) -> dict[str, str | None]:
        """Environment each rank sets before joining the group (None = unset)."""
        if self.backend != "nccl":
            return {}
        env = {"NCCL_DEBUG": "INFO", "NCCL_DEBUG_FILE": os.path.join(log_dir, "nccl.%h.%p.log")}
        # The preset alone decides P2P, whatever the caller's shell exported.
        env["NCCL_P2P_DISABLE"] = None if self.p2p else "1"
        env["NCCL_NVLS_ENABLE"] = None if self.p2p else "0"
        return env


# Element types the lab sweeps. Gloo on CPU reduces all three (all_reduce, all_gather_single,
# reduce_scatter_single and broadcast checked on torch 2.13 with exact results, see
# tests/test_collectives.py). Gloo over CUDA tensors is only admitted for float32: its half-precision
# paths could not be checked on a machine without a GPU.
DTYPES = {"float32": 4, "bfloat16": 2, "float16": 2}  # name -> bytes per element


def torch_dtype(name: str):
    """The torch dtype of a DTYPES name (torch is imported only where tensors are made)."""
    import torch

    return getattr(torch, name)
SUPPORTED_DTYPES = {
    ("gloo", "cpu"): ("float32", "bfloat16", "float16"),
    ("nccl", "cuda"): ("float32", "bfloat16", "float16"),
    ("gloo", "cuda"): ("float32",),
}


def check_dtype(backend: str, device: str, dtype: str) -> None:
    """ConfigError unless `backend` on `device` can carry `dtype`."""
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    allowed = SUPPORTED_DTYPES.get((backend, device))
    if allowed is not None and dtype not in allowed:
        raise ConfigError(f"{backend} on {device} supports dtype {', '.join(allowed)}, not {dtype}")


def host_memory_available() -> int:
    """Bytes of RAM the kernel could hand out now without swapping (MemAvailable)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def gpu_memory_bytes(index: int) -> int:
    """Total memory of CUDA device `index` (read without creating a context on it)."""
    import torch

    return torch.cuda.get_device_properties(index).total_memory


def _gib(num_bytes: float) -> str:
    return f"{num_bytes / (1 << 30):.2f} GiB"


def max_cpu_ranks() -> int:
    """Gloo ranks oversubscribe CPU cores happily, but past 2 per core timings mean nothing."""
    return max(4, 2 * (os.cpu_count() or 1))


# NCCL_DEBUG=INFO prints one line per channel and peer, e.g.
#   "NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM/read"   or   "... via SHM/direct/direct"
_NCCL_VIA = re.compile(r"NCCL INFO Channel .* via (\S+(?: pointer)?)")


def parse_transports(lines) -> str | None:
    """Distinct transports NCCL connected with, e.g. 'P2P/CUMEM/read' or 'SHM/direct/direct'."""
    found = sorted({m.group(1) for line in lines if (m := _NCCL_VIA.search(line))})
    return ", ".join(found) or None


# ------------------------------------------------------------------ the device flags of every CLI

def gpu_indices(text: str) -> tuple[int, ...]:
    """argparse type of --gpus: '2,3' -> (2, 3); anything else is a usage error, not a traceback."""
    try:
        return parse_gpu_list(text, distinct=False)  # gloo ranks may share a GPU; NCCL's are checked later
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """--backend, --device, --gpus and --no-p2p, read back by device_group_fields."""
    parser.add_argument("--backend", choices=("gloo", "nccl"),
                        help="default: nccl when the tensors are on GPUs (--gpus or --device cuda), "
                             "else gloo; --backend gloo --gpus 0,1 runs gloo over CUDA tensors")
    parser.add_argument("--device", choices=("cpu", "cuda"),
                        help="default: cuda for nccl or when --gpus is given, else cpu")
    parser.add_argument("--gpus", type=gpu_indices, default=(), help="GPU index per rank, e.g. 0,1 or 2,3")
    parser.add_argument("--no-p2p", action="store_true",
                        help="NCCL_P2P_DISABLE=1 NCCL_NVLS_ENABLE=0: keep NCCL off NVLink/P2P (nccl only)")


def device_group_fields(args: argparse.Namespace) -> dict:
    """backend, device, gpus and p2p of a DeviceGroup from add_device_arguments' flags. GPUs named
    means NCCL, as for runs started from the web page; gloo over CUDA only when asked for."""
    on_gpus = bool(args.gpus) or args.device == "cuda"
    backend = args.backend or ("nccl" if on_gpus else "gloo")
    device = args.device or ("cuda" if on_gpus or backend == "nccl" else "cpu")
    return {"backend": backend, "device": device, "gpus": tuple(args.gpus), "p2p": not args.no_p2p}

"""Bounds on what a paste may describe, so the work of every page view stays bounded.

GPUs per node: 16. The largest single nodes NVIDIA ships hold 16 GPUs (DGX-2 and HGX-2: 16 V100
behind 12 NVSwitches; HGX A100 16-GPU); DGX/HGX H100, H200 and B200 hold 8, and a GB200 NVL72
compute tray holds 4 (its 72-GPU NVLink domain spans 18 nodes). Indices therefore run 0..15.
NVLinks per GPU: 18, NVML's NVML_NVLINK_MAX_LINKS (H100, B200). NICs per node: 32 (a DGX H100
shows 12 mlx5 ports in topo -m). Launch lines: TP, PP and nodes at most 1024 each, and at most
16 GPUs of a deployment on one node.

Pastes: 64 KiB (a 16-GPU `nvlink -R` is about 20 KB) and lines of at most 8 KiB (the longest
launch lines carry JSON overrides of a few hundred bytes); a longer text is refused before it
is parsed. Refusals name the limit and why.
"""
from tpworkers.catalog.sizes import binary_size

MAX_GPUS_PER_NODE = 16
MAX_NVLINKS_PER_GPU = 18
MAX_NICS_PER_NODE = 32
MAX_PARALLEL = 1024  # TP, PP or nodes of one deployment
MAX_CONTEXT_TOKENS = 1 << 24  # 16M tokens: beyond any model's context window
MAX_DEPLOYMENTS_PER_PASTE = 32
MAX_PASTE_CHARS = 64 * 1024
MAX_LINE_CHARS = 8 * 1024
MAX_CONFIG_CHARS = 64_000  # a pasted config.json: real ones are a few KB; bounds what a deployment stores
MAX_SHOWN_CHARS = 160  # of a refused line, when an error message quotes it

NODE_SIZE_WHY = (f"a node holds at most {MAX_GPUS_PER_NODE} GPUs (the largest single nodes, "
                 "DGX-2 and HGX-2, hold 16)")


def shown(text: str) -> str:
    """A quoted piece of input cut to MAX_SHOWN_CHARS, so an error never echoes a huge paste."""
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + f"… ({len(text)} characters)"


def paste_error(text: str) -> str | None:
    """Why a pasted text is too large to read, or None."""
    if len(text) > MAX_PASTE_CHARS:
        return f"the paste has {len(text)} characters; at most {MAX_PASTE_CHARS} ({binary_size(MAX_PASTE_CHARS)}) are read"
    longest = max((len(line) for line in text.splitlines()), default=0)
    if longest > MAX_LINE_CHARS:
        return f"a line has {longest} characters; at most {MAX_LINE_CHARS} per line"
    return None

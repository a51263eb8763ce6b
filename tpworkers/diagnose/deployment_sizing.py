"""Whether a deployment fits its GPUs' memory at its TP size, and whether it needs that TP at
all: the sizing findings, with the memory figure each one is judged against.

Memory is costmodel.memory_fit with CONTEXT_TOKENS x BATCH unless the deployment names its
context; a GPU's memory is NVML's or the size in its reported name (reported), else the GPU
catalog's datasheet figure (modelled). Each evidence text states those assumptions.
"""
from __future__ import annotations

from tpworkers.catalog import costmodel
from tpworkers.catalog.gpus import find_gpu, memory_in_name
from tpworkers.diagnose.deployment_fields import Deployment
from tpworkers.diagnose.evidence import Evidence, Finding
from tpworkers.diagnose.topology import Node, source_words

GB = 1e9
CONTEXT_TOKENS, BATCH = 8192, 8


def gpu_memory(node: Node, dep: Deployment) -> tuple[float, Evidence] | None:
    """The smallest memory among the deployment's GPUs, with where that figure came from: NVML
    or the reported name (reported), else the GPU catalog's datasheet figure (modelled)."""
    figures = []
    for index in dep.gpu_indices:
        gpu = node.find_gpu(index)
        product = find_gpu(gpu.name or "") if gpu else None
        if gpu is None:
            return None
        if gpu.memory_bytes:
            figures.append((gpu.memory_bytes, "reported", source_words(gpu, "memory_bytes")))
        elif named := memory_in_name(gpu.name or ""):
            figures.append((named, "reported", f"the size in the GPU name '{gpu.name}' "
                                               f"({source_words(gpu, 'name')})"))
        elif product and product.memory_bytes:
            figures.append((product.memory_bytes, "modelled",
                            f"datasheet figure for {product.key}: {product.source}"))
        else:
            return None
    memory, provenance, source = min(figures)
    return memory, Evidence("GPU memory", memory / GB, "GB", provenance, source)


def _context(dep: Deployment) -> tuple[int, str]:
    if dep.context_tokens:
        return dep.context_tokens, f"{dep.context_tokens} tokens of context ({dep.named_in})"
    return CONTEXT_TOKENS, f"{CONTEXT_TOKENS} tokens of context (assumed)"


def fit_at(dep: Deployment, memory: float, tp: int) -> costmodel.MemoryFit:
    """The deployment at TP=``tp`` on GPUs of ``memory`` bytes, with its context (or
    CONTEXT_TOKENS) x BATCH."""
    return costmodel.memory_fit(dep.shape, dep.weight_dtype, memory, _context(dep)[0], BATCH,
                                kv_dtype=dep.kv_dtype, tp=tp, pp=dep.pp)


def _kv_words(dep: Deployment) -> str:
    words = f"{_context(dep)[1]} x batch {BATCH} (assumed) in {dep.kv_dtype}"
    if dep.shape.sliding_window:
        words += (f"; an upper bound: {dep.shape.name}'s sliding-window layers keep at most "
                  f"{dep.shape.sliding_window} tokens")
    return words


def _layout(dep: Deployment, tp: int) -> str:
    return f"TP={tp}" + (f" x PP={dep.pp}" if dep.pp > 1 else "")


def _weights(dep: Deployment, fit: costmodel.MemoryFit, tp: int) -> Evidence:
    split = f" / ({_layout(dep, tp)})" if tp * dep.pp > 1 else ""
    shape, per = dep.shape, costmodel.dtype_bytes(dep.weight_dtype)
    words = f"{costmodel.param_count(shape) / 1e9:.1f}B params x {per:g} B"
    if per < 2:
        words += (f" (the {costmodel.embedding_params(shape) / 1e9:.2f}B of embedding and LM head at 2 B: "
                  "quantized releases keep them in bf16)")
    if shape.is_moe:
        words += (f"; mixture of experts: {costmodel.active_param_count(shape) / 1e9:.1f}B active per "
                  f"token ({shape.experts_per_token} of {shape.num_experts} experts), every expert's FFN "
                  "split across the TP ranks as vLLM does (--enable-expert-parallel places whole "
                  "experts per GPU instead: the same memory, all-to-all instead of all-reduce)")
    return Evidence(f"weights per GPU at {_layout(dep, tp)}", fit.weights / GB, "GB", "modelled",
                    f"{words}{split}; shape from {dep.shape_source}")


def sizing_findings(node: Node, dep: Deployment, memory: float, memory_ev: Evidence) -> list[Finding]:
    """Critical when the deployment does not fit its GPUs at its TP; a warning when TP=1 would."""
    one, now = fit_at(dep, memory, 1), fit_at(dep, memory, dep.tp)
    assumption = (f"{_context(dep)[1]} x batch {BATCH} (assumed), "
                  f"{costmodel.DEFAULT_OVERHEAD_FRACTION:.0%} of memory kept free (vLLM's default)")
    if not now.fits:
        return [Finding(
            "critical", f"{dep.shape.name} in {dep.weight_dtype} does not fit at {_layout(dep, dep.tp)}",
            (Evidence(f"per-GPU total at {_layout(dep, dep.tp)}", now.total / GB, "GB", "modelled", assumption),
             _weights(dep, now, dep.tp),
             Evidence(f"KV cache per GPU at {_layout(dep, dep.tp)}", now.kv / GB, "GB", "modelled", _kv_words(dep)),
             memory_ev), _larger_tp(node, dep, memory), "sizing-tp")]
    if dep.tp > 1 and one.fits:
        replicas = len(dep.gpu_indices) // dep.pp
        where = (f"fits one {memory / GB:.0f} GB GPU" if dep.pp == 1
                 else f"fits at {_layout(dep, 1)} on {memory / GB:.0f} GB GPUs")
        return [Finding(
            "warning", f"TP={dep.tp} is not needed: {dep.shape.name} in {dep.weight_dtype} "
                       f"({one.weights / GB:.0f} GB of weights per GPU) {where}",
            (_weights(dep, one, 1),
             Evidence(f"KV cache per GPU at {_layout(dep, 1)}", one.kv / GB, "GB", "modelled", _kv_words(dep)),
             memory_ev, Evidence(f"headroom at {_layout(dep, 1)}", one.headroom / GB, "GB", "modelled", assumption)),
            f"Run {replicas} {'TP=1 replicas, one per GPU' if dep.pp == 1 else f'replicas at {_layout(dep, 1)}'}: "
            f"no all-reduce per token, and each replica serves its own requests (keep TP={dep.tp} "
            "only if you need the lower per-token latency of splitting the weight reads).",
            "tp-or-replicas")]
    return []


def _larger_tp(node: Node, dep: Deployment, memory: float) -> str:
    """Larger valid TP sizes that fit within this node's GPUs, smallest first; else what to try."""
    room = max(len(node.gpus) // dep.pp, 1)
    larger = [t for t in costmodel.valid_tp_sizes(dep.shape, max_tp=room) if t > dep.tp]
    fitting = [t for t in larger if fit_at(dep, memory, t).fits]
    if fitting:
        first = fit_at(dep, memory, fitting[0])
        others = f" (or {', '.join(map(str, fitting[1:]))})" if fitting[1:] else ""
        return (f"Use TP={fitting[0]}{others}: its modelled per-GPU total is {first.total / GB:.0f} GB "
                f"of {memory / GB:.0f} GB.")
    tried = f"TP={', '.join(map(str, larger))}" if larger else f"no larger valid TP than {dep.tp}"
    return (f"This node's {len(node.gpus)} GPUs allow {tried}, and none fits: use a smaller weight "
            "dtype (e.g. fp8), a shorter context, or more GPUs (pipeline parallelism across nodes).")

"""The one place the formulas live: bytes, collectives, memory fit, TP shards, comm per token.

Sources:
- busbw factors: nccl-tests doc/PERFORMANCE.md
  (https://github.com/NVIDIA/nccl-tests/blob/master/doc/PERFORMANCE.md) — all-reduce 2(n-1)/n; all-gather,
  reduce-scatter, all-to-all (n-1)/n; broadcast, reduce 1. algbw = S / t.
- ring all-reduce: t = 2(n-1)·alpha + 2(n-1)/n · S/B (alpha per step, B per-direction link).
- Megatron-LM (arXiv 1909.08053 §3): 2 all-reduces per layer per forward, each carrying b·h
  activations (b = tokens in flight). vLLM adds one: VocabParallelEmbedding all-reduces its
  output (vllm/model_executor/layers/vocab_parallel_embedding.py, ``forward``:
  ``tensor_model_parallel_all_reduce``), so 2·L + 1 per decoded token; then the LM head's
  vocabulary shards are gathered to rank 0 (vllm/model_executor/layers/logits_processor.py,
  ``_gather_logits``: ``tensor_model_parallel_gather``). A MoE layer under TP all-reduces its
  output once, as a dense MLP does (vLLM FusedMoE); with expert parallelism
  (``--enable-expert-parallel``) tokens travel to their experts by all-to-all instead.
- KV cache per token: 2 · layers · KV heads · head_dim · bytes.
Everything returned here is *modelled*; measured inputs (a fitted link) stay measured inputs.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Iterable

from tpworkers.catalog.links import Link
from tpworkers.catalog.modelshapes import ModelShape

# Bytes per element: IEEE 754 binary32 4, bfloat16/binary16 2, FP8 (E4M3/E5M2, Micikevicius et al.
# 2022, arXiv 2209.05433) and int8 1, int4 0.5.
DTYPE_BYTES: dict[str, float] = {
    "fp32": 4, "float32": 4, "bf16": 2, "bfloat16": 2, "fp16": 2, "float16": 2, "half": 2,
    "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1, "int8": 1, "int4": 0.5,
}

# nccl-tests doc/PERFORMANCE.md bus-bandwidth factors, as functions of the rank count n.
_BUS_FACTORS = {
    "all_reduce": lambda n: 2 * (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "all_to_all": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
    "reduce": lambda n: 1.0,
}

# vLLM's default gpu_memory_utilization = 0.9 keeps 10% of GPU memory out of weights + KV
# (CUDA context, activations, allocator slack) — vLLM engine arguments documentation.
DEFAULT_OVERHEAD_FRACTION = 0.10


def dtype_bytes(name: str) -> float:
    try:
        return DTYPE_BYTES[name.strip().lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown dtype {name!r}; known: {', '.join(DTYPE_BYTES)}") from None


def bus_factor(op: str, n: int) -> float:
    if op not in _BUS_FACTORS:
        raise ValueError(f"unknown collective {op!r}; known: {', '.join(_BUS_FACTORS)}")
    if n < 1:
        raise ValueError(f"a collective needs at least 1 rank, got n={n}")
    return _BUS_FACTORS[op](n)


def algbw_Bps(size_bytes: float, seconds: float) -> float:
    if seconds <= 0:
        raise ValueError(f"time must be positive, got {seconds}")
    return size_bytes / seconds


def busbw_Bps(op: str, n: int, size_bytes: float, seconds: float) -> float:
    return algbw_Bps(size_bytes, seconds) * bus_factor(op, n)


def ring_allreduce_time_s(size_bytes: float, n: int, alpha_s: float, bandwidth_Bps: float) -> float:
    """t = alpha·2(n-1) + (2(n-1)/n)·S/B; one rank (n=1) communicates nothing."""
    if n < 1:
        raise ValueError(f"a ring needs at least 1 rank, got n={n}")
    if n == 1:
        return 0.0
    if bandwidth_Bps <= 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth_Bps}")
    return alpha_s * 2 * (n - 1) + bus_factor("all_reduce", n) * size_bytes / bandwidth_Bps


def link_allreduce_time_s(size_bytes: float, n: int, link: Link) -> float:
    return ring_allreduce_time_s(size_bytes, n, link.alpha_s, link.bandwidth_Bps)


def fit_alpha_beta(points: Iterable[tuple[float, float]], n: int) -> tuple[float, float]:
    """Least-squares fit of the ring model to a sweep of (size_bytes, seconds) -> (alpha, B).

    The model is linear in S: t = c0 + c1·S with c0 = 2(n-1)·alpha and c1 = 2(n-1)/(n·B).
    Residuals are weighted by 1/t² (relative error) so that a log-spaced sweep's small sizes,
    which carry alpha, count as much as the large ones, which carry B. A negative intercept
    (noise) is clamped: alpha = 0 and the slope is refitted through the origin.
    """
    if n < 2:
        raise ValueError(f"fitting needs a collective over at least 2 ranks, got n={n}")
    pts = [(float(s), float(t)) for s, t in points]
    if any(t <= 0 or s < 0 for s, t in pts):
        raise ValueError("every point needs size >= 0 and time > 0")
    if len({s for s, _ in pts}) < 2:
        raise ValueError("fitting needs at least two distinct message sizes")
    w = [1 / t**2 for _, t in pts]
    sw = sum(w)
    mean_s = sum(wi * s for wi, (s, _) in zip(w, pts)) / sw
    mean_t = sum(wi * t for wi, (_, t) in zip(w, pts)) / sw
    sxx = sum(wi * (s - mean_s) ** 2 for wi, (s, _) in zip(w, pts))
    sxy = sum(wi * (s - mean_s) * (t - mean_t) for wi, (s, t) in zip(w, pts))
    slope = sxy / sxx
    intercept = mean_t - slope * mean_s
    if intercept < 0:
        intercept = 0.0
        slope = (sum(wi * s * t for wi, (s, t) in zip(w, pts))
                 / sum(wi * s * s for wi, (s, _) in zip(w, pts)))
    if slope <= 0:
        raise ValueError("time does not grow with size in this sweep; cannot fit a bandwidth")
    alpha = intercept / (2 * (n - 1))
    bandwidth = bus_factor("all_reduce", n) / slope
    return alpha, bandwidth


def fitted_link(base: Link, points: Iterable[tuple[float, float]], n: int) -> Link:
    """``base`` with alpha and B replaced by a fit to a measured all-reduce sweep."""
    pts = list(points)
    alpha, bandwidth = fit_alpha_beta(pts, n)
    return dataclasses.replace(
        base, alpha_s=alpha, bandwidth_Bps=bandwidth, measured=True,
        source=f"fitted to a measured {n}-rank all-reduce sweep ({len(pts)} sizes)")


# ---------------------------------------------------------------- model-shape based formulas

def param_count(shape: ModelShape) -> int:
    """Decoder with a gated MLP (SwiGLU/GeGLU; every catalog model):
    embeddings V·h (+ V·h LM head unless tied) + L·(attention + MLP + 2 norms) + final norm,
    attention = h·H·d (q) + 2·h·K·d (k, v) + H·d·h (o), dense MLP = 3·h·I. An MoE layer's MLP
    is E experts of 3·h·I_e, a router h·E and, for Qwen MoE, a shared expert 3·h·I_s with its
    gate h. Biases are ignored."""
    return _params(shape, shape.num_experts)


def active_param_count(shape: ModelShape) -> int:
    """Parameters one token runs through: an MoE layer uses ``experts_per_token`` of its
    experts (Mixtral-8x7B: 2 of 8 -> ~12.9B of ~46.7B). Dense models: param_count."""
    return _params(shape, shape.experts_per_token) if shape.is_moe else param_count(shape)


def embedding_params(shape: ModelShape) -> int:
    """The vocabulary matrices: the embedding, and the LM head unless tied to it."""
    return shape.vocab_size * shape.hidden_size * (1 if shape.tie_word_embeddings else 2)


def _params(shape: ModelShape, experts: int) -> int:
    h, d = shape.hidden_size, shape.resolved_head_dim
    attention = 2 * h * shape.num_attention_heads * d + 2 * h * shape.num_key_value_heads * d
    dense = attention + 3 * h * shape.intermediate_size + 2 * h
    moe = 0
    if shape.is_moe:
        shared = 3 * h * shape.shared_expert_intermediate_size + (h if shape.shared_expert_intermediate_size else 0)
        moe = (attention + experts * 3 * h * shape.moe_intermediate_size + h * shape.num_experts
               + shared + 2 * h)
    dense_layers = shape.num_hidden_layers - shape.moe_layers
    return embedding_params(shape) + dense_layers * dense + shape.moe_layers * moe + h


def weight_bytes(shape: ModelShape, dtype: str) -> float:
    """Weights in ``dtype``. Quantized checkpoints (FP8, int8, int4) keep the embedding and the
    LM head in bf16, as FP8 releases ship them (neuralmagic's Llama-3.1 FP8 config lists
    ``"ignore": ["lm_head"]``; vLLM's fp8 method quantizes Linear layers only, not the
    embedding): for Llama-3.1-8B that is 9.1 GB, not the 8.0 GB of every parameter at 1 byte.
    Norms (h per layer) are counted in ``dtype``: they are 0.003% of the weights."""
    per = dtype_bytes(dtype)
    if per >= 2:
        return param_count(shape) * per
    vocab = embedding_params(shape)
    return (param_count(shape) - vocab) * per + vocab * 2


def kv_bytes_per_token(shape: ModelShape, dtype: str) -> float:
    """2 (K and V) · layers · KV heads · head_dim · bytes. Every layer is counted as keeping
    the whole context: for models with sliding-window layers (Gemma 2 and 3, see
    ``ModelShape.sliding_window``) this is an upper bound, since those layers keep at most
    the window."""
    return (2 * shape.num_hidden_layers * shape.num_key_value_heads * shape.resolved_head_dim
            * dtype_bytes(dtype))


@dataclass(frozen=True)
class MemoryFit:
    """Bytes on one GPU: weights + kv + overhead = total; headroom = gpu memory - total."""
    weights: float
    kv: float
    overhead: float
    total: float
    gpu_mem: float
    fits: bool
    headroom: float


def memory_fit(shape: ModelShape, dtype: str, gpu_mem_bytes: float, context_tokens: int,
               batch: int, overhead_fraction: float = DEFAULT_OVERHEAD_FRACTION,
               kv_dtype: str | None = None, tp: int = 1, pp: int = 1) -> MemoryFit:
    """Does one GPU (of a TP group of ``tp``, in one of ``pp`` pipeline stages) hold its
    weights, KV for batch × context, and the overhead (``overhead_fraction`` of GPU memory)?
    Weights split 1/tp; KV heads split 1/tp but are replicated once tp exceeds them (a GPU
    always holds at least one KV head); a pipeline stage holds 1/pp of the layers, so both
    divide by pp too. KV is an upper bound for sliding-window models (``kv_bytes_per_token``)."""
    weights = weight_bytes(shape, dtype) / (tp * pp)
    kv_heads_per_gpu = max(shape.num_key_value_heads / tp, 1)
    kv = (kv_bytes_per_token(shape, kv_dtype or dtype) * kv_heads_per_gpu
          / shape.num_key_value_heads * context_tokens * batch / pp)
    overhead = overhead_fraction * gpu_mem_bytes
    total = weights + kv + overhead
    return MemoryFit(weights, kv, overhead, total, gpu_mem_bytes, total <= gpu_mem_bytes,
                     gpu_mem_bytes - total)


def tp_constraint_errors(shape: ModelShape, tp: int) -> list[str]:
    """Why ``tp`` cannot split this model (empty list: it can). Heads and FFN must divide by
    TP; KV heads must divide by TP or, when fewer than TP, divide it (then they replicate)."""
    if tp < 1:
        return [f"TP={tp} is not a positive number of GPUs"]
    errors = []
    heads, kv, ffn = shape.num_attention_heads, shape.num_key_value_heads, shape.intermediate_size
    if tp > heads:
        errors.append(f"TP={tp} exceeds the {heads} attention heads")
    elif heads % tp:
        errors.append(f"{heads} heads are not divisible by TP={tp}")
    if kv % tp and tp % kv:
        errors.append(f"{kv} KV heads are not divisible by TP={tp} and cannot be replicated "
                      f"evenly across it")
    if ffn % tp:
        errors.append(f"FFN size {ffn} is not divisible by TP={tp}")
    if shape.is_moe and shape.moe_intermediate_size % tp:
        errors.append(f"expert FFN size {shape.moe_intermediate_size} is not divisible by TP={tp}")
    return errors


def valid_tp_sizes(shape: ModelShape, max_tp: int = 8) -> list[int]:
    return [tp for tp in range(1, max_tp + 1) if not tp_constraint_errors(shape, tp)]


def shard_shapes(shape: ModelShape, tp: int) -> dict[str, tuple[int, int]]:
    """Per-GPU weight shapes, nn.Linear layout (out_features, in_features). Megatron split:
    q/k/v/gate/up column-parallel (out dim / tp), o/down row-parallel (in dim / tp)."""
    errors = tp_constraint_errors(shape, tp)
    if errors:
        raise ValueError("; ".join(errors))
    h, d = shape.hidden_size, shape.resolved_head_dim
    kv_heads_per_gpu = max(shape.num_key_value_heads // tp, 1)
    q_out = shape.num_attention_heads // tp * d
    ffn = shape.intermediate_size // tp
    return {"q": (q_out, h), "k": (kv_heads_per_gpu * d, h), "v": (kv_heads_per_gpu * d, h),
            "o": (h, q_out), "gate": (ffn, h), "up": (ffn, h), "down": (h, ffn)}


def column_parallel_shard(out_features: int, tp: int, tokens_in_flight: int,
                          dtype: str) -> tuple[int, float]:
    """One GPU's slice of a column-parallel linear: (its output columns, its output bytes for
    ``tokens_in_flight`` tokens). Megatron (arXiv 1909.08053 §3) splits the output dimension,
    so each GPU computes out/tp columns and no communication is needed until the row-parallel
    layer after it."""
    if tp < 1 or out_features % tp:
        raise ValueError(f"{out_features} output features are not divisible by TP={tp}")
    columns = out_features // tp
    return columns, tokens_in_flight * columns * dtype_bytes(dtype)


def decode_weight_read_s(shape: ModelShape, dtype: str, tp: int, hbm_Bps: float) -> float:
    """Lower bound of one decode step on a GPU of a TP group: its 1/tp share of the weights read
    once from HBM, t >= (weight bytes / tp) / HBM bandwidth. Decode is memory-bound (one token
    per sequence per step), so this read, not arithmetic, sets the floor; KV-cache reads and the
    all-reduces come on top."""
    if tp < 1:
        raise ValueError(f"TP={tp} is not a positive number of GPUs")
    if hbm_Bps <= 0:
        raise ValueError(f"HBM bandwidth must be positive, got {hbm_Bps}")
    return weight_bytes(shape, dtype) / tp / hbm_Bps


def allreduces_per_token(shape: ModelShape) -> int:
    """2 per layer (after attention's o projection, after the MLP's down projection or the MoE
    block) + 1 for vLLM's vocabulary-parallel embedding (see the module docstring)."""
    return 2 * shape.num_hidden_layers + 1


def logits_gather_bytes(shape: ModelShape, tokens_in_flight: int, dtype: str) -> float:
    """What the LM head's gather collects on rank 0 per decode step: b·V logits."""
    return tokens_in_flight * shape.vocab_size * dtype_bytes(dtype)


def allreduce_bytes(hidden: int, tokens_in_flight: int, dtype: str) -> float:
    return tokens_in_flight * hidden * dtype_bytes(dtype)


@dataclass(frozen=True)
class CommEstimate:
    allreduces: int
    bytes_each: float
    seconds_each: float
    seconds_per_token: float  # the all-reduces and the logits gather
    link_key: str
    tp: int
    gather_bytes: float = 0.0  # the LM head's logits gathered on rank 0
    gather_seconds: float = 0.0

    @property
    def allreduce_seconds(self) -> float:
        """The all-reduces alone: what a loop of all-reduces measures (decode_comm)."""
        return self.allreduces * self.seconds_each


def decode_comm_per_token(shape: ModelShape, tp: int, tokens_in_flight: int, dtype: str,
                          link: Link) -> CommEstimate:
    """Modelled communication per decode step: 2·L + 1 ring all-reduces of b·h·bytes over
    ``link``, then the logits gather (a ring gather: (n-1)·alpha + (n-1)/n · b·V·bytes / B).
    TP=1 has none. ``dtype`` is the activation dtype: FP8 weight quantization still
    all-reduces bf16 activations."""
    if tp == 1:
        return CommEstimate(0, 0.0, 0.0, 0.0, link.key, tp)
    count = allreduces_per_token(shape)
    size = allreduce_bytes(shape.hidden_size, tokens_in_flight, dtype)
    each = link_allreduce_time_s(size, tp, link)
    gather = logits_gather_bytes(shape, tokens_in_flight, dtype)
    gather_s = (tp - 1) * link.alpha_s + (tp - 1) / tp * gather / link.bandwidth_Bps
    return CommEstimate(count, size, each, count * each + gather_s, link.key, tp, gather, gather_s)


@dataclass(frozen=True)
class DecodeStep:
    weight_read_s: float
    comm_s: float

    @property
    def total_s(self) -> float:
        return self.weight_read_s + self.comm_s

    @property
    def comm_share(self) -> float:
        return self.comm_s / self.total_s


def decode_step_floor(shape: ModelShape, dtype: str, tp: int, tokens_in_flight: int, hbm_Bps: float,
                      link: Link, activation_dtype: str = "bf16") -> DecodeStep:
    """Floor of one decode step on a GPU of a TP group: its share of the weights read from HBM
    (decode_weight_read_s) plus the step's all-reduces on ``link`` (decode_comm_per_token), added
    because neither can hide the other: each layer's all-reduce waits for that layer's reads, and
    the next layer waits for its result. KV-cache reads and arithmetic come on top, so the total
    is a lower bound and ``comm_share`` an upper bound on the share of a real step."""
    return DecodeStep(decode_weight_read_s(shape, dtype, tp, hbm_Bps),
                      decode_comm_per_token(shape, tp, tokens_in_flight, activation_dtype, link).seconds_per_token)


def fmt_bytes(n: float) -> str:
    """Human-readable bytes, decimal units (GB = 1e9) to match GPU memory as sold."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B" if not math.isnan(n) else "nan"

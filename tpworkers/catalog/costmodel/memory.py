"""What a model holds: parameters, weight bytes, the KV cache per token, and whether one GPU of a
TP group fits them (KV cache per token: 2 · layers · KV heads · head_dim · bytes)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from tpworkers.catalog.costmodel.collectives import dtype_bytes
from tpworkers.catalog.costmodel.tp_split import check_tp
from tpworkers.catalog.modelshapes import ModelShape

# vLLM's default gpu_memory_utilization = 0.9 keeps 10% of GPU memory out of weights + KV
# (CUDA context, activations, allocator slack) — vLLM engine arguments documentation.
DEFAULT_OVERHEAD_FRACTION = 0.10


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


def default_kv_dtype(weight_dtype: str) -> str:
    """The KV cache's dtype when none is chosen: the activation dtype, as vLLM's
    ``--kv-cache-dtype auto`` does. Quantized weights (fp8, int8, int4: under 2 bytes) are
    dequantized into bf16 activations, so their K and V are bf16; otherwise the weights' dtype."""
    return "bf16" if dtype_bytes(weight_dtype) < 2 else weight_dtype


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
    divide by pp too. KV is an upper bound for sliding-window models (``kv_bytes_per_token``),
    kept in ``kv_dtype`` or else ``default_kv_dtype``. A TP the model cannot split is refused."""
    check_tp(shape, tp)
    weights = weight_bytes(shape, dtype) / (tp * pp)
    kv_heads_per_gpu = max(shape.num_key_value_heads / tp, 1)
    kv = (kv_bytes_per_token(shape, kv_dtype or default_kv_dtype(dtype)) * kv_heads_per_gpu
          / shape.num_key_value_heads * context_tokens * batch / pp)
    overhead = overhead_fraction * gpu_mem_bytes
    total = weights + kv + overhead
    return MemoryFit(weights, kv, overhead, total, gpu_mem_bytes, total <= gpu_mem_bytes,
                     gpu_mem_bytes - total)


def fmt_bytes(n: float) -> str:
    """Human-readable bytes, decimal units (GB = 1e9) to match GPU memory as sold."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B" if not math.isnan(n) else "nan"

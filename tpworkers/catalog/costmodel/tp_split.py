"""How TP splits a model: which TP sizes can (heads, KV heads, FFN divisible), and each GPU's
weight shards (Megatron-LM, arXiv 1909.08053 §3: column-parallel then row-parallel)."""
from __future__ import annotations

from tpworkers.catalog.costmodel.collectives import dtype_bytes
from tpworkers.catalog.modelshapes import ModelShape


def check_tp(shape: ModelShape, tp: int) -> None:
    """ValueError naming why ``tp`` cannot split this model (``tp_constraint_errors``)."""
    errors = tp_constraint_errors(shape, tp)
    if errors:
        raise ValueError("; ".join(errors))


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
    check_tp(shape, tp)
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

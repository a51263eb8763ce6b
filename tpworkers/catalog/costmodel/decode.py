"""One decode step under TP: its all-reduces and logits gather on a link, and its floor
(the weights read from HBM plus that communication).

Sources: Megatron-LM (arXiv 1909.08053 §3): 2 all-reduces per layer per forward, each carrying
b·h activations (b = tokens in flight). vLLM adds one: VocabParallelEmbedding all-reduces its
output (vllm/model_executor/layers/vocab_parallel_embedding.py, ``forward``:
``tensor_model_parallel_all_reduce``), so 2·L + 1 per decoded token; then the LM head's
vocabulary shards are gathered to rank 0 (vllm/model_executor/layers/logits_processor.py,
``_gather_logits``: ``tensor_model_parallel_gather``). A MoE layer under TP all-reduces its
output once, as a dense MLP does (vLLM FusedMoE); with expert parallelism
(``--enable-expert-parallel``) tokens travel to their experts by all-to-all instead.
"""
from __future__ import annotations

from dataclasses import dataclass

from tpworkers.catalog.costmodel.collectives import dtype_bytes, link_allreduce_time_s
from tpworkers.catalog.costmodel.memory import weight_bytes
from tpworkers.catalog.costmodel.tp_split import check_tp
from tpworkers.catalog.links import Link
from tpworkers.catalog.modelshapes import ModelShape


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


def layer_allreduces(shape: ModelShape) -> int:
    """2 per decoder layer: after attention's o projection, after the MLP's down projection or
    the MoE block (Megatron's column-then-row pairing)."""
    return 2 * shape.num_hidden_layers


def allreduces_per_token(shape: ModelShape) -> int:
    """The decoder layers' all-reduces + 1 for vLLM's vocabulary-parallel embedding (see this
    module's docstring)."""
    return layer_allreduces(shape) + 1


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
    all-reduces bf16 activations. A TP the model cannot split is refused."""
    check_tp(shape, tp)
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

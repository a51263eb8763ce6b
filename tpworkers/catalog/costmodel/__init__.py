"""The one place the formulas live: bytes, collectives, memory fit, TP shards, comm per token.
Everything returned here is *modelled*; measured inputs (a fitted link) stay measured inputs.

One concept a module, each citing its sources: collectives (bytes per element, bus bandwidth,
the ring all-reduce and its fit to a sweep), tp_split (which TP sizes split a model, and each
GPU's shards), memory (parameters, weights, KV cache, memory fit) and decode (a decode step's
communication and floor). Their names are gathered here, so the lab reads them as
``costmodel.memory_fit`` wherever it uses them.
"""
from tpworkers.catalog.costmodel.collectives import (DTYPE_BYTES, algbw_Bps, bus_factor, busbw_Bps, dtype_bytes,
                                                     fit_alpha_beta, fitted_link, link_allreduce_time_s,
                                                     ring_allreduce_time_s)
from tpworkers.catalog.costmodel.decode import (CommEstimate, DecodeStep, allreduce_bytes, allreduces_per_token,
                                                decode_comm_per_token, decode_step_floor, decode_weight_read_s,
                                                layer_allreduces, logits_gather_bytes)
from tpworkers.catalog.costmodel.memory import (DEFAULT_OVERHEAD_FRACTION, MemoryFit, active_param_count,
                                                default_kv_dtype, embedding_params, fmt_bytes, kv_bytes_per_token,
                                                memory_fit, param_count, weight_bytes)
from tpworkers.catalog.costmodel.tp_split import (check_tp, column_parallel_shard, shard_shapes, tp_constraint_errors,
                                                  valid_tp_sizes)

__all__ = [
    "DTYPE_BYTES", "algbw_Bps", "bus_factor", "busbw_Bps", "dtype_bytes", "fit_alpha_beta", "fitted_link",
    "link_allreduce_time_s", "ring_allreduce_time_s",
    "CommEstimate", "DecodeStep", "allreduce_bytes", "allreduces_per_token", "decode_comm_per_token",
    "decode_step_floor", "decode_weight_read_s", "layer_allreduces", "logits_gather_bytes",
    "DEFAULT_OVERHEAD_FRACTION", "MemoryFit", "active_param_count", "default_kv_dtype", "embedding_params",
    "fmt_bytes", "kv_bytes_per_token", "memory_fit", "param_count", "weight_bytes",
    "check_tp", "column_parallel_shard", "shard_shapes", "tp_constraint_errors", "valid_tp_sizes",
]

"""The #wrong column: data whose collective result is known exactly, and the count of misses.

Rank r fills global element k of its buffer with the small integer
    x_r(k) = k mod 5 + r + 1                          (1 ≤ x_r(k) ≤ r + 5)
so after a sum over n ranks element k must be
    Σ_r x_r(k) = n·(k mod 5) + n(n+1)/2               (at most 4n + n(n+1)/2),
after all-gather k = r·(S/n) + i holds x_r(k), and after broadcast rank 0's x_0(k).

Why the comparison can be exact (==, no tolerance): a floating-point type with p significand
bits (the stored mantissa bits + 1: float32 24, float16 11, bfloat16 8) represents every integer
0 ≤ m ≤ 2^p exactly (IEEE 754 §3.3). Every partial sum a reduction can form, in whatever order
and tree shape NCCL or gloo add the terms, is a sum of some of the positive x_r(k), so it lies
between 1 and the full sum. If the full sum is ≤ 2^p, no addition ever rounds and the result
equals the integer above, bit for bit. `exactness_error` refuses a sweep where that bound fails
(bfloat16: 4n + n(n+1)/2 ≤ 256 holds up to n = 18 ranks), rather than report false #wrong.

Both the fill and the check run in chunks of CHUNK elements, so neither needs a copy of the
whole buffer: the extra memory is CHUNK_BYTES per rank whatever the message size.
"""

import torch

from tpworkers.measure.configs import CHUNK


def fill_pattern(buffer: torch.Tensor, first: int, rank: int) -> torch.Tensor:
    """buffer[i] = x_rank(first + i), written chunk by chunk in place."""
    scratch = torch.empty(min(CHUNK, buffer.numel()), dtype=torch.int64, device=buffer.device)
    for start in range(0, buffer.numel(), CHUNK):
        stop = min(start + CHUNK, buffer.numel())
        values = _indices(first + start, stop - start, scratch).remainder_(5).add_(rank + 1)
        buffer[start:stop].copy_(values)
    return buffer


def count_wrong(op: str, output: torch.Tensor, world: int, rank: int) -> int:
    """Elements of this rank's `output` of `op` that differ from the exact result. The same few
    scratch buffers serve every chunk, so checking allocates CHUNK_BYTES once."""
    shard = _count(op, output, world) // world
    first = rank * shard if op == "reduce_scatter" else 0
    length = min(CHUNK, output.numel())
    k = torch.empty(length, dtype=torch.int64, device=output.device)
    sender = torch.empty_like(k)
    expected = torch.empty(length, dtype=output.dtype, device=output.device)
    wrong = 0
    for start in range(0, output.numel(), CHUNK):
        n = min(CHUNK, output.numel() - start)
        indices = _indices(first + start, n, k)                            # global element numbers
        if op == "all_gather":                                             # from rank k // shard
            torch.div(indices, shard, rounding_mode="floor", out=sender[:n])
            indices.remainder_(5).add_(sender[:n]).add_(1)
        elif op == "broadcast":
            indices.remainder_(5).add_(1)
        else:
            indices.remainder_(5).mul_(world).add_(world * (world + 1) // 2)
        expected[:n].copy_(indices)                                        # exact: see module doc
        # 1 where they differ, into the int64 scratch (its indices are spent): summing a bool
        # tensor on CUDA first copies it to int64, 8 B an element more (seen on an H200).
        misses = torch.ne(output[start:start + n], expected[:n], out=k[:n])
        wrong += int(misses.sum())
    return wrong


def _count(op: str, output: torch.Tensor, world: int) -> int:
    """Elements of the whole message: reduce-scatter's output is one of `world` shards."""
    return output.numel() * world if op == "reduce_scatter" else output.numel()


def _indices(first: int, length: int, scratch: torch.Tensor) -> torch.Tensor:
    """first, first+1, ... written into the int64 `scratch` (int64 numbers any buffer's elements)."""
    return torch.arange(first, first + length, out=scratch[:length])

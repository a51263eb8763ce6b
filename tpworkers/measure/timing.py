"""The one timer every measurement uses, and the one percentile.

On a GPU, work is queued: the host returns before the kernel runs, so host clocks measure the
launch, not the work. CUDA events recorded on the stream before and after a call time the work
itself (``torch.cuda.Event(enable_timing=True)``, resolution about 0.5 µs; CUDA Runtime API,
cudaEventElapsedTime). The events are created before the timed region, so creating them costs
nothing inside it. On CPU, gloo's collectives and torch's kernels block until done, so
``time.perf_counter`` around the call is the call.

Percentiles are nearest-rank: the p-th percentile of n sorted values is the value at rank
ceil(p·n), which is always one of the measured values (so min <= median <= p99 <= max holds).
"""

import math
import time
from collections.abc import Callable, Sequence

import torch


def synchronize(device: torch.device) -> None:
    """Wait for work queued on `device`; a no-op on CPU, where calls block."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Marks:
    """`count` time stamps on `device`, all allocated before the first is recorded."""

    def __init__(self, device: torch.device, count: int):
        self.cuda = device.type == "cuda"
        self.events = [torch.cuda.Event(enable_timing=True) for _ in range(count)] if self.cuda else [0.0] * count

    def record(self, index: int) -> None:
        if self.cuda:
            self.events[index].record()
        else:
            self.events[index] = time.perf_counter()

    def seconds(self, first: int, second: int) -> float:
        if self.cuda:
            return self.events[first].elapsed_time(self.events[second]) / 1e3  # ms -> s
        return self.events[second] - self.events[first]


def per_call_seconds(calls: Sequence[Callable[[], object]], device: torch.device, *,
                     back_to_back: bool = False) -> list[float]:
    """Seconds each of `calls` took, run in order on `device`.

    back_to_back=False brackets every call with its own start and end stamps, so gaps between
    calls (launch overhead, the Python loop) are left out: the collective sweep's per-call time.
    back_to_back=True stamps once between consecutive calls, so the durations add up to the
    whole sequence, gaps included: a decode step's calls add up to the step.
    """
    marks = _Marks(device, len(calls) + 1 if back_to_back else 2 * len(calls))
    if back_to_back:
        marks.record(0)
        for index, call in enumerate(calls):
            call()
            marks.record(index + 1)
        pairs = [(index, index + 1) for index in range(len(calls))]
    else:
        for index, call in enumerate(calls):
            marks.record(2 * index)
            call()
            marks.record(2 * index + 1)
        pairs = [(2 * index, 2 * index + 1) for index in range(len(calls))]
    synchronize(device)
    return [marks.seconds(first, second) for first, second in pairs]


def wall_seconds(call: Callable[[], object], device: torch.device) -> float:
    """Wall time of one call with `device` synchronized on both sides: what a caller waiting for
    the result sees (the sharded layer's forward, one f/g collective inside it)."""
    synchronize(device)
    begin = time.perf_counter()
    call()
    synchronize(device)
    return time.perf_counter() - begin


def nearest_rank(ordered: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (fraction 0.99 for p99)."""
    return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1]

"""Collective sweeps with nccl-tests' definitions, run on the warm rank pool.

For each message size S (min..max by factor, like `all_reduce_perf -b -e -f`) every rank runs
`warmup` untimed calls, a barrier, then `iters` timed calls, each timed on its own (CUDA events
around every call on GPUs; perf_counter on CPU, where gloo calls block):
    t      = mean of a rank's per-call times, then the max over ranks (the slowest rank decides
             when the collective is done for everyone); min, median and p99 are that rank's calls;
    algbw  = S / t;  busbw = algbw × bus factor (2(n-1)/n all-reduce, (n-1)/n all-gather and
             reduce-scatter, 1 broadcast; nccl-tests doc/PERFORMANCE.md, via tpworkers.catalog.costmodel).
S is the per-rank buffer for all-reduce and broadcast and the total (gathered or scattered) size
for all-gather and reduce-scatter, as in nccl-tests.

Against nccl-tests (its README, "Arguments"), exactly:
- nccl-tests reads one clock around the whole loop of -n calls and divides by n. Here each call
  is timed and the times averaged: the same sum, except that gaps between calls (CPU launch time
  when it exceeds the GPU's, the Python loop on CPU) are left out, which favours small sizes a bit.
- The max over ranks is nccl-tests' `-a 3`; its default `-a 1` averages the ranks' times.
- Defaults here are -w 2 -n 10 so a CPU sweep ends in seconds; nccl-tests' are -w 5 -n 20
  (pass those to match). -m (aggregation) and -G (CUDA graphs) have no equivalent.
- #wrong comes from one extra call after timing on integer data whose result is known exactly
  (tpworkers.measure.collectives.check), like nccl-tests' -c 1 checking one iteration.
- One set of columns, not nccl-tests' two: torch.distributed's all_reduce and broadcast work in
  place (nccl-tests' "in-place" columns), all_gather_single and reduce_scatter_single take separate
  send and receive buffers ("out-of-place" columns).

Command line, nccl-tests style:  python -m tpworkers.measure.collectives --nproc 2 -b 1K -e 64M -f 4
"""

import statistics
from dataclasses import asdict, dataclass
from functools import partial

import torch
import torch.distributed as dist

from tpworkers.catalog import costmodel
from tpworkers.measure.collectives.check import count_wrong, fill_pattern
from tpworkers.measure.configs import SweepConfig
from tpworkers.measure.devicegroup import DTYPES, torch_dtype
from tpworkers.measure.launcher import SweepCancelled, get_pool, step_timeout
from tpworkers.measure.timing import nearest_rank, per_call_seconds


@dataclass(frozen=True)
class Measurement:
    """One row of the sweep (times in µs, bandwidths in GB/s = 1e9 B/s, as nccl-tests prints)."""

    op: str
    size_bytes: int      # S as nccl-tests defines it for this op
    count: int           # elements in S
    dtype: str
    nranks: int
    time_us: float       # mean over timed iterations, max across ranks
    algbw_GBps: float    # S / time
    busbw_GBps: float    # algbw × bus factor
    min_us: float        # per-iteration times on the slowest rank: min, median, p99
    median_us: float
    p99_us: float
    wrong: int           # elements that differ from the known result, summed over ranks

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SweepResult:
    config: SweepConfig
    measurements: list[Measurement]
    transport: str | None  # NCCL's "via ..." transports, e.g. "P2P/CUMEM/read"; None on gloo


@dataclass(frozen=True)
class SizeStep:
    """What the ranks measure for one size (sent to every rank)."""

    op: str
    count: int
    dtype: str
    warmup: int
    iters: int


def run_sweep(config: SweepConfig, on_record=None, should_stop=lambda: False,
              timeout_s: float = 120.0) -> SweepResult:
    """Measure every size on the warm pool of `config.device_group()`.

    on_record(Measurement) runs in this process as each size finishes; should_stop() is asked
    before each size (and every second while one is measured) and True raises SweepCancelled;
    timeout_s bounds one size (a number, or a function of the size in bytes), and a rank that
    exceeds it (or dies, stops, or raises) raises launcher.RankFailed.
    """
    config.validate()
    pool = get_pool(config.device_group())
    measurements = []
    for count in config.element_counts():
        if should_stop():
            raise SweepCancelled(measurements)
        step = SizeStep(config.op, count, config.dtype, config.warmup, config.iters)
        try:
            per_rank = pool.run(measure_size, step, step_timeout(timeout_s, count * DTYPES[config.dtype]),
                                should_stop=should_stop)
        except SweepCancelled:
            raise SweepCancelled(measurements) from None
        measurement = summarise(step, [times for times, _ in per_rank], sum(w for _, w in per_rank))
        measurements.append(measurement)
        if on_record is not None:
            on_record(measurement)
    return SweepResult(config, measurements, pool.transport())


def summarise(step: SizeStep, times_per_rank: list[list[float]], wrong: int) -> Measurement:
    """Per-rank iteration times (s) -> one Measurement."""
    nranks = len(times_per_rank)
    # The slowest rank (highest mean) decides the time; its own iterations give the spread, so
    # min <= time <= p99 holds. (A max across ranks taken per iteration would add every rank's
    # scheduling jitter and bias small sizes slow against a plain loop timed as one block.)
    slowest = sorted(max(times_per_rank, key=statistics.fmean))
    seconds = statistics.fmean(slowest)
    size = step.count * DTYPES[step.dtype]
    return Measurement(
        op=step.op, size_bytes=size, count=step.count, dtype=step.dtype, nranks=nranks,
        time_us=seconds * 1e6,
        algbw_GBps=costmodel.algbw_Bps(size, seconds) / 1e9,
        busbw_GBps=costmodel.busbw_Bps(step.op, nranks, size, seconds) / 1e9,
        min_us=slowest[0] * 1e6, median_us=statistics.median(slowest) * 1e6,
        p99_us=nearest_rank(slowest, 0.99) * 1e6, wrong=wrong)


# ----------------------------------------------------------------------------- inside each rank

def measure_size(ctx, step: SizeStep) -> tuple[list[float], int]:
    """Rank task: time `step.iters` calls after warmup, then count wrong elements."""
    dtype = torch_dtype(step.dtype)
    timed = _collective(step.op, step.count, ctx.world_size, dtype, ctx.device, ctx.rank, fill=False)[0]
    for _ in range(step.warmup):
        timed()
    dist.barrier()  # every rank starts the timed region together
    ctx.synchronize()
    times = per_call_seconds([timed] * step.iters, ctx.device)
    del timed  # the call held the only references to the timing buffers: they are freed here
    check, output = _collective(step.op, step.count, ctx.world_size, dtype, ctx.device, ctx.rank, fill=True)
    check()
    del check  # all-gather's and reduce-scatter's send buffer is not needed to check the output
    return times, count_wrong(step.op, output, ctx.world_size, ctx.rank)


def split_collectives(distributed=dist):
    """(all_gather, reduce_scatter) into and out of one flat tensor. torch 2.13 calls them
    all_gather_single and reduce_scatter_single and deprecates the older names; a CUDA torch the
    user keeps (2.11, say) has only all_gather_into_tensor and reduce_scatter_tensor."""
    if hasattr(distributed, "all_gather_single"):
        return distributed.all_gather_single, distributed.reduce_scatter_single
    return distributed.all_gather_into_tensor, distributed.reduce_scatter_tensor


def _collective(op, count, world, dtype, device, rank, fill: bool):
    """(call, output): buffers for one op, zeros for timing or the check pattern for checking."""
    shard = count // world
    all_gather, reduce_scatter = split_collectives()

    def buffer(length, first=0):
        if not fill:
            return torch.zeros(length, dtype=dtype, device=device)
        return fill_pattern(torch.empty(length, dtype=dtype, device=device), first, rank)

    if op == "all_reduce":
        buf = buffer(count)                                                  # [count], in place
        return partial(dist.all_reduce, buf), buf
    if op == "broadcast":
        buf = buffer(count)                                                  # [count], rank 0's wins
        return partial(dist.broadcast, buf, src=0), buf
    if op == "all_gather":
        send = buffer(shard, first=rank * shard)                             # [count/n]
        recv = torch.zeros(count, dtype=dtype, device=device)                # [count]
        return partial(all_gather, recv, send), recv
    send = buffer(count)                                                     # [count]
    recv = torch.zeros(shard, dtype=dtype, device=device)                    # [count/n]
    return partial(reduce_scatter, recv, send), recv

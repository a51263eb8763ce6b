"""Collective sweeps measured the way nccl-tests measures them.

For each message size S (min..max by factor, like `all_reduce_perf -b -e -f`):
    warmup iterations, a barrier, then `iters` timed iterations on every rank;
    t      = mean over timed iterations on each rank, then the max across ranks (the slowest rank
             decides when the collective is done for everyone); min, median and p99 are that
             rank's per-iteration times;
    algbw  = S / t;  busbw = algbw × bus factor (2(n-1)/n all-reduce, (n-1)/n all-gather and
             reduce-scatter, 1 broadcast; nccl-tests doc/PERFORMANCE.md, via tpworkers.costmodel).
S is the per-rank buffer for all-reduce and broadcast and the total (gathered or scattered) size
for all-gather and reduce-scatter, as in nccl-tests. After timing, one more call on data whose
result is known exactly (small integers) gives #wrong, the count of wrong elements over all ranks.

GPUs are timed with CUDA events per iteration; gloo on CPU blocks, so perf_counter suffices.

Command line, nccl-tests style:  python -m tpworkers.collectives --nproc 2 -b 1K -e 64M -f 4
"""

import math
import statistics
import time
from dataclasses import asdict, dataclass
from functools import partial

import torch
import torch.distributed as dist

from tpworkers import costmodel
from tpworkers.devicegroup import DTYPES, ConfigError, DeviceGroup, check_dtype
from tpworkers.launcher import get_pool
from tpworkers.sizes import format_size, sweep_sizes

OPS = ("all_reduce", "all_gather", "reduce_scatter", "broadcast")
MAX_BYTES = {"cpu": 1 << 30, "cuda": 16 << 30}  # largest buffer a sweep may ask for, per device

__all__ = ["OPS", "ConfigError", "Measurement", "SweepCancelled", "SweepConfig", "SweepResult",
           "run_sweep"]


class SweepCancelled(Exception):
    """should_stop() said stop; `measurements` holds the sizes finished before that."""

    def __init__(self, measurements: list):
        super().__init__(f"sweep cancelled after {len(measurements)} sizes")
        self.measurements = measurements


@dataclass(frozen=True)
class SweepConfig:
    """One sweep: which collective, on which ranks, over which sizes."""

    op: str = "all_reduce"       # one of OPS
    nproc: int = 2               # ranks (world size)
    backend: str = "gloo"        # "gloo" or "nccl"
    device: str = "cpu"          # "cpu" or "cuda"
    gpus: tuple[int, ...] = ()   # GPU index per rank on CUDA, e.g. (2, 3)
    min_bytes: int = 1024        # -b
    max_bytes: int = 64 << 20    # -e
    factor: int = 4              # -f: next size = size × factor
    dtype: str = "float32"       # float32, bfloat16 or float16
    warmup: int = 2              # -w: untimed iterations per size
    iters: int = 10              # -n: timed iterations per size
    p2p: bool = True             # False: NCCL_P2P_DISABLE=1, NCCL_NVLS_ENABLE=0 (slower wire)

    def device_group(self) -> DeviceGroup:
        return DeviceGroup(nproc=self.nproc, backend=self.backend, device=self.device,
                           gpus=tuple(self.gpus), p2p=self.p2p)

    def element_counts(self) -> list[int]:
        """Elements per size, rounded down (as nccl-tests does) to a multiple of nproc for
        all-gather and reduce-scatter, whose S is split evenly across ranks."""
        elem = DTYPES[self.dtype].itemsize
        per = self.nproc if self.op in ("all_gather", "reduce_scatter") else 1
        return [size // (elem * per) * per for size in sweep_sizes(self.min_bytes, self.max_bytes, self.factor)]

    def validate(self) -> None:
        """ConfigError naming the first violated constraint; nothing is started."""
        if self.op not in OPS:
            raise ConfigError(f"op must be one of {', '.join(OPS)}, got {self.op!r}")
        check_dtype(self.backend, self.device, self.dtype)
        if self.factor < 2:
            raise ConfigError(f"factor must be an integer >= 2, got {self.factor}")
        if self.warmup < 0 or self.iters < 1:
            raise ConfigError(f"need warmup >= 0 and iters >= 1, got warmup={self.warmup}, iters={self.iters}")
        if self.max_bytes < self.min_bytes:
            raise ConfigError(f"max_bytes={self.max_bytes} is below min_bytes={self.min_bytes}")
        limit = MAX_BYTES.get(self.device, MAX_BYTES["cpu"])
        if self.max_bytes > limit:
            raise ConfigError(f"max_bytes={format_size(self.max_bytes)} is above the "
                              f"{format_size(limit)} limit on {self.device}")
        self.device_group().validate()
        smallest = DTYPES[self.dtype].itemsize * (self.nproc if self.op in ("all_gather", "reduce_scatter") else 1)
        if self.min_bytes < smallest:
            raise ConfigError(f"min_bytes={self.min_bytes} is below one {self.dtype} element per rank: "
                              f"{self.op} on {self.nproc} ranks needs min_bytes >= {smallest}")


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
    before each size and True raises SweepCancelled; timeout_s bounds one size, and a rank that
    exceeds it (or dies, or raises) raises launcher.RankFailed.
    """
    config.validate()
    pool = get_pool(config.device_group())
    measurements = []
    for count in config.element_counts():
        if should_stop():
            raise SweepCancelled(measurements)
        step = SizeStep(config.op, count, config.dtype, config.warmup, config.iters)
        per_rank = pool.run(measure_size, step, timeout_s=timeout_s)
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
    p99 = slowest[math.ceil(0.99 * len(slowest)) - 1]  # nearest-rank percentile
    size = step.count * DTYPES[step.dtype].itemsize
    return Measurement(
        op=step.op, size_bytes=size, count=step.count, dtype=step.dtype, nranks=nranks,
        time_us=seconds * 1e6,
        algbw_GBps=costmodel.algbw_Bps(size, seconds) / 1e9,
        busbw_GBps=costmodel.busbw_Bps(step.op, nranks, size, seconds) / 1e9,
        min_us=slowest[0] * 1e6, median_us=statistics.median(slowest) * 1e6,
        p99_us=p99 * 1e6, wrong=wrong)


# ----------------------------------------------------------------------------- inside each rank

def measure_size(ctx, step: SizeStep) -> tuple[list[float], int]:
    """Rank task: time `step.iters` calls after warmup, then count wrong elements."""
    dtype = DTYPES[step.dtype]
    timed, _ = _collective(step.op, step.count, ctx.world_size, dtype, ctx.device, ctx.rank, fill=False)
    for _ in range(step.warmup):
        timed()
    times = time_iterations(ctx, timed, step.iters)
    del timed  # free the timing buffers before the checking ones exist
    check, output = _collective(step.op, step.count, ctx.world_size, dtype, ctx.device, ctx.rank, fill=True)
    check()
    expected = _expected(step.op, step.count, ctx.world_size, ctx.rank, ctx.device)
    wrong = int((output.float() != expected.float()).sum())
    return times, wrong


def time_iterations(ctx, call, iters: int) -> list[float]:
    """Seconds per call. A barrier first so every rank starts the timed region together."""
    dist.barrier()
    ctx.synchronize()
    if ctx.device.type == "cuda":
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
        for start, end in zip(starts, ends):
            start.record()
            call()
            end.record()
        ctx.synchronize()
        return [start.elapsed_time(end) / 1e3 for start, end in zip(starts, ends)]  # ms -> s
    times = []
    for _ in range(iters):
        begin = time.perf_counter()
        call()
        times.append(time.perf_counter() - begin)
    return times


def _pattern(first: int, length: int, rank: int, device) -> torch.Tensor:
    """Rank `rank`'s value at global element k: k mod 5 + rank + 1, as int32 (exact at any size).
    Sums over ≤ 8 ranks stay below 256, so every dtype here holds them exactly whatever order
    a reduction adds them in."""
    return torch.arange(first, first + length, dtype=torch.int32, device=device) % 5 + (rank + 1)


def _collective(op, count, world, dtype, device, rank, fill: bool):
    """(call, output): buffers for one op, zeros for timing or the pattern for checking."""
    shard = count // world

    def buffer(length, first=0):
        if not fill:
            return torch.zeros(length, dtype=dtype, device=device)
        return _pattern(first, length, rank, device).to(dtype)

    if op == "all_reduce":
        buf = buffer(count)                                                  # [count], in place
        return partial(dist.all_reduce, buf), buf
    if op == "broadcast":
        buf = buffer(count)                                                  # [count], rank 0's wins
        return partial(dist.broadcast, buf, src=0), buf
    if op == "all_gather":
        send = buffer(shard, first=rank * shard)                             # [count/n]
        recv = torch.zeros(count, dtype=dtype, device=device)                # [count]
        return partial(dist.all_gather_single, recv, send), recv
    send = buffer(count)                                                     # [count]
    recv = torch.zeros(shard, dtype=dtype, device=device)                    # [count/n]
    return partial(dist.reduce_scatter_single, recv, send), recv


def _expected(op, count, world, rank, device) -> torch.Tensor:
    """The exact result on this rank. Σ_r (k mod 5 + r + 1) = world·(k mod 5) + world(world+1)/2."""
    shard = count // world
    rank_sum = world * (world + 1) // 2
    if op == "all_reduce":
        return _pattern(0, count, -1, device) * world + rank_sum
    if op == "broadcast":
        return _pattern(0, count, 0, device)
    if op == "all_gather":
        return torch.cat([_pattern(r * shard, shard, r, device) for r in range(world)])
    return _pattern(rank * shard, shard, -1, device) * world + rank_sum


if __name__ == "__main__":
    from tpworkers.collectives_cli import main

    raise SystemExit(main())

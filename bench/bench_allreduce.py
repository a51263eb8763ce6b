"""Does the lab's harness cost bandwidth? Lab sweep vs a minimal torch.distributed loop.

For every size, rounds alternate between the lab's all-reduce sweep (run_sweep, one size) and a
raw loop (warmup, barrier, `iters` back-to-back all_reduce calls timed as one block, max across
ranks), both on the same warm rank processes so neither gets different hardware or neighbours.
Printed per size: the median busbw of each over the rounds, their ratio lab/raw (the headline,
judged against the target >= 0.95 for sizes >= 1 MiB) and, for the spread, the lowest and highest
per-round ratio; then one line saying whether the target is met at every size >= 1 MiB. Last,
the time from "run requested" to the first measured size, with the pool warm vs started cold.

    python -m bench.bench_allreduce --nproc 2 -b 1K -e 64M -f 4 --rounds 10
"""

import argparse
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from tpworkers.catalog import costmodel
from tpworkers.catalog.sizes import format_size, parse_size
from tpworkers.measure.collectives import run_sweep
from tpworkers.measure.configs import SweepConfig
from tpworkers.measure.devicegroup import DTYPES, add_device_arguments, device_group_fields, torch_dtype
from tpworkers.measure.launcher import get_pool, shutdown_pool


def raw_allreduce_loop(ctx, payload) -> float:
    """Rank task: seconds per all_reduce, timed over the whole loop the way a quick script does."""
    count, dtype, warmup, iters = payload
    buffer = torch.zeros(count, dtype=torch_dtype(dtype), device=ctx.device)
    for _ in range(warmup):
        dist.all_reduce(buffer)
    dist.barrier()
    ctx.synchronize()
    begin = time.perf_counter()
    for _ in range(iters):
        dist.all_reduce(buffer)
    ctx.synchronize()
    return (time.perf_counter() - begin) / iters


TARGET_RATIO, TARGET_FROM_BYTES = 0.95, 1 << 20


@dataclass(frozen=True)
class SizeComparison:
    size: int
    lab_GBps: float       # median busbw over the rounds
    raw_GBps: float
    round_ratios: tuple[float, ...]  # lab/raw of each round

    @property
    def ratio(self) -> float:
        """Ratio of the medians: the figure judged against the target."""
        return self.lab_GBps / self.raw_GBps


def compare(config: SweepConfig, rounds: int) -> Iterator[SizeComparison]:
    """Lab vs raw busbw per size over `rounds` rounds. Rounds alternate which of the two goes
    first (lab-raw, raw-lab, ...) so neither always inherits the other's warm caches or scheduler
    state."""
    pool = get_pool(config.device_group())
    for count in config.element_counts():
        size = count * DTYPES[config.dtype]
        one_size = SweepConfig(**{**config.__dict__, "min_bytes": size, "max_bytes": size})

        def lab():
            return run_sweep(one_size).measurements[0].busbw_GBps

        def raw():
            seconds = max(pool.run(raw_allreduce_loop, (count, config.dtype, config.warmup, config.iters)))
            return costmodel.busbw_Bps("all_reduce", config.nproc, size, seconds) / 1e9

        pairs = []
        for round_index in range(rounds):
            if round_index % 2:
                raw_busbw, lab_busbw = raw(), lab()
            else:
                lab_busbw, raw_busbw = lab(), raw()
            pairs.append((lab_busbw, raw_busbw))
        yield SizeComparison(size, statistics.median(lab for lab, _ in pairs),
                             statistics.median(raw for _, raw in pairs), tuple(lab / raw for lab, raw in pairs))


def verdict(rows: list[SizeComparison]) -> str:
    judged = [row for row in rows if row.size >= TARGET_FROM_BYTES]
    if not judged:
        return f"target >= {TARGET_RATIO} at every size >= 1 MiB: not judged (no size >= 1 MiB swept)"
    missed = [format_size(row.size) for row in judged if row.ratio < TARGET_RATIO]
    return (f"target >= {TARGET_RATIO} at every size >= 1 MiB: "
            + (f"not met (below at {', '.join(missed)})" if missed else f"met ({len(judged)} sizes)"))


def time_to_first_size(config: SweepConfig, cold: bool) -> float:
    """Seconds from calling run_sweep to the first Measurement arriving in this process."""
    if cold:
        shutdown_pool()
    first = []
    begin = time.perf_counter()
    run_sweep(SweepConfig(**{**config.__dict__, "max_bytes": config.min_bytes}),
              on_record=lambda m: first.append(time.perf_counter() - begin))
    return first[0]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_allreduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("-b", type=parse_size, default=parse_size("1K"))
    parser.add_argument("-e", type=parse_size, default=parse_size("64M"))
    parser.add_argument("-f", type=int, default=4)
    parser.add_argument("-w", type=int, default=2)
    parser.add_argument("-n", type=int, default=20, help="timed iterations (nccl-tests default 20)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--starts", type=int, default=3, help="cold and warm starts to time")
    add_device_arguments(parser)
    args = parser.parse_args(argv)
    config = SweepConfig(nproc=args.nproc, min_bytes=args.b, max_bytes=args.e, factor=args.f, warmup=args.w,
                         iters=args.n, **device_group_fields(args))
    config.validate()
    print(f"# all_reduce, {config.nproc} ranks, {config.backend} on {config.device}, {config.dtype}, "
          f"warmup {config.warmup}, iters {config.iters}, {args.rounds} interleaved rounds")
    print("# busbw: median over the rounds; lab/raw: ratio of those medians; "
          "per-round lab/raw: lowest .. highest")
    print(f"# {'size':>8} {'lab busbw':>12} {'raw busbw':>12} {'lab/raw':>8} {'per-round lab/raw':>19}")
    rows = []
    for row in compare(config, args.rounds):
        rows.append(row)
        flag = "" if row.size < TARGET_FROM_BYTES or row.ratio >= TARGET_RATIO else f"  < {TARGET_RATIO}"
        print(f"  {format_size(row.size):>8} {row.lab_GBps:>10.3f} G {row.raw_GBps:>10.3f} G {row.ratio:>8.3f} "
              f"{min(row.round_ratios):>9.3f} .. {max(row.round_ratios):.3f}{flag}", flush=True)
    print(f"# {verdict(rows)}")
    cold = [time_to_first_size(config, cold=True) for _ in range(args.starts)]
    warm = [time_to_first_size(config, cold=False) for _ in range(args.starts)]
    print(f"# run requested -> first measured size ({format_size(config.min_bytes)}): "
          f"cold start {statistics.median(cold):.3f} s, warm pool {statistics.median(warm):.3f} s "
          f"(medians of {args.starts}; cold {', '.join(f'{s:.2f}' for s in cold)})")
    shutdown_pool()


if __name__ == "__main__":
    main()

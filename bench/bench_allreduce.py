"""Does the lab's harness cost bandwidth? Lab sweep vs a minimal torch.distributed loop.

For every size, rounds alternate between the lab's all-reduce sweep (run_sweep, one size) and a
raw loop (warmup, barrier, `iters` back-to-back all_reduce calls timed as one block, max across
ranks), both on the same warm rank processes so neither gets different hardware or neighbours.
Printed per size: median busbw of each over the rounds and the median per-round ratio lab/raw
(target >= 0.95 for sizes >= 1 MiB). Then the time from "run requested" to the first measured size, with the pool
warm vs started cold.

    python -m bench.bench_allreduce --nproc 2 -b 1K -e 64M -f 4 --rounds 10
"""

import argparse
import statistics
import time

import torch
import torch.distributed as dist

from tpworkers import costmodel
from tpworkers.collectives import SweepConfig, run_sweep
from tpworkers.devicegroup import DTYPES
from tpworkers.launcher import get_pool, shutdown_pool
from tpworkers.sizes import format_size, parse_size


def raw_allreduce_loop(ctx, payload) -> float:
    """Rank task: seconds per all_reduce, timed over the whole loop the way a quick script does."""
    count, dtype, warmup, iters = payload
    buffer = torch.zeros(count, dtype=DTYPES[dtype], device=ctx.device)
    for _ in range(warmup):
        dist.all_reduce(buffer)
    dist.barrier()
    ctx.synchronize()
    begin = time.perf_counter()
    for _ in range(iters):
        dist.all_reduce(buffer)
    ctx.synchronize()
    return (time.perf_counter() - begin) / iters


def compare(config: SweepConfig, rounds: int) -> list[tuple[int, float, float, float]]:
    """(size, lab busbw, raw busbw, lab/raw) per size: busbw medians over the rounds (GB/s) and the
    median of the per-round ratios. Rounds alternate which of the two goes first (lab-raw,
    raw-lab, ...) so neither always inherits the other's warm caches or scheduler state."""
    pool = get_pool(config.device_group())
    rows = []
    for count in config.element_counts():
        size = count * DTYPES[config.dtype].itemsize
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
        rows.append((size, statistics.median(l for l, _ in pairs), statistics.median(r for _, r in pairs),
                     statistics.median(l / r for l, r in pairs)))
    return rows


def time_to_first_size(config: SweepConfig, cold: bool) -> float:
    """Seconds from calling run_sweep to the first Measurement arriving in this process."""
    if cold:
        shutdown_pool()
    first = []
    begin = time.perf_counter()
    run_sweep(SweepConfig(**{**config.__dict__, "max_bytes": config.min_bytes}),
              on_record=lambda m: first.append(time.perf_counter() - begin))
    return first[0]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_allreduce", description=__doc__)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("-b", type=parse_size, default=parse_size("1K"))
    parser.add_argument("-e", type=parse_size, default=parse_size("64M"))
    parser.add_argument("-f", type=int, default=4)
    parser.add_argument("-w", type=int, default=2)
    parser.add_argument("-n", type=int, default=20, help="timed iterations (nccl-tests default 20)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--starts", type=int, default=3, help="cold and warm starts to time")
    parser.add_argument("--backend", choices=("gloo", "nccl"), default="gloo")
    parser.add_argument("--gpus", default="")
    args = parser.parse_args()
    gpus = tuple(int(g) for g in args.gpus.split(",") if g.strip())
    device = "cuda" if args.backend == "nccl" or gpus else "cpu"
    config = SweepConfig(nproc=args.nproc, backend=args.backend, device=device, gpus=gpus,
                         min_bytes=args.b, max_bytes=args.e, factor=args.f, warmup=args.w, iters=args.n)
    config.validate()
    print(f"# all_reduce, {config.nproc} ranks, {config.backend} on {config.device}, {config.dtype}, "
          f"warmup {config.warmup}, iters {config.iters}, {args.rounds} interleaved rounds (medians)")
    print(f"# {'size':>8} {'lab busbw':>12} {'raw busbw':>12} {'lab/raw':>8}")
    for size, lab, raw, ratio in compare(config, args.rounds):
        flag = "" if size < (1 << 20) or ratio >= 0.95 else "  < 0.95"
        print(f"  {format_size(size):>8} {lab:>10.3f} G {raw:>10.3f} G {ratio:>8.3f}{flag}", flush=True)
    cold = [time_to_first_size(config, cold=True) for _ in range(args.starts)]
    warm = [time_to_first_size(config, cold=False) for _ in range(args.starts)]
    print(f"# run requested -> first measured size ({format_size(config.min_bytes)}): "
          f"cold start {statistics.median(cold):.3f} s, warm pool {statistics.median(warm):.3f} s "
          f"(medians of {args.starts}; cold {', '.join(f'{s:.2f}' for s in cold)})")
    shutdown_pool()


if __name__ == "__main__":
    main()

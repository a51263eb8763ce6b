"""nccl-tests style command line for collective sweeps (`python -m tpworkers.collectives`).

Flags follow all_reduce_perf: -b min bytes, -e max bytes, -f factor, -w warmup, -n iterations,
-o op, -d dtype. Rows are printed as each size finishes.
"""

import argparse
import sys

from tpworkers.collectives import OPS, ConfigError, Measurement, SweepConfig, run_sweep
from tpworkers.devicegroup import DTYPES
from tpworkers.launcher import RankFailed
from tpworkers.sizes import parse_size

_REDOP = {"all_reduce": "sum", "reduce_scatter": "sum", "all_gather": "none", "broadcast": "none"}
_COLUMNS = ("{:>12} {:>12} {:>9} {:>6} {:>10} {:>8} {:>8} {:>7} {:>10} {:>10} {:>10}")


def table_header(config: SweepConfig) -> str:
    where = f"GPUs {','.join(map(str, config.device_group().gpus))}" if config.device == "cuda" else "CPU"
    preset = "" if config.p2p else ", NCCL_P2P_DISABLE=1 NCCL_NVLS_ENABLE=0"
    return "\n".join([
        f"# TP Lab {config.op}: {config.nproc} ranks, {config.backend} on {where}{preset}",
        f"# dtype {config.dtype}, warmup {config.warmup}, iters {config.iters} per size; "
        "time = mean over iterations, max across ranks",
        "#",
        # Column titles are comments too, so every data line parses as numbers.
        "#" + _COLUMNS.format("size", "count", "type", "redop", "time", "algbw", "busbw",
                              "#wrong", "min", "median", "p99")[1:],
        "#" + _COLUMNS.format("(B)", "(elements)", "", "", "(us)", "(GB/s)", "(GB/s)", "",
                              "(us)", "(us)", "(us)")[1:],
    ])


def table_row(m: Measurement) -> str:
    return _COLUMNS.format(
        m.size_bytes, m.count, m.dtype, _REDOP[m.op], f"{m.time_us:.1f}", f"{m.algbw_GBps:.2f}",
        f"{m.busbw_GBps:.2f}", m.wrong, f"{m.min_us:.1f}", f"{m.median_us:.1f}", f"{m.p99_us:.1f}")


def table_footer(measurements: list[Measurement], transport: str | None) -> str:
    average = sum(m.busbw_GBps for m in measurements) / max(len(measurements), 1)
    wrong = sum(m.wrong for m in measurements)
    return "\n".join([
        f"# Out of bounds values : {wrong} {'OK' if wrong == 0 else 'FAILED'}",
        f"# Avg bus bandwidth    : {average:.3f} GB/s",
        f"# NCCL transport       : {transport or 'n/a (not NCCL, or no NCCL_DEBUG lines)'}",
    ])


def parse_args(argv=None) -> SweepConfig:
    parser = argparse.ArgumentParser(prog="python -m tpworkers.collectives", description=__doc__)
    parser.add_argument("--nproc", "-g", type=int, default=2, help="ranks (default 2)")
    parser.add_argument("-b", "--minbytes", type=parse_size, default=parse_size("1K"))
    parser.add_argument("-e", "--maxbytes", type=parse_size, default=parse_size("64M"))
    parser.add_argument("-f", "--stepfactor", type=int, default=4)
    parser.add_argument("-o", "--op", choices=OPS, default="all_reduce")
    parser.add_argument("-d", "--dtype", choices=tuple(DTYPES), default="float32")
    parser.add_argument("-w", "--warmup", type=int, default=2)
    parser.add_argument("-n", "--iters", type=int, default=10)
    parser.add_argument("--backend", choices=("gloo", "nccl"), default="gloo")
    parser.add_argument("--device", choices=("cpu", "cuda"),
                        help="default: cuda for nccl or when --gpus is given, else cpu")
    parser.add_argument("--gpus", default="", help="GPU index per rank, e.g. 0,1 or 2,3")
    parser.add_argument("--no-p2p", action="store_true",
                        help="NCCL_P2P_DISABLE=1 NCCL_NVLS_ENABLE=0: keep NCCL off NVLink/P2P")
    args = parser.parse_args(argv)
    gpus = tuple(int(g) for g in args.gpus.split(",") if g.strip())
    device = args.device or ("cuda" if args.backend == "nccl" or gpus else "cpu")
    return SweepConfig(op=args.op, nproc=args.nproc, backend=args.backend, device=device, gpus=gpus,
                       min_bytes=args.minbytes, max_bytes=args.maxbytes, factor=args.stepfactor,
                       dtype=args.dtype, warmup=args.warmup, iters=args.iters, p2p=not args.no_p2p)


def main(argv=None) -> int:
    config = parse_args(argv)
    try:
        config.validate()
        print(table_header(config), flush=True)
        result = run_sweep(config, on_record=lambda m: print(table_row(m), flush=True))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except RankFailed as error:
        print(f"error: {error}\n{error.details}", file=sys.stderr)
        return 1
    print(table_footer(result.measurements, result.transport))
    return 0 if all(m.wrong == 0 for m in result.measurements) else 1

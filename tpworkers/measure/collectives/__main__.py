"""nccl-tests style command line for collective sweeps (`python -m tpworkers.measure.collectives`).

Flags follow all_reduce_perf: -b min bytes, -e max bytes, -f factor, -w warmup, -n iterations,
-o op, -d dtype; columns, type names (float, half, bfloat16), redop (sum, or none for all-gather
and broadcast) and root (-1, or 0 for broadcast) are nccl-tests' too. nccl-tests prints an
out-of-place and an in-place group; this prints one, named in the header by what the op is in
torch.distributed, plus the spread (min, median, p99) of the slowest rank's calls. Rows are
printed as each size finishes.
"""

import argparse

from tpworkers.catalog.sizes import parse_size
from tpworkers.measure.collectives import Measurement, run_sweep
from tpworkers.measure.configs import OPS, SweepConfig
from tpworkers.measure.devicegroup import DTYPES, add_device_arguments, device_group_fields
from tpworkers.measure.launcher import run_command

NCCL_TYPE_NAMES = {"float32": "float", "float16": "half", "bfloat16": "bfloat16"}
_REDOP = {"all_reduce": "sum", "reduce_scatter": "sum", "all_gather": "none", "broadcast": "none"}
_ROOT = {"all_reduce": -1, "reduce_scatter": -1, "all_gather": -1, "broadcast": 0}
_PLACE = {"all_reduce": "in-place", "broadcast": "in-place",
          "all_gather": "out-of-place", "reduce_scatter": "out-of-place"}
_COLUMNS = "{:>12} {:>12} {:>8} {:>6} {:>6} {:>10} {:>8} {:>8} {:>6} {:>10} {:>10} {:>10}"


def table_header(config: SweepConfig) -> str:
    group = config.device_group()
    where = f"GPUs {','.join(map(str, group.gpus))}" if config.device == "cuda" else "CPU"
    preset = "" if config.p2p else ", NCCL_P2P_DISABLE=1 NCCL_NVLS_ENABLE=0"
    place = _PLACE[config.op]
    return "\n".join([
        f"# TP Lab {config.op}: {config.nproc} ranks, {config.backend} on {where}{preset}",
        f"# warmup {config.warmup} (-w), iters {config.iters} (-n) per size; time = mean per call on the "
        "slowest rank (nccl-tests -a 3), each call timed on its own",
        f"# {place} only (torch.distributed's {config.op} is {place}); min/median/p99: the slowest rank's calls",
        "#",
        "#" + " " * 48 + f"{place:^35}",                 # over time, algbw, busbw and #wrong
        # Column titles are comments too, so every data line parses as numbers.
        "#" + _COLUMNS.format("size", "count", "type", "redop", "root", "time", "algbw", "busbw",
                              "#wrong", "min", "median", "p99")[1:],
        "#" + _COLUMNS.format("(B)", "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "",
                              "(us)", "(us)", "(us)")[1:],
    ])


def table_row(m: Measurement) -> str:
    return _COLUMNS.format(
        m.size_bytes, m.count, NCCL_TYPE_NAMES[m.dtype], _REDOP[m.op], _ROOT[m.op], f"{m.time_us:.2f}",
        f"{m.algbw_GBps:.2f}", f"{m.busbw_GBps:.2f}", m.wrong, f"{m.min_us:.2f}", f"{m.median_us:.2f}",
        f"{m.p99_us:.2f}")


def table_footer(measurements: list[Measurement], transport: str | None) -> str:
    average = sum(m.busbw_GBps for m in measurements) / max(len(measurements), 1)
    wrong = sum(m.wrong for m in measurements)
    return "\n".join([
        f"# Out of bounds values : {wrong} {'OK' if wrong == 0 else 'FAILED'}",
        f"# Avg bus bandwidth    : {average:.3f} GB/s",
        f"# NCCL transport       : {transport or 'n/a (not NCCL, or no NCCL_DEBUG lines)'}",
    ])


def parse_args(argv=None) -> SweepConfig:
    parser = argparse.ArgumentParser(prog="python -m tpworkers.measure.collectives", description=__doc__)
    parser.add_argument("--nproc", "-g", type=int, default=2, help="ranks (default 2)")
    parser.add_argument("-b", "--minbytes", type=parse_size, default=parse_size("1K"))
    parser.add_argument("-e", "--maxbytes", type=parse_size, default=parse_size("64M"))
    parser.add_argument("-f", "--stepfactor", type=int, default=4)
    parser.add_argument("-o", "--op", choices=OPS, default="all_reduce")
    parser.add_argument("-d", "--dtype", choices=tuple(DTYPES), default="float32")
    parser.add_argument("-w", "--warmup", type=int, default=2)
    parser.add_argument("-n", "--iters", type=int, default=10)
    add_device_arguments(parser)
    args = parser.parse_args(argv)
    return SweepConfig(op=args.op, nproc=args.nproc, min_bytes=args.minbytes, max_bytes=args.maxbytes,
                       factor=args.stepfactor, dtype=args.dtype, warmup=args.warmup, iters=args.iters,
                       **device_group_fields(args))


def main(argv=None) -> int:
    config = parse_args(argv)

    def sweep() -> int:
        config.validate()
        print(table_header(config), flush=True)
        result = run_sweep(config, on_record=lambda m: print(table_row(m), flush=True))
        print(table_footer(result.measurements, result.transport))
        return 0 if all(m.wrong == 0 for m in result.measurements) else 1

    return run_command(sweep)


if __name__ == "__main__":
    raise SystemExit(main())

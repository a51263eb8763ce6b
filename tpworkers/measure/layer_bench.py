"""The sharded layers of tpworkers.measure.tp_layers timed at several TP sizes on one warm rank pool.

Per (TP size, layer kind) every rank of the TP group runs `warmup` forwards, then `iters` timed
forwards with the device synchronized around each; the f/g log (tpworkers.measure.tp_ops) records every
all-reduce of a forward with its bytes and time. Reported per forward, on the slowest rank
(highest mean forward time):
    forward  = mean wall time of a forward
    comm     = mean time inside its all-reduces (Megatron's g: one per MLP or attention block)
    compute  = forward − comm
and, as observed (not assumed), the number of all-reduces and the bytes each carried
(tokens × hidden × dtype bytes; costmodel.allreduce_bytes says the same).

Command line:
    python -m tpworkers.measure.layer_bench --kinds mlp,attention --tp 1,2,4 --hidden 1024 --ffn 4096
"""

import argparse
import statistics
from dataclasses import asdict, dataclass

import torch

from tpworkers.measure.configs import KINDS, LayerBenchConfig
from tpworkers.measure.devicegroup import DTYPES, add_device_arguments, device_group_fields, torch_dtype
from tpworkers.measure.launcher import SweepCancelled, get_pool, run_command
from tpworkers.measure.timing import wall_seconds
from tpworkers.measure.tp_layers import build_reference, shard
from tpworkers.measure.tp_ops import CommLog, recording, tp_group


@dataclass(frozen=True)
class LayerStep:
    """What the ranks run for one (tp, kind)."""

    config: LayerBenchConfig
    tp: int
    kind: str


@dataclass(frozen=True)
class LayerRecord:
    """One sharded forward, observed (times in µs: mean over iterations, slowest rank)."""

    tp: int
    kind: str
    tokens: int
    forward_us: float
    compute_us: float                   # forward − comm on that rank
    comm_us: float                      # inside the all-reduces of g
    collectives: int                    # all-reduces counted in one forward
    collective_bytes: tuple[int, ...]   # bytes of each
    bytes_moved: int                    # their sum

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LayerBenchResult:
    config: LayerBenchConfig
    records: list[LayerRecord]
    transport: str | None  # NCCL's "via ..." transports, as for sweeps; None on gloo


def run_layer_benchmark(config: LayerBenchConfig, on_record=None, should_stop=lambda: False,
                        timeout_s: float = 120.0) -> LayerBenchResult:
    """Every (tp, kind) in turn; on_record(LayerRecord) in this process as each finishes.
    should_stop() is asked before each and True raises SweepCancelled with the records so far."""
    config.validate()
    pool = get_pool(config.device_group())
    records = []
    for tp in config.tp_sizes:
        for kind in config.kinds:
            if should_stop():
                raise SweepCancelled(records)
            results = [r for r in pool.run(bench_layer, LayerStep(config, tp, kind), timeout_s) if r]
            records.append(summarise(tp, kind, config.batch * config.seq, results))
            if on_record is not None:
                on_record(records[-1])
    return LayerBenchResult(config, records, pool.transport())


def summarise(tp: int, kind: str, tokens: int, results: list) -> LayerRecord:
    """Per-rank (forward seconds, comm seconds, bytes per all-reduce) -> the slowest rank's record."""
    totals = [statistics.fmean(forwards) for forwards, _, _ in results]
    slowest = totals.index(max(totals))
    comm = statistics.fmean(results[slowest][1])
    sizes = tuple(results[slowest][2])
    return LayerRecord(tp=tp, kind=kind, tokens=tokens, forward_us=totals[slowest] * 1e6,
                       compute_us=(totals[slowest] - comm) * 1e6, comm_us=comm * 1e6,
                       collectives=len(sizes), collective_bytes=sizes, bytes_moved=sum(sizes))


def bench_layer(ctx, step: LayerStep):
    """Rank task: (forward seconds per iteration, comm seconds per iteration, bytes per all-reduce);
    None on ranks outside the TP group."""
    config = step.config
    group = tp_group(step.tp)
    if ctx.rank >= step.tp:
        return None
    dtype = torch_dtype(config.dtype)
    torch.manual_seed(0)  # same full weights on every rank, then each keeps its slice
    full = build_reference(step.kind, config.hidden, config.ffn, config.heads, config.kv_heads)
    layer = shard(full, group).to(ctx.device, dtype)
    x = torch.randn(config.batch, config.seq, config.hidden, generator=torch.Generator().manual_seed(1))
    x = x.to(ctx.device, dtype)                                            # [batch, seq, hidden]
    totals, comms = [], []
    with torch.no_grad():
        for _ in range(config.warmup):
            layer(x)
        for _ in range(config.iters):
            log = CommLog(ctx.device)
            with recording(log):
                totals.append(wall_seconds(lambda: layer(x), ctx.device))
            comms.append(log.seconds("forward"))
    return totals, comms, [call.bytes for call in log.calls]


# ------------------------------------------------------------------ command line

def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _sizes(text: str) -> tuple[int, ...]:
    parts = _names(text)
    if not parts or not all(part.isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, e.g. 1,2,4; got {text!r}")
    return tuple(int(part) for part in parts)


def parse_args(argv=None) -> LayerBenchConfig:
    parser = argparse.ArgumentParser(prog="python -m tpworkers.measure.layer_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", type=_names, default=("mlp", "attention", "layer"),
                        help=f"some of {','.join(KINDS)} (default: all)")
    parser.add_argument("--tp", type=_sizes, default=(1, 2, 4), help="TP sizes, e.g. 1,2,4")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--ffn", type=int, default=2048)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--kv-heads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seq", type=int, default=64, help="tokens per sequence")
    parser.add_argument("-d", "--dtype", choices=tuple(DTYPES), default="float32")
    parser.add_argument("-w", "--warmup", type=int, default=2)
    parser.add_argument("-n", "--iters", type=int, default=5)
    add_device_arguments(parser)
    args = parser.parse_args(argv)
    return LayerBenchConfig(kinds=args.kinds, tp_sizes=args.tp, hidden=args.hidden, ffn=args.ffn,
                            heads=args.heads, kv_heads=args.kv_heads, batch=args.batch, seq=args.seq,
                            dtype=args.dtype, warmup=args.warmup, iters=args.iters, **device_group_fields(args))


_ROW = "{:<18} {:>3} {:>7} {:>12} {:>12} {:>12} {:>7} {:>12} {:>12}"


def table_row(r: LayerRecord) -> str:
    share = f"{100 * r.comm_us / r.forward_us:.1f}%" if r.forward_us else "—"
    return "  " + _ROW.format(KINDS[r.kind], r.tp, r.tokens, f"{r.forward_us:.1f}", f"{r.compute_us:.1f}",
                       f"{r.comm_us:.1f}", share, r.collectives, r.bytes_moved)


def main(argv=None) -> int:
    config = parse_args(argv)

    def bench() -> int:
        config.validate()
        group = config.device_group()
        where = f"GPUs {','.join(map(str, group.gpus))}" if group.device == "cuda" else "CPU"
        print(f"# sharded layers: hidden {config.hidden}, FFN {config.ffn}, {config.heads} heads / "
              f"{config.kv_heads} KV heads, {config.dtype}, {config.backend} on {where}")
        print(f"# measured: mean of {config.iters} forwards on the slowest rank; comm = time inside the all-reduces")
        print("# " + _ROW.format("layer", "TP", "tokens", "forward µs", "compute µs", "comm µs", "comm",
                                 "all-reduces", "bytes"))
        result = run_layer_benchmark(config, on_record=lambda r: print(table_row(r), flush=True))
        print(f"# NCCL transport: {result.transport or 'n/a (not NCCL, or no NCCL_DEBUG lines)'}")
        return 0

    return run_command(bench)


if __name__ == "__main__":
    raise SystemExit(main())

"""The communication of one decode step, run for real and set beside the cost model.

Decoding one token per sequence for b sequences in flight, a TP group runs 2·L all-reduces
(one after attention and one after the MLP of each of L layers; Megatron-LM, arXiv 1909.08053 §3),
each of b·h·bytes (hidden size h). This module runs exactly those all-reduces on the device group,
timed per call and as a whole, so the measured communication time per generated token can be read
next to `costmodel.decode_comm_per_token` for the same shape and link, which is labelled modelled.

Command line:  python -m tpworkers.decode_comm --model llama-3.1-70b --tp 2 -b 8 --layers 4
"""

import argparse
import dataclasses
import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass

import torch
import torch.distributed as dist

from tpworkers import costmodel
from tpworkers.collectives import SweepCancelled
from tpworkers.devicegroup import DTYPES, ConfigError, DeviceGroup, check_dtype
from tpworkers.launcher import RankFailed, get_pool
from tpworkers.links import LINKS
from tpworkers.modelshapes import ModelShape, get_model


@dataclass(frozen=True)
class DecodeCommConfig:
    """Which model shape decodes on which TP group; `link` only feeds the modelled column."""

    model: str = "llama-3.1-70b"   # catalog name or HF id (tpworkers.modelshapes)
    tp: int = 2                    # ranks in the TP group
    tokens_in_flight: int = 8      # b: sequences decoding together, one new token each per step
    dtype: str = "bfloat16"        # activation dtype
    link: str = "nvlink4"          # tpworkers.links key for the prediction
    layers: int | None = None      # L override (None: the model's); fewer layers, same per-call size
    steps: int = 5                 # timed decode steps
    warmup: int = 1                # untimed steps first
    backend: str = "gloo"
    device: str = "cpu"
    gpus: tuple[int, ...] = ()
    p2p: bool = True

    def shape(self) -> ModelShape:
        shape = get_model(self.model)
        return shape if self.layers is None else dataclasses.replace(shape, num_hidden_layers=self.layers)

    def device_group(self) -> DeviceGroup:
        return DeviceGroup(nproc=self.tp, backend=self.backend, device=self.device,
                           gpus=tuple(self.gpus), p2p=self.p2p)

    def validate(self) -> None:
        try:
            shape = self.shape()
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if self.tp < 2:
            raise ConfigError(f"TP={self.tp} has no communication to measure; choose TP >= 2")
        errors = costmodel.tp_constraint_errors(shape, self.tp)
        if errors:
            raise ConfigError("; ".join(errors))
        if self.link not in LINKS:
            raise ConfigError(f"link must be one of {', '.join(LINKS)}, got {self.link!r}")
        check_dtype(self.backend, self.device, self.dtype)
        if self.tokens_in_flight < 1 or self.steps < 1 or self.warmup < 0 or shape.num_hidden_layers < 1:
            raise ConfigError("tokens_in_flight, steps and layers must be at least 1, warmup at least 0")
        self.device_group().validate()


@dataclass(frozen=True)
class DecodeCommRecord:
    """Measured after `steps_done` steps (µs; steps: mean, slowest rank; calls: all calls, slowest
    rank per call), beside the cost model's prediction for the same shape (modelled_*)."""

    model: str
    tp: int
    tokens_in_flight: int
    dtype: str
    layers: int
    allreduces_per_token: int
    bytes_each: int
    steps_done: int
    measured_us_per_token: float
    measured_call_min_us: float
    measured_call_median_us: float
    measured_call_p99_us: float
    modelled_us_per_token: float
    modelled_call_us: float
    link: str
    transport: str | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DecodeStep:
    """What every rank runs: `calls` all-reduces of `numel` elements, `repeats` times."""

    calls: int
    numel: int
    dtype: str
    repeats: int


def run_decode_comm(config: DecodeCommConfig, on_record=None, should_stop=lambda: False,
                    timeout_s: float = 120.0) -> DecodeCommRecord:
    """Warm up, then time `steps` decode steps one by one; on_record gets the running result
    (in this process) after each step and the last one is returned."""
    config.validate()
    shape = config.shape()
    calls = costmodel.allreduces_per_token(shape)
    bytes_each = costmodel.allreduce_bytes(shape.hidden_size, config.tokens_in_flight, config.dtype)
    numel = config.tokens_in_flight * shape.hidden_size
    modelled = costmodel.decode_comm_per_token(shape, config.tp, config.tokens_in_flight, config.dtype,
                                               LINKS[config.link])
    pool = get_pool(config.device_group())
    if config.warmup:
        pool.run(decode_step, DecodeStep(calls, numel, config.dtype, config.warmup), timeout_s)
    step_seconds, call_seconds, record = [], [], None
    for done in range(1, config.steps + 1):
        if should_stop():
            raise SweepCancelled([record] if record else [])
        per_rank = pool.run(decode_step, DecodeStep(calls, numel, config.dtype, 1), timeout_s)
        step_seconds.append(max(steps[0] for steps, _ in per_rank))
        call_seconds.extend(max(column) for column in zip(*(calls_ for _, calls_ in per_rank)))
        ordered = sorted(call_seconds)
        record = DecodeCommRecord(
            model=shape.name, tp=config.tp, tokens_in_flight=config.tokens_in_flight, dtype=config.dtype,
            layers=shape.num_hidden_layers, allreduces_per_token=calls, bytes_each=int(bytes_each),
            steps_done=done, measured_us_per_token=statistics.fmean(step_seconds) * 1e6,
            measured_call_min_us=ordered[0] * 1e6, measured_call_median_us=statistics.median(ordered) * 1e6,
            measured_call_p99_us=ordered[math.ceil(0.99 * len(ordered)) - 1] * 1e6,
            modelled_us_per_token=modelled.seconds_per_token * 1e6, modelled_call_us=modelled.seconds_each * 1e6,
            link=config.link, transport=pool.transport())
        if on_record is not None:
            on_record(record)
    return record


def decode_step(ctx, step: DecodeStep) -> tuple[list[float], list[float]]:
    """Rank task: (seconds per whole step, seconds per all-reduce), after a barrier."""
    buffer = torch.ones(step.numel, dtype=DTYPES[step.dtype], device=ctx.device)    # [b·h]
    dist.barrier()
    ctx.synchronize()
    if ctx.device.type == "cuda":
        marks = [[torch.cuda.Event(enable_timing=True) for _ in range(step.calls + 1)]
                 for _ in range(step.repeats)]
        for events in marks:
            events[0].record()
            for event in events[1:]:
                dist.all_reduce(buffer)
                event.record()
        ctx.synchronize()
        seconds = [[a.elapsed_time(b) / 1e3 for a, b in zip(ev, ev[1:])] for ev in marks]  # ms -> s
    else:
        seconds = []
        for _ in range(step.repeats):
            stamps = [time.perf_counter()]
            for _ in range(step.calls):
                dist.all_reduce(buffer)
                stamps.append(time.perf_counter())
            seconds.append([b - a for a, b in zip(stamps, stamps[1:])])
    return [sum(calls) for calls in seconds], [s for calls in seconds for s in calls]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tpworkers.decode_comm", description=__doc__)
    parser.add_argument("--model", default="llama-3.1-70b")
    parser.add_argument("--tp", type=int, default=2)
    parser.add_argument("-b", "--tokens-in-flight", type=int, default=8)
    parser.add_argument("-d", "--dtype", choices=tuple(DTYPES), default="bfloat16")
    parser.add_argument("--link", choices=tuple(LINKS), default="nvlink4")
    parser.add_argument("--layers", type=int, help="override the model's layer count")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--backend", choices=("gloo", "nccl"), default="gloo")
    parser.add_argument("--gpus", default="", help="GPU index per rank, e.g. 0,1")
    parser.add_argument("--no-p2p", action="store_true", help="NCCL_P2P_DISABLE=1 NCCL_NVLS_ENABLE=0")
    args = parser.parse_args(argv)
    gpus = tuple(int(g) for g in args.gpus.split(",") if g.strip())
    config = DecodeCommConfig(model=args.model, tp=args.tp, tokens_in_flight=args.tokens_in_flight,
                              dtype=args.dtype, link=args.link, layers=args.layers, steps=args.steps,
                              backend=args.backend, device="cuda" if args.backend == "nccl" or gpus else "cpu",
                              gpus=gpus, p2p=not args.no_p2p)
    try:
        record = run_decode_comm(config, on_record=lambda r: print(
            f"step {r.steps_done}: measured {r.measured_us_per_token:.1f} us per token so far", flush=True))
    except (ConfigError, RankFailed) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2 if isinstance(error, ConfigError) else 1
    print(f"# {record.model}: L={record.layers}, TP={record.tp}, {record.tokens_in_flight} tokens in flight, "
          f"{record.dtype}: {record.allreduces_per_token} all-reduces of {record.bytes_each} B per token")
    print(f"measured  {record.measured_us_per_token:12.1f} us per token   per call: min "
          f"{record.measured_call_min_us:.1f}, median {record.measured_call_median_us:.1f}, "
          f"p99 {record.measured_call_p99_us:.1f} us   ({config.backend} on {config.device}, "
          f"transport {record.transport or 'n/a'})")
    print(f"modelled  {record.modelled_us_per_token:12.1f} us per token   per call: "
          f"{record.modelled_call_us:.1f} us   (cost model, ring all-reduce over {record.link})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

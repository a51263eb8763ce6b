"""The communication of one decode step, run for real and set beside the cost model.

Decoding one token per sequence for b sequences in flight, a TP group runs 2·L all-reduces
(one after attention and one after the MLP of each of L layers; Megatron-LM, arXiv 1909.08053 §3),
each of S = b·h·bytes (hidden size h). This module runs exactly those all-reduces on the device
group, timed per call and per step (= per generated token), and sets two predictions of
`costmodel.decode_comm_per_token` (ring all-reduce, t = 2(n-1)·α + 2(n-1)/n·S/B per call) beside it:
  - fitted: α and B least-squares fitted (costmodel.fit_alpha_beta) to a short all-reduce sweep
    run right after, on the same ranks, at S/16, S/4, S, 4S, 16S. Same link, same software: if
    the measurement and this prediction disagree, the ring model (or the 2·L count) is what misses.
  - catalog: the link chosen (`link`), or by default the one this group should have: on CUDA the
    NVLink its GPU model ships with (PCIe with P2P off), on CPU none. Labelled "if this ran on
    <link>": a modelled figure for another wire, not a prediction of this measurement.

Command line:  python -m tpworkers.measure.decode_comm --model llama-3.1-70b --tp 2 -b 8 --layers 4
"""

import dataclasses
import statistics
from dataclasses import asdict, dataclass
from functools import partial

import torch
import torch.distributed as dist

from tpworkers.catalog import costmodel
from tpworkers.catalog.links import LINKS, Link, assumed_pcie, link_for_gpu
from tpworkers.catalog.modelshapes import ModelShape
from tpworkers.measure.collectives import SweepResult, run_sweep
from tpworkers.measure.configs import DecodeCommConfig
from tpworkers.measure.devicegroup import torch_dtype
from tpworkers.measure.launcher import SweepCancelled, get_pool
from tpworkers.measure.timing import nearest_rank, per_call_seconds


@dataclass(frozen=True)
class DecodeCommRecord:
    """Measured after `steps_done` steps (µs; steps: mean, slowest rank; calls: all calls, slowest
    rank per call), the catalog prediction (modelled_*, on `link`), and once the fit sweep has run
    the prediction with α and B fitted on this device group (fitted_*; None before)."""

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
    modelled_us_per_token: float | None   # on the catalog `link`; None when there is none
    modelled_call_us: float | None
    link: str | None                      # catalog link key of modelled_*
    link_basis: str                       # why that link: chosen, this group's GPU, or none (CPU)
    transport: str | None
    fit_sizes_bytes: tuple[int, ...] | None = None
    fit_time_us: tuple[float, ...] | None = None   # measured per call at each fit size (sweep rows)
    fit_wrong: int | None = None
    fitted_alpha_us: float | None = None
    fitted_bandwidth_GBps: float | None = None     # B per direction, 1e9 B/s
    fitted_call_us: float | None = None
    fitted_us_per_token: float | None = None
    fit_error: str | None = None                   # why no fit (e.g. time did not grow with size)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DecodeStep:
    """What every rank runs: `calls` all-reduces of `numel` elements, `repeats` times."""

    calls: int
    numel: int
    dtype: str
    repeats: int


def catalog_link(config: DecodeCommConfig) -> tuple[Link | None, str]:
    """The catalog link of the modelled column and why it is that one."""
    if config.link is not None:
        return LINKS[config.link], "chosen"
    if config.device != "cuda":
        return None, "no catalog link: CPU"
    name = torch.cuda.get_device_name(config.device_group().gpus[0])
    if not config.p2p:
        return assumed_pcie(name), f"P2P off: the PCIe a {name} ships with"
    link = link_for_gpu(name)
    if link is None:
        return None, f"no catalog link: {name} is not in the GPU catalog"
    return link, f"the NVLink a {name} ships with (topology not checked)"


def run_decode_comm(config: DecodeCommConfig, on_record=None, should_stop=lambda: False,
                    timeout_s: float = 120.0) -> DecodeCommRecord:
    """Warm up, time `steps` decode steps one by one (on_record gets the running result after each),
    then run the fit sweep; the last record, with the fitted prediction, is returned (and recorded)."""
    config.validate()
    shape = config.shape()
    calls = costmodel.allreduces_per_token(shape)
    numel = config.tokens_in_flight * shape.hidden_size
    link, basis = catalog_link(config)
    catalog = (costmodel.decode_comm_per_token(shape, config.tp, config.tokens_in_flight, config.dtype, link)
               if link else None)
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
            layers=shape.num_hidden_layers, allreduces_per_token=calls, bytes_each=config.message_bytes(),
            steps_done=done, measured_us_per_token=statistics.fmean(step_seconds) * 1e6,
            measured_call_min_us=ordered[0] * 1e6, measured_call_median_us=statistics.median(ordered) * 1e6,
            measured_call_p99_us=nearest_rank(ordered, 0.99) * 1e6,
            modelled_us_per_token=catalog.allreduce_seconds * 1e6 if catalog else None,
            modelled_call_us=catalog.seconds_each * 1e6 if catalog else None,
            link=link.key if link else None, link_basis=basis, transport=pool.transport())
        if on_record is not None:
            on_record(record)
    try:
        sweep = run_sweep(config.fit_sweep(), should_stop=should_stop, timeout_s=timeout_s)
    except SweepCancelled:
        raise SweepCancelled([record]) from None
    record = dataclasses.replace(record, transport=sweep.transport, **fitted_prediction(config, shape, sweep))
    if on_record is not None:
        on_record(record)
    return record


def fitted_prediction(config: DecodeCommConfig, shape: ModelShape, sweep: SweepResult) -> dict:
    """The fit sweep's rows and the cost model's per-token time with α and B fitted to them."""
    rows = sweep.measurements
    fields = {"fit_sizes_bytes": tuple(m.size_bytes for m in rows), "fit_time_us": tuple(m.time_us for m in rows),
              "fit_wrong": sum(m.wrong for m in rows)}
    try:
        alpha, bandwidth = costmodel.fit_alpha_beta([(m.size_bytes, m.time_us / 1e6) for m in rows], config.tp)
    except ValueError as error:
        return {**fields, "fit_error": str(error)}
    fitted = Link("fitted", "this device group", bandwidth, alpha, "measured",
                  f"fitted to a {config.tp}-rank all-reduce sweep of {len(rows)} sizes", measured=True)
    estimate = costmodel.decode_comm_per_token(shape, config.tp, config.tokens_in_flight, config.dtype, fitted)
    return {**fields, "fitted_alpha_us": alpha * 1e6, "fitted_bandwidth_GBps": bandwidth / 1e9,
            "fitted_call_us": estimate.seconds_each * 1e6, "fitted_us_per_token": estimate.allreduce_seconds * 1e6}


def decode_step(ctx, step: DecodeStep) -> tuple[list[float], list[float]]:
    """Rank task: (seconds per whole step, seconds per all-reduce), after a barrier. The buffer
    holds zeros, which stay zeros however often they are summed (ones would be multiplied by TP
    at every call and overflow float16 within a step)."""
    buffer = torch.zeros(step.numel, dtype=torch_dtype(step.dtype), device=ctx.device)    # [b·h]
    dist.barrier()
    ctx.synchronize()
    # One stamp between consecutive all-reduces: a step's calls add up to the whole step.
    flat = per_call_seconds([partial(dist.all_reduce, buffer)] * (step.calls * step.repeats), ctx.device,
                            back_to_back=True)
    seconds = [flat[start:start + step.calls] for start in range(0, len(flat), step.calls)]
    return [sum(calls) for calls in seconds], [s for calls in seconds for s in calls]

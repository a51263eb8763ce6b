"""The registry of experiment kinds: from a run's stored parameters to an experiment config for
this node's devices, its estimated duration, and the torch code that runs it.

The device is chosen where the run executes (the worker's node), not where it was requested:
the GPUs the learner named, or — when none were named — NCCL on CUDA if every rank can have a
GPU of its own, gloo on CPU otherwise.
"""

from dataclasses import dataclass
from typing import Callable

from tpworkers.catalog import costmodel
from tpworkers.measure.configs import KINDS, DecodeCommConfig, LayerBenchConfig, SweepConfig
from tpworkers.measure.devicegroup import ConfigError
from tpworkers.rank_sharing import on_gpus

# How long one run may hold its node: the worker runs one run at a time (solo pool), so a longer
# run makes everyone queued behind it wait.
RUN_BUDGET_S = 15 * 60
# How much memory one run may take, checked before it queues like the time: on CPU the ranks of
# one step together (they share the host with the web server and the worker), on CUDA one GPU
# (16 GB: a T4 or V100-16GB, the smallest GPUs a lab node is likely to have).
MEMORY_BUDGETS = {"cpu": 4e9, "cuda": 16e9}


@dataclass(frozen=True)
class Floor:
    """Slow-end speeds a run's duration is estimated with: assumptions, never shown as measured."""

    alpha_s: float        # fixed cost of one collective call
    bandwidth_Bps: float  # ring all-reduce bandwidth
    flops: float          # dense matmul rate of one rank


# gloo between CPU ranks of one host: ~100 µs a call, ~1 GB/s, ~10 GFLOP/s a rank; NCCL at PCIe
# speed through the host (P2P off): ~20 µs a call, ~10 GB/s, and ~10 TFLOP/s a GPU. Most nodes
# are faster, so the estimate errs long.
FLOORS = {"cpu": Floor(100e-6, 1e9, 1e10), "cuda": Floor(20e-6, 10e9, 1e13)}


def cuda_device_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _device(params: dict, nproc: int, gpus_available: int) -> dict:
    """backend/device/gpus for a device group of `nproc` ranks on a node with `gpus_available`."""
    wanted = tuple(int(g) for g in params.get("gpus") or ())
    if wanted:
        missing = [g for g in wanted if g >= gpus_available]
        if missing:
            raise ConfigError(f"GPU {missing[0]} was asked for, but this node has {gpus_available} GPUs")
        return {"backend": "nccl", "device": "cuda", "gpus": wanted, "p2p": bool(params.get("p2p", True))}
    if on_gpus(nproc, gpus_available):
        return {"backend": "nccl", "device": "cuda", "gpus": tuple(range(nproc)), "p2p": bool(params.get("p2p", True))}
    return {"backend": "gloo", "device": "cpu", "gpus": (), "p2p": True}


def sweep_config(params: dict, gpus_available: int) -> SweepConfig:
    nproc = int(params["nproc"])
    return SweepConfig.from_params(params, _device(params, nproc, gpus_available))


def layer_config(params: dict, gpus_available: int) -> LayerBenchConfig:
    tp_sizes = tuple(int(tp) for tp in params["tp_sizes"])
    return LayerBenchConfig(
        kinds=tuple(params["kinds"]), tp_sizes=tp_sizes, hidden=int(params["hidden"]), ffn=int(params["ffn"]),
        heads=int(params["heads"]), kv_heads=int(params["kv_heads"]), seq=int(params["seq"]),
        dtype=params["dtype"], warmup=int(params["warmup"]), iters=int(params["iters"]),
        **_device(params, max(tp_sizes), gpus_available),
    )


def decode_config(params: dict, gpus_available: int) -> DecodeCommConfig:
    tp = int(params["tp"])
    return DecodeCommConfig(
        model=params["model"], tp=tp, tokens_in_flight=int(params["tokens_in_flight"]), dtype=params["dtype"],
        link=params["link"], layers=params.get("layers"), steps=int(params["steps"]), warmup=int(params["warmup"]),
        **_device(params, tp, gpus_available),
    )


def _allreduce_s(size_bytes: float, ranks: int, floor: Floor) -> float:
    return costmodel.ring_allreduce_time_s(size_bytes, ranks, floor.alpha_s, floor.bandwidth_Bps)


def sweep_seconds(config: SweepConfig, floor: Floor) -> float:
    """(warmup + iters) collectives per size, each costed as a ring all-reduce (the op that moves
    the most: 2(n-1)/n of the buffer per rank)."""
    calls = config.warmup + config.iters
    return sum(calls * _allreduce_s(size, config.nproc, floor) for size in config.sizes())


def layer_seconds(config: LayerBenchConfig, floor: Floor) -> float:
    """(warmup + iters) forwards per TP size and kind, each: 2·tokens·P/TP FLOPs of matmuls (P the
    whole layer's parameters, costmodel.param_count: an upper bound for the MLP or attention
    alone) plus 4·tokens²·h/TP for the attention scores, and the layer's 2 all-reduces of
    tokens·h values."""
    shape, tokens = config.shape(), config.batch * config.seq
    flops = 2 * tokens * costmodel.param_count(shape) + 4 * tokens**2 * config.hidden
    message = costmodel.allreduce_bytes(config.hidden, tokens, config.dtype)
    per_forward = {tp: flops / tp / floor.flops
                   + costmodel.allreduces_per_token(shape) * _allreduce_s(message, tp, floor)
                   for tp in config.tp_sizes}
    return (config.warmup + config.iters) * len(config.kinds) * sum(per_forward.values())


def layer_memory_bytes(config: LayerBenchConfig) -> float:
    """Peak bytes of the largest step. Each rank builds the whole layer in float32 on the host
    (tp_layers.build_reference: nn's default dtype; P = costmodel.param_count, an upper bound for
    the MLP or attention alone) and keeps a 1/TP slice in the run's dtype, plus about four
    activations of tokens·(h + FFN/TP) values. On CPU the TP ranks of a step share one host; on
    CUDA the slice and activations are one GPU's (a GPU node's host holds the float32 layers)."""
    params, width = costmodel.param_count(config.shape()), costmodel.dtype_bytes(config.dtype)
    tokens = config.batch * config.seq

    def on_device(tp: int) -> float:
        return params * width / tp + 4 * tokens * (config.hidden + config.ffn / tp) * width

    if config.device == "cpu":
        return max(tp * (4 * params + on_device(tp)) for tp in config.tp_sizes)
    return max(on_device(tp) for tp in config.tp_sizes)


def decode_seconds(config: DecodeCommConfig, floor: Floor) -> float:
    """(warmup + steps) decode steps of 2·layers all-reduces of tokens_in_flight·h values."""
    shape = config.shape()
    message = costmodel.allreduce_bytes(shape.hidden_size, config.tokens_in_flight, config.dtype)
    per_step = costmodel.allreduces_per_token(shape) * _allreduce_s(message, config.tp, floor)
    return (config.warmup + config.steps) * per_step


# A step (one size, one layer, one decode step) is called hung after DEADLINE_FACTOR times its
# pessimistic estimate, never sooner than DEADLINE_FLOOR_S (a first collective may set up its
# communicator; a busy machine slows everything) nor later than the cap the task gives. A stopped
# rank is caught sooner by the rank pool's heartbeat; this catches ranks alive but stuck.
DEADLINE_FACTOR = 10
DEADLINE_FLOOR_S = 30.0


def step_deadlines(experiment: str, config, cap_s: float):
    """The timeout_s an experiment's runner takes: for a sweep, a function of the size in bytes
    (each size its own deadline, from its share of the run's estimate); for the others, one
    number from the whole run's estimate (no step takes longer than the run)."""
    floor = FLOORS[config.device]

    def bounded(estimate_s: float) -> float:
        return min(cap_s, max(DEADLINE_FLOOR_S, DEADLINE_FACTOR * estimate_s))

    if experiment == "collective_sweep":
        calls = config.warmup + config.iters + 1  # the extra call checks the result
        return lambda size_bytes: bounded(calls * _allreduce_s(size_bytes, config.nproc, floor))
    return bounded(EXPERIMENTS[experiment].seconds(config, floor))


# The runners import torch only when a worker runs them, so the web process that builds and
# estimates configs never loads it.
def run_sweep(config, **kwargs):
    from tpworkers.measure.collectives import run_sweep

    return run_sweep(config, **kwargs)


def run_layer_benchmark(config, **kwargs):
    from tpworkers.measure.layer_bench import run_layer_benchmark

    return run_layer_benchmark(config, **kwargs)


def run_decode_comm(config, **kwargs):
    from tpworkers.measure.decode_comm import run_decode_comm

    return run_decode_comm(config, **kwargs)


@dataclass(frozen=True)
class Experiment:
    build: Callable[[dict, int], object]   # (params, GPUs on this node) -> config
    run: Callable                          # (config, on_record, should_stop, timeout_s) -> result
    seconds: Callable[[object, Floor], float]  # (config, floor) -> rough upper duration
    cumulative: bool = False               # each record replaces the last (a running total)
    memory: Callable[[object], float] = lambda config: 0.0  # peak bytes (MEMORY_BUDGETS' terms)


EXPERIMENTS = {
    "collective_sweep": Experiment(sweep_config, run_sweep, sweep_seconds),
    "tp_layer": Experiment(layer_config, run_layer_benchmark, layer_seconds, memory=layer_memory_bytes),
    "decode_comm": Experiment(decode_config, run_decode_comm, decode_seconds, cumulative=True),
}


def row_labels(experiment: str, params: dict) -> list[str]:
    """A label per row the run will measure, known before it starts (the run page lists them
    all at once). Derived from the parameters, so a label is never stored twice."""
    if experiment == "collective_sweep":
        return SweepConfig.from_params(params).row_labels()
    if experiment == "tp_layer":
        return [f"TP={tp} {KINDS[kind]}" for tp in sorted(int(t) for t in params["tp_sizes"]) for kind in params["kinds"]]
    if experiment == "decode_comm":
        return [f"{params['model']} at TP={params['tp']}"]
    raise ConfigError(f"unknown experiment {experiment!r}")


def estimate_seconds(experiment: str, params: dict, gpus_available: int) -> tuple[float, str]:
    """A rough, pessimistic duration of a run on a node with `gpus_available` GPUs (at the FLOORS
    speeds of the device the worker would choose), and that device group in words. Raises
    ConfigError, KeyError or ValueError for parameters no run could use."""
    if experiment not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {experiment!r}")
    config = EXPERIMENTS[experiment].build(params, gpus_available)
    return EXPERIMENTS[experiment].seconds(config, FLOORS[config.device]), describe_devices(device_fields(config))


def estimate_memory_bytes(experiment: str, params: dict, gpus_available: int) -> tuple[float, float]:
    """(peak memory of a run, its device's budget from MEMORY_BUDGETS); the peak is 0 for
    experiments whose buffers the time budget already keeps small."""
    if experiment not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {experiment!r}")
    config = EXPERIMENTS[experiment].build(params, gpus_available)
    return EXPERIMENTS[experiment].memory(config), MEMORY_BUDGETS[config.device]


def build_config(experiment: str, params: dict, gpus_available: int | None = None):
    if experiment not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {experiment!r}")
    gpus = cuda_device_count() if gpus_available is None else gpus_available
    config = EXPERIMENTS[experiment].build(params, gpus)
    config.validate()
    return config


def device_fields(config) -> dict:
    """The device group a config runs on, as a run stores it (ExperimentRun.devices)."""
    group = config.device_group()
    return {"backend": group.backend, "device": group.device, "gpus": list(group.gpus), "p2p": group.p2p,
            "nproc": group.nproc}


def describe_devices(devices: dict) -> str:
    """A stored device group in words, as the run page shows it: "nccl on GPU 0,1, P2P off",
    "gloo on CPU, 2 ranks"; "" before the run started."""
    if not devices:
        return ""
    if devices["device"] == "cuda":
        wire = "" if devices["p2p"] else ", P2P off"
        return f"{devices['backend']} on GPU " + ",".join(str(g) for g in devices["gpus"]) + wire
    return f"{devices['backend']} on CPU, {devices['nproc']} ranks"


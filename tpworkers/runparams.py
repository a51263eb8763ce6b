"""From a run's stored parameters to an experiment config for this node's devices, and back.

The device is chosen where the run executes (the worker's node), not where it was requested:
the GPUs the learner named, or — when none were named — NCCL on CUDA if every rank can have a
GPU of its own, gloo on CPU otherwise.
"""

from dataclasses import dataclass
from typing import Callable

from tpworkers.collectives import SweepConfig, run_sweep
from tpworkers.decode_comm import DecodeCommConfig, run_decode_comm
from tpworkers.devicegroup import ConfigError
from tpworkers.layer_bench import LayerBenchConfig, run_layer_benchmark


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
    if gpus_available >= nproc:
        return {"backend": "nccl", "device": "cuda", "gpus": tuple(range(nproc)), "p2p": bool(params.get("p2p", True))}
    return {"backend": "gloo", "device": "cpu", "gpus": (), "p2p": True}


def sweep_config(params: dict, gpus_available: int) -> SweepConfig:
    nproc = int(params["nproc"])
    return SweepConfig(
        op=params["op"], nproc=nproc, min_bytes=int(params["min_bytes"]), max_bytes=int(params["max_bytes"]),
        factor=int(params["factor"]), dtype=params["dtype"], warmup=int(params["warmup"]),
        iters=int(params["iters"]), **_device(params, nproc, gpus_available),
    )


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


@dataclass(frozen=True)
class Experiment:
    build: Callable[[dict, int], object]   # (params, GPUs on this node) -> config
    run: Callable                          # (config, on_record, should_stop, timeout_s) -> result
    cumulative: bool = False               # each record replaces the last (a running total)


EXPERIMENTS = {
    "collective_sweep": Experiment(sweep_config, run_sweep),
    "tp_layer": Experiment(layer_config, run_layer_benchmark),
    "decode_comm": Experiment(decode_config, run_decode_comm, cumulative=True),
}


def build_config(experiment: str, params: dict, gpus_available: int | None = None):
    if experiment not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {experiment!r}")
    gpus = cuda_device_count() if gpus_available is None else gpus_available
    config = EXPERIMENTS[experiment].build(params, gpus)
    config.validate()
    return config


def describe_group(config) -> str:
    group = config.device_group()
    if group.device == "cuda":
        wire = "" if group.p2p else ", P2P off"
        return f"{group.backend} on GPU " + ",".join(str(g) for g in group.gpus) + wire
    return f"{group.backend} on CPU, {group.nproc} ranks"

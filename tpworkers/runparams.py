"""Turn a run's stored parameters into an experiment config for the device group of this node.

The choice of device is made where the run executes (the worker's node), not where it was
requested: NCCL on CUDA when every rank can have a GPU of its own, gloo on CPU otherwise.
"""

from tpworkers.collectives import SweepConfig


def cuda_device_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def sweep_config(params: dict, gpus_available: int | None = None) -> SweepConfig:
    nproc = int(params["nproc"])
    gpus_available = cuda_device_count() if gpus_available is None else gpus_available
    on_gpus = gpus_available >= nproc
    return SweepConfig(
        op=params["op"],
        nproc=nproc,
        backend="nccl" if on_gpus else "gloo",
        device="cuda" if on_gpus else "cpu",
        gpus=tuple(range(nproc)) if on_gpus else (),
        min_bytes=int(params["min_bytes"]),
        max_bytes=int(params["max_bytes"]),
        factor=int(params["factor"]),
        dtype=params["dtype"],
        warmup=int(params["warmup"]),
        iters=int(params["iters"]),
        p2p=bool(params.get("p2p", True)),
    )


def describe_group(config: SweepConfig) -> str:
    if config.device == "cuda":
        return f"{config.backend} on GPU " + ",".join(str(g) for g in config.gpus)
    return f"{config.backend} on CPU, {config.nproc} ranks"

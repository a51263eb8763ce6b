"""Device groups as a run stores them (ExperimentRun.devices), for tests that mark runs running."""


def cpu_ranks(nproc: int = 2) -> dict:
    return {"backend": "gloo", "device": "cpu", "gpus": [], "p2p": True, "nproc": nproc}


def nccl_gpus(*gpus: int, p2p: bool = True) -> dict:
    return {"backend": "nccl", "device": "cuda", "gpus": list(gpus), "p2p": p2p, "nproc": len(gpus)}

"""When the ranks of a run share a device, and what the pages say about it.

One rule: a rank's compute time measures its slice of the split only while it has a device of
its own, a GPU or, for gloo, a CPU core. With more ranks than devices some take turns on one, and
their compute times measure that queueing, not tensor parallelism. A device count of 0 means it
is not known, and then nothing is claimed. The run form's default TP sizes, the lab step's note
before a run and the run page's note after it all ask here, so they cannot drift apart.
"""


def ranks_share(ranks: int, devices: int) -> bool:
    """More ranks than ``devices`` (GPUs, or CPU cores for gloo): some take turns on one."""
    return bool(devices) and ranks > devices


def run_note(devices: dict, cpu_cores: int) -> str:
    """Why a run's compute times cannot be compared across rank counts, for the run page to say
    beside them: more ranks than CPU cores (they take turns on a core), or ranks sharing a GPU;
    empty when every rank had a device of its own, or when that is not known. ``devices`` is
    the device group the run stored (experiments.device_fields), {} before it started."""
    if not devices:
        return ""
    ranks, gpus = devices["nproc"], set(devices.get("gpus") or [])
    if devices["device"] == "cpu" and ranks_share(ranks, cpu_cores):
        return (f"{ranks} ranks on {cpu_cores} CPU cores: compute times are not comparable; "
                "this measures oversubscription, not tensor parallelism.")
    if devices["device"] == "cuda" and ranks_share(ranks, len(gpus)):
        return (f"{ranks} ranks share {len(gpus)} GPUs: compute times are not comparable; "
                "this measures ranks queueing for a GPU, not tensor parallelism.")
    return ""


def on_gpus(ranks: int, gpu_count: int) -> bool:
    """A run that names no GPUs goes on the node's first GPUs when it has one for every rank;
    otherwise gloo runs its ranks on the CPU."""
    return gpu_count >= ranks


def planned_layer_note(largest_tp: int, gpu_count: int, cpu_cores: int) -> str:
    """Said before a sharded-layer run on a node with ``gpu_count`` GPUs and ``cpu_cores``
    cores: its largest TP size would run gloo ranks on fewer CPU cores than ranks, so that size's
    compute times would not compare. A node with a GPU for every rank runs them there."""
    if on_gpus(largest_tp, gpu_count) or not ranks_share(largest_tp, cpu_cores):
        return ""
    return (f"TP={largest_tp} runs {largest_tp} ranks on this node's {cpu_cores} CPU cores: they take "
            "turns, so its compute time will not shrink as the split predicts. Read its compute "
            "times as oversubscription; the communication share still shows the all-reduce's cost.")

"""The body of one rank process of a RankPool (launcher.py): join the device group's process
group, then run each task the parent sends and reply with its result, until told to stop.

The parent and its ranks speak over a pipe in pickles: the parent sends ("run", task, payload)
or ("stop",); a rank replies ("ok", value) or ("error", (summary, traceback)). Its first reply,
("ok", pid), says it joined the group. Heartbeats and the exit when the parent dies are
rankhealth's.
"""

import os
import pickle
import traceback
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from tpworkers.measure.devicegroup import DeviceGroup
from tpworkers.measure.rankhealth import beat_forever, exit_when_parent_exits
from tpworkers.measure.timing import synchronize


@dataclass
class RankContext:
    """What a task sees inside a rank process."""

    rank: int
    world_size: int
    group: DeviceGroup
    device: torch.device

    def synchronize(self) -> None:
        """Wait for queued GPU work; a no-op on CPU where gloo collectives block."""
        synchronize(self.device)


def rank_main(rank: int, group: DeviceGroup, store_port: int, conn, log_dir: str, beats) -> None:
    """Body of one rank process: join the group, then serve tasks until told to stop."""
    exit_when_parent_exits()
    beat_forever(rank, beats)
    for key, value in group.rank_env(log_dir).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    device = group.rank_device(rank)
    try:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        else:
            torch.set_num_threads(1)  # ranks share the cores; extra intra-op threads only fight
        store = dist.TCPStore("127.0.0.1", store_port, is_master=False, timeout=timedelta(seconds=120))
        dist.init_process_group(group.backend, store=store, rank=rank, world_size=group.nproc,
                                device_id=device if group.backend == "nccl" else None)
    except Exception as exc:
        conn.send_bytes(pickle.dumps(("error", _describe_exception(exc))))
        return
    conn.send_bytes(pickle.dumps(("ok", os.getpid())))
    ctx = RankContext(rank=rank, world_size=group.nproc, group=group, device=device)
    while True:
        try:
            raw = conn.recv_bytes()
        except (EOFError, OSError):
            break
        try:
            message = pickle.loads(raw)
            if message[0] == "stop":
                break
            _, task, payload = message
            reply = ("ok", task(ctx, payload))
        except Exception as exc:
            reply = ("error", _describe_exception(exc))
        conn.send_bytes(pickle.dumps(reply))
    dist.destroy_process_group()


def _describe_exception(exc: BaseException) -> tuple[str, str]:
    return f"{type(exc).__name__}: {exc}", traceback.format_exc()
